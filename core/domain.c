/*
 * domain.c: domains, claims, assign_pages, alloc/free_domheap_pages (XEN-MODEL.md §5).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/heap_impl.h"
#include "core/memflags.h"

int pb_domain_create(struct pb_heap *h, unsigned domid, const struct pb_domain_config *cfg,
                     struct pb_domain **out)
{
    if (!h || !cfg || !out || domid >= PB_MAX_DOMAINS || cfg->privilege > PB_PRIV_HARDWARE)
        return -EINVAL;
    uint64_t online = h->nr_nodes == 64 ? ~0ull : (1ull << h->nr_nodes) - 1;
    if (cfg->node_affinity & ~online)
        return -EINVAL;
    struct pb_domain *d = aligned_alloc(PB_CACHELINE, sizeof(*d));
    if (!d)
        return -ENOMEM;
    memset(d, 0, sizeof(*d));
    d->heap = h;
    d->domid = domid;
    d->privilege = cfg->privilege;
    d->node_affinity = cfg->node_affinity ? cfg->node_affinity : online;
    d->max_pages = cfg->max_pages;
    d->pages.head = d->pages.tail = PB_NO_FRAME;
    /* As in Xen (a zeroed struct domain): node 0, so that the first extent goes to the node
     * after 0 in the affinity mask. */
    atomic_init(&d->last_alloc_node, 0);
    pb_lock_init(&d->page_alloc_lock, "domain.page_alloc", PB_RANK_PAGE_ALLOC, h->lock_kind);

    pb_lock_acquire(&h->domtable_lock);
    struct pb_domain *old = atomic_load_explicit(&h->domains[domid], memory_order_relaxed);
    if (!old)
        atomic_store_explicit(&h->domains[domid], d, memory_order_release);
    pb_lock_release(&h->domtable_lock);
    if (old) {
        pb_lock_destroy(&d->page_alloc_lock);
        free(d);
        return -EEXIST;
    }
    *out = d;
    return 0;
}

struct pb_domain *pb_domain_get(struct pb_heap *h, unsigned domid)
{
    if (!h || domid >= PB_MAX_DOMAINS)
        return NULL;
    return atomic_load_explicit(&h->domains[domid], memory_order_acquire);
}

void pb_domain_kill(struct pb_domain *d)
{
    pb_lock_acquire(&d->page_alloc_lock);
    if (!atomic_exchange(&d->dying, true))
        d->heap->ops->unclaim(d->heap, d);
    pb_lock_release(&d->page_alloc_lock);
}

/*
 * Free one frame of a dying domain's page list (the head), as relinquish_memory does through
 * free_domheap_page: off the list, out of tot_pages, back to the heap dirty (lock order
 * page_alloc_lock, then the heap lock). page_alloc_lock held. False when the list is empty.
 */
static bool relinquish_one(struct pb_domain *d)
{
    struct pb_heap *h = d->heap;
    uint32_t mfn = d->pages.head;
    if (mfn == PB_NO_FRAME)
        return false;
    struct pb_page *pg = pb_pg(h, mfn);
    pb_page_list_del(h, &d->pages, mfn);
    pg->owner = PB_DOMID_NONE;
    pg->tlbflush_ts = atomic_load_explicit(&h->tlbflush_clock, memory_order_relaxed) + 1;
    if (pg->extra) {
        PB_BUG_ON(d->extra_pages == 0);
        d->extra_pages--;
        pg->extra = 0;
    } else {
        PB_BUG_ON(d->tot_pages == 0);
        d->tot_pages--;
    }
    h->ops->free_heap_pages(h, mfn, 0, true);
    return true;
}

int pb_domain_relinquish_memory(struct pb_domain *d, bool (*preempt)(void *ctx), void *ctx,
                                uint64_t *freed)
{
    if (!d || !atomic_load(&d->dying))
        return -EINVAL;
    int rc = 0;
    uint64_t n = 0;
    pb_lock_acquire(&d->page_alloc_lock);
    while (relinquish_one(d)) {
        n++;
        if (preempt && d->pages.head != PB_NO_FRAME && preempt(ctx)) {
            rc = -ERESTART;
            break;
        }
    }
    pb_lock_release(&d->page_alloc_lock);
    if (freed)
        *freed += n;
    return rc;
}

