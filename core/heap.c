/*
 * heap.c: the buddy heap (XEN-MODEL.md §1-3) and its variants `xen` and `pernode`: the free
 * lists, get_free_buddy's search, splitting on allocation and merging on free, and the claims
 * check of every allocation (claims_reserve). The host-wide counters, the nodes' credit and
 * staking a claim are in claims.c, the pcp caches in pcp.c (their moves to and from the free
 * lists are here), the machine and the accessors in machine.c, the scrubbing in scrub.c.
 *
 * `xen` takes one global heap lock around the whole of alloc_heap_pages and free_heap_pages,
 * as Xen does. `pernode` takes only the lock of the node it searches or frees into, and
 * keeps its claims accounting on that node's lines (a credit of unclaimed frames; see
 * claims.c). Both share every line of the algorithm: the variant functions below instantiate
 * one inline implementation with `global` constant, so neither pays a branch for the other.
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "core/clear.h"
#include "core/heap_impl.h"
#include "core/memflags.h"
#include "core/scrub.h"

/* ------------------------------------------------------------------------------------------
 * Free buddies.
 */

unsigned pb_mfn_zone(uint64_t mfn)
{
    return mfn ? 64u - (unsigned)__builtin_clzll(mfn) : 0u;
}

/* Put a free buddy on its list: clean at the head, dirty at the tail. Heap lock held. */
static void buddy_insert(struct pb_heap *h, struct pb_node *nd, uint64_t mfn, unsigned order,
                         uint32_t first_dirty)
{
    struct pb_page *pg = pb_pg(h, mfn);
    struct pb_list *l = &nd->free[pb_mfn_zone(mfn)][order];
    pg->order = (uint8_t)order;
    pg->first_dirty = first_dirty;
    atomic_store_explicit(&pg->scrub, PB_SCRUB_NONE, memory_order_relaxed);
    if (first_dirty == PB_CLEAN)
        pb_page_list_add_head(h, l, (uint32_t)mfn);
    else
        pb_page_list_add_tail(h, l, (uint32_t)mfn);
}

/*
 * A buddy someone now needs (an allocation or a merge) may be under a background scrub that
 * runs without the heap lock: ask the scrubber to give it up and wait until it has published
 * its progress (first_dirty) and let go. The scrubber never waits for the heap lock while it
 * holds a buddy, so waiting here with the lock held cannot deadlock; it checks for ABORT after
 * every frame (xen) or short run of frames (pernode), so the wait is about one such clear (a
 * yield now and then lets a scrubber that shares this CPU run). A buddy left DONE (clean, its
 * scrubber not yet back under the lock to move it) is simply taken. Either way the buddy's state is
 * NONE on return, and its first_dirty and its frames' need_scrub are the scrubber's last word. Heap
 * lock held.
 */
static void stop_scrub(struct pb_page *pg)
{
    uint8_t st = PB_SCRUBBING;
    if (atomic_compare_exchange_strong_explicit(&pg->scrub, &st, PB_SCRUB_ABORT,
                                                memory_order_acq_rel, memory_order_acquire)) {
        for (unsigned spins = 1;
             atomic_load_explicit(&pg->scrub, memory_order_acquire) != PB_SCRUB_NONE; spins++) {
            if (spins % 1024 == 0)
                sched_yield();
            else
                pb_cpu_relax();
        }
    } else if (st == PB_SCRUB_DONE) {
        atomic_store_explicit(&pg->scrub, PB_SCRUB_NONE, memory_order_relaxed);
    }
}

/* A refill or a drain of nd's frames (its heap lock held): see node_free_frames. */
static inline void move_begin(struct pb_node *nd)
{
    uint32_t seq = atomic_load_explicit(&nd->move_seq, memory_order_relaxed);
    atomic_store_explicit(&nd->move_seq, seq + 1, memory_order_relaxed);
}

static inline void move_end(struct pb_node *nd)
{
    uint32_t seq = atomic_load_explicit(&nd->move_seq, memory_order_relaxed);
    atomic_store_explicit(&nd->move_seq, seq + 1, memory_order_release);
}

