/*
 * heap.c: the buddy heap (XEN-MODEL.md §1-3) and the heap variants.
 *
 * `xen` takes one global heap lock around the whole of alloc_heap_pages and free_heap_pages,
 * as Xen does. `pernode` takes only the lock of the node it searches or frees into; the
 * host-wide counters and the claims check are atomics outside any node lock (see
 * claims_reserve). Both share every line of the algorithm: the variant functions below
 * instantiate one inline implementation with `global` constant, so neither pays a branch
 * for the other. `pcp` is pernode with per-CPU page caches in front (heap.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <numa.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/clear.h"
#include "core/heap_impl.h"
#include "core/memflags.h"
#include "core/scrub.h"

/* ------------------------------------------------------------------------------------------
 * Lists of frames, linked by MFN through pb_page.next/prev.
 */

static inline struct pb_page *pg_of(const struct pb_heap *h, uint64_t mfn)
{
    return &h->frames[mfn];
}

void pb_page_list_add_tail(struct pb_heap *h, struct pb_list *l, uint32_t mfn)
{
    struct pb_page *pg = pg_of(h, mfn);
    pg->next = PB_NO_FRAME;
    pg->prev = l->tail;
    if (l->tail == PB_NO_FRAME)
        l->head = mfn;
    else
        pg_of(h, l->tail)->next = mfn;
    l->tail = mfn;
}

void pb_page_list_add_head(struct pb_heap *h, struct pb_list *l, uint32_t mfn)
{
    struct pb_page *pg = pg_of(h, mfn);
    pg->prev = PB_NO_FRAME;
    pg->next = l->head;
    if (l->head == PB_NO_FRAME)
        l->tail = mfn;
    else
        pg_of(h, l->head)->prev = mfn;
    l->head = mfn;
}

void pb_page_list_del(struct pb_heap *h, struct pb_list *l, uint32_t mfn)
{
    struct pb_page *pg = pg_of(h, mfn);
    if (pg->prev == PB_NO_FRAME)
        l->head = pg->next;
    else
        pg_of(h, pg->prev)->next = pg->next;
    if (pg->next == PB_NO_FRAME)
        l->tail = pg->prev;
    else
        pg_of(h, pg->next)->prev = pg->prev;
    pg->next = pg->prev = PB_NO_FRAME;
}

unsigned pb_mfn_zone(uint64_t mfn)
{
    return mfn ? 64u - (unsigned)__builtin_clzll(mfn) : 0u;
}

/* Put a free buddy on its list: clean at the head, dirty at the tail. Heap lock held. */
static void buddy_insert(struct pb_heap *h, struct pb_node *nd, uint64_t mfn, unsigned order,
                         uint32_t first_dirty)
{
    struct pb_page *pg = pg_of(h, mfn);
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

/* ------------------------------------------------------------------------------------------
 * Host-wide counters and claims.
 */

/* xen: the writer holds the global lock; pernode: any thread, atomically. */
static inline void ctr_add(_Atomic int64_t *c, int64_t delta, const bool global)
{
    if (global)
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(c, delta, memory_order_relaxed);
}

/*
 * The claims check of alloc_heap_pages (§2 steps 2 and 5), done before the search so that
 * pernode needs no host-wide lock: reserve `need` frames, taking min(claim, need) from d's
 * claim and the rest from the unclaimed pool. As in Xen, a domain whose claim covers the
 * request always passes; any other request needs the unclaimed pool to hold all of it.
 * The pool only shrinks through a compare-and-swap that checks it first, so it never goes
 * negative: claims are never over-committed. *took is what came from the claim.
 */
static inline int claims_reserve(struct pb_heap *h, struct pb_domain *d, int64_t need,
                                 unsigned memflags, int64_t *took, const bool global)
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
        int64_t u = atomic_load_explicit(&h->unclaimed, memory_order_relaxed);
        for (;;) {
            if (u < need) {
                if (take)
                    atomic_fetch_add_explicit(&d->claim, take, memory_order_relaxed);
                return -ENOMEM;
            }
            if (global) {
                atomic_store_explicit(&h->unclaimed, u - (need - take), memory_order_relaxed);
                break;
            }
            if (atomic_compare_exchange_weak_explicit(&h->unclaimed, &u, u - (need - take),
                                                      memory_order_relaxed, memory_order_relaxed))
                break;
        }
    }
    ctr_add(&h->outstanding_claims, -take, global);
    ctr_add(&h->total_avail, -need, global);
    *took = take;
    return 0;
}

/*
 * Undo claims_reserve after a failed search. A claim released meanwhile by
 * XENMEM_claim_pages(0) gets `took` back: the accounting stays exact, the domain merely keeps
 * a claim it was releasing while one of its own allocations failed.
 */
static inline void claims_unreserve(struct pb_heap *h, struct pb_domain *d, int64_t need,
                                    int64_t took, const bool global)
{
    if (took)
        ctr_add(&d->claim, took, global);
    ctr_add(&h->outstanding_claims, took, global);
    ctr_add(&h->unclaimed, need - took, global);
    ctr_add(&h->total_avail, need, global);
}

/* Frames of nd's lists that no node claim holds. Exact under nd's heap lock (claimed only
 * grows under it); elsewhere a lower bound. */
static inline int64_t node_unclaimed(const struct pb_node *nd)
{
    return (int64_t)pb_ld(&nd->node_avail) -
           atomic_load_explicit(&nd->claimed, memory_order_relaxed);
}