/* domain_pending_scrub_free: a stashed extent is nobody's; it goes back dirty. */
bool pb_domain_free_stash(struct pb_domain *d)
{
    pb_lock_acquire(&d->page_alloc_lock);
    bool had = d->stash_valid;
    uint64_t mfn = d->stash_mfn;
    unsigned order = d->stash_order;
    d->stash_valid = false;
    d->stash_mfn = 0;
    d->stash_order = 0;
    d->stash_progress = 0;
    if (had)
        PB_BUG_ON(pb_free_domheap_pages(d->heap, NULL, mfn, order, true) != 0);
    pb_lock_release(&d->page_alloc_lock);
    return had;
}

void pb_domain_destroy(struct pb_domain *d)
{
    if (!d)
        return;
    struct pb_heap *h = d->heap;
    pb_domain_kill(d);
    pb_domain_free_stash(d);
    /* Relinquish: every frame goes back dirty, one at a time, as a dying guest's do. */
    PB_BUG_ON(pb_domain_relinquish_memory(d, NULL, NULL, NULL) != 0);
    pb_lock_acquire(&h->domtable_lock);
    atomic_store_explicit(&h->domains[d->domid], NULL, memory_order_release);
    pb_lock_release(&h->domtable_lock);
    pb_lock_destroy(&d->page_alloc_lock);
    free(d);
}

unsigned pb_domain_id(const struct pb_domain *d)
{
    return d->domid;
}

/* Fields protected by page_alloc_lock, read for reporting: take the lock for a clean read. */
static uint64_t locked_read(const struct pb_domain *d, const uint64_t *field)
{
    struct pb_lock *l = (struct pb_lock *)&d->page_alloc_lock;
    pb_lock_acquire(l);
    uint64_t v = *field;
    pb_lock_release(l);
    return v;
}

uint64_t pb_domain_tot_pages(const struct pb_domain *d)
{
    return locked_read(d, &d->tot_pages);
}
uint64_t pb_domain_max_pages(const struct pb_domain *d)
{
    return locked_read(d, &d->max_pages);
}
uint64_t pb_domain_extra_pages(const struct pb_domain *d)
{
    return locked_read(d, &d->extra_pages);
}
uint64_t pb_domain_claim(const struct pb_domain *d)
{
    return (uint64_t)(atomic_load_explicit(&d->claim, memory_order_relaxed) +
                      atomic_load_explicit(&d->node_claims, memory_order_relaxed));
}
uint64_t pb_domain_host_claim(const struct pb_domain *d)
{
    return (uint64_t)atomic_load_explicit(&d->claim, memory_order_relaxed);
}
uint64_t pb_domain_node_claim(const struct pb_domain *d, unsigned node)
{
    if (!d || node >= d->heap->nr_nodes)
        return 0;
    return (uint64_t)atomic_load_explicit(&d->node_claim[node], memory_order_relaxed);
}
uint64_t pb_domain_node_affinity(const struct pb_domain *d)
{
    return d->node_affinity;
}
enum pb_privilege pb_domain_privilege(const struct pb_domain *d)
{
    return d->privilege;
}
bool pb_domain_dying(const struct pb_domain *d)
{
    return atomic_load(&d->dying);
}
struct pb_lock *pb_domain_lock(struct pb_domain *d)
{
    return &d->page_alloc_lock;
}

void pb_domain_set_p2m(struct pb_domain *d, struct p2m *p2m)
{
    d->p2m = p2m;
}
struct p2m *pb_domain_p2m(const struct pb_domain *d)
{
    return d->p2m;
}
bool pb_domain_creation_finished(const struct pb_domain *d)
{
    return atomic_load_explicit(&d->creation_finished, memory_order_acquire);
}
void pb_domain_finish_creation(struct pb_domain *d)
{
    atomic_store_explicit(&d->creation_finished, true, memory_order_release);
}

int pb_domain_set_max_pages(struct pb_domain *d, uint64_t max_pages)
{
    if (!d)
        return -EINVAL;
    pb_lock_acquire(&d->page_alloc_lock);
    d->max_pages = max_pages;
    pb_lock_release(&d->page_alloc_lock);
    return 0;
}