/*
 * The claims check of alloc_heap_pages (§2 steps 2 and 5): reserve `need` frames, taking
 * min(claim, need) from d's claim and the rest from the unclaimed frames: xen's counter
 * (before the search, under the global lock; nd unused), or nd's credit (pernode, pcp: for the
 * node being tried, under its lock). As in Xen, a domain whose claim covers the request always
 * passes; any other request needs the unclaimed frames to hold all of it. *took is what came
 * from the claim; nothing changes on -ENOMEM.
 */
static inline int claims_reserve(struct pb_heap *h, struct pb_node *nd, struct pb_domain *d,
                                 int64_t need, unsigned memflags, int64_t *took, const bool global)
{
    int64_t take = 0;
    if (d && !(memflags & MEMF_no_refcount)) {
        int64_t c = atomic_load_explicit(&d->claim, memory_order_relaxed);
        while (c > 0) {
            int64_t t = c < need ? c : need;
            if (global) {
                atomic_store_explicit(&d->claim, c - t, memory_order_relaxed);
                take = t;
                break;
            }
            if (atomic_compare_exchange_weak_explicit(&d->claim, &c, c - t, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                take = t;
                break;
            }
        }
    }
    if (take < need) {
        /* Xen's rule: a claim that does not cover the request is no help; the unclaimed
         * frames must hold all of it. Reserve `need`, then give back what the claim paid. */
        if (!(global ? pb_pool_take(h, need, true) : pb_credit_take(h, nd, need))) {
            if (take)
                pb_ctr_add(&d->claim, take, global);
            return -ENOMEM;
        }
        if (take && global)
            pb_host_add(&h->unclaimed, take, true);
        else if (take)
            pb_credit_give(h, nd, take);
    }
    if (global) {
        pb_host_add(&h->outstanding_claims, -take, true);
        pb_host_add(&h->total_avail, -need, true);
    } else {
        pb_claims_retire(h, nd, take, false);
    }
    *took = take;
    return 0;
}

/*
 * Undo claims_reserve after a failed search. A claim released meanwhile by
 * XENMEM_claim_pages(0) gets `took` back: the accounting stays exact, the domain merely keeps
 * a claim it was releasing while one of its own allocations failed.
 */
static inline void claims_unreserve(struct pb_heap *h, struct pb_node *nd, struct pb_domain *d,
                                    int64_t need, int64_t took, const bool global)
{
    if (took)
        pb_ctr_add(&d->claim, took, global);
    if (global) {
        pb_host_add(&h->outstanding_claims, took, true);
        pb_host_add(&h->unclaimed, need - took, true);
        pb_host_add(&h->total_avail, need, true);
    } else {
        pb_claims_retire(h, nd, -took, false);
        if (need > took)
            pb_credit_give(h, nd, need - took);
    }
}

/*
 * Give back what node_claim_take took. A claim released meanwhile keeps it (claimed still
 * counts it: the release moved only what it found), as claims_unreserve does.
 */
static inline void node_claim_untake(struct pb_domain *d, unsigned n, int64_t t)
{
    if (t)
        atomic_fetch_add_explicit(&d->node_claim[n], t, memory_order_relaxed);
}

/* ------------------------------------------------------------------------------------------
 * get_free_buddy (§2): the node visit order and the search.
 */

__thread unsigned pb_current_node_tls;

void pb_set_current_node(unsigned node)
{
    pb_current_node_tls = node;
}

unsigned pb_current_node(void)
{
    return pb_current_node_tls;
}

/*
 * The order in which get_free_buddy visits nodes (seq has room for PB_MAX_NODES + 1): the
 * requested node, else the node after the domain's last_alloc_node within its affinity
 * (extents rotate over the domain's nodes), else the calling CPU's node; then the rest of the
 * affinity mask, wrapping, or, when the first node lies outside the mask, the whole mask from
 * its lowest node; then, unless MEMF_exact_node, the online nodes outside the mask from the
 * lowest (a first node outside the mask comes again there, as in Xen). A requested node id
 * that is not online (below PB_MAX_NODES, Xen's MAX_NUMNODES) has no memory: it is skipped
 * as a node with empty lists would be, and an exact request for it finds nothing.
 */
static unsigned visit_order(const struct pb_heap *h, const struct pb_domain *d, int req_node,
                            unsigned memflags, unsigned seq[PB_MAX_NODES + 1])
{
    uint64_t online = pb_online_nodes(h);
    uint64_t mask = d && (d->node_affinity & online) ? d->node_affinity & online : online;
    unsigned first;
    if (req_node >= 0)
        first = (unsigned)req_node;
    else if (d)
        first = pb_cycle_node(atomic_load_explicit(&d->last_alloc_node, memory_order_relaxed), mask,
                              h->nr_nodes);
    else
        first = pb_current_node_tls < h->nr_nodes ? pb_current_node_tls : 0;
    unsigned n = 0;
    if (first < h->nr_nodes)
        seq[n++] = first;
    if (req_node >= 0 && (memflags & MEMF_exact_node))
        return n;
    if (first < h->nr_nodes && (mask & (1ull << first))) {
        for (unsigned i = 1; i < h->nr_nodes; i++) {
            unsigned node = (first + i) % h->nr_nodes;
            if (mask & (1ull << node))
                seq[n++] = node;
        }
    } else {
        for (unsigned node = 0; node < h->nr_nodes; node++)
            if (mask & (1ull << node))
                seq[n++] = node;
    }
    if (!(memflags & MEMF_exact_node))
        for (unsigned node = 0; node < h->nr_nodes; node++)
            if (!(mask & (1ull << node)))
                seq[n++] = node;
    /* Node claims: unless the caller named a node, those of the nodes above where d still has
     * a node claim come first, rotating from the one after its last allocation. */
    if (req_node < 0 && pb_domain_has_node_claims(d, memflags)) {
        unsigned out[PB_MAX_NODES + 1], m = 0;
        uint64_t listed = 0, taken = 0;
        for (unsigned k = 0; k < n; k++)
            listed |= 1ull << seq[k];
        unsigned last = atomic_load_explicit(&d->last_alloc_node, memory_order_relaxed);
        for (unsigned i = 1; i <= h->nr_nodes; i++) {
            unsigned node = (last + i) % h->nr_nodes;
            if ((listed & (1ull << node)) &&
                atomic_load_explicit(&d->node_claim[node], memory_order_relaxed) > 0) {
                out[m++] = node;
                taken |= 1ull << node;
            }
        }
        for (unsigned k = 0; k < n; k++)
            if (!(taken & (1ull << seq[k])))
                out[m++] = seq[k];
        memcpy(seq, out, m * sizeof(*seq));
        n = m;
    }
    return n;
}

struct found {
    struct pb_node *node;
    uint64_t mfn;
    unsigned order;
    uint32_t first_dirty;
};

/*
 * Take from one node the head buddy of at least `order`: zones from zone_hi down, orders
 * upwards. A clean head is taken; a dirty one only if dirty_ok, else (get_free_buddy, `rotate`)
 * it goes to the tail of its list. The node's heap lock is held.
 */
static inline bool take_buddy_locked(struct pb_heap *h, struct pb_node *nd, unsigned zone_lo,
                                     unsigned zone_hi, unsigned order, bool dirty_ok, bool rotate,
                                     struct found *f)
{
    uint64_t need = 1ull << order;
    for (unsigned zone = zone_hi + 1; zone-- > zone_lo;) {
        if (pb_ld(&nd->avail[zone]) < need)
            continue;
        for (unsigned j = order; j <= PB_MAX_ORDER; j++) {
            uint32_t head = nd->free[zone][j].head;
            if (head == PB_NO_FRAME)
                continue;
            struct pb_page *pg = pb_pg(h, head);
            /* first_dirty of a buddy under a scrub is the scrubber's until stop_scrub. */
            uint8_t st = atomic_load_explicit(&pg->scrub, memory_order_acquire);
            if (!dirty_ok &&
                (st == PB_SCRUBBING || (st != PB_SCRUB_DONE && pg->first_dirty != PB_CLEAN))) {
                /* Clean ones come first, so this list has none: as Xen, the dirty head goes to
                 * the tail and the next order is tried. */
                struct pb_list *l = &nd->free[zone][j];
                if (rotate && l->tail != head) {
                    pb_page_list_del(h, l, head);
                    pb_page_list_add_tail(h, l, head);
                }
                continue;
            }
            if (st != PB_SCRUB_NONE) /* NONE is stable: only a lock holder leaves it */
                stop_scrub(pg);
            pb_page_list_del(h, &nd->free[zone][j], head);
            f->node = nd;
            f->mfn = head;
            f->order = j;
            f->first_dirty = pg->first_dirty;
            return true;
        }
    }
    return false;
}

/*
 * The claims of one allocation. xen without node claims makes the host-wide reservation
 * (claims_reserve) once before the search, and admits a node if its unclaimed frames cover
 * the request. Otherwise the reservation depends on the node, so it is made per node visited:
 * with node claims (`nodal`) d's claim on that node first; then claims_reserve for the rest
 * (pernode, pcp: from the node's credit), undone if the node has no buddy.
 */
struct claim_ctx {
    struct pb_domain *d;
    unsigned memflags;
    int64_t need;
    bool nodal;
    int64_t took;      /* from d's host-wide claim */
    int64_t node_took; /* nodal: from d's claim on the node being tried */
};

/* Reserve for an allocation from nd (its heap lock held); false: skip this node. */
static inline bool admit_locked(struct pb_heap *h, struct pb_node *nd, struct claim_ctx *c,
                                const bool global)
{
    if (global && !c->nodal)
        return pb_node_unclaimed(nd) >= c->need;
    c->node_took = c->nodal ? pb_node_claim_take(c->d, nd->id, c->need) : 0;
    if (pb_node_unclaimed(nd) + c->node_took >= c->need) {
        if (claims_reserve(h, nd, c->d, c->need - c->node_took, c->memflags, &c->took, global) == 0)
            return true;
    }
    node_claim_untake(c->d, nd->id, c->node_took);
    return false;
}

static inline void unadmit_locked(struct pb_heap *h, struct pb_node *nd, struct claim_ctx *c,
                                  const bool global)
{
    if (global && !c->nodal)
        return;
    claims_unreserve(h, nd, c->d, c->need - c->node_took, c->took, global);
    node_claim_untake(c->d, nd->id, c->node_took);
}

/*
 * Search the nodes in order for a buddy of at least `order`. On success the buddy is off its
 * list and (pernode) its node's lock is still held.
 */
static PB_ALWAYS_INLINE bool search(struct pb_heap *h, const unsigned *seq, unsigned nseq,
                                    unsigned zone_lo, unsigned zone_hi, unsigned order,
                                    bool dirty_ok, struct claim_ctx *c, struct found *f,
                                    const bool global)
{
    for (unsigned k = 0; k < nseq; k++) {
        struct pb_node *nd = h->nodes[seq[k]];
        if (!global)
            pb_lock_acquire(&nd->own_lock);
        if (admit_locked(h, nd, c, global)) {
            if (take_buddy_locked(h, nd, zone_lo, zone_hi, order, dirty_ok, true, f))
                return true;
            unadmit_locked(h, nd, c, global);
        }
        if (!global)
            pb_lock_release(&nd->own_lock);
    }
    return false;
}

/* Both passes: clean memory on any node beats dirty memory anywhere, except for order 0. */
static PB_ALWAYS_INLINE bool search_passes(struct pb_heap *h, const unsigned *seq, unsigned nseq,
                                           unsigned zone_lo, unsigned zone_hi, unsigned order,
                                           unsigned memflags, struct claim_ctx *c, struct found *f,
                                           bool *second, const bool global)
{
    /* Clean memory on any node beats dirty memory anywhere, except for order 0. As in Xen, a
     * failed search is repeated accepting dirty buddies, for order 0 too (where it can only
     * fail again, after a second full search under the lock). */
    if (search(h, seq, nseq, zone_lo, zone_hi, order, order == 0 || (memflags & MEMF_no_scrub), c,
               f, global))
        return true;
    if (memflags & MEMF_no_scrub)
        return false;
    *second = true;
    return search(h, seq, nseq, zone_lo, zone_hi, order, true, c, f, global);
}

/*
 * Split a found buddy from the top down to `order`, putting each lower half back; returns the
 * kept block's first frame and sets *first_dirty to its own. Heap lock held.
 */
static inline uint64_t split_locked(struct pb_heap *h, const struct found *f, unsigned order,
                                    uint32_t *first_dirty_out)
{
    struct pb_node *nd = f->node;
    uint64_t mfn = f->mfn;
    uint32_t first_dirty = f->first_dirty;
    for (unsigned j = f->order; j > order;) {
        j--;
        uint64_t half = 1ull << j;
        buddy_insert(h, nd, mfn, j, first_dirty < half ? first_dirty : PB_CLEAN);
        mfn += half;
        if (first_dirty != PB_CLEAN)
            first_dirty = first_dirty >= half ? (uint32_t)(first_dirty - half) : 0;
        nd->ctr.splits++;
    }
    *first_dirty_out = first_dirty;
    return mfn;
}

/*
 * Merge a block of free frames with its buddy while that is a free block of the same order on
 * this node, then insert it. Returns the merged block's first_dirty. Heap lock held.
 */
static inline uint32_t merge_insert_locked(struct pb_heap *h, struct pb_node *nd, uint64_t mfn,
                                           unsigned order, uint32_t first_dirty)
{
    unsigned zone = pb_mfn_zone(mfn);
    while (order < PB_MAX_ORDER) {
        uint64_t size = 1ull << order;
        uint64_t buddy = mfn ^ size;
        if (buddy < nd->start || buddy + size > nd->end)
            break;
        struct pb_page *bp = pb_pg(h, buddy);
        if (bp->state != PGS_FREE || bp->order != order)
            break;
        if (atomic_load_explicit(&bp->scrub, memory_order_acquire) != PB_SCRUB_NONE)
            stop_scrub(bp);
        pb_page_list_del(h, &nd->free[zone][order], (uint32_t)buddy);
        if (buddy < mfn) { /* predecessor: it becomes the lower half */
            first_dirty = bp->first_dirty != PB_CLEAN ? bp->first_dirty
                          : first_dirty != PB_CLEAN   ? (uint32_t)(size + first_dirty)
                                                      : PB_CLEAN;
            mfn = buddy;
        } else if (first_dirty == PB_CLEAN && bp->first_dirty != PB_CLEAN) {
            first_dirty = (uint32_t)(size + bp->first_dirty);
        }
        order++;
        nd->ctr.merges++;
    }
    buddy_insert(h, nd, mfn, order, first_dirty);
    return first_dirty;
}

/* ------------------------------------------------------------------------------------------
 * alloc_heap_pages and free_heap_pages.
 */

static inline int alloc_common(struct pb_heap *h, unsigned zone_lo, unsigned zone_hi,
                               unsigned order, unsigned memflags, struct pb_domain *d,
                               uint64_t *out, const bool global)
{
    int req_node = MEMF_get_node(memflags);
    if (order > PB_MAX_ORDER || zone_lo == 0 || zone_lo > zone_hi || zone_hi >= PB_NR_ZONES ||
        (memflags & ~MEMF_KNOWN_MASK) || req_node >= PB_MAX_NODES || !out)
        return -EINVAL;

    const int64_t need = (int64_t)1 << order;
    unsigned seq[PB_MAX_NODES + 1];
    unsigned nseq = visit_order(h, d, req_node, memflags, seq);
    struct found f;
    struct claim_ctx cc = {.d = d,
                           .memflags = memflags,
                           .need = need,
                           .nodal = pb_domain_has_node_claims(d, memflags)};

    if (global)
        pb_lock_acquire(&h->global_lock);
    if (global && !cc.nodal && claims_reserve(h, NULL, d, need, memflags, &cc.took, global)) {
        pb_lock_release(&h->global_lock);
        PB_HOST_ADD(&h->alloc_failures, 1);
        return -ENOMEM;
    }
    bool second = false;
    bool ok =
        search_passes(h, seq, nseq, zone_lo, zone_hi, order, memflags, &cc, &f, &second, global);
    if (!ok) {
        if (global && !cc.nodal)
            claims_unreserve(h, NULL, d, need, cc.took, global);
        if (global)
            pb_lock_release(&h->global_lock);
        PB_HOST_ADD(&h->alloc_failures, 1);
        return -ENOMEM;
    }

    /* Heap lock held (global, or f.node's own). Split from the top: keep the upper half. */
    struct pb_node *nd = f.node;
    if (cc.node_took) {
        pb_node_claim_retire(h, d, nd, cc.node_took, global);
        if (global)
            pb_host_add(&h->total_avail, -cc.node_took, global);
    }
    uint32_t first_dirty;
    uint64_t mfn = split_locked(h, &f, order, &first_dirty);
    unsigned zone = pb_mfn_zone(mfn);
    pb_owned_add(&nd->avail[zone], -need);
    pb_owned_add(&nd->node_avail, -need);

    /* Per frame, under the lock, as Xen does: 2^order updates. */
    if (pb_frames_hand_over(h, mfn, need, memflags, false))
        nd->ctr.tlb_flushes++;
    nd->ctr.allocs++;
    nd->ctr.second_pass += second;
    if (d)
        atomic_store_explicit(&d->last_alloc_node, nd->id, memory_order_relaxed);
    pb_lock_release(nd->heap_lock);

    /*
     * Dirty frames: scrub outside the lock (or leave them to the caller), then account.
     * Runs of consecutive dirty frames are cleared in one call, so that a fully dirty extent
     * is one region for the clear method (AUTO picks by size).
     */
    if (first_dirty != PB_CLEAN) {
        const bool scrub = !(memflags & MEMF_no_scrub);
        const enum pb_clear_method method =
            (enum pb_clear_method)atomic_load_explicit(&h->clear_method, memory_order_relaxed);
        uint64_t dirty = 0, run = 0;
        for (int64_t i = first_dirty; i <= need; i++) {
            struct pb_page *pg = i < need ? pb_pg(h, mfn + (uint64_t)i) : NULL;
            if (pg && pg->need_scrub) {
                dirty++;
                if (scrub || !(memflags & MEMF_keep_scrub))
                    pg->need_scrub = 0;
                run += scrub;
                continue;
            }
            if (run)
                pb_scrub_clear_frames(h, nd, mfn + (uint64_t)i - run, run, method);
            run = 0;
        }
        if (dirty) {
            pb_lock_acquire(nd->heap_lock);
            pb_owned_add(&nd->need_scrub, -(int64_t)dirty);
            nd->ctr.dirty_alloc_pages += dirty;
            nd->ctr.scrubbed_on_alloc += scrub ? dirty : 0;
            pb_lock_release(nd->heap_lock);
            if (scrub)
                atomic_fetch_add_explicit(&nd->scrub_on_alloc, dirty, memory_order_relaxed);
        }
    }
    /* Frames handed over as scrubbed must read zero: a failure is a bug, reported and never
     * ignored (the extent goes back dirty; the claim it consumed stays consumed). */
    if (!(memflags & MEMF_no_scrub) &&
        atomic_load_explicit(&h->verify_mode, memory_order_relaxed) != PB_VERIFY_OFF &&
        pb_verify_extent(h, mfn, order) != 0) {
        h->ops->free_heap_pages(h, mfn, order, true);
        return -EIO;
    }
    *out = mfn;
    return 0;
}

static inline void free_common(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub,
                               const bool global)
{
    struct pb_node *nd = pb_node_of(h, mfn);
    const uint64_t n = 1ull << order;
    /* The previous owner's data stays behind: make it visible to verification. The frames are
     * still ours, so this needs no lock. */
    if (need_scrub && nd->data && h->dirty_marks)
        for (uint64_t i = 0; i < n; i++)
            pb_dirty_fill(nd->data + (mfn + i - nd->start) * PB_PAGE_SIZE);

    /*
     * A frame still flagged from an allocation with MEMF_keep_scrub was never scrubbed: it
     * stays dirty even when freed clean.
     */
    pb_lock_acquire(nd->heap_lock);
    uint64_t dirty = 0;
    uint32_t first_dirty = PB_CLEAN;
    for (uint64_t i = 0; i < n; i++) {
        struct pb_page *pg = pb_pg(h, mfn + i);
        PB_BUG_ON(pg->state != PGS_INUSE);
        pg->state = PGS_FREE;
        pg->owner = PB_DOMID_NONE;
        /* mark_page_free: not a guest frame any more. */
        pb_m2p_set(&h->m2p, mfn + i, PB_M2P_INVALID);
        pg->need_scrub |= need_scrub;
        if (pg->need_scrub && dirty++ == 0)
            first_dirty = (uint32_t)i;
    }
    unsigned zone = pb_mfn_zone(mfn);
    pb_owned_add(&nd->avail[zone], (int64_t)n);
    pb_owned_add(&nd->node_avail, (int64_t)n);
    pb_owned_add(&nd->need_scrub, (int64_t)dirty);
    if (global) {
        pb_host_add(&h->total_avail, (int64_t)n, true);
        pb_host_add(&h->unclaimed, (int64_t)n, true);
    } else {
        pb_credit_give(h, nd, (int64_t)n);
    }

    first_dirty = merge_insert_locked(h, nd, mfn, order, first_dirty);
    nd->ctr.frees++;
    pb_lock_release(nd->heap_lock);
    /* New work for the scrub workers (a merge may have made a dirty buddy of a clean free). */
    if (first_dirty != PB_CLEAN)
        pb_scrub_kick(nd);
}

/* ------------------------------------------------------------------------------------------
 * The pcp caches' moves to and from the free lists (pcp.c has the rest of the caches).
 */

int64_t pb_heap_cache_take(struct pb_heap *h, struct pb_node *nd, struct pb_pcp_list *l,
                           unsigned order, unsigned nr, _Atomic uint64_t *cached)
{
    const int64_t unit = (int64_t)1 << order;
    int64_t got = 0;
    pb_lock_acquire(nd->heap_lock);
    move_begin(nd);
    /* Frames other domains' node claims hold stay on the node's lists. */
    for (unsigned k = 0; k < nr && pb_node_unclaimed(nd) >= unit; k++) {
        struct found f;
        /* Never DMA memory: a cache serves allocations above the DMA zone too. Not
         * get_free_buddy: the lists keep their order. */
        if (!take_buddy_locked(h, nd, h->dma_zone + 1, PB_NR_ZONES - 1, order, false, false, &f))
            break;
        uint32_t first_dirty;
        uint64_t mfn = split_locked(h, &f, order, &first_dirty);
        PB_BUG_ON(first_dirty != PB_CLEAN);
        for (int64_t i = 0; i < unit; i++) {
            struct pb_page *pg = pb_pg(h, mfn + (uint64_t)i);
            PB_BUG_ON(pg->state != PGS_FREE);
            pg->state = PGS_INUSE;
            pg->owner = PB_OWNER_CACHED;
        }
        pb_owned_add(&nd->avail[pb_mfn_zone(mfn)], -unit);
        pb_owned_add_release(&nd->node_avail, -unit);
        l->ring[(l->head + l->count++) % PB_PCP_CAP] = (uint32_t)mfn;
        got += unit;
    }
    pb_owned_add_release(cached, got);
    move_end(nd);
    pb_lock_release(nd->heap_lock);
    return got;
}

void pb_heap_cache_give(struct pb_heap *h, struct pb_node *nd, struct pb_pcp_list *l,
                        unsigned order, unsigned nr, _Atomic uint64_t *cached)
{
    const int64_t unit = (int64_t)1 << order;
    pb_lock_acquire(nd->heap_lock);
    move_begin(nd);
    pb_owned_add_release(cached, -(int64_t)nr * unit);
    for (unsigned k = 0; k < nr; k++) {
        uint64_t mfn = l->ring[l->head];
        l->head = (l->head + 1) % PB_PCP_CAP;
        l->count--;
        for (int64_t i = 0; i < unit; i++) {
            struct pb_page *pg = pb_pg(h, mfn + (uint64_t)i);
            PB_BUG_ON(pg->state != PGS_INUSE || pg->owner != PB_OWNER_CACHED);
            pg->state = PGS_FREE;
            pg->owner = PB_DOMID_NONE;
        }
        pb_owned_add(&nd->avail[pb_mfn_zone(mfn)], unit);
        pb_owned_add_release(&nd->node_avail, unit);
        merge_insert_locked(h, nd, mfn, order, PB_CLEAN);
    }
    move_end(nd);
    pb_lock_release(nd->heap_lock);
}

/* ------------------------------------------------------------------------------------------
 * The variants: one instantiation each (pcp's operations are in pcp.c).
 */

static int xen_alloc(struct pb_heap *h, unsigned zlo, unsigned zhi, unsigned order,
                     unsigned memflags, struct pb_domain *d, uint64_t *mfn)
{
    return alloc_common(h, zlo, zhi, order, memflags, d, mfn, true);
}
int pb_pernode_alloc(struct pb_heap *h, unsigned zlo, unsigned zhi, unsigned order,
                     unsigned memflags, struct pb_domain *d, uint64_t *mfn)
{
    return alloc_common(h, zlo, zhi, order, memflags, d, mfn, false);
}
static void xen_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub)
{
    free_common(h, mfn, order, need_scrub, true);
}
void pb_pernode_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub)
{
    free_common(h, mfn, order, need_scrub, false);
}

