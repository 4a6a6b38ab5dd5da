/*
 * validate.c: recount the heap and check every identity of heap.h. Runs only while no other
 * thread uses the heap (tests, the end of a run, checked builds after each operation).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/heap_impl.h"

/* Where each frame was found. */
enum { SEEN_NONE = 0, SEEN_FREE, SEEN_DOMAIN, SEEN_CACHE };

struct vctx {
    char *msg;
    size_t len;
    int rc;
};

__attribute__((format(printf, 2, 3))) static int fail(struct vctx *v, const char *fmt, ...)
{
    if (v->rc == 0 && v->msg && v->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->msg, v->len, fmt, ap);
        va_end(ap);
    }
    v->rc = -EUCLEAN;
    return v->rc;
}

static int check_buddy(struct pb_heap *h, struct pb_node *nd, unsigned zone, unsigned order,
                       uint32_t mfn, uint8_t *seen, uint64_t *dirty, struct vctx *v)
{
    const struct pb_page *head = &h->frames[mfn];
    uint64_t n = 1ull << order;
    if (mfn & (n - 1))
        return fail(v, "free buddy at mfn %" PRIu32 " of order %u is not aligned", mfn, order);
    if (mfn < nd->start || mfn + n > nd->end)
        return fail(v, "free buddy at mfn %" PRIu32 " of order %u leaves node %u", mfn, order,
                    nd->id);
    if (pb_mfn_zone(mfn) != zone || pb_mfn_zone(mfn + n - 1) != zone)
        return fail(v, "free buddy at mfn %" PRIu32 " of order %u is not within zone %u", mfn,
                    order, zone);
    if (head->order != order)
        return fail(v, "free buddy at mfn %" PRIu32 " says order %u on the order-%u list", mfn,
                    head->order, order);
    if (head->first_dirty != PB_CLEAN && head->first_dirty >= n)
        return fail(v, "free buddy at mfn %" PRIu32 " has first_dirty %" PRIu32 " >= %" PRIu64, mfn,
                    head->first_dirty, n);
    if (atomic_load(&head->scrub) != PB_SCRUB_NONE)
        return fail(v, "free buddy at mfn %" PRIu32 " is still marked as being scrubbed", mfn);
    for (uint64_t i = 0; i < n; i++) {
        const struct pb_page *pg = &h->frames[mfn + i];
        if (seen[mfn + i] != SEEN_NONE)
            return fail(v, "frame %" PRIu64 " is in two places (free buddy at %" PRIu32 ")",
                        mfn + i, mfn);
        seen[mfn + i] = SEEN_FREE;
        if (pg->state != PGS_FREE)
            return fail(v, "frame %" PRIu64 " of free buddy %" PRIu32 " is not free", mfn + i, mfn);
        if (pg->need_scrub) {
            if (head->first_dirty == PB_CLEAN || i < head->first_dirty)
                return fail(v, "frame %" PRIu64 " is dirty before its buddy's first_dirty",
                            mfn + i);
            (*dirty)++;
        }
    }
    return 0;
}

