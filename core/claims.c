/*
 * claims.c: the heap's host-wide counters, the nodes' credit of unclaimed frames, the readers
 * of free and claimed memory, and staking and releasing claims (XEN-MODEL.md §2,
 * XENMEM_claim_pages; per-node claims). The claims check of each allocation is inlined into
 * heap.c's search (claims_reserve); the credit's fast path is in heap_impl.h.
 */
#include <errno.h>

#include "core/heap_impl.h"
#include "core/memflags.h"

/* ------------------------------------------------------------------------------------------
 * Host-wide counters and claims.
 *
 * xen keeps Xen's counters in struct pb_heap, under its global lock: total_avail, unclaimed
 * (= total_avail - outstanding_claims) and outstanding_claims.
 *
 * pernode and pcp write no host-wide line on the paths of an allocation or a free. Each node
 * holds a credit of unclaimed frames, borrowed from the host's pool (h->unclaimed) a batch at a
 * time (pb_credit_take): an allocation on the node takes from it what the domain's claim does
 * not cover, and a free gives its frames back to it (pb_credit_give). The frames claims consume
 * are counted per node (claims_retired). The host's figures are sums, made when read:
 *   free frames        = sum over nodes of node_avail (+ the frames in caches, pcp)
 *   outstanding claims = h->outstanding_claims (staked - released) - sum of claims_retired
 *   unclaimed          = pool + sum of credits = the lists' free frames - outstanding >= 0
 * Neither the pool nor a credit ever goes below zero, so the unclaimed frames never do: claims
 * are never over-committed, and an allocation without a claim only takes unclaimed frames.
 * Near the limits the credit may sit on nodes that cannot use it: a claim that finds the pool
 * short, and a node whose credit and the pool together fall short of a request, recall every
 * node's credit into the pool (pb_credit_recall) and try once more, every node borrowing only
 * what it needs while a recall runs (frames freed during the recall may stay on their node). So
 * where the credit sits never changes which node an allocation gets, nor whether it succeeds.
 */

void pb_credit_return(struct pb_heap *h, struct pb_node *nd)
{
    int64_t c = atomic_load_explicit(&nd->credit, memory_order_relaxed);
    while (c > PB_CREDIT_HIGH)
        if (atomic_compare_exchange_weak_explicit(&nd->credit, &c, PB_CREDIT_BATCH,
                                                  memory_order_relaxed, memory_order_relaxed)) {
            PB_HOST_ADD(&h->unclaimed, c - PB_CREDIT_BATCH);
            return;
        }
}

void pb_credit_recall(struct pb_heap *h)
{
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        int64_t c = atomic_exchange_explicit(&h->nodes[n]->credit, 0, memory_order_relaxed);
        if (c)
            PB_HOST_ADD(&h->unclaimed, c);
    }
}

/* The exact path: every node's credit back in the pool; borrowing is exact until recall_end. */
static void recall_begin(struct pb_heap *h)
{
    PB_HOST_ADD(&h->recalling, 1);
    pb_credit_recall(h);
}

static void recall_end(struct pb_heap *h)
{
    PB_SHARED_WRITES(1);
    atomic_fetch_sub_explicit(&h->recalling, 1, memory_order_relaxed);
}

/* One batch more than the need, or just the need when the pool is low or a recall runs. */
static bool borrow_from_pool(struct pb_heap *h, struct pb_node *nd, int64_t need)
{
    int64_t extra = atomic_load_explicit(&h->recalling, memory_order_relaxed) ? 0 : PB_CREDIT_BATCH;
    int64_t u = atomic_load_explicit(&h->unclaimed, memory_order_relaxed);
    for (;;) {
        if (u < need)
            return false;
        int64_t b = u - need >= extra ? need + extra : need;
        if (PB_HOST_CAS(&h->unclaimed, &u, u - b)) {
            if (b > need)
                atomic_fetch_add_explicit(&nd->credit, b - need, memory_order_relaxed);
            return true;
        }
    }
}

/*
 * The pool first; when it falls short, the unclaimed frames may be credit on other nodes, so
 * the exact path: every node's credit back in the pool, and borrow exactly the need. A node with
 * a buddy for the request is thus never passed over for where the credit happens to sit: the
 * search order stays Xen's. Only atomics: callable under any heap lock.
 */
bool pb_credit_borrow(struct pb_heap *h, struct pb_node *nd, int64_t need)
{
    if (pb_likely(borrow_from_pool(h, nd, need)))
        return true;
    recall_begin(h);
    bool ok = borrow_from_pool(h, nd, need);
    recall_end(h);
    return ok;
}