/* Take up to `need` frames of d's claim on node n; returns how many. */
static inline int64_t node_claim_take(struct pb_domain *d, unsigned n, int64_t need)
{
    int64_t c = atomic_load_explicit(&d->node_claim[n], memory_order_relaxed);
    while (c > 0) {
        int64_t t = c < need ? c : need;
        if (atomic_compare_exchange_weak_explicit(&d->node_claim[n], &c, c - t,
                                                  memory_order_relaxed, memory_order_relaxed))
            return t;
    }
    return 0;
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

/* Frames taken from d's claim on nd are allocated now: they leave the node's and the host's
 * outstanding claims (the host-wide counters the way the variant writes them). */
static inline void node_claim_retire(struct pb_heap *h, struct pb_domain *d, struct pb_node *nd,
                                     int64_t t, const bool global)
{
    if (!t)
        return;
    atomic_fetch_sub_explicit(&nd->claimed, t, memory_order_relaxed);
    atomic_fetch_sub_explicit(&d->node_claims, t, memory_order_relaxed);
    ctr_add(&h->outstanding_claims, -t, global);
}

static inline bool domain_has_node_claims(const struct pb_domain *d, unsigned memflags)
{
    return d && !(memflags & MEMF_no_refcount) &&
           atomic_load_explicit(&d->node_claims, memory_order_relaxed) > 0;
}

/*
 * Stake a claim made of parts (pb_domain_claim_nodes; XENMEM_claim_pages is one host-wide
 * part), all or nothing: the sum comes out of the host's unclaimed pool (never below zero),
 * then each node part out of its node's unclaimed frames under that node's heap lock.
 */
static int claim_common(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts,
                        unsigned nr, const bool global)
{
    int64_t sum = 0, host = 0;
    for (unsigned i = 0; i < nr; i++) {
        sum += (int64_t)parts[i].pages;
        host += parts[i].node < 0 ? (int64_t)parts[i].pages : 0;
    }
    int rc = 0;
    if (global)
        pb_lock_acquire(&h->global_lock);
    int64_t u = atomic_load_explicit(&h->unclaimed, memory_order_relaxed);
    for (;;) {
        if (u < sum) {
            rc = -ENOMEM;
            goto out;
        }
        if (global) {
            atomic_store_explicit(&h->unclaimed, u - sum, memory_order_relaxed);
            break;
        }
        if (atomic_compare_exchange_weak_explicit(&h->unclaimed, &u, u - sum, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    unsigned i;
    for (i = 0; i < nr; i++) {
        if (parts[i].node < 0 || !parts[i].pages)
            continue;
        struct pb_node *nd = h->nodes[parts[i].node];
        int64_t pages = (int64_t)parts[i].pages;
        if (!global)
            pb_lock_acquire(nd->heap_lock);
        bool ok = node_unclaimed(nd) >= pages;
        if (ok) {
            atomic_fetch_add_explicit(&nd->claimed, pages, memory_order_relaxed);
            atomic_fetch_add_explicit(&d->node_claim[nd->id], pages, memory_order_relaxed);
        }
        if (!global)
            pb_lock_release(nd->heap_lock);
        if (!ok)
            break;
    }
    if (i < nr) {
        while (i-- > 0) {
            if (parts[i].node < 0 || !parts[i].pages)
                continue;
            int64_t pages = (int64_t)parts[i].pages;
            atomic_fetch_sub_explicit(&h->nodes[parts[i].node]->claimed, pages,
                                      memory_order_relaxed);
            atomic_fetch_sub_explicit(&d->node_claim[parts[i].node], pages, memory_order_relaxed);
        }
        ctr_add(&h->unclaimed, sum, global);
        rc = -ENOMEM;
        goto out;
    }
    ctr_add(&d->claim, host, global);
    atomic_fetch_add_explicit(&d->node_claims, sum - host, memory_order_relaxed);
    ctr_add(&h->outstanding_claims, sum, global);
out:
    if (global)
        pb_lock_release(&h->global_lock);
    return rc;
}

/* Release every part of d's claim. */
static void unclaim_common(struct pb_heap *h, struct pb_domain *d, const bool global)
{
    if (global)
        pb_lock_acquire(&h->global_lock);
    int64_t c = atomic_exchange_explicit(&d->claim, 0, memory_order_relaxed);
    if (atomic_load_explicit(&d->node_claims, memory_order_relaxed) != 0)
        for (unsigned n = 0; n < h->nr_nodes; n++) {
            int64_t k = atomic_exchange_explicit(&d->node_claim[n], 0, memory_order_relaxed);
            if (!k)
                continue;
            atomic_fetch_sub_explicit(&h->nodes[n]->claimed, k, memory_order_relaxed);
            atomic_fetch_sub_explicit(&d->node_claims, k, memory_order_relaxed);
            c += k;
        }
    ctr_add(&h->outstanding_claims, -c, global);
    ctr_add(&h->unclaimed, c, global);
    if (global)
        pb_lock_release(&h->global_lock);
}

/* ------------------------------------------------------------------------------------------
 * get_free_buddy (§2): the node visit order and the search.
 */

static __thread unsigned current_node;

void pb_set_current_node(unsigned node)
{
    current_node = node;
}

unsigned pb_current_node(void)
{
    return current_node;
}

static inline uint64_t all_nodes(const struct pb_heap *h)
{
    return h->nr_nodes == 64 ? ~0ull : (1ull << h->nr_nodes) - 1;
}

/* The next node of `mask` after `node`, wrapping. mask != 0. */
static inline unsigned cycle_node(unsigned node, uint64_t mask, unsigned nr_nodes)
{
    for (unsigned i = 1; i <= nr_nodes; i++) {
        unsigned n = (node + i) % nr_nodes;
        if (mask & (1ull << n))
            return n;
    }
    PB_BUG_ON(1);
}

/*
 * The order in which nodes are searched: the requested node, else the node after the
 * domain's last_alloc_node within its affinity (extents rotate over the domain's nodes), else
 * the calling CPU's node; then the rest of the affinity mask, wrapping; then, unless an exact
 * node was asked for, the nodes outside it.
 */
static unsigned visit_order(const struct pb_heap *h, const struct pb_domain *d, int req_node,
                            unsigned memflags, unsigned seq[PB_MAX_NODES])
{
    uint64_t online = all_nodes(h);
    uint64_t mask = d && (d->node_affinity & online) ? d->node_affinity & online : online;
    unsigned first;
    if (req_node >= 0) {
        first = (unsigned)req_node;
        if (memflags & MEMF_exact_node) {
            seq[0] = first;
            return 1;
        }
    } else if (d) {
        first = cycle_node(atomic_load_explicit(&d->last_alloc_node, memory_order_relaxed), mask,
                           h->nr_nodes);
    } else {
        first = current_node < h->nr_nodes ? current_node : 0;
    }
    unsigned n = 0;
    seq[n++] = first;
    for (unsigned i = 1; i < h->nr_nodes; i++) {
        unsigned node = (first + i) % h->nr_nodes;
        if (mask & (1ull << node))
            seq[n++] = node;
    }
    if (!(memflags & MEMF_exact_node))
        for (unsigned i = 1; i < h->nr_nodes; i++) {
            unsigned node = (first + i) % h->nr_nodes;
            if (!(mask & (1ull << node)))
                seq[n++] = node;
        }
    /* Node claims: unless the caller named a node, those of the nodes above where d still has
     * a node claim come first, rotating from the one after its last allocation. */
    if (req_node < 0 && domain_has_node_claims(d, memflags)) {
        unsigned out[PB_MAX_NODES], m = 0;
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
 * upwards. A clean head is taken; a dirty one only if dirty_ok. The node's heap lock is held.
 */
static inline bool take_buddy_locked(struct pb_heap *h, struct pb_node *nd, unsigned zone_lo,
                                     unsigned zone_hi, unsigned order, bool dirty_ok,
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
            struct pb_page *pg = pg_of(h, head);
            /* first_dirty of a buddy under a scrub is the scrubber's until stop_scrub. */
            uint8_t st = atomic_load_explicit(&pg->scrub, memory_order_acquire);
            if (st == PB_SCRUBBING || (st != PB_SCRUB_DONE && pg->first_dirty != PB_CLEAN)) {
                if (!dirty_ok)
                    continue; /* clean ones come first: this list has none */
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
 * The claims of one allocation. Without node claims the host-wide reservation (claims_reserve)
 * is made once before the search, and a node is only admitted if its unclaimed frames cover
 * the request. With node claims (`nodal`) the reservation depends on the node, so it is made
 * per node visited: d's claim on that node first, then claims_reserve for the rest, undone if
 * the node has no buddy.
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
    if (!c->nodal)
        return node_unclaimed(nd) >= c->need;
    c->node_took = node_claim_take(c->d, nd->id, c->need);
    if (node_unclaimed(nd) + c->node_took >= c->need &&
        claims_reserve(h, c->d, c->need - c->node_took, c->memflags, &c->took, global) == 0)
        return true;
    node_claim_untake(c->d, nd->id, c->node_took);
    return false;
}

static inline void unadmit_locked(struct pb_heap *h, struct pb_node *nd, struct claim_ctx *c,
                                  const bool global)
{
    if (!c->nodal)
        return;
    claims_unreserve(h, c->d, c->need - c->node_took, c->took, global);
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
            if (take_buddy_locked(h, nd, zone_lo, zone_hi, order, dirty_ok, f))
                return true;
            unadmit_locked(h, nd, c, global);
        }
        if (!global)
            pb_lock_release(&nd->own_lock);
    }
    return false;
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
        struct pb_page *bp = pg_of(h, buddy);
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
 * Scrubbing: the heap's side (the workers and the domain-build scrub are in scrub.c).
 */

void pb_scrub_clear_frames(struct pb_heap *h, struct pb_node *nd, uint64_t mfn, uint64_t n,
                           enum pb_clear_method method)
{
    if (!nd->data)
        return;
#if POPBENCH_DEBUG >= 1
    for (uint64_t i = 0; i < n; i++)
        if (atomic_exchange_explicit(&pg_of(h, mfn + i)->clearing, 1, memory_order_relaxed))
            atomic_fetch_add_explicit(&h->double_clears, 1, memory_order_relaxed);
#endif
    int rc = pb_clear(nd->data + (mfn - nd->start) * PB_PAGE_SIZE, n * PB_PAGE_SIZE, method);
    PB_BUG_ON(rc != 0);
#if POPBENCH_DEBUG >= 1
    for (uint64_t i = 0; i < n; i++)
        atomic_store_explicit(&pg_of(h, mfn + i)->clearing, 0, memory_order_relaxed);
#else
    (void)h;
#endif
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/*
 * Sleepers announce themselves (seq_cst) before they look for work; here the new work is in
 * place (published by the heap lock) before the fence, so either we see a sleeper or it sees
 * the work.
 */
void pb_scrub_kick(struct pb_node *nd)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&nd->scrub_sleepers, memory_order_relaxed) == 0)
        return;
    atomic_fetch_add_explicit(&nd->scrub_wake_seq, 1, memory_order_seq_cst);
    futex(&nd->scrub_wake_seq, FUTEX_WAKE_PRIVATE, INT_MAX);
}

int pb_heap_set_clear_method(struct pb_heap *h, enum pb_clear_method method)
{
    if (!h || (unsigned)method >= PB_CLEAR_NR_METHODS)
        return -EINVAL;
    atomic_store_explicit(&h->clear_method, (int)method, memory_order_relaxed);
    return 0;
}

int pb_heap_set_verify(struct pb_heap *h, enum pb_verify_mode mode)
{
    if (!h || (unsigned)mode > PB_VERIFY_FULL)
        return -EINVAL;
    atomic_store_explicit(&h->verify_mode, (int)mode, memory_order_relaxed);
    return 0;
}

/* Within one node, aligned, every frame of the heap but MFN 0. */
static bool extent_ok(const struct pb_heap *h, uint64_t mfn, unsigned order)
{
    if (!h || order > PB_MAX_ORDER || mfn == 0 || (mfn & ((1ull << order) - 1)))
        return false;
    const struct pb_node *nd = pb_node_of(h, mfn);
    return nd && mfn + (1ull << order) <= nd->end;
}

int pb_verify_extent(struct pb_heap *h, uint64_t mfn, unsigned order)
{
    if (!extent_ok(h, mfn, order))
        return -EINVAL;
    struct pb_node *nd = pb_node_of(h, mfn);
    int mode = atomic_load_explicit(&h->verify_mode, memory_order_relaxed);
    if (mode == PB_VERIFY_OFF || !nd->data)
        return 0;
    const uint64_t n = 1ull << order;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        const void *p = nd->data + (mfn + i - nd->start) * PB_PAGE_SIZE;
        /* Sampled: the lines drawn differ per frame and per check. */
        uint64_t seed = ((mfn + i) << 20) ^ pb_now_ns();
        bool zero = mode == PB_VERIFY_FULL ? pb_page_is_zero(p) : pb_page_is_zero_sampled(p, seed);
        bad += !zero;
    }
    atomic_fetch_add_explicit(&nd->verified, n, memory_order_relaxed);
    if (!bad)
        return 0;
    atomic_fetch_add_explicit(&nd->verify_failures, bad, memory_order_relaxed);
    fprintf(stderr,
            "popbench: %" PRIu64 " of %" PRIu64 " frames at mfn %" PRIu64
            " do not read zero after scrubbing\n",
            bad, n, mfn);
    return -EIO;
}

void pb_scrub_read_counters(const struct pb_heap *h, struct pb_scrub_counters *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        const struct pb_node *nd = h->nodes[n];
        out->on_alloc += pb_ld(&nd->scrub_on_alloc);
        out->background += pb_ld(&nd->scrub_background);
        out->domain_build += pb_ld(&nd->scrub_domain_build);
        out->aborts += pb_ld(&nd->scrub_aborts);
        out->verified += pb_ld(&nd->verified);
        out->verify_failures += pb_ld(&nd->verify_failures);
    }
    out->double_clears = pb_ld(&h->double_clears);
    out->stash_discards = pb_ld(&h->stash_discards);
}

uint64_t pb_scrub_backlog(const struct pb_heap *h)
{
    uint64_t sum = 0;
    for (unsigned n = 0; n < h->nr_nodes; n++)
        sum += pb_ld(&h->nodes[n]->need_scrub);
    return sum;
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
        (memflags & ~MEMF_KNOWN_MASK) || req_node >= (int)h->nr_nodes || !out)
        return -EINVAL;

    const int64_t need = (int64_t)1 << order;
    unsigned seq[PB_MAX_NODES];
    unsigned nseq = visit_order(h, d, req_node, memflags, seq);
    struct found f;
    struct claim_ctx cc = {d, memflags, need, domain_has_node_claims(d, memflags), 0, 0};

    if (global)
        pb_lock_acquire(&h->global_lock);
    if (!cc.nodal && claims_reserve(h, d, need, memflags, &cc.took, global)) {
        if (global)
            pb_lock_release(&h->global_lock);
        atomic_fetch_add_explicit(&h->alloc_failures, 1, memory_order_relaxed);
        return -ENOMEM;
    }
    /* Clean memory on any node beats dirty memory anywhere, except for order 0. */
    bool second = false;
    bool ok = search(h, seq, nseq, zone_lo, zone_hi, order,
                     order == 0 || (memflags & MEMF_no_scrub), &cc, &f, global);
    if (!ok && !(memflags & MEMF_no_scrub) && order != 0) {
        second = true;
        ok = search(h, seq, nseq, zone_lo, zone_hi, order, true, &cc, &f, global);
    }
    if (!ok) {
        if (!cc.nodal)
            claims_unreserve(h, d, need, cc.took, global);
        if (global)
            pb_lock_release(&h->global_lock);
        atomic_fetch_add_explicit(&h->alloc_failures, 1, memory_order_relaxed);
        return -ENOMEM;
    }

    /* Heap lock held (global, or f.node's own). Split from the top: keep the upper half. */
    struct pb_node *nd = f.node;
    if (cc.node_took) {
        node_claim_retire(h, d, nd, cc.node_took, global);
        ctr_add(&h->total_avail, -cc.node_took, global);
    }
    uint32_t first_dirty;
    uint64_t mfn = split_locked(h, &f, order, &first_dirty);
    unsigned zone = pb_mfn_zone(mfn);
    pb_owned_add(&nd->avail[zone], -need);
    pb_owned_add(&nd->node_avail, -need);

    /* Per frame, under the lock, as Xen does: 2^order updates. */
    uint32_t clock = atomic_load_explicit(&h->tlbflush_clock, memory_order_relaxed);
    bool need_flush = false;
    for (int64_t i = 0; i < need; i++) {
        struct pb_page *pg = pg_of(h, mfn + (uint64_t)i);
        PB_BUG_ON(pg->state != PGS_FREE);
        pg->state = PGS_INUSE;
        pg->owner = PB_DOMID_NONE;
        if (!(memflags & MEMF_no_tlbflush) && pg->tlbflush_ts > clock)
            need_flush = true;
        pg->tlbflush_ts = 0;
    }
    if (need_flush) {
        atomic_fetch_add_explicit(&h->tlbflush_clock, 1, memory_order_relaxed);
        nd->ctr.tlb_flushes++;
    }
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
            struct pb_page *pg = i < need ? pg_of(h, mfn + (uint64_t)i) : NULL;
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
    if (need_scrub && nd->data)
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
        struct pb_page *pg = pg_of(h, mfn + i);
        PB_BUG_ON(pg->state != PGS_INUSE);
        pg->state = PGS_FREE;
        pg->owner = PB_DOMID_NONE;
        pg->need_scrub |= need_scrub;
        if (pg->need_scrub && dirty++ == 0)
            first_dirty = (uint32_t)i;
    }
    unsigned zone = pb_mfn_zone(mfn);
    pb_owned_add(&nd->avail[zone], (int64_t)n);
    pb_owned_add(&nd->node_avail, (int64_t)n);
    pb_owned_add(&nd->need_scrub, (int64_t)dirty);
    ctr_add(&h->total_avail, (int64_t)n, global);
    ctr_add(&h->unclaimed, (int64_t)n, global);

    first_dirty = merge_insert_locked(h, nd, mfn, order, first_dirty);
    nd->ctr.frees++;
    pb_lock_release(nd->heap_lock);
    /* New work for the scrub workers (a merge may have made a dirty buddy of a clean free). */
    if (first_dirty != PB_CLEAN)
        pb_scrub_kick(nd);
}

