/*
 * pcp.c: the `pcp` variant, per-CPU caches of free clean order-0 and order-9 frames in front of
 * `pernode` (the rules are in heap.h, the structures in heap_impl.h). The caches' moves to and
 * from the free lists are heap.c's (pb_heap_cache_take, pb_heap_cache_give); everything else a
 * cache does, and every fall-back onto pernode, is here.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/heap_impl.h"
#include "core/memflags.h"
#include "core/scrub.h"

static __thread int current_cpu = -1;

void pb_set_current_cpu(unsigned cpu)
{
    current_cpu = (int)(cpu % PB_PCP_MAX_CPUS);
}

static PB_NOINLINE unsigned first_cpu_lookup(void)
{
    int c = sched_getcpu();
    current_cpu = c < 0 ? 0 : c % PB_PCP_MAX_CPUS;
    return (unsigned)current_cpu;
}

static inline unsigned this_cpu(void)
{
    return pb_likely(current_cpu >= 0) ? (unsigned)current_cpu : first_cpu_lookup();
}

unsigned pb_current_cpu(void)
{
    return this_cpu();
}

static inline int pcp_order_index(unsigned order)
{
    return order == 0 ? 0 : order == PB_PCP_HI_ORDER ? 1 : -1;
}

static inline struct pb_pcp_list *pcp_list(struct pb_pcp *p, unsigned node, int oi)
{
    return &p->lists[node * PB_PCP_ORDERS + (unsigned)oi];
}

static size_t pcp_size(const struct pb_heap *h)
{
    return sizeof(struct pb_pcp) + h->nr_nodes * PB_PCP_ORDERS * sizeof(struct pb_pcp_list);
}

/* A CPU slot's caches, made on its first use: out of the fast path below. */
static PB_NOINLINE struct pb_pcp *pcp_create(struct pb_heap *h, unsigned cpu)
{
    size_t len = (pcp_size(h) + PB_CACHELINE - 1) / PB_CACHELINE * PB_CACHELINE;
    struct pb_pcp *mine = aligned_alloc(PB_CACHELINE, len);
    if (!mine)
        return NULL;
    memset(mine, 0, len);
    mine->cpu = cpu;
    snprintf(mine->lock_name, sizeof(mine->lock_name), "pcp.cpu%u", cpu);
    pb_lock_init(&mine->lock, mine->lock_name, PB_RANK_PCP, h->lock_kind);
    /* Its holds last a few ns: timing them (two clock reads) would cost more than they do. */
    pb_lock_set_hold_timing(&mine->lock, false);
    struct pb_pcp *p = NULL;
    PB_SHARED_WRITES(1);
    if (atomic_compare_exchange_strong_explicit(&h->pcp[cpu], &p, mine, memory_order_acq_rel,
                                                memory_order_acquire))
        return mine;
    /* Another thread of this CPU slot was first. */
    pb_lock_destroy(&mine->lock);
    free(mine);
    return p;
}

/* The calling CPU's caches, created on first use. NULL only when out of memory. */
static inline struct pb_pcp *pcp_get(struct pb_heap *h)
{
    unsigned cpu = this_cpu();
    struct pb_pcp *p = atomic_load_explicit(&h->pcp[cpu], memory_order_acquire);
    return pb_likely(p != NULL) ? p : pcp_create(h, cpu);
}

/* The first CPU slot from *cpu on that has caches (NULL: none left); *cpu moves past it. */
static struct pb_pcp *pcp_next(const struct pb_heap *h, unsigned *cpu)
{
    for (; *cpu < PB_PCP_MAX_CPUS; ++*cpu) {
        struct pb_pcp *p = atomic_load_explicit(&h->pcp[*cpu], memory_order_acquire);
        if (p) {
            ++*cpu;
            return p;
        }
    }
    return NULL;
}

