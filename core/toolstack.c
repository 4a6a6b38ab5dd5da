/*
 * toolstack.c: libxenctrl's populate/decrease wrappers and a meminit_hvm-style builder.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/toolstack.h"

#define FRAMES_2M (1ull << 9)
#define FRAMES_1G (1ull << 18)
#define NODE_BITS 0xff00u /* XENMEMF_node(): the builder names nodes itself */

typedef long (*memop_fn)(struct pb_heap *h, const struct pb_memop_caller *caller,
                         const struct pb_reservation *r, uint64_t start, bool dirty,
                         struct pb_memop_result *res);

static long populate_op(struct pb_heap *h, const struct pb_memop_caller *caller,
                        const struct pb_reservation *r, uint64_t start, bool dirty,
                        struct pb_memop_result *res)
{
    (void)dirty;
    return pb_populate_physmap(h, caller, r, start, res);
}

static long decrease_op(struct pb_heap *h, const struct pb_memop_caller *caller,
                        const struct pb_reservation *r, uint64_t start, bool dirty,
                        struct pb_memop_result *res)
{
    return pb_decrease_reservation(h, caller, r, start, dirty, res);
}

/* One hypercall as the toolstack sees it: invocations until not preempted or stuck. */
static long xc_memop(memop_fn op, struct pb_heap *h, const struct pb_memop_caller *caller,
                     unsigned domid, uint64_t nr_extents, unsigned extent_order, unsigned mem_flags,
                     const uint64_t *extent_start, bool dirty, struct pb_xc_stats *stats)
{
    const struct pb_reservation res_in = {
        .extent_start = extent_start,
        .extent_list_len = nr_extents,
        .nr_extents = nr_extents,
        .extent_order = extent_order,
        .mem_flags = mem_flags,
        .domid = domid,
    };
    const struct pb_reservation *r = &res_in;
    struct pb_xc_stats local = {0};
    struct pb_xc_stats *st = stats ? stats : &local;
    uint64_t start = 0;

    if (!h || !caller || (r->nr_extents && !r->extent_start)) {
        errno = EINVAL;
        return -1;
    }
    for (;;) {
        struct pb_memop_result res;
        long rc = op(h, caller, r, start, dirty, &res);
        if (rc < 0) {
            errno = (int)-rc;
            return -1;
        }
        st->hypercalls++;
        pb_memop_counts_add(&st->c, &res.c);
        if (!res.preempted) {
            if (res.error)
                st->last_error = res.error;
            return rc;
        }
        /* A preempted invocation made progress: an extent, or part of one's scrub. */
        if (res.nr_done == start && res.c.scrub_preemptions == 0)
            return rc;
        st->continuations++;
        start = res.nr_done;
    }
}

long pb_xc_domain_populate_physmap(struct pb_heap *h, const struct pb_memop_caller *caller,
                                   unsigned domid, uint64_t nr_extents, unsigned extent_order,
                                   unsigned mem_flags, const uint64_t *extent_start,
                                   struct pb_xc_stats *stats)
{
    return xc_memop(populate_op, h, caller, domid, nr_extents, extent_order, mem_flags,
                    extent_start, false, stats);
}

int pb_xc_domain_populate_physmap_exact(struct pb_heap *h, const struct pb_memop_caller *caller,
                                        unsigned domid, uint64_t nr_extents, unsigned extent_order,
                                        unsigned mem_flags, const uint64_t *extent_start,
                                        struct pb_xc_stats *stats)
{
    long done = pb_xc_domain_populate_physmap(h, caller, domid, nr_extents, extent_order, mem_flags,
                                              extent_start, stats);
    if (done < 0)
        return -1;
    if ((uint64_t)done == nr_extents)
        return 0;
    errno = EBUSY;
    return -1;
}

long pb_xc_domain_decrease_reservation(struct pb_heap *h, const struct pb_memop_caller *caller,
                                       unsigned domid, uint64_t nr_extents, unsigned extent_order,
                                       const uint64_t *extent_start, bool dirty,
                                       struct pb_xc_stats *stats)
{
    return xc_memop(decrease_op, h, caller, domid, nr_extents, extent_order, 0, extent_start, dirty,
                    stats);
}

/* ------------------------------------------------------------------------------------------
 * The HVM builder.
 */

struct builder {
    struct pb_heap *h;
    const struct pb_memop_caller *caller;
    unsigned domid;
    unsigned batch;
    uint64_t *gfns; /* batch entries */
    struct pb_meminit_report *rep;
};

/* Up to b->batch extents of one order from gfn, one call. Returns the extents done. */
static uint64_t populate_run(struct builder *b, uint64_t gfn, uint64_t nr, unsigned order,
                             unsigned flags)
{
    for (uint64_t i = 0; i < nr; i++)
        b->gfns[i] = gfn + (i << order);
    long done = pb_xc_domain_populate_physmap(b->h, b->caller, b->domid, nr, order, flags, b->gfns,
                                              &b->rep->xc);
    return done < 0 ? 0 : (uint64_t)done;
}