/* ------------------------------------------------------------------------------------------
 * pcp: per-CPU page caches in front of pernode (see heap.h for the rules).
 */

static __thread int current_cpu = -1;

void pb_set_current_cpu(unsigned cpu)
{
    current_cpu = (int)(cpu % PB_PCP_MAX_CPUS);
}

unsigned pb_current_cpu(void)
{
    if (current_cpu < 0) {
        int c = sched_getcpu();
        current_cpu = c < 0 ? 0 : c % PB_PCP_MAX_CPUS;
    }
    return (unsigned)current_cpu;
}

static inline void pcp_lock(struct pb_pcp *p)
{
    for (;;) {
        if (!atomic_exchange_explicit(&p->lock, 1, memory_order_acquire))
            return;
        for (unsigned spins = 1; atomic_load_explicit(&p->lock, memory_order_relaxed); spins++)
            if (spins % 1024 == 0)
                sched_yield();
            else
                pb_cpu_relax();
    }
}

static inline void pcp_unlock(struct pb_pcp *p)
{
    atomic_store_explicit(&p->lock, 0, memory_order_release);
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

/* The calling CPU's caches, created on first use. NULL only when out of memory. */
static struct pb_pcp *pcp_get(struct pb_heap *h)
{
    unsigned cpu = pb_current_cpu();
    struct pb_pcp *p = atomic_load_explicit(&h->pcp[cpu], memory_order_acquire);
    if (pb_likely(p != NULL))
        return p;
    size_t len = (pcp_size(h) + PB_CACHELINE - 1) / PB_CACHELINE * PB_CACHELINE;
    struct pb_pcp *mine = aligned_alloc(PB_CACHELINE, len);
    if (!mine)
        return NULL;
    memset(mine, 0, len);
    mine->cpu = cpu;
    if (atomic_compare_exchange_strong_explicit(&h->pcp[cpu], &p, mine, memory_order_acq_rel,
                                                memory_order_acquire))
        return mine;
    free(mine); /* another thread of this CPU slot was first */
    return p;
}

/* The node an allocation tries first: visit_order's first node. */
static inline unsigned first_node(const struct pb_heap *h, const struct pb_domain *d, int req_node,
                                  unsigned memflags)
{
    if (req_node >= 0)
        return (unsigned)req_node;
    if (d) {
        uint64_t online = all_nodes(h);
        uint64_t mask = d->node_affinity & online ? d->node_affinity & online : online;
        unsigned last = atomic_load_explicit(&d->last_alloc_node, memory_order_relaxed);
        /* As visit_order: a claimed node first (within the affinity under exact_node). */
        if (pb_unlikely(domain_has_node_claims(d, memflags))) {
            uint64_t allowed = memflags & MEMF_exact_node ? mask : online;
            for (unsigned i = 1; i <= h->nr_nodes; i++) {
                unsigned node = (last + i) % h->nr_nodes;
                if ((allowed & (1ull << node)) &&
                    atomic_load_explicit(&d->node_claim[node], memory_order_relaxed) > 0)
                    return node;
            }
        }
        return cycle_node(last, mask, h->nr_nodes);
    }
    return current_node < h->nr_nodes ? current_node : 0;
}

/*
 * Reserve up to `want` frames of the unclaimed pool for a refill (cached frames are outside
 * h->unclaimed, so moving frames into a cache takes them out of it, never below zero).
 */
static int64_t pcp_reserve_pool(struct pb_heap *h, int64_t want, int64_t unit)
{
    int64_t u = atomic_load_explicit(&h->unclaimed, memory_order_relaxed);
    for (;;) {
        int64_t take = u < want ? u / unit * unit : want;
        if (take <= 0)
            return 0;
        if (atomic_compare_exchange_weak_explicit(&h->unclaimed, &u, u - take, memory_order_relaxed,
                                                  memory_order_relaxed))
            return take;
    }
}

/* Refill a list with up to one batch of clean buddies from its node. Cache lock held. */
static void pcp_refill(struct pb_heap *h, struct pb_pcp *p, struct pb_node *nd,
                       struct pb_pcp_list *l, int oi, unsigned order)
{
    const int64_t unit = (int64_t)1 << order;
    unsigned batch = h->pcp_wm[oi].batch;
    if (batch > PB_PCP_CAP - l->count)
        batch = PB_PCP_CAP - l->count;
    int64_t reserved = pcp_reserve_pool(h, (int64_t)batch * unit, unit);
    if (!reserved)
        return;
    int64_t got = 0;
    pb_lock_acquire(nd->heap_lock);
    /* Frames other domains' node claims hold stay on the node's lists. */
    while (got < reserved && node_unclaimed(nd) >= unit) {
        struct found f;
        if (!take_buddy_locked(h, nd, 1, PB_NR_ZONES - 1, order, false, &f))
            break;
        uint32_t first_dirty;
        uint64_t mfn = split_locked(h, &f, order, &first_dirty);
        PB_BUG_ON(first_dirty != PB_CLEAN);
        for (int64_t i = 0; i < unit; i++) {
            struct pb_page *pg = pg_of(h, mfn + (uint64_t)i);
            PB_BUG_ON(pg->state != PGS_FREE);
            pg->state = PGS_INUSE;
            pg->owner = PB_OWNER_CACHED;
        }
        pb_owned_add(&nd->avail[pb_mfn_zone(mfn)], -unit);
        pb_owned_add(&nd->node_avail, -unit);
        l->ring[(l->head + l->count++) % PB_PCP_CAP] = (uint32_t)mfn;
        got += unit;
    }
    pb_lock_release(nd->heap_lock);
    if (reserved > got)
        atomic_fetch_add_explicit(&h->unclaimed, reserved - got, memory_order_relaxed);
    if (got) {
        atomic_fetch_sub_explicit(&h->total_avail, got, memory_order_relaxed);
        pb_owned_add(&p->node_frames[nd->id], got);
        pb_owned_add(&p->refills, 1);
    }
}

/* Give the `nr` oldest entries of a list back to the buddy lists. Cache lock held. */
static void pcp_drain_list(struct pb_heap *h, struct pb_pcp *p, struct pb_node *nd,
                           struct pb_pcp_list *l, unsigned order, unsigned nr)
{
    const int64_t unit = (int64_t)1 << order;
    if (nr > l->count)
        nr = l->count;
    if (!nr)
        return;
    pb_lock_acquire(nd->heap_lock);
    for (unsigned k = 0; k < nr; k++) {
        uint64_t mfn = l->ring[l->head];
        l->head = (l->head + 1) % PB_PCP_CAP;
        l->count--;
        for (int64_t i = 0; i < unit; i++) {
            struct pb_page *pg = pg_of(h, mfn + (uint64_t)i);
            PB_BUG_ON(pg->state != PGS_INUSE || pg->owner != PB_OWNER_CACHED);
            pg->state = PGS_FREE;
            pg->owner = PB_DOMID_NONE;
        }
        pb_owned_add(&nd->avail[pb_mfn_zone(mfn)], unit);
        pb_owned_add(&nd->node_avail, unit);
        merge_insert_locked(h, nd, mfn, order, PB_CLEAN);
    }
    pb_lock_release(nd->heap_lock);
    int64_t n = (int64_t)nr * unit;
    /* Back in the buddy lists: in the host-wide counters again (the order keeps
     * unclaimed <= total_avail - outstanding for a concurrent reader). */
    atomic_fetch_add_explicit(&h->total_avail, n, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->unclaimed, n, memory_order_relaxed);
    pb_owned_add(&p->node_frames[nd->id], -n);
    pb_owned_add(&p->drains, 1);
}

void pb_pcp_drain_all(struct pb_heap *h)
{
    if (!h)
        return;
    for (unsigned cpu = 0; cpu < PB_PCP_MAX_CPUS; cpu++) {
        struct pb_pcp *p = atomic_load_explicit(&h->pcp[cpu], memory_order_acquire);
        if (!p)
            continue;
        pcp_lock(p);
        for (unsigned n = 0; n < h->nr_nodes; n++)
            for (int oi = 0; oi < PB_PCP_ORDERS; oi++)
                pcp_drain_list(h, p, h->nodes[n], pcp_list(p, n, oi), oi ? PB_PCP_HI_ORDER : 0,
                               PB_PCP_CAP);
        pcp_unlock(p);
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
    pcp_lock(p);
    if (l->count == 0)
        pcp_refill(h, p, nd, l, oi, order);
    if (l->count == 0) {
        pcp_unlock(p);
        return -EAGAIN;
    }
    uint64_t mfn = l->ring[l->head];
    l->head = (l->head + 1) % PB_PCP_CAP;
    l->count--;
    uint32_t clock = atomic_load_explicit(&h->tlbflush_clock, memory_order_relaxed);
    bool need_flush = false;
    for (int64_t i = 0; i < need; i++) {
        struct pb_page *pg = pg_of(h, mfn + (uint64_t)i);
        PB_ASSERT(pg->owner == PB_OWNER_CACHED && !pg->need_scrub);
        pg->owner = PB_DOMID_NONE;
        if (!(memflags & MEMF_no_tlbflush) && pg->tlbflush_ts > clock)
            need_flush = true;
        pg->tlbflush_ts = 0;
    }
    if (need_flush) {
        atomic_fetch_add_explicit(&h->tlbflush_clock, 1, memory_order_relaxed);
        pb_owned_add(&p->tlb_flushes, 1);
    }
    pb_owned_add(&p->node_frames[node], -need);
    pb_owned_add(&p->allocs, 1);
    pcp_unlock(p);

    /*
     * Cached frames belong to the unclaimed part of the free memory, so the allocation needs
     * no reservation; a domain with a claim consumes it first, as in claims_reserve, and the
     * frames its claim no longer covers go back to the unclaimed pool.
     */
    if (d && !(memflags & MEMF_no_refcount)) {
        /* Node first: d's claim on this node, then its host-wide claim. */
        int64_t t = 0;
        if (pb_unlikely(domain_has_node_claims(d, memflags))) {
            t = node_claim_take(d, node, need);
            if (t) {
                node_claim_retire(h, d, nd, t, false);
                atomic_fetch_add_explicit(&h->unclaimed, t, memory_order_relaxed);
            }
        }
        int64_t c = atomic_load_explicit(&d->claim, memory_order_relaxed);
        while (c > 0 && t < need) {
            int64_t k = c < need - t ? c : need - t;
            if (atomic_compare_exchange_weak_explicit(&d->claim, &c, c - k, memory_order_relaxed,
                                                      memory_order_relaxed)) {
                atomic_fetch_sub_explicit(&h->outstanding_claims, k, memory_order_relaxed);
                atomic_fetch_add_explicit(&h->unclaimed, k, memory_order_relaxed);
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
        free_common(h, mfn, order, true, false);
        return -EIO;
    }
    *out = mfn;
    return 0;
}

static int pcp_alloc(struct pb_heap *h, unsigned zlo, unsigned zhi, unsigned order,
                     unsigned memflags, struct pb_domain *d, uint64_t *mfn)
{
    int oi = pcp_order_index(order);
    int req_node = MEMF_get_node(memflags);
    /* Only unrestricted zones use the caches: a cache does not sort its frames by zone. */
    if (oi >= 0 && zlo == 1 && zhi == PB_NR_ZONES - 1 && !(memflags & ~MEMF_KNOWN_MASK) &&
        req_node < (int)h->nr_nodes && mfn) {
        struct pb_pcp *p = pcp_get(h);
        if (p) {
            int rc =
                pcp_take(h, p, first_node(h, d, req_node, memflags), oi, order, memflags, d, mfn);
            if (rc != -EAGAIN)
                return rc;
        }
    }
    int rc = alloc_common(h, zlo, zhi, order, memflags, d, mfn, false);
    if (rc == -ENOMEM) {
        /* Frames sitting in caches may be what is missing: drain them all, retry once. */
        pb_pcp_drain_all(h);
        rc = alloc_common(h, zlo, zhi, order, memflags, d, mfn, false);
        if (rc == 0) /* the first try was not a failure of the call */
            atomic_fetch_sub_explicit(&h->alloc_failures, 1, memory_order_relaxed);
    }
    return rc;
}

/* Clean order-0 and order-9 frees go to this CPU's cache of their node; the rest bypass it. */
static void pcp_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub)
{
    int oi = pcp_order_index(order);
    const uint64_t n = 1ull << order;
    bool clean = oi >= 0 && !need_scrub;
    /* A frame still flagged from an allocation with MEMF_keep_scrub is dirty: bypass. */
    for (uint64_t i = 0; clean && i < n; i++)
        clean = !pg_of(h, mfn + i)->need_scrub;
    struct pb_pcp *p = clean ? pcp_get(h) : NULL;
    if (!p) {
        free_common(h, mfn, order, need_scrub, false);
        return;
    }
    struct pb_node *nd = pb_node_of(h, mfn);
    struct pb_pcp_list *l = pcp_list(p, nd->id, oi);
    pcp_lock(p);
    for (uint64_t i = 0; i < n; i++) {
        struct pb_page *pg = pg_of(h, mfn + i);
        PB_BUG_ON(pg->state != PGS_INUSE);
        pg->owner = PB_OWNER_CACHED;
    }
    l->ring[(l->head + l->count++) % PB_PCP_CAP] = (uint32_t)mfn;
    pb_owned_add(&p->node_frames[nd->id], (int64_t)n);
    pb_owned_add(&p->frees, 1);
    if (l->count > h->pcp_wm[oi].high)
        pcp_drain_list(h, p, nd, l, order, h->pcp_wm[oi].batch);
    pcp_unlock(p);
}

static int pcp_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts,
                     unsigned nr)
{
    int rc = claim_common(h, d, parts, nr, false);
    if (rc == -ENOMEM) {
        pb_pcp_drain_all(h);
        rc = claim_common(h, d, parts, nr, false);
    }
    return rc;
}

static bool is_pcp(const struct pb_heap *h)
{
    return h->ops->alloc_heap_pages == pcp_alloc;
}

int pb_pcp_set_watermarks(struct pb_heap *h, unsigned order, unsigned batch, unsigned high)
{
    int oi = pcp_order_index(order);
    if (!h || !is_pcp(h) || oi < 0 || batch == 0 || batch >= PB_PCP_CAP || high >= PB_PCP_CAP)
        return -EINVAL;
    h->pcp_wm[oi].batch = batch;
    h->pcp_wm[oi].high = high;
    return 0;
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
    struct pb_pcp *p = atomic_load_explicit(&((struct pb_heap *)h)->pcp[cpu], memory_order_acquire);
    if (!p)
        return 0;
    pcp_lock(p);
    uint64_t c = pcp_list(p, node, oi)->count;
    pcp_unlock(p);
    return c;
}

/* Frames cached on a node (all CPUs), or on every node when node == PB_MAX_NODES. */
static uint64_t pcp_cached_frames(const struct pb_heap *h, unsigned node)
{
    uint64_t sum = 0;
    if (!is_pcp(h))
        return 0;
    for (unsigned cpu = 0; cpu < PB_PCP_MAX_CPUS; cpu++) {
        struct pb_pcp *p =
            atomic_load_explicit(&((struct pb_heap *)h)->pcp[cpu], memory_order_acquire);
        if (!p)
            continue;
        for (unsigned n = 0; n < h->nr_nodes; n++)
            if (node == PB_MAX_NODES || node == n)
                sum += pb_ld(&p->node_frames[n]);
    }
    return sum;
}

/* Frames cached on a node within one zone: walks the rings under their locks. */
static uint64_t pcp_cached_zone(const struct pb_heap *h, unsigned node, unsigned zone)
{
    uint64_t sum = 0;
    if (!is_pcp(h))
        return 0;
    for (unsigned cpu = 0; cpu < PB_PCP_MAX_CPUS; cpu++) {
        struct pb_pcp *p =
            atomic_load_explicit(&((struct pb_heap *)h)->pcp[cpu], memory_order_acquire);
        if (!p)
            continue;
        pcp_lock(p);
        for (int oi = 0; oi < PB_PCP_ORDERS; oi++) {
            const struct pb_pcp_list *l = pcp_list(p, node, oi);
            for (uint32_t k = 0; k < l->count; k++)
                if (pb_mfn_zone(l->ring[(l->head + k) % PB_PCP_CAP]) == zone)
                    sum += 1ull << (oi ? PB_PCP_HI_ORDER : 0);
        }
        pcp_unlock(p);
    }
    return sum;
}

static void pcp_free_all(struct pb_heap *h)
{
    for (unsigned cpu = 0; cpu < PB_PCP_MAX_CPUS; cpu++)
        free(atomic_load_explicit(&h->pcp[cpu], memory_order_relaxed));
}

/* The variants: one instantiation each. */
/* xen: while a scrubber runs, it sees allocations in progress as "other work pending". */
static int xen_alloc(struct pb_heap *h, unsigned zlo, unsigned zhi, unsigned order,
                     unsigned memflags, struct pb_domain *d, uint64_t *mfn)
{
    if (!atomic_load_explicit(&h->scrubber_running, memory_order_relaxed))
        return alloc_common(h, zlo, zhi, order, memflags, d, mfn, true);
    atomic_fetch_add_explicit(&h->allocs_in_flight, 1, memory_order_relaxed);
    int rc = alloc_common(h, zlo, zhi, order, memflags, d, mfn, true);
    atomic_fetch_sub_explicit(&h->allocs_in_flight, 1, memory_order_relaxed);
    return rc;
}
static int pernode_alloc(struct pb_heap *h, unsigned zlo, unsigned zhi, unsigned order,
                         unsigned memflags, struct pb_domain *d, uint64_t *mfn)
{
    return alloc_common(h, zlo, zhi, order, memflags, d, mfn, false);
}
static void xen_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub)
{
    free_common(h, mfn, order, need_scrub, true);
}
static void pernode_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub)
{
    free_common(h, mfn, order, need_scrub, false);
}
static int xen_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts,
                     unsigned nr)
{
    return claim_common(h, d, parts, nr, true);
}
static int pernode_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts,
                         unsigned nr)
{
    return claim_common(h, d, parts, nr, false);
}
static void xen_unclaim(struct pb_heap *h, struct pb_domain *d)
{
    unclaim_common(h, d, true);
}
static void pernode_unclaim(struct pb_heap *h, struct pb_domain *d)
{
    unclaim_common(h, d, false);
}

