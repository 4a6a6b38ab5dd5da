/*
 * memop.c: populate_physmap, decrease_reservation and the domain-build path (XEN-MODEL.md §5-7).
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "core/clock.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/preempt.h"
#include "core/scrub.h"

static struct {
    _Atomic uint64_t batched_tlb_flushes, destroy_frames, destroy_continuations;
} global_ctr;

/* ------------------------------------------------------------------------------------------
 * The caller and the reservation.
 */

static bool has_role(const struct pb_memop_caller *caller, enum pb_privilege priv, unsigned role)
{
    return caller->privilege == priv || (caller->roles & role);
}

unsigned pb_memop_max_order(const struct pb_memop_caller *caller)
{
    PB_BUG_ON(!caller);
    const struct pb_order_limits def = PB_ORDER_LIMITS_DEFAULT;
    const struct pb_order_limits *l = caller->limits ? caller->limits : &def;
    unsigned order = l->domu;
    if ((caller->roles & PB_ROLE_PASSTHROUGH) && order < l->passthrough)
        order = l->passthrough;
    if (has_role(caller, PB_PRIV_CONTROL, PB_ROLE_CONTROL) && order < l->control)
        order = l->control;
    if (has_role(caller, PB_PRIV_HARDWARE, PB_ROLE_HARDWARE) && order < l->hardware)
        order = l->hardware;
    return order < PB_MAX_ORDER ? order : PB_MAX_ORDER;
}

static bool privileged(const struct pb_memop_caller *caller)
{
    return has_role(caller, PB_PRIV_CONTROL, PB_ROLE_CONTROL) ||
           has_role(caller, PB_PRIV_HARDWARE, PB_ROLE_HARDWARE);
}

/* Address bits needed to reach every frame of the machine: get_order_from_pages + PAGE_SHIFT. */
static unsigned machine_address_bits(const struct pb_heap *h)
{
    uint64_t frames = pb_heap_nr_frames(h);
    unsigned order = frames <= 1 ? 0 : 64u - (unsigned)__builtin_clzll(frames - 1);
    return order + PB_PAGE_SHIFT;
}

/* propagate_node: false means -EINVAL. */
static bool propagate_node(const struct pb_memop_caller *caller, unsigned xmf, unsigned *memflags)
{
    unsigned node = XENMEMF_get_node(xmf);
    if (node == XENMEMF_NO_NODE)
        return true;
    if (privileged(caller)) {
        if (node >= PB_MAX_NODES)
            return false;
        *memflags |= MEMF_node(node);
        if (xmf & XENMEMF_exact_node_request)
            *memflags |= MEMF_exact_node;
        return true;
    }
    /* A guest may not pin its memory to a node: a hint is dropped, a demand refused. */
    return !(xmf & XENMEMF_exact_node_request);
}

int pb_construct_memop_from_reservation(const struct pb_heap *h,
                                        const struct pb_memop_caller *caller, unsigned mem_flags,
                                        unsigned *memflags)
{
    if (!h || !caller || !memflags)
        return -EINVAL;
    unsigned flags = 0;
    unsigned bits = XENMEMF_get_address_bits(mem_flags);
    if (bits != 0 && bits < machine_address_bits(h)) {
        if (bits <= PB_PAGE_SHIFT)
            return -EINVAL;
        flags |= MEMF_bits(bits);
    }
    /* No domain has vNUMA information here: a vnode request carries nothing usable. */
    if (!(mem_flags & XENMEMF_vnode) && !propagate_node(caller, mem_flags, &flags))
        return -EINVAL;
    *memflags = flags;
    return 0;
}

void pb_memop_counts_add(struct pb_memop_counts *dst, const struct pb_memop_counts *src)
{
    dst->extents += src->extents;
    dst->frames += src->frames;
    dst->pod_frames += src->pod_frames;
    dst->released_frames += src->released_frames;
    dst->replaced_frames += src->replaced_frames;
    dst->scrub_preemptions += src->scrub_preemptions;
    dst->stash_hits += src->stash_hits;
    dst->flush_filter_skipped += src->flush_filter_skipped;
    dst->verify_failures += src->verify_failures;
}