/* [gfn, gfn + nr) in 4 KiB extents, every batch complete. */
static int populate_4k(struct builder *b, uint64_t gfn, uint64_t nr, unsigned flags)
{
    while (nr) {
        uint64_t n = nr < b->batch ? nr : b->batch;
        uint64_t done = populate_run(b, gfn, n, 0, flags);
        b->rep->extents_4k += done;
        b->rep->frames += done;
        if (done != n)
            return -ENOMEM;
        gfn += n;
        nr -= n;
    }
    return 0;
}

/* [gfn, gfn + nr), nr <= 1 GiB: a 1 GiB extent if it can be, else 2 MiB extents, else 4 KiB. */
static int populate_chunk(struct builder *b, uint64_t gfn, uint64_t nr, unsigned flags,
                          unsigned max_order)
{
    struct pb_meminit_report *rep = b->rep;
    if (max_order >= 18 && nr == FRAMES_1G && (gfn & (FRAMES_1G - 1)) == 0) {
        if (populate_run(b, gfn, 1, 18, flags) == 1) {
            rep->extents_1g++;
            rep->frames += FRAMES_1G;
            return 0;
        }
        rep->misses_1g++;
    }
    if (max_order >= 9) {
        uint64_t head = (FRAMES_2M - (gfn & (FRAMES_2M - 1))) & (FRAMES_2M - 1);
        if (head > nr)
            head = nr;
        uint64_t nr_2m = (nr - head) >> 9;
        int rc = populate_4k(b, gfn, head, flags);
        if (rc)
            return rc;
        gfn += head;
        nr -= head;
        while (nr_2m) {
            uint64_t n = nr_2m < b->batch ? nr_2m : b->batch;
            uint64_t done = populate_run(b, gfn, n, 9, flags);
            rep->extents_2m += done;
            rep->frames += done << 9;
            gfn += done << 9;
            nr -= done << 9;
            nr_2m -= done;
            if (done != n) {
                /* No more superpages here: the rest of the chunk in 4 KiB extents. */
                rep->misses_2m += n - done;
                break;
            }
        }
    }
    return populate_4k(b, gfn, nr, flags);
}

static bool ranges_ok(const struct pb_meminit_config *cfg, unsigned nr_nodes)
{
    if (!cfg->ranges || cfg->nr_ranges == 0)
        return false;
    for (unsigned i = 0; i < cfg->nr_ranges; i++) {
        const struct pb_vmemrange *a = &cfg->ranges[i];
        if (a->nr_frames == 0 || a->start_gfn + a->nr_frames < a->start_gfn ||
            (a->node >= 0 && (unsigned)a->node >= nr_nodes) || a->node < -1)
            return false;
        for (unsigned j = 0; j < i; j++) {
            const struct pb_vmemrange *o = &cfg->ranges[j];
            if (a->start_gfn < o->start_gfn + o->nr_frames &&
                o->start_gfn < a->start_gfn + a->nr_frames)
                return false;
        }
    }
    return true;
}

int pb_meminit_hvm(struct pb_heap *h, const struct pb_memop_caller *caller, unsigned domid,
                   const struct pb_meminit_config *cfg, struct pb_meminit_report *out)
{
    if (!h || !caller || !cfg || !out || !ranges_ok(cfg, pb_heap_nr_nodes(h)) ||
        (cfg->mem_flags &
         (NODE_BITS | XENMEMF_exact_node_request | XENMEMF_vnode | XENMEMF_populate_on_demand)))
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    struct pb_domain *d = pb_domain_get(h, domid);
    if (!d)
        return -ESRCH;
    struct builder b = {
        .h = h,
        .caller = caller,
        .domid = domid,
        .batch = cfg->batch ? cfg->batch : PB_XC_BATCH,
        .rep = out,
    };
    b.gfns = malloc(b.batch * sizeof(*b.gfns));
    if (!b.gfns)
        return -ENOMEM;

    unsigned max_order = pb_memop_max_order(caller);
    int rc = 0;
    for (unsigned i = 0; i < cfg->nr_ranges && !rc; i++) {
        const struct pb_vmemrange *v = &cfg->ranges[i];
        unsigned flags = cfg->mem_flags;
        if (v->node >= 0)
            flags |= XENMEMF_exact_node((unsigned)v->node);
        uint64_t gfn = v->start_gfn, end = v->start_gfn + v->nr_frames;
        while (gfn < end && !rc) {
            /* At most 1 GiB per pass, up to the next 1 GiB boundary. */
            uint64_t next = (gfn | (FRAMES_1G - 1)) + 1;
            uint64_t nr = (next < end ? next : end) - gfn;
            rc = populate_chunk(&b, gfn, nr, flags, max_order);
            gfn += nr;
        }
    }
    free(b.gfns);
    if (rc)
        return rc;
    return pb_memop_finish_creation(h, d);
}