static const struct pb_variant_ops variants[] = {
    {"xen", true, xen_alloc, xen_free, xen_claim, xen_unclaim},
    {"pernode", false, pernode_alloc, pernode_free, pernode_claim, pernode_unclaim},
    {"pcp", false, pcp_alloc, pcp_free, pcp_claim, pernode_unclaim},
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
    if (!h || order > PB_MAX_ORDER || mfn == 0 || (mfn & ((1ull << order) - 1)))
        return -EINVAL;
    struct pb_node *nd = pb_node_of(h, mfn);
    if (!nd || mfn + (1ull << order) > nd->end)
        return -EINVAL;
    /*
     * The block must be in use and owned by nobody (every frame in checked builds, the head
     * otherwise: free_heap_pages itself stops at any frame that is not in use).
     */
    uint64_t check = POPBENCH_DEBUG >= 1 ? 1ull << order : 1;
    for (uint64_t i = 0; i < check; i++) {
        const struct pb_page *pg = pg_of(h, mfn + i);
        if (pg->state != PGS_INUSE || pg->owner != PB_DOMID_NONE)
            return -EINVAL;
    }
    h->ops->free_heap_pages(h, mfn, order, need_scrub);
    return 0;
}

/* ------------------------------------------------------------------------------------------
 * Building and tearing down a machine.
 */