static const struct pb_variant_ops variants[] = {
    {"xen", true, xen_alloc, xen_free, pb_xen_claim, pb_xen_unclaim},
    {"pernode", false, pb_pernode_alloc, pb_pernode_free, pb_pernode_claim, pb_pernode_unclaim},
    {"pcp", false, pb_pcp_alloc, pb_pcp_free, pb_pcp_claim, pb_pernode_unclaim},
};
static const char *const variant_names[] = {"xen", "pernode", "pcp", NULL};

const char *const *pb_variant_names(void)
{
    return variant_names;
}

const struct pb_variant_ops *pb_variant_lookup(const char *name)
{
    for (size_t i = 0; name && i < PB_ARRAY_SIZE(variants); i++)
        if (!strcmp(variants[i].name, name))
            return &variants[i];
    return NULL;
}

int pb_alloc_heap_pages(struct pb_heap *h, unsigned zone_lo, unsigned zone_hi, unsigned order,
                        unsigned memflags, struct pb_domain *d, uint64_t *mfn)
{
    if (!h)
        return -EINVAL;
    return h->ops->alloc_heap_pages(h, zone_lo, zone_hi, order, memflags, d, mfn);
}

int pb_free_heap_pages(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub)
{
    if (!pb_extent_node(h, mfn, order))
        return -EINVAL;
    /*
     * The block must be in use and owned by nobody (every frame in checked builds, the head
     * otherwise: free_heap_pages itself stops at any frame that is not in use).
     */
    uint64_t check = POPBENCH_DEBUG >= 1 ? 1ull << order : 1;
    for (uint64_t i = 0; i < check; i++) {
        const struct pb_page *pg = pb_pg(h, mfn + i);
        if (pg->state != PGS_INUSE || pg->owner != PB_DOMID_NONE)
            return -EINVAL;
    }
    h->ops->free_heap_pages(h, mfn, order, need_scrub);
    return 0;
}