/* The node an allocation tries first: visit_order's first node. */
static inline unsigned first_node(const struct pb_heap *h, const struct pb_domain *d, int req_node,
                                  unsigned memflags)
{
    if (req_node >= 0)
        return (unsigned)req_node;
    if (d) {
        uint64_t online = pb_online_nodes(h);
        uint64_t mask = d->node_affinity & online ? d->node_affinity & online : online;
        unsigned last = atomic_load_explicit(&d->last_alloc_node, memory_order_relaxed);
        /* As visit_order: a claimed node first (within the affinity under exact_node). */
        if (pb_unlikely(pb_domain_has_node_claims(d, memflags))) {
            uint64_t allowed = memflags & MEMF_exact_node ? mask : online;
            for (unsigned i = 1; i <= h->nr_nodes; i++) {
                unsigned node = (last + i) % h->nr_nodes;
                if ((allowed & (1ull << node)) &&
                    atomic_load_explicit(&d->node_claim[node], memory_order_relaxed) > 0)
                    return node;
            }
        }
        return pb_cycle_node(last, mask, h->nr_nodes);
    }
    return pb_current_node_tls < h->nr_nodes ? pb_current_node_tls : 0;
}

/*
 * Reserve up to `want` frames of nd's unclaimed credit for a refill, in whole units (cached
 * frames are outside the pool and the credits, so moving frames into a cache takes them out of
 * the unclaimed frames, never below zero). Near the limits: what is left, or nothing (then the
 * allocation takes the pernode path, which is exact).
 */
static int64_t pcp_reserve(struct pb_heap *h, struct pb_node *nd, int64_t want, int64_t unit)
{
    if (pb_credit_take(h, nd, want))
        return want;
    int64_t have = atomic_load_explicit(&nd->credit, memory_order_relaxed) +
                   atomic_load_explicit(&h->unclaimed, memory_order_relaxed);
    int64_t take = (have < want ? have : want) / unit * unit;
    return take > 0 && pb_credit_take(h, nd, take) ? take : 0;
}

/* Refill a list with up to one batch of clean buddies from its node. Cache lock held. */
static void pcp_refill(struct pb_heap *h, struct pb_pcp *p, struct pb_node *nd,
                       struct pb_pcp_list *l, int oi, unsigned order)
{
    const int64_t unit = (int64_t)1 << order;
    unsigned batch = h->pcp_wm[oi].batch;
    if (batch > PB_PCP_CAP - l->count)
        batch = PB_PCP_CAP - l->count;
    int64_t reserved = pcp_reserve(h, nd, (int64_t)batch * unit, unit);
    if (!reserved)
        return;
    int64_t got =
        pb_heap_cache_take(h, nd, l, order, (unsigned)(reserved / unit), &p->node_frames[nd->id]);
    if (reserved > got)
        pb_credit_give(h, nd, reserved - got);
    if (got)
        pb_owned_add(&p->refills, 1);
}

/* Give the `nr` oldest entries of a list back to the buddy lists. Cache lock held. */
static void pcp_drain_list(struct pb_heap *h, struct pb_pcp *p, struct pb_node *nd,
                           struct pb_pcp_list *l, unsigned order, unsigned nr)
{
    if (nr > l->count)
        nr = l->count;
    if (!nr)
        return;
    pb_heap_cache_give(h, nd, l, order, nr, &p->node_frames[nd->id]);
    /* Back in the buddy lists: unclaimed again, as the node's credit. */
    pb_credit_give(h, nd, (int64_t)nr << order);
    pb_owned_add(&p->drains, 1);
}

void pb_pcp_drain_all(struct pb_heap *h)
{
    if (!h)
        return;
    struct pb_pcp *p;
    for (unsigned cpu = 0; (p = pcp_next(h, &cpu));) {
        pb_lock_acquire(&p->lock);
        for (unsigned n = 0; n < h->nr_nodes; n++)
            for (int oi = 0; oi < PB_PCP_ORDERS; oi++)
                pcp_drain_list(h, p, h->nodes[n], pcp_list(p, n, oi), oi ? PB_PCP_HI_ORDER : 0,
                               PB_PCP_CAP);
        pb_lock_release(&p->lock);
    }
}