/* ------------------------------------------------------------------------------------------
 * The p2m side.
 */

/* What a p2m release callback needs: frames leave d for the heap. */
struct release_ctx {
    struct pb_heap *h;
    struct pb_domain *d;
    bool dirty;
    uint64_t frames;
};

/* Runs under the p2m writer lock; takes page_alloc_lock and a heap lock (higher ranks). */
static void release_frames(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order)
{
    struct release_ctx *rc = ctx;
    (void)gfn;
    /* Only d's own frames are ever mapped in d's p2m, and each entry is released once. */
    PB_BUG_ON(pb_free_domheap_pages(rc->h, rc->d, mfn, order, rc->dirty) != 0);
    rc->frames += 1ull << order;
}

/*
 * Apply one change to nr frames from gfn in the largest pieces that the alignment of gfn
 * allows (p2m_set for PoD markers, p2m_remove), as Xen's p2m does. type P2M_INVALID removes.
 * rel NULL: release nothing. *applied: the frames done before any error.
 */
static int p2m_apply(struct p2m *p, uint64_t gfn, uint64_t nr, enum p2m_type type,
                     struct release_ctx *rel, uint64_t *applied)
{
    p2m_release_fn release = rel ? release_frames : NULL;
    uint64_t off = 0;
    int rc = 0;
    while (off < nr) {
        uint64_t g = gfn + off;
        unsigned o = 63u - (unsigned)__builtin_clzll(nr - off);
        if (o > P2M_MAX_ORDER)
            o = P2M_MAX_ORDER;
        if (g && (unsigned)__builtin_ctzll(g) < o)
            o = (unsigned)__builtin_ctzll(g);
        if (type == P2M_INVALID)
            rc = p2m_remove(p, g, o, release, rel);
        else
            rc = p2m_set(p, g, 0, o, type, release, rel);
        if (rc)
            break;
        off += 1ull << o;
    }
    *applied = off;
    return rc;
}

static bool range_fits(const struct p2m *p, uint64_t gfn, unsigned order)
{
    uint64_t max = p2m_max_gfn(p);
    return gfn < max && (1ull << order) <= max - gfn;
}

/* Whether any gfn of the range maps `type` (exactly) or, for P2M_INVALID, is a hole. */
static bool range_has(const struct p2m *p, uint64_t gfn, unsigned order, enum p2m_type type)
{
    const uint64_t end = gfn + (1ull << order);
    for (uint64_t g = gfn; g < end;) {
        struct p2m_entry e;
        PB_BUG_ON(p2m_lookup(p, g, &e) != 0);
        if (e.type == type)
            return true;
        g = (g | ((1ull << e.order) - 1)) + 1; /* the next entry or hole */
    }
    return false;
}

/* ------------------------------------------------------------------------------------------
 * populate_physmap.
 */

/* The preemption callback of the build path's scrub. */
static bool scrub_preempt(void *ctx)
{
    (void)ctx;
    return pb_hypercall_preempt_check();
}

/*
 * What memory_op and the two loops check before doing anything: 0 with the domain and the
 * memflags, 1 when there is nothing to do, or the reason to return start_extent untouched.
 */