uint32_t pb_heap_tlbflush_stamps(struct pb_heap *h, uint64_t mfn, unsigned order)
{
    uint32_t newest = 0;
    for (uint64_t i = 0; i < (1ull << order); i++) {
        struct pb_page *pg = pb_pg(h, mfn + i);
        if (pg->tlbflush_ts > newest)
            newest = pg->tlbflush_ts;
        pg->tlbflush_ts = 0;
    }
    return newest;
}

bool pb_heap_filtered_flush(struct pb_heap *h, uint32_t stamp)
{
    uint32_t clock = atomic_load_explicit(&h->tlbflush_clock, memory_order_relaxed);
    if (stamp <= clock)
        return false;
    atomic_fetch_add_explicit(&h->tlbflush_clock, 1, memory_order_relaxed);
    return true;
}

/* ------------------------------------------------------------------------------------------
 * A new node's frames: all free and clean, in maximal aligned blocks (MFN 0 excepted).
 */

void pb_heap_init_node(struct pb_heap *h, struct pb_node *nd)
{
    for (unsigned z = 0; z < PB_NR_ZONES; z++)
        for (unsigned o = 0; o <= PB_MAX_ORDER; o++)
            nd->free[z][o].head = nd->free[z][o].tail = PB_NO_FRAME;
    uint64_t mfn = nd->start ? nd->start : 1;
    while (mfn < nd->end) {
        unsigned order = mfn ? (unsigned)__builtin_ctzll(mfn) : PB_MAX_ORDER;
        if (order > PB_MAX_ORDER)
            order = PB_MAX_ORDER;
        while (mfn + (1ull << order) > nd->end)
            order--;
        buddy_insert(h, nd, mfn, order, PB_CLEAN);
        uint64_t n = 1ull << order;
        pb_owned_add(&nd->avail[pb_mfn_zone(mfn)], (int64_t)n);
        pb_owned_add(&nd->node_avail, (int64_t)n);
        mfn += n;
    }
}