/*
 * The fast path: one extent from this CPU's cache of the first node. -EAGAIN when the cache is
 * empty and no clean buddy refills it (the caller takes the pernode path).
 */
static int pcp_take(struct pb_heap *h, struct pb_pcp *p, unsigned node, int oi, unsigned order,
                    unsigned memflags, struct pb_domain *d, uint64_t *out)
{
    const int64_t need = (int64_t)1 << order;
    struct pb_node *nd = h->nodes[node];
    struct pb_pcp_list *l = pcp_list(p, node, oi);
    pb_lock_acquire(&p->lock);
    if (l->count == 0)
        pcp_refill(h, p, nd, l, oi, order);
    if (l->count == 0) {
        pb_lock_release(&p->lock);
        return -EAGAIN;
    }
    uint64_t mfn = l->ring[l->head];
    l->head = (l->head + 1) % PB_PCP_CAP;
    l->count--;
    if (pb_frames_hand_over(h, mfn, need, memflags, true))
        pb_owned_add(&p->tlb_flushes, 1);
    pb_owned_add(&p->node_frames[node], -need);
    pb_owned_add(&p->allocs, 1);
    pb_lock_release(&p->lock);

    /*
     * Cached frames belong to the unclaimed part of the free memory, so the allocation needs
     * no reservation; a domain with a claim consumes it first, as in claims_reserve, and the
     * frames its claim no longer covers become unclaimed again: the node's credit.
     */
    if (d && !(memflags & MEMF_no_refcount)) {
        /* Node first: d's claim on this node, then its host-wide claim. */
        int64_t t = 0;
        if (pb_unlikely(pb_domain_has_node_claims(d, memflags))) {
            t = pb_node_claim_take(d, node, need);
            if (t) {
                pb_node_claim_retire(h, d, nd, t, false);
                pb_credit_give(h, nd, t);
            }
        }
        int64_t c = atomic_load_explicit(&d->claim, memory_order_relaxed);
        while (c > 0 && t < need) {
            int64_t k = c < need - t ? c : need - t;
            if (atomic_compare_exchange_weak_explicit(&d->claim, &c, c - k, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                pb_claims_retire(h, nd, k, false);
                pb_credit_give(h, nd, k);
                break;
            }
        }
        atomic_store_explicit(&d->last_alloc_node, node, memory_order_relaxed);
    } else if (d) {
        atomic_store_explicit(&d->last_alloc_node, node, memory_order_relaxed);
    }
    if (!(memflags & MEMF_no_scrub) &&
        atomic_load_explicit(&h->verify_mode, memory_order_relaxed) != PB_VERIFY_OFF &&
        pb_verify_extent(h, mfn, order) != 0) {
        pb_pernode_free(h, mfn, order, true);
        return -EIO;
    }
    *out = mfn;
    return 0;
}

int pb_pcp_alloc(struct pb_heap *h, unsigned zlo, unsigned zhi, unsigned order, unsigned memflags,
                 struct pb_domain *d, uint64_t *mfn)
{
    int oi = pcp_order_index(order);
    int req_node = MEMF_get_node(memflags);
    /* Only unrestricted zones use the caches (a cache does not sort its frames by zone), or
     * every zone above the DMA zone: a cache never holds DMA memory. */
    if (oi >= 0 && zlo >= 1 && zlo <= h->dma_zone + 1 && zhi == PB_NR_ZONES - 1 &&
        !(memflags & ~MEMF_KNOWN_MASK) && req_node < (int)h->nr_nodes && mfn) {
        struct pb_pcp *p = pcp_get(h);
        if (p) {
            int rc =
                pcp_take(h, p, first_node(h, d, req_node, memflags), oi, order, memflags, d, mfn);
            if (rc != -EAGAIN)
                return rc;
        }
    }
    int rc = pb_pernode_alloc(h, zlo, zhi, order, memflags, d, mfn);
    if (rc == -ENOMEM) {
        /* Frames sitting in caches may be what is missing: drain them all, retry once. */
        pb_pcp_drain_all(h);
        rc = pb_pernode_alloc(h, zlo, zhi, order, memflags, d, mfn);
        if (rc == 0) /* the first try was not a failure of the call */
            PB_HOST_ADD(&h->alloc_failures, (uint64_t)-1);
    }
    return rc;
}

/* Clean order-0 and order-9 frees go to this CPU's cache of their node; the rest bypass it. */
void pb_pcp_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub)
{
    int oi = pcp_order_index(order);
    const uint64_t n = 1ull << order;
    bool clean = oi >= 0 && !need_scrub && pb_mfn_zone(mfn) > h->dma_zone;
    /* A frame still flagged from an allocation with MEMF_keep_scrub is dirty: bypass. */
    for (uint64_t i = 0; clean && i < n; i++)
        clean = !pb_pg(h, mfn + i)->need_scrub;
    struct pb_pcp *p = clean ? pcp_get(h) : NULL;
    if (!p) {
        pb_pernode_free(h, mfn, order, need_scrub);
        return;
    }
    struct pb_node *nd = pb_node_of(h, mfn);
    struct pb_pcp_list *l = pcp_list(p, nd->id, oi);
    pb_lock_acquire(&p->lock);
    for (uint64_t i = 0; i < n; i++) {
        struct pb_page *pg = pb_pg(h, mfn + i);
        PB_BUG_ON(pg->state != PGS_INUSE);
        pg->owner = PB_OWNER_CACHED;
        pb_m2p_set(&h->m2p, mfn + i, PB_M2P_INVALID); /* mark_page_free */
    }
    l->ring[(l->head + l->count++) % PB_PCP_CAP] = (uint32_t)mfn;
    pb_owned_add(&p->node_frames[nd->id], (int64_t)n);
    pb_owned_add(&p->frees, 1);
    if (l->count > h->pcp_wm[oi].high)
        pcp_drain_list(h, p, nd, l, order, h->pcp_wm[oi].batch);
    pb_lock_release(&p->lock);
}