static int check_node(struct pb_heap *h, struct pb_node *nd, uint8_t *seen, uint64_t *node_free,
                      struct vctx *v)
{
    uint64_t dirty = 0, total = 0;
    for (unsigned zone = 0; zone < PB_NR_ZONES; zone++) {
        uint64_t zone_free = 0;
        for (unsigned order = 0; order <= PB_MAX_ORDER; order++) {
            struct pb_list *l = &nd->free[zone][order];
            uint32_t prev = PB_NO_FRAME;
            bool dirty_seen = false;
            uint64_t steps = 0;
            for (uint32_t mfn = l->head; mfn != PB_NO_FRAME; mfn = h->frames[mfn].next) {
                if (mfn >= h->nr_frames || ++steps > h->nr_frames)
                    return fail(v, "node %u zone %u order %u: broken free list", nd->id, zone,
                                order);
                if (h->frames[mfn].prev != prev)
                    return fail(v, "node %u zone %u order %u: bad back link at %" PRIu32, nd->id,
                                zone, order, mfn);
                if (check_buddy(h, nd, zone, order, mfn, seen, &dirty, v))
                    return v->rc;
                bool is_dirty = h->frames[mfn].first_dirty != PB_CLEAN;
                if (dirty_seen && !is_dirty)
                    return fail(
                        v, "node %u zone %u order %u: clean buddy %" PRIu32 " after a dirty one",
                        nd->id, zone, order, mfn);
                dirty_seen |= is_dirty;
                zone_free += 1ull << order;
                prev = mfn;
            }
            if (l->tail != prev)
                return fail(v, "node %u zone %u order %u: tail is not the last buddy", nd->id, zone,
                            order);
        }
        if (pb_ld(&nd->avail[zone]) != zone_free)
            return fail(v, "avail[%u][%u] = %" PRIu64 " but its lists hold %" PRIu64, nd->id, zone,
                        pb_ld(&nd->avail[zone]), zone_free);
        total += zone_free;
    }
    if (pb_ld(&nd->node_avail) != total)
        return fail(v, "node_avail_pages[%u] = %" PRIu64 " but its lists hold %" PRIu64, nd->id,
                    pb_ld(&nd->node_avail), total);
    if (pb_ld(&nd->need_scrub) != dirty)
        return fail(v, "node_need_scrub[%u] = %" PRIu64 " but %" PRIu64 " free frames are dirty",
                    nd->id, pb_ld(&nd->need_scrub), dirty);
    *node_free = total;
    return 0;
}

/*
 * pcp: every cached extent is aligned, within the node of its list, each frame free in the
 * cache (in use as far as merges see, owner PB_OWNER_CACHED), clean, and in exactly one cache;
 * each CPU's per-node count matches its lists. *cached gets the frames per node.
 */
static int check_caches(struct pb_heap *h, uint8_t *seen, uint64_t *cached, struct vctx *v)
{
    for (unsigned cpu = 0; cpu < PB_PCP_MAX_CPUS; cpu++) {
        struct pb_pcp *p = atomic_load(&h->pcp[cpu]);
        if (!p)
            continue;
        for (unsigned node = 0; node < h->nr_nodes; node++) {
            const struct pb_node *nd = h->nodes[node];
            uint64_t frames = 0;
            for (unsigned oi = 0; oi < PB_PCP_ORDERS; oi++) {
                const struct pb_pcp_list *l = &p->lists[node * PB_PCP_ORDERS + oi];
                unsigned order = oi ? PB_PCP_HI_ORDER : 0;
                uint64_t n = 1ull << order;
                if (l->count > PB_PCP_CAP || l->head >= PB_PCP_CAP)
                    return fail(v, "cpu %u node %u order %u: broken cache ring", cpu, node, order);
                for (uint32_t k = 0; k < l->count; k++) {
                    uint64_t mfn = l->ring[(l->head + k) % PB_PCP_CAP];
                    if ((mfn & (n - 1)) || mfn < nd->start || mfn + n > nd->end || mfn == 0)
                        return fail(v, "cached extent %" PRIu64 " of order %u is not on node %u",
                                    mfn, order, node);
                    for (uint64_t i = 0; i < n; i++) {
                        const struct pb_page *pg = &h->frames[mfn + i];
                        if (seen[mfn + i] != SEEN_NONE)
                            return fail(v, "frame %" PRIu64 " is in two places (cpu %u's cache)",
                                        mfn + i, cpu);
                        seen[mfn + i] = SEEN_CACHE;
                        if (pg->state != PGS_INUSE || pg->owner != PB_OWNER_CACHED)
                            return fail(v, "frame %" PRIu64 " in cpu %u's cache is not free there",
                                        mfn + i, cpu);
                        if (pg->need_scrub)
                            return fail(v, "frame %" PRIu64 " in cpu %u's cache is dirty", mfn + i,
                                        cpu);
                    }
                    frames += n;
                }
            }
            if (pb_ld(&p->node_frames[node]) != frames)
                return fail(v, "cpu %u node %u: cache count %" PRIu64 " but it holds %" PRIu64, cpu,
                            node, pb_ld(&p->node_frames[node]), frames);
            cached[node] += frames;
        }
    }
    return 0;
}