int64_t pb_heap_claims_outstanding(const struct pb_heap *h)
{
    int64_t out = atomic_load_explicit(&h->outstanding_claims, memory_order_relaxed);
    if (!h->ops->global_lock)
        for (unsigned n = 0; n < h->nr_nodes; n++)
            out -= atomic_load_explicit(&h->nodes[n]->claims_retired, memory_order_relaxed);
    return out;
}

int64_t pb_heap_unclaimed_credit(const struct pb_heap *h)
{
    int64_t u = atomic_load_explicit(&h->unclaimed, memory_order_relaxed);
    if (!h->ops->global_lock)
        for (unsigned n = 0; n < h->nr_nodes; n++)
            u += atomic_load_explicit(&h->nodes[n]->credit, memory_order_relaxed);
    return u;
}

/*
 * A node's lists and its frames in caches, read within one even period of move_seq: a refill
 * or a drain moving frames between them in the meantime makes the reader try again, so no
 * frame is counted in both. (Allocations and frees change them too, but move no free frame.)
 * The mover makes move_seq odd, then stores the counts with release; the reader loads them
 * with acquire: one that sees a moved count sees move_seq changed when it looks again.
 */
static uint64_t node_free_frames(const struct pb_heap *h, const struct pb_node *nd)
{
    for (;;) {
        uint32_t seq = atomic_load_explicit(&nd->move_seq, memory_order_acquire);
        uint64_t v = atomic_load_explicit(&nd->node_avail, memory_order_acquire) +
                     pb_pcp_cached_frames(h, nd->id);
        if (!(seq & 1) && atomic_load_explicit(&nd->move_seq, memory_order_relaxed) == seq)
            return v;
        pb_cpu_relax();
    }
}

uint64_t pb_heap_free_frames(const struct pb_heap *h, unsigned node)
{
    if (node < h->nr_nodes)
        return node_free_frames(h, h->nodes[node]);
    if (h->ops->global_lock)
        return (uint64_t)atomic_load_explicit(&h->total_avail, memory_order_relaxed);
    uint64_t sum = 0;
    for (unsigned n = 0; n < h->nr_nodes; n++)
        sum += node_free_frames(h, h->nodes[n]);
    return sum;
}

/*
 * Stake a claim made of parts (pb_domain_claim_nodes; XENMEM_claim_pages is one host-wide
 * part), all or nothing: the sum comes out of the host's unclaimed pool (never below zero;
 * pernode and pcp recall the nodes' credit first if the pool is short), then each node part
 * out of its node's unclaimed frames under that node's heap lock.
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
    bool ok = pb_pool_take(h, sum, global);
    if (!ok && !global) {
        recall_begin(h);
        ok = pb_pool_take(h, sum, false);
        recall_end(h);
    }
    if (!ok) {
        rc = -ENOMEM;
        goto out;
    }
    unsigned i;
    for (i = 0; i < nr; i++) {
        if (parts[i].node < 0 || !parts[i].pages)
            continue;
        struct pb_node *nd = h->nodes[parts[i].node];
        int64_t pages = (int64_t)parts[i].pages;
        if (!global)
            pb_lock_acquire(nd->heap_lock);
        bool fits = pb_node_unclaimed(nd) >= pages;
        if (fits) {
            atomic_fetch_add_explicit(&nd->claimed, pages, memory_order_relaxed);
            atomic_fetch_add_explicit(&d->node_claim[nd->id], pages, memory_order_relaxed);
        }
        if (!global)
            pb_lock_release(nd->heap_lock);
        if (!fits)
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
        pb_host_add(&h->unclaimed, sum, global);
        rc = -ENOMEM;
        goto out;
    }
    pb_host_add(&h->outstanding_claims, sum, global);
    pb_ctr_add(&d->claim, host, global);
    atomic_fetch_add_explicit(&d->node_claims, sum - host, memory_order_relaxed);
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
    pb_host_add(&h->outstanding_claims, -c, global);
    pb_host_add(&h->unclaimed, c, global);
    if (global)
        pb_lock_release(&h->global_lock);
}

int pb_xen_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts, unsigned nr)
{
    return claim_common(h, d, parts, nr, true);
}
int pb_pernode_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts,
                     unsigned nr)
{
    return claim_common(h, d, parts, nr, false);
}
void pb_xen_unclaim(struct pb_heap *h, struct pb_domain *d)
{
    unclaim_common(h, d, true);
}
void pb_pernode_unclaim(struct pb_heap *h, struct pb_domain *d)
{
    unclaim_common(h, d, false);
}