static int numa_node_exists(unsigned node)
{
    return numa_available() >= 0 && (int)node <= numa_max_node() &&
           numa_bitmask_isbitset(numa_all_nodes_ptr, node);
}

static int node_memory_alloc(struct pb_node *nd, bool backed)
{
    nd->memory = PB_NODE_MEM_NONE;
    if (!backed)
        return 0;
    nd->data_len = (size_t)(nd->end - nd->start) * PB_PAGE_SIZE;
    if (numa_node_exists(nd->id)) {
        nd->data = numa_alloc_onnode(nd->data_len, (int)nd->id);
        if (!nd->data)
            return -ENOMEM;
        /* Fault every frame in now, on its node, so no run measures first touch. */
        for (size_t off = 0; off < nd->data_len; off += PB_PAGE_SIZE)
            ((volatile unsigned char *)nd->data)[off] = 0;
        nd->memory = PB_NODE_MEM_NUMA;
    } else {
        void *p = mmap(NULL, nd->data_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
            return -ENOMEM;
        nd->data = p;
        nd->memory = PB_NODE_MEM_PLAIN;
    }
    return 0;
}

static void node_memory_free(struct pb_node *nd)
{
    if (nd->memory == PB_NODE_MEM_NUMA)
        numa_free(nd->data, nd->data_len);
    else if (nd->memory == PB_NODE_MEM_PLAIN)
        munmap(nd->data, nd->data_len);
}

static bool want_backing(const struct pb_machine_desc *desc, uint64_t frames)
{
    if (desc->backing == PB_BACKING_REAL)
        return true;
    if (desc->backing == PB_BACKING_NONE)
        return false;
    /* auto: real when the frames fit in half of this machine's memory */
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 && frames * PB_PAGE_SIZE <= (uint64_t)pages * (uint64_t)psz / 2;
}

/* Hand a node's frames to its free lists in maximal aligned blocks (MFN 0 excepted). */
static void node_fill(struct pb_heap *h, struct pb_node *nd)
{
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

int pb_heap_create(const struct pb_machine_desc *desc, const char *variant,
                   enum pb_lock_kind lock_kind, struct pb_heap **out)
{
    const struct pb_variant_ops *ops = pb_variant_lookup(variant);
    if (!desc || !out || !ops || desc->nr_nodes == 0 || desc->nr_nodes > PB_MAX_NODES ||
        (lock_kind != PB_LOCK_TICKET && lock_kind != PB_LOCK_MUTEX) ||
        desc->backing > PB_BACKING_NONE)
        return -EINVAL;
    uint64_t frames = 0;
    for (unsigned n = 0; n < desc->nr_nodes; n++) {
        if (desc->node_frames[n] == 0 || desc->node_frames[n] > PB_MAX_FRAMES)
            return -EINVAL;
        frames += desc->node_frames[n];
    }
    if (frames < 2 || frames >= PB_MAX_FRAMES)
        return -EINVAL;

    struct pb_heap *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->ops = ops;
    /* pcp watermarks, after Linux's per-CPU lists: order 0 refills and drains 31 frames at a
     * time and holds at most 6 batches; 2 MiB frames are few, so they move one at a time. */
    h->pcp_wm[0] = (struct pb_pcp_watermarks){31, 186};
    h->pcp_wm[1] = (struct pb_pcp_watermarks){1, 4};
    h->nr_nodes = desc->nr_nodes;
    h->nr_frames = frames;
    h->lock_kind = lock_kind;
    h->frames_len = frames * sizeof(struct pb_page);
    void *fp =
        mmap(NULL, h->frames_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fp == MAP_FAILED) {
        free(h);
        return -ENOMEM;
    }
    h->frames = fp;
    /* mmap gives zeroes: every frame starts free (PGS_FREE == 0), clean, not scrubbing. */
    for (uint64_t i = 0; i < frames; i++) {
        h->frames[i].next = h->frames[i].prev = PB_NO_FRAME;
        h->frames[i].owner = PB_DOMID_NONE;
    }
    h->frames[0].state = PGS_OFFLINED;
    pb_lock_init(&h->global_lock, "heap", PB_RANK_HEAP, lock_kind);
    pb_lock_init(&h->domtable_lock, "domtable", PB_RANK_DOMTABLE, lock_kind);

    bool backed = want_backing(desc, frames);
    uint64_t start = 0;
    int rc = 0;
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        struct pb_node *nd = aligned_alloc(PB_CACHELINE, sizeof(*nd));
        if (!nd) {
            rc = -ENOMEM;
            break;
        }
        memset(nd, 0, sizeof(*nd));
        h->nodes[n] = nd;
        nd->id = n;
        nd->start = start;
        nd->end = start + desc->node_frames[n];
        start = nd->end;
        snprintf(nd->lock_name, sizeof(nd->lock_name), "heap.node%u", n);
        if (ops->global_lock) {
            nd->heap_lock = &h->global_lock;
        } else {
            pb_lock_init(&nd->own_lock, nd->lock_name, PB_RANK_HEAP, lock_kind);
            nd->heap_lock = &nd->own_lock;
        }
        for (unsigned z = 0; z < PB_NR_ZONES; z++)
            for (unsigned o = 0; o <= PB_MAX_ORDER; o++)
                nd->free[z][o].head = nd->free[z][o].tail = PB_NO_FRAME;
        rc = node_memory_alloc(nd, backed);
        if (rc)
            break;
        node_fill(h, nd);
        int64_t avail = (int64_t)pb_ld(&nd->node_avail);
        atomic_fetch_add(&h->total_avail, avail);
        atomic_fetch_add(&h->unclaimed, avail);
    }
    if (rc) {
        pb_heap_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

void pb_heap_destroy(struct pb_heap *h)
{
    if (!h)
        return;
    for (unsigned id = 0; id < PB_MAX_DOMAINS; id++) {
        struct pb_domain *d = atomic_load(&h->domains[id]);
        if (d)
            pb_domain_destroy(d);
    }
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        struct pb_node *nd = h->nodes[n];
        if (!nd)
            continue;
        node_memory_free(nd);
        if (nd->heap_lock == &nd->own_lock)
            pb_lock_destroy(&nd->own_lock);
        free(nd);
    }
    pcp_free_all(h);
    pb_lock_destroy(&h->global_lock);
    pb_lock_destroy(&h->domtable_lock);
    munmap(h->frames, h->frames_len);
    free(h);
}

/* ------------------------------------------------------------------------------------------
 * Accessors.
 */

const char *pb_heap_variant(const struct pb_heap *h)
{
    return h->ops->name;
}
unsigned pb_heap_nr_nodes(const struct pb_heap *h)
{
    return h->nr_nodes;
}
uint64_t pb_heap_nr_frames(const struct pb_heap *h)
{
    return h->nr_frames;
}
uint64_t pb_heap_node_start(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? h->nodes[node]->start : 0;
}
uint64_t pb_heap_node_frames(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? h->nodes[node]->end - h->nodes[node]->start : 0;
}
enum pb_node_memory pb_heap_node_memory(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? h->nodes[node]->memory : PB_NODE_MEM_NONE;
}
bool pb_heap_backed(const struct pb_heap *h)
{
    return h->nodes[0]->data != NULL;
}

void *pb_frame_data(const struct pb_heap *h, uint64_t mfn)
{
    const struct pb_node *nd = pb_node_of(h, mfn);
    if (!nd || !nd->data)
        return NULL;
    return nd->data + (mfn - nd->start) * PB_PAGE_SIZE;
}

int pb_mfn_to_node(const struct pb_heap *h, uint64_t mfn)
{
    const struct pb_node *nd = pb_node_of(h, mfn);
    return nd ? (int)nd->id : -EINVAL;
}

uint64_t pb_heap_total_avail(const struct pb_heap *h)
{
    return (uint64_t)atomic_load_explicit(&h->total_avail, memory_order_relaxed) +
           pcp_cached_frames(h, PB_MAX_NODES);
}
uint64_t pb_heap_node_avail(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? pb_ld(&h->nodes[node]->node_avail) + pcp_cached_frames(h, node) : 0;
}
uint64_t pb_heap_zone_avail(const struct pb_heap *h, unsigned node, unsigned zone)
{
    if (node >= h->nr_nodes || zone >= PB_NR_ZONES)
        return 0;
    return pb_ld(&h->nodes[node]->avail[zone]) + pcp_cached_zone(h, node, zone);
}
uint64_t pb_heap_node_need_scrub(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? pb_ld(&h->nodes[node]->need_scrub) : 0;
}
uint64_t pb_heap_outstanding_claims(const struct pb_heap *h)
{
    return (uint64_t)atomic_load_explicit(&h->outstanding_claims, memory_order_relaxed);
}

uint64_t pb_heap_node_claims(const struct pb_heap *h, unsigned node)
{
    if (!h || node >= h->nr_nodes)
        return 0;
    return (uint64_t)atomic_load_explicit(&h->nodes[node]->claimed, memory_order_relaxed);
}

void pb_heap_read_counters(const struct pb_heap *h, struct pb_heap_counters *out)
{
    memset(out, 0, sizeof(*out));
    out->alloc_failures = pb_ld(&h->alloc_failures);
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        const struct pb_node_counters *c = &h->nodes[n]->ctr;
        out->allocs += c->allocs;
        out->frees += c->frees;
        out->splits += c->splits;
        out->merges += c->merges;
        out->dirty_alloc_pages += c->dirty_alloc_pages;
        out->scrubbed_on_alloc += c->scrubbed_on_alloc;
        out->tlb_flushes += c->tlb_flushes;
        out->second_pass += c->second_pass;
    }
    for (unsigned cpu = 0; is_pcp(h) && cpu < PB_PCP_MAX_CPUS; cpu++) {
        const struct pb_pcp *p = atomic_load_explicit(&h->pcp[cpu], memory_order_acquire);
        if (!p)
            continue;
        out->allocs += pb_ld(&p->allocs);
        out->frees += pb_ld(&p->frees);
        out->tlb_flushes += pb_ld(&p->tlb_flushes);
    }
}

void pb_heap_for_each_lock(const struct pb_heap *h, pb_lock_visitor visit, void *ctx)
{
    if (h->ops->global_lock) {
        visit(ctx, &h->global_lock);
        return;
    }
    for (unsigned n = 0; n < h->nr_nodes; n++)
        visit(ctx, &h->nodes[n]->own_lock);
}

bool pb_heap_free_buddy_at(const struct pb_heap *h, uint64_t mfn, unsigned *order,
                           uint32_t *first_dirty)
{
    const struct pb_node *nd = pb_node_of(h, mfn);
    if (!nd || h->frames[mfn].state != PGS_FREE)
        return false;
    for (unsigned o = 0; o <= PB_MAX_ORDER; o++) {
        const struct pb_list *l = &nd->free[pb_mfn_zone(mfn)][o];
        for (uint32_t m = l->head; m != PB_NO_FRAME; m = h->frames[m].next)
            if (m == mfn) {
                *order = o;
                *first_dirty = h->frames[m].first_dirty;
                return true;
            }
    }
    return false;
}

bool pb_heap_frame_in_use(const struct pb_heap *h, uint64_t mfn, unsigned *owner)
{
    if (mfn >= h->nr_frames || h->frames[mfn].state != PGS_INUSE ||
        h->frames[mfn].owner == PB_OWNER_CACHED)
        return false;
    *owner = h->frames[mfn].owner;
    return true;
}

bool pb_heap_frame_cached(const struct pb_heap *h, uint64_t mfn)
{
    return mfn < h->nr_frames && h->frames[mfn].state == PGS_INUSE &&
           h->frames[mfn].owner == PB_OWNER_CACHED;
}

bool pb_heap_frame_dirty(const struct pb_heap *h, uint64_t mfn)
{
    return mfn < h->nr_frames && h->frames[mfn].need_scrub;
}