static int check_domain(struct pb_heap *h, struct pb_domain *d, uint8_t *seen, int64_t *claims,
                        int64_t *node_claims, struct vctx *v)
{
    uint64_t counted = 0, extra = 0, steps = 0;
    uint32_t prev = PB_NO_FRAME;
    for (uint32_t mfn = d->pages.head; mfn != PB_NO_FRAME; mfn = h->frames[mfn].next) {
        if (mfn >= h->nr_frames || ++steps > h->nr_frames)
            return fail(v, "domain %u: broken page list", d->domid);
        const struct pb_page *pg = &h->frames[mfn];
        if (pg->prev != prev)
            return fail(v, "domain %u: bad back link at %" PRIu32, d->domid, mfn);
        if (seen[mfn] != SEEN_NONE)
            return fail(v, "frame %" PRIu32 " is in two places (domain %u)", mfn, d->domid);
        seen[mfn] = SEEN_DOMAIN;
        if (pg->state != PGS_INUSE || pg->owner != d->domid)
            return fail(v, "frame %" PRIu32 " on domain %u's list is not in use by it", mfn,
                        d->domid);
        counted++;
        extra += pg->extra;
        prev = mfn;
    }
    if (d->pages.tail != prev)
        return fail(v, "domain %u: page list tail is wrong", d->domid);
    if (d->tot_pages != counted - extra || d->extra_pages != extra)
        return fail(v,
                    "domain %u: tot_pages %" PRIu64 " + extra_pages %" PRIu64
                    " but it owns %" PRIu64 " frames (%" PRIu64 " extra)",
                    d->domid, d->tot_pages, d->extra_pages, counted, extra);
    int64_t c = atomic_load(&d->claim), nc = 0;
    if (c < 0)
        return fail(v, "domain %u: negative claim %" PRId64, d->domid, c);
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        int64_t k = atomic_load(&d->node_claim[n]);
        if (k < 0)
            return fail(v, "domain %u: negative claim %" PRId64 " on node %u", d->domid, k, n);
        node_claims[n] += k;
        nc += k;
    }
    if (atomic_load(&d->node_claims) != nc)
        return fail(v, "domain %u: node_claims %" PRId64 " but its node claims sum to %" PRId64,
                    d->domid, atomic_load(&d->node_claims), nc);
    *claims += c + nc;
    return 0;
}

/*
 * The host-wide figures against the recount: free frames of the lists (`lists`) and of the
 * caches, and what the domains claim. xen: Xen's counters. pernode and pcp: the pool and every
 * node's credit are never negative, and they add up to the unclaimed frames; the sums the
 * host's figures are read from agree. Either way: unclaimed = the lists' free frames -
 * outstanding claims >= 0 (cached frames are reserved outside it), and claims never exceed
 * the free frames.
 */
static void check_host(struct pb_heap *h, int64_t lists, int64_t cached, int64_t claims,
                       struct vctx *v)
{
    if (v->rc)
        return;
    int64_t out = pb_heap_claims_outstanding(h), unclaimed = pb_heap_unclaimed_credit(h);
    int64_t pool = atomic_load(&h->unclaimed);
    if (h->ops->global_lock) {
        int64_t total = atomic_load(&h->total_avail);
        if (total != lists)
            fail(v, "total_avail_pages %" PRId64 " but %" PRId64 " frames are free", total, lists);
    } else {
        if (pool < 0)
            fail(v, "unclaimed pool %" PRId64 " is negative", pool);
        for (unsigned n = 0; n < h->nr_nodes && !v->rc; n++) {
            int64_t c = atomic_load(&h->nodes[n]->credit);
            if (c < 0)
                fail(v, "node %u: negative unclaimed credit %" PRId64, n, c);
        }
        if (!v->rc && atomic_load(&h->recalling) != 0)
            fail(v, "a credit recall is still marked as running");
    }
    if (!v->rc && (int64_t)pb_heap_total_avail(h) != lists + cached)
        fail(v, "reported free frames %" PRIu64 " != lists %" PRId64 " + caches %" PRId64,
             pb_heap_total_avail(h), lists, cached);
    if (!v->rc && out != claims)
        fail(v, "outstanding_claims %" PRId64 " but domains claim %" PRId64, out, claims);
    /* Cached frames are free too: claims may cover them. */
    if (!v->rc && out > lists + cached)
        fail(v, "claims over-committed: outstanding %" PRId64 " > free %" PRId64, out,
             lists + cached);
    if (!v->rc && unclaimed != lists - out)
        fail(v,
             "unclaimed frames %" PRId64 " (pool %" PRId64 " + node credits %" PRId64
             ") != free %" PRId64 " - outstanding %" PRId64,
             unclaimed, pool, unclaimed - pool, lists, out);
    if (!v->rc && unclaimed < 0)
        fail(v, "unclaimed frames %" PRId64 " are negative", unclaimed);
}