static int memop_check(struct pb_heap *h, const struct pb_memop_caller *caller,
                       const struct pb_reservation *r, uint64_t start, bool pod,
                       struct pb_domain **dp, unsigned *memflags)
{
    if (r->nr_extents > PB_MEMOP_MAX_EXTENTS)
        return -E2BIG;
    if (start >= r->nr_extents)
        return 1;
    struct pb_domain *d = pb_domain_get(h, r->domid);
    if (!d)
        return -ESRCH;
    int rc = pb_construct_memop_from_reservation(h, caller, r->mem_flags, memflags);
    if (rc)
        return rc;
    if (!pb_domain_p2m(d))
        return -EINVAL;
    if (!r->extent_start || r->nr_extents > r->extent_list_len)
        return -EFAULT;
    if (r->extent_order > (pod ? PB_MAX_ORDER : pb_memop_max_order(caller)))
        return -EPERM;
    *dp = d;
    return 0;
}

/* memop_check with the result started: nr_done = start, and the error of a refusal. */
static int memop_begin(struct pb_heap *h, const struct pb_memop_caller *caller,
                       const struct pb_reservation *r, uint64_t start, bool pod,
                       struct pb_memop_result *result, struct pb_domain **dp, unsigned *memflags)
{
    memset(result, 0, sizeof(*result));
    result->nr_done = start;
    int rc = memop_check(h, caller, r, start, pod, dp, memflags);
    if (rc)
        result->error = rc < 0 ? rc : 0;
    return rc;
}

/*
 * Before extent i of an invocation that started at `start`: the preemption check (never before
 * the first) and the gfn's range. False with *gfn to go on; true to stop the loop, with *rc 0
 * when preempted or -EINVAL for a range beyond the p2m.
 */
static inline bool extent_stop(const struct pb_reservation *r, const struct p2m *p, uint64_t i,
                               uint64_t start, struct pb_memop_result *result, uint64_t *gfn,
                               int *rc)
{
    if (i != start && pb_hypercall_preempt_check()) {
        result->preempted = true;
        return true;
    }
    *gfn = r->extent_start[i];
    *rc = range_fits(p, *gfn, r->extent_order) ? 0 : -EINVAL;
    return *rc != 0;
}

/*
 * The build path's extent (Xen's populate_physmap while !creation_finished): the stash, or a
 * fresh allocation with MEMF_no_scrub|MEMF_keep_scrub that nobody owns yet; scrubbed here,
 * preemptibly; assigned only once clean. 0 with *mfn the domain's, -ERESTART (stashed), or an
 * error (nothing left allocated).
 */
static int build_extent(struct pb_heap *h, struct pb_domain *d, unsigned order, unsigned memflags,
                        uint64_t *mfn, struct pb_memop_counts *c)
{
    const unsigned flags = memflags | MEMF_no_scrub | MEMF_keep_scrub;
    int node = (memflags & MEMF_exact_node) ? MEMF_get_node(memflags) : -1;
    uint64_t progress = 0;
    int rc;
    if (pb_scrub_stash_take(d, order, node, mfn, &progress) == 0) {
        c->stash_hits++;
    } else {
        progress = 0;
        if ((rc = pb_alloc_domheap_pages(h, d, order, flags, mfn)) != 0)
            return rc;
    }
    rc = pb_scrub_extent_preemptible(h, *mfn, order, &progress, scrub_preempt, NULL);
    if (rc == -ERESTART) {
        /* Not the domain's yet: kept for the continuation (or freed, if a stash exists). */
        pb_scrub_stash_put(d, *mfn, order, progress);
        c->scrub_preemptions++;
        return rc;
    }
    PB_BUG_ON(rc != 0);
    /* Verification (when on): the heap checks what it scrubs, this path what it does. */
    rc = pb_verify_extent(h, *mfn, order);
    if (rc) {
        c->verify_failures++;
    } else {
        rc = pb_assign_pages(d, *mfn, order, flags);
        if (rc == 0)
            return 0;
    }
    /* Nobody's frames: free_domheap_pages scrubs them. */
    PB_BUG_ON(pb_free_domheap_pages(h, NULL, *mfn, order, true) != 0);
    return rc;
}