int pb_pcp_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts, unsigned nr)
{
    int rc = pb_pernode_claim(h, d, parts, nr);
    if (rc == -ENOMEM) {
        pb_pcp_drain_all(h);
        rc = pb_pernode_claim(h, d, parts, nr);
    }
    return rc;
}

static bool is_pcp(const struct pb_heap *h)
{
    return h->ops->alloc_heap_pages == pb_pcp_alloc;
}

/* The options of each order index's watermarks. */
static const enum pb_option opt_batch[PB_PCP_ORDERS] = {PB_OPT_PCP_BATCH_ORDER0,
                                                        PB_OPT_PCP_BATCH_ORDER9};
static const enum pb_option opt_high[PB_PCP_ORDERS] = {PB_OPT_PCP_HIGH_ORDER0,
                                                       PB_OPT_PCP_HIGH_ORDER9};

void pb_pcp_apply_options(struct pb_heap *h)
{
    for (int oi = 0; oi < PB_PCP_ORDERS; oi++)
        h->pcp_wm[oi] = (struct pb_pcp_watermarks){
            (unsigned)pb_options_get(&h->opts, opt_batch[oi]),
            (unsigned)pb_options_get(&h->opts, opt_high[oi]),
        };
}

int pb_pcp_set_watermarks(struct pb_heap *h, unsigned order, unsigned batch, unsigned high)
{
    int oi = pcp_order_index(order);
    if (!h || !is_pcp(h) || oi < 0)
        return -EINVAL;
    struct pb_options o = h->opts;
    if (pb_options_set(&o, pb_option_desc(opt_batch[oi])->name, batch) ||
        pb_options_set(&o, pb_option_desc(opt_high[oi])->name, high))
        return -EINVAL;
    return pb_heap_set_options(h, &o);
}