int pb_domain_claim_pages(struct pb_domain *d, uint64_t pages)
{
    if (!d)
        return -EINVAL;
    struct pb_heap *h = d->heap;
    int rc = 0;
    pb_lock_acquire(&d->page_alloc_lock);
    /* memory_op refuses a dying domain before anything else (kill has released its claim;
     * checked under page_alloc_lock, which kill takes, so no claim can outlive it). */
    if (atomic_load(&d->dying)) {
        rc = -EINVAL;
    } else if (pages == 0) {
        h->ops->unclaim(h, d);
    } else if (pb_domain_claim(d) != 0 || pages <= d->tot_pages || pages > d->max_pages) {
        rc = -EINVAL;
    } else {
        struct pb_claim part = {PB_CLAIM_HOST, pages - d->tot_pages};
        rc = h->ops->claim(h, d, &part, 1);
    }
    pb_lock_release(&d->page_alloc_lock);
    return rc;
}

int pb_domain_claim_nodes(struct pb_domain *d, const struct pb_claim *parts, unsigned nr)
{
    if (!d || (nr && !parts) || nr > PB_MAX_NODES + 1)
        return -EINVAL;
    struct pb_heap *h = d->heap;
    uint64_t sum = 0, named = 0;
    bool host = false;
    for (unsigned i = 0; i < nr; i++) {
        int node = parts[i].node;
        if (node == PB_CLAIM_HOST) {
            if (host)
                return -EINVAL;
            host = true;
        } else {
            if (node < 0 || (unsigned)node >= h->nr_nodes || (named & (1ull << node)))
                return -EINVAL;
            named |= 1ull << node;
        }
        if (__builtin_add_overflow(sum, parts[i].pages, &sum))
            return -EINVAL; /* beyond any max_pages */
    }
    int rc = 0;
    pb_lock_acquire(&d->page_alloc_lock);
    if (atomic_load(&d->dying))
        rc = -EINVAL; /* as XENMEM_claim_pages */
    else if (sum == 0)
        h->ops->unclaim(h, d);
    else if (pb_domain_claim(d) != 0 || sum > d->max_pages || d->tot_pages > d->max_pages - sum)
        rc = -EINVAL;
    else if (sum > h->nr_frames)
        rc = -ENOMEM; /* more than the machine has */
    else
        rc = h->ops->claim(h, d, parts, nr);
    pb_lock_release(&d->page_alloc_lock);
    return rc;
}

uint64_t pb_domain_pages_on_nodes(struct pb_domain *d, uint64_t node_mask)
{
    if (!d)
        return 0;
    struct pb_heap *h = d->heap;
    uint64_t n = 0;
    pb_lock_acquire(&d->page_alloc_lock);
    for (uint32_t mfn = d->pages.head; mfn != PB_NO_FRAME; mfn = h->frames[mfn].next) {
        int node = pb_mfn_to_node(h, mfn);
        n += node >= 0 && node < 64 && (node_mask & (1ull << node));
    }
    pb_lock_release(&d->page_alloc_lock);
    return n;
}

int pb_assign_pages(struct pb_domain *d, uint64_t mfn, unsigned order, unsigned memflags)
{
    if (!d || order > PB_MAX_ORDER || (mfn & ((1ull << order) - 1)) ||
        mfn + (1ull << order) > d->heap->nr_frames || mfn == 0)
        return -EINVAL;
    struct pb_heap *h = d->heap;
    uint64_t nr = 1ull << order;
    int rc = 0;
    pb_lock_acquire(&d->page_alloc_lock);
    if (atomic_load(&d->dying)) {
        rc = -EINVAL;
        goto out;
    }
    if (!(memflags & MEMF_no_refcount)) {
        if (d->tot_pages > d->max_pages) {
            rc = -EPERM;
            goto out;
        }
        if (nr > d->max_pages - d->tot_pages) {
            rc = -E2BIG;
            goto out;
        }
    }
    for (uint64_t i = 0; i < nr; i++) {
        const struct pb_page *pg = &h->frames[mfn + i];
        if (pg->state != PGS_INUSE || pg->owner != PB_DOMID_NONE) {
            rc = -EINVAL;
            goto out;
        }
    }
    for (uint64_t i = 0; i < nr; i++) {
        h->frames[mfn + i].owner = (uint16_t)d->domid;
        h->frames[mfn + i].extra = !!(memflags & MEMF_no_refcount);
        pb_page_list_add_tail(h, &d->pages, (uint32_t)(mfn + i));
    }
    if (memflags & MEMF_no_refcount)
        d->extra_pages += nr;
    else
        d->tot_pages += nr;
out:
    pb_lock_release(&d->page_alloc_lock);
    return rc;
}