/*
 * One extent that is not PoD: allocate (the build path: build_extent), map it with
 * p2m_add_page. 0, -ERESTART (build path: scrub preempted, extent stashed) or an error
 * (nothing mapped, nothing left allocated). MEMF_no_scrub in memflags: the heap scrubs nothing
 * (pb_heap_set_no_scrub), here neither. *tlb_stamp: the build path's newest TLB stamp.
 */
static int populate_extent(struct pb_heap *h, struct pb_domain *d, struct p2m *p, uint64_t gfn,
                           unsigned order, unsigned memflags, struct pb_memop_counts *c,
                           uint32_t *tlb_stamp)
{
    const uint64_t n = 1ull << order;
    const bool building = !pb_domain_creation_finished(d);
    uint64_t mfn = 0;
    int rc;

    if (building && !(memflags & MEMF_no_scrub)) {
        rc = build_extent(h, d, order, memflags, &mfn, c);
        if (rc)
            return rc;
    } else {
        /* alloc_heap_pages scrubs, and verifies when verification is on (-EIO). */
        rc = pb_alloc_domheap_pages(h, d, order, memflags, &mfn);
        if (rc) {
            c->verify_failures += rc == -EIO;
            return rc;
        }
    }
    if (building) {
        /* accumulate_tlbflush, page by page: the allocation skipped the filter. */
        uint32_t stamp = pb_heap_tlbflush_stamps(h, mfn, order);
        if (stamp > *tlb_stamp)
            *tlb_stamp = stamp;
        c->flush_filter_skipped += n;
    }

    struct p2m_add_stats st;
    rc = p2m_add_page(p, gfn, mfn, order, &st);
    if (rc) {
        PB_BUG_ON(pb_free_domheap_pages(h, d, mfn, order, false) != 0);
        return rc;
    }
    c->replaced_frames += st.replaced_ram;
    c->extents++;
    c->frames += n;
    return 0;
}

static int populate_pod(struct p2m *p, uint64_t gfn, unsigned order, struct pb_memop_counts *c)
{
    /* Xen refuses to mark a range that holds RAM. */
    if (range_has(p, gfn, order, P2M_RAM_RW))
        return -EBUSY;
    uint64_t done = 0;
    int rc = p2m_apply(p, gfn, 1ull << order, P2M_POD, NULL, &done);
    if (rc)
        return rc;
    c->extents++;
    c->frames += 1ull << order;
    c->pod_frames += 1ull << order;
    return 0;
}

/* The option inject_alloc_delay_ns: a known slowdown of every extent allocated, spun (it
 * costs CPU time as a slower allocator would), outside every lock. */
static PB_NOINLINE void inject_delay(uint64_t ns)
{
    uint64_t end = pb_clock_ns() + ns;
    while (pb_clock_ns() < end)
        pb_cpu_relax();
}

static long populate_physmap(struct pb_heap *h, const struct pb_memop_caller *caller,
                             const struct pb_reservation *r, uint64_t start_extent,
                             struct pb_memop_result *result)
{
    const bool pod = r->mem_flags & XENMEMF_populate_on_demand;
    struct pb_domain *d = NULL;
    unsigned memflags = 0;
    int rc = memop_begin(h, caller, r, start_extent, pod, result, &d, &memflags);
    if (rc)
        return (long)start_extent;
    if (pod)
        memflags |= MEMF_populate_on_demand;
    if (pb_heap_no_scrub(h))
        memflags |= MEMF_no_scrub;
    /* During creation the per-page TLB and icache flushes are skipped (populate_physmap). */
    if (!pb_domain_creation_finished(d))
        memflags |= MEMF_no_tlbflush | MEMF_no_icache_flush;