int pb_pcp_get_watermarks(const struct pb_heap *h, unsigned order, unsigned *batch, unsigned *high)
{
    int oi = pcp_order_index(order);
    if (!h || !is_pcp(h) || oi < 0 || !batch || !high)
        return -EINVAL;
    *batch = h->pcp_wm[oi].batch;
    *high = h->pcp_wm[oi].high;
    return 0;
}

uint64_t pb_pcp_cached(const struct pb_heap *h, unsigned cpu, unsigned node, unsigned order)
{
    int oi = pcp_order_index(order);
    if (!h || oi < 0 || cpu >= PB_PCP_MAX_CPUS || node >= h->nr_nodes)
        return 0;
    struct pb_pcp *p = atomic_load_explicit(&h->pcp[cpu], memory_order_acquire);
    if (!p)
        return 0;
    pb_lock_acquire(&p->lock);
    uint64_t c = pcp_list(p, node, oi)->count;
    pb_lock_release(&p->lock);
    return c;
}

/* Frames cached on a node (all CPUs), or on every node when node == PB_MAX_NODES; acquire
 * loads, for node_free_frames' sequence (claims.c). */
uint64_t pb_pcp_cached_frames(const struct pb_heap *h, unsigned node)
{
    uint64_t sum = 0;
    struct pb_pcp *p;
    for (unsigned cpu = 0; is_pcp(h) && (p = pcp_next(h, &cpu));)
        for (unsigned n = 0; n < h->nr_nodes; n++)
            if (node == PB_MAX_NODES || node == n)
                sum += atomic_load_explicit(&p->node_frames[n], memory_order_acquire);
    return sum;
}

/* Frames cached on a node within one zone: walks the rings under their locks. */
uint64_t pb_pcp_cached_zone(const struct pb_heap *h, unsigned node, unsigned zone)
{
    uint64_t sum = 0;
    struct pb_pcp *p;
    for (unsigned cpu = 0; is_pcp(h) && (p = pcp_next(h, &cpu));) {
        pb_lock_acquire(&p->lock);
        for (int oi = 0; oi < PB_PCP_ORDERS; oi++) {
            const struct pb_pcp_list *l = pcp_list(p, node, oi);
            for (uint32_t k = 0; k < l->count; k++)
                if (pb_mfn_zone(l->ring[(l->head + k) % PB_PCP_CAP]) == zone)
                    sum += 1ull << (oi ? PB_PCP_HI_ORDER : 0);
        }
        pb_lock_release(&p->lock);
    }
    return sum;
}

void pb_pcp_destroy_all(struct pb_heap *h)
{
    struct pb_pcp *p;
    for (unsigned cpu = 0; (p = pcp_next(h, &cpu));) {
        pb_lock_destroy(&p->lock);
        free(p);
    }
}

void pb_pcp_add_counters(const struct pb_heap *h, struct pb_heap_counters *out)
{
    const struct pb_pcp *p;
    for (unsigned cpu = 0; is_pcp(h) && (p = pcp_next(h, &cpu));) {
        out->allocs += pb_ld(&p->allocs);
        out->frees += pb_ld(&p->frees);
        out->tlb_flushes += pb_ld(&p->tlb_flushes);
        out->pcp_refills += pb_ld(&p->refills);
        out->pcp_drains += pb_ld(&p->drains);
    }
}

void pb_pcp_for_each_lock(const struct pb_heap *h, pb_lock_visitor visit, void *ctx)
{
    struct pb_pcp *p;
    for (unsigned cpu = 0; is_pcp(h) && (p = pcp_next(h, &cpu));)
        visit(ctx, &p->lock);
}