int pb_heap_validate(struct pb_heap *h, char *msg, size_t msglen)
{
    struct vctx v = {msg, msglen, 0};
    if (!h)
        return -EINVAL;
    uint8_t *seen = calloc(h->nr_frames, 1);
    if (!seen)
        return -ENOMEM;

    uint64_t free_total = 0;
    for (unsigned n = 0; n < h->nr_nodes && !v.rc; n++) {
        uint64_t node_free = 0;
        check_node(h, h->nodes[n], seen, &node_free, &v);
        free_total += node_free;
    }
    uint64_t cached[PB_MAX_NODES] = {0}, cached_total = 0;
    if (!v.rc)
        check_caches(h, seen, cached, &v);
    for (unsigned n = 0; n < h->nr_nodes && !v.rc; n++) {
        cached_total += cached[n];
        if (pb_heap_node_avail(h, n) != pb_ld(&h->nodes[n]->node_avail) + cached[n])
            fail(&v, "node %u: reported free %" PRIu64 " != lists + caches %" PRIu64, n,
                 pb_heap_node_avail(h, n), pb_ld(&h->nodes[n]->node_avail) + cached[n]);
    }
    int64_t claims = 0, node_claims[PB_MAX_NODES] = {0};
    for (unsigned id = 0; id < PB_MAX_DOMAINS && !v.rc; id++) {
        struct pb_domain *d = atomic_load(&h->domains[id]);
        if (d)
            check_domain(h, d, seen, &claims, node_claims, &v);
    }
    /* Node claims: each node's sum is what its domains claim there, and its free lists cover
     * it (cached frames do not: a cache holds only unclaimed frames). */
    for (unsigned n = 0; n < h->nr_nodes && !v.rc; n++) {
        const struct pb_node *nd = h->nodes[n];
        int64_t claimed = atomic_load(&nd->claimed);
        if (claimed != node_claims[n])
            fail(&v, "node %u: claimed %" PRId64 " but domains claim %" PRId64 " on it", n, claimed,
                 node_claims[n]);
        else if (claimed > (int64_t)pb_ld(&nd->node_avail))
            fail(&v, "node %u: claims over-committed: %" PRId64 " claimed > %" PRIu64 " free", n,
                 claimed, pb_ld(&nd->node_avail));
    }
    uint64_t inuse = 0, offlined = 0;
    for (uint64_t mfn = 0; mfn < h->nr_frames && !v.rc; mfn++) {
        const struct pb_page *pg = &h->frames[mfn];
        switch (pg->state) {
        case PGS_FREE:
            if (seen[mfn] != SEEN_FREE)
                fail(&v, "frame %" PRIu64 " is free but in no free buddy", mfn);
            break;
        case PGS_INUSE:
            if (pg->owner == PB_OWNER_CACHED) {
                if (seen[mfn] != SEEN_CACHE)
                    fail(&v, "frame %" PRIu64 " is marked cached but in no cache", mfn);
                break;
            }
            inuse++;
            if (pg->owner != PB_DOMID_NONE && seen[mfn] != SEEN_DOMAIN)
                fail(&v, "frame %" PRIu64 " says owner %u but is not on its list", mfn, pg->owner);
            break;
        case PGS_OFFLINED:
            offlined++;
            if (mfn != 0)
                fail(&v, "frame %" PRIu64 " is offlined", mfn);
            break;
        default:
            fail(&v, "frame %" PRIu64 " has state %u", mfn, pg->state);
        }
    }
    if (!v.rc && free_total + cached_total + inuse + offlined != h->nr_frames)
        fail(&v,
             "free %" PRIu64 " + cached %" PRIu64 " + in use %" PRIu64 " + offlined %" PRIu64
             " != %" PRIu64,
             free_total, cached_total, inuse, offlined, h->nr_frames);
    check_host(h, (int64_t)free_total, (int64_t)cached_total, claims, &v);
    free(seen);
    return v.rc;
}