    struct p2m *p = pb_domain_p2m(d);
    const unsigned order = r->extent_order;
    uint32_t tlb_stamp = 0;
    const uint64_t inject_ns =
        (uint64_t)pb_options_get(pb_heap_options(h), PB_OPT_INJECT_ALLOC_DELAY_NS);
    uint64_t i;
    for (i = start_extent; i < r->nr_extents; i++) {
        uint64_t gfn;
        if (extent_stop(r, p, i, start_extent, result, &gfn, &rc))
            break;
        if (pb_domain_dying(d)) {
            rc = -EINVAL; /* what assign_pages would say, before anything is allocated */
        } else if (pod) {
            rc = populate_pod(p, gfn, order, &result->c);
        } else {
            rc = populate_extent(h, d, p, gfn, order, memflags, &result->c, &tlb_stamp);
            if (pb_unlikely(inject_ns))
                inject_delay(inject_ns);
            if (rc == -ERESTART) {
                result->preempted = true;
                rc = 0;
                break;
            }
        }
        if (rc)
            break;
    }
    /* Xen's intent: one filtered flush for the invocation (its code finds no stamp). */
    if (tlb_stamp && pb_heap_filtered_flush(h, tlb_stamp))
        atomic_fetch_add_explicit(&global_ctr.batched_tlb_flushes, 1, memory_order_relaxed);
    result->nr_done = i;
    result->error = rc;
    return (long)i;
}

long pb_populate_physmap(struct pb_heap *h, const struct pb_memop_caller *caller,
                         const struct pb_reservation *r, uint64_t start_extent,
                         struct pb_memop_result *result)
{
    if (!h || !caller || !r || !result)
        return -EINVAL;
    unsigned cpu = pb_current_cpu();
    pb_cpu_busy_enter(h, cpu);
    long rc = populate_physmap(h, caller, r, start_extent, result);
    pb_cpu_busy_exit(h, cpu);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * decrease_reservation.
 */

/*
 * p2m_pod_decrease_reservation: remove the PoD markers of the extent's range (they hold no
 * frame); returns how many gfns were PoD.
 */
static uint64_t pod_decrease(struct p2m *p, uint64_t gfn, unsigned order)
{
    const uint64_t end = gfn + (1ull << order);
    uint64_t pod = 0;
    /* Xen looks at its PoD entry count first, under the p2m lock: none, nothing to do. */
    struct p2m_counters pc;
    p2m_counters_read(p, &pc);
    if (!pc.pod_frames)
        return 0;
    for (uint64_t g = gfn; g < end;) {
        struct p2m_entry e;
        PB_BUG_ON(p2m_lookup(p, g, &e) != 0);
        uint64_t next = (g | ((1ull << e.order) - 1)) + 1; /* the entry's end */
        if (next > end)
            next = end;
        if (e.type == P2M_POD) {
            uint64_t done = 0;
            /* A split needs memory; without it the markers stay and count as holes. */
            if (p2m_apply(p, g, next - g, P2M_INVALID, NULL, &done) == 0)
                pod += next - g;
        }
        g = next;
    }
    return pod;
}

static long decrease_reservation(struct pb_heap *h, const struct pb_memop_caller *caller,
                                 const struct pb_reservation *r, uint64_t start_extent, bool dirty,
                                 struct pb_memop_result *result)
{
    struct pb_domain *d = NULL;
    unsigned memflags = 0;
    int rc = memop_begin(h, caller, r, start_extent, false, result, &d, &memflags);
    if (rc)
        return (long)start_extent;