int pb_alloc_domheap_pages(struct pb_heap *h, struct pb_domain *d, unsigned order,
                           unsigned memflags, uint64_t *mfn)
{
    if (!h || !mfn)
        return -EINVAL;
    unsigned zone_hi = PB_NR_ZONES - 1;
    unsigned bits = MEMF_get_bits(memflags);
    if (bits) {
        unsigned cap = bits > PB_PAGE_SHIFT ? bits - PB_PAGE_SHIFT : 1;
        if (cap < zone_hi)
            zone_hi = cap;
    }
    /* Nobody will own it, so it counts against nobody (no claim either), but the domain still
     * says where it goes (affinity, last_alloc_node). */
    if (memflags & MEMF_no_owner)
        memflags |= MEMF_no_refcount;
    /* The DMA zone: the zones above it first; every zone only when that finds nothing. */
    int rc = -ENOMEM;
    bool tried = false;
    if (!h->dma_zone) {
        memflags &= ~MEMF_no_dma;
    } else if (h->dma_zone < zone_hi) {
        rc = pb_alloc_heap_pages(h, h->dma_zone + 1, zone_hi, order, memflags, d, mfn);
        tried = true;
    }
    if (rc == -ENOMEM && !(memflags & MEMF_no_dma)) {
        if (tried)
            atomic_fetch_add_explicit(&h->dma_retries, 1, memory_order_relaxed);
        rc = pb_alloc_heap_pages(h, 1, zone_hi, order, memflags, d, mfn);
    }
    /*
     * Frames still flagged need_scrub (MEMF_keep_scrub) are not given to the domain here:
     * the caller scrubs them and assigns them itself (populate_physmap's build path), so that
     * no unscrubbed frame is ever the domain's.
     */
    if (rc || !d || (memflags & (MEMF_no_owner | MEMF_keep_scrub)))
        return rc;
    rc = pb_assign_pages(d, *mfn, order, memflags);
    if (rc) {
        /* Frames taken with no_scrub may still hold old data: free them dirty. */
        h->ops->free_heap_pages(h, *mfn, order, memflags & MEMF_no_scrub);
        return rc;
    }
    return 0;
}

int pb_free_domheap_pages(struct pb_heap *h, struct pb_domain *d, uint64_t mfn, unsigned order,
                          bool dirty)
{
    if (!h || order > PB_MAX_ORDER || mfn == 0 || (mfn & ((1ull << order) - 1)) ||
        mfn + (1ull << order) > h->nr_frames || (d && d->heap != h))
        return -EINVAL;
    uint64_t nr = 1ull << order;
    /* Frames of nobody (a stashed extent, an allocation the build path could not assign): Xen
     * cannot know what they hold, so it scrubs them. */
    if (!d)
        return pb_free_heap_pages(h, mfn, order, true);

    pb_lock_acquire(&d->page_alloc_lock);
    for (uint64_t i = 0; i < nr; i++) {
        const struct pb_page *pg = &h->frames[mfn + i];
        if (pg->state != PGS_INUSE || pg->owner != d->domid) {
            pb_lock_release(&d->page_alloc_lock);
            return -EINVAL;
        }
    }
    /*
     * As in Xen, only a frame that had an owner may still be mapped in some TLB: it records
     * the flush clock, and whoever allocates it next flushes unless a flush came in between.
     * Frames freed by nobody keep the 0 their allocation left.
     */
    uint32_t ts = atomic_load_explicit(&h->tlbflush_clock, memory_order_relaxed) + 1;
    uint64_t extra = 0;
    for (uint64_t i = 0; i < nr; i++) {
        struct pb_page *pg = &h->frames[mfn + i];
        pb_page_list_del(h, &d->pages, (uint32_t)(mfn + i));
        pg->owner = PB_DOMID_NONE;
        pg->tlbflush_ts = ts;
        extra += pg->extra;
        pg->extra = 0;
    }
    PB_BUG_ON(d->tot_pages < nr - extra || d->extra_pages < extra);
    d->tot_pages -= nr - extra;
    d->extra_pages -= extra;
    bool scrub = dirty || atomic_load(&d->dying);
    pb_lock_release(&d->page_alloc_lock);

    h->ops->free_heap_pages(h, mfn, order, scrub);
    return 0;
}