    struct p2m *p = pb_domain_p2m(d);
    const unsigned order = r->extent_order;
    const uint64_t n = 1ull << order;
    struct release_ctx rel = {.h = h, .d = d, .dirty = dirty};
    uint64_t i;
    for (i = start_extent; i < r->nr_extents; i++) {
        uint64_t gfn;
        if (extent_stop(r, p, i, start_extent, result, &gfn, &rc))
            break;
        uint64_t pod_done = pod_decrease(p, gfn, order);
        /* guest_remove_page for each gfn the PoD step left: a hole is expected exactly
         * pod_done times, any other stops the call here. */
        for (uint64_t j = 0; j + pod_done < n && !rc; j++) {
            rel.frames = 0;
            rc = p2m_remove_page(p, gfn + j, release_frames, &rel);
            result->c.released_frames += rel.frames;
            if (rc == -ENOENT && pod_done) {
                pod_done--;
                rc = 0;
            }
        }
        if (rc)
            break;
        result->c.extents++;
        result->c.frames += n;
    }
    result->nr_done = i;
    result->error = rc;
    return (long)i;
}

long pb_decrease_reservation(struct pb_heap *h, const struct pb_memop_caller *caller,
                             const struct pb_reservation *r, uint64_t start_extent, bool dirty,
                             struct pb_memop_result *result)
{
    if (!h || !caller || !r || !result)
        return -EINVAL;
    unsigned cpu = pb_current_cpu();
    pb_cpu_busy_enter(h, cpu);
    long rc = decrease_reservation(h, caller, r, start_extent, dirty, result);
    pb_cpu_busy_exit(h, cpu);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * Domains with a p2m.
 */

int pb_memop_domain_create(struct pb_heap *h, unsigned domid, const struct pb_domain_config *cfg,
                           uint64_t max_gfn, enum pb_lock_kind p2m_lock_kind,
                           struct pb_domain **out)
{
    if (!h || !cfg || !out)
        return -EINVAL;
    struct p2m *p = NULL;
    int rc = p2m_create(max_gfn, p2m_lock_kind, &p);
    if (rc)
        return rc;
    struct pb_domain *d = NULL;
    rc = pb_domain_create(h, domid, cfg, &d);
    if (rc) {
        p2m_destroy(p, NULL, NULL);
        return rc;
    }
    p2m_set_m2p(p, pb_heap_m2p(h));
    pb_domain_set_p2m(d, p);
    *out = d;
    return 0;
}

/* The preemption check of relinquish_memory. */
static bool relinquish_preempt(void *ctx)
{
    (void)ctx;
    return pb_hypercall_preempt_check();
}

void pb_memop_domain_destroy(struct pb_heap *h, struct pb_domain *d)
{
    if (!h || !d)
        return;
    unsigned cpu = pb_current_cpu();
    pb_cpu_busy_enter(h, cpu);
    pb_domain_kill(d);
    pb_domain_free_stash(d);
    /* The p2m goes first (Xen: paging teardown); the frames stay on d's list until relinquished. */
    struct p2m *p = pb_domain_p2m(d);
    if (p)
        p2m_destroy(p, NULL, NULL);
    uint64_t freed = 0, continuations = 0;
    while (pb_domain_relinquish_memory(d, relinquish_preempt, NULL, &freed) == -ERESTART)
        continuations++;
    atomic_fetch_add_explicit(&global_ctr.destroy_frames, freed, memory_order_relaxed);
    atomic_fetch_add_explicit(&global_ctr.destroy_continuations, continuations,
                              memory_order_relaxed);
    pb_domain_destroy(d); /* nothing left to free: forgets the domain */
    pb_cpu_busy_exit(h, cpu);
}

int pb_memop_finish_creation(struct pb_heap *h, struct pb_domain *d)
{
    if (!h || !d)
        return -EINVAL;
    if (pb_domain_creation_finished(d))
        return 0;
    /* A half-scrubbed extent still stashed: Xen refuses to start the domain (crashes it). */
    if (pb_domain_free_stash(d))
        return -EBUSY;
    pb_domain_finish_creation(d);
    return 0;
}

void pb_memop_global_counters_read(struct pb_memop_global_counters *out)
{
    out->batched_tlb_flushes =
        atomic_load_explicit(&global_ctr.batched_tlb_flushes, memory_order_relaxed);
    out->destroy_frames = atomic_load_explicit(&global_ctr.destroy_frames, memory_order_relaxed);
    out->destroy_continuations =
        atomic_load_explicit(&global_ctr.destroy_continuations, memory_order_relaxed);
}
