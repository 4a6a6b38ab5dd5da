/*
 * toolstack.c: libxenctrl's populate/decrease wrappers and libxenguest's HVM builder with
 * libxl's layout (toolstack.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/pb.h"
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
 * The HVM builder: layout.
 */

/* Appends [start, end) of vnode v unless empty. */
static int layout_add(struct pb_meminit_config *cfg, uint64_t start, uint64_t end, unsigned v,
                      int node)
{
    if (start == end)
        return 0;
    if (cfg->nr_ranges == PB_MEMINIT_MAX_RANGES)
        return -EINVAL;
    cfg->ranges[cfg->nr_ranges++] =
        (struct pb_vmemrange){.start_gfn = start, .end_gfn = end, .vnode = v, .node = node};
    return 0;
}

int pb_meminit_layout(const struct pb_hvm_guest *g, struct pb_meminit_config *cfg)
{
    if (!g || !cfg || g->nr_vnodes > PB_MAX_NODES ||
        (g->nr_vnodes && (!g->vnode_pages || !g->vnode_node)))
        return -EINVAL;
    uint64_t mmio = g->mmio_pages ? g->mmio_pages : PB_HVM_MMIO_PAGES;
    if (mmio > PB_HVM_4G_GFN - 0x100 || g->memory_pages < 0x100 || g->memory_pages > PB_MAX_FRAMES)
        return -EINVAL;
    memset(cfg, 0, sizeof(*cfg));
    cfg->mmio_start_gfn = PB_HVM_4G_GFN - mmio;
    cfg->mmio_pages = mmio;
    cfg->claim = g->claim;
    cfg->mem_flags = g->mem_flags;
    /* libxl__build_hvm: lowmem_end, highmem_end. */
    uint64_t lowmem_end = g->memory_pages, highmem_end = 0;
    if (lowmem_end > cfg->mmio_start_gfn) {
        highmem_end = PB_HVM_4G_GFN + (lowmem_end - cfg->mmio_start_gfn);
        lowmem_end = cfg->mmio_start_gfn;
    }
    int rc = 0;
    if (g->nr_vnodes == 0) {
        rc = layout_add(cfg, 0, lowmem_end, 0, -1);
        if (!rc && highmem_end > PB_HVM_4G_GFN)
            rc = layout_add(cfg, PB_HVM_4G_GFN, highmem_end, 0, -1);
        return rc;
    }
    /* libxl__vnuma_build_vmemrange_hvm: vnodes one after another, split around the hole. */
    uint64_t hole_start = lowmem_end, hole_end = PB_HVM_4G_GFN, next = 0, sum = 0;
    for (unsigned v = 0; v < g->nr_vnodes && !rc; v++) {
        uint64_t left = g->vnode_pages[v];
        int node = g->vnode_node[v];
        if (left == 0 || node < -1 || node >= PB_MAX_NODES)
            return -EINVAL;
        sum += left;
        while (left > 0 && !rc) {
            uint64_t count = left;
            if (next >= hole_start && next < hole_end)
                next = hole_end;
            if (next < hole_start && next + left >= hole_start)
                count = hole_start - next;
            rc = layout_add(cfg, next, next + count, v, node);
            left -= count;
            next += count;
        }
    }
    if (!rc && sum != g->memory_pages)
        rc = -EINVAL;
    return rc;
}

uint64_t pb_meminit_pages(const struct pb_meminit_config *cfg)
{
    uint64_t pages = 0;
    for (unsigned i = 0; i < cfg->nr_ranges; i++)
        pages += cfg->ranges[i].end_gfn - cfg->ranges[i].start_gfn;
    return pages - PB_HVM_VGA_HOLE_PAGES;
}

const struct pb_vmemrange *pb_meminit_top_range(const struct pb_meminit_config *cfg)
{
    return cfg->nr_ranges ? &cfg->ranges[cfg->nr_ranges - 1] : NULL;
}

uint64_t pb_meminit_claim_pages(const struct pb_meminit_config *cfg)
{
    return cfg->claim ? pb_meminit_pages(cfg) : 0;
}

/* ------------------------------------------------------------------------------------------
 * The HVM builder: the plan of calls.
 */

static bool config_ok(const struct pb_meminit_config *cfg)
{
    if (cfg->nr_ranges == 0 || cfg->nr_ranges > PB_MEMINIT_MAX_RANGES ||
        cfg->ranges[0].start_gfn != 0 || cfg->ranges[0].end_gfn <= 0xc0 ||
        (cfg->mem_flags &
         (NODE_BITS | XENMEMF_exact_node_request | XENMEMF_vnode | XENMEMF_populate_on_demand)))
        return false;
    for (unsigned i = 0; i < cfg->nr_ranges; i++) {
        const struct pb_vmemrange *r = &cfg->ranges[i];
        if (r->end_gfn <= r->start_gfn || r->end_gfn > PB_MAX_FRAMES * 2 || r->node < -1 ||
            r->node >= PB_MAX_NODES || (i && r->start_gfn < cfg->ranges[i - 1].end_gfn))
            return false;
    }
    return true;
}

int pb_meminit_plan_init(struct pb_meminit_plan *p, const struct pb_meminit_config *cfg)
{
    if (!p || !cfg || !config_ok(cfg))
        return -EINVAL;
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->cur = 0xc0; /* range 0 starts at gfn 0: after the low pages and the VGA hole */
    return 0;
}

static unsigned range_flags(const struct pb_meminit_config *cfg, unsigned range)
{
    int node = cfg->ranges[range].node;
    return cfg->mem_flags | (node >= 0 ? XENMEMF_exact_node((unsigned)node) : 0);
}

/* Whether [gfn, gfn + 1 GiB) meets the MMIO hole (meminit_hvm's check_mmio_hole). */
static bool meets_mmio_hole(const struct pb_meminit_config *cfg, uint64_t gfn)
{
    return !(gfn + FRAMES_1G <= cfg->mmio_start_gfn ||
             gfn >= cfg->mmio_start_gfn + cfg->mmio_pages);
}

/*
 * The 2 MiB step of meminit_hvm at gfn with `count` pages left in this pass: at most 8 MiB,
 * clipped to 2 MiB boundaries; 2 MiB extents when aligned, else one exact 4 KiB call.
 */
static void chunk_call(uint64_t gfn, uint64_t count, unsigned flags, struct pb_meminit_call *call)
{
    if (count > PB_MEMINIT_CHUNK)
        count = PB_MEMINIT_CHUNK;
    uint64_t to_2m = (FRAMES_2M - (gfn & (FRAMES_2M - 1))) & (FRAMES_2M - 1);
    if ((gfn & (FRAMES_2M - 1)) != 0 && count > to_2m)
        count = to_2m;
    else if ((count & (FRAMES_2M - 1)) != 0 && count > FRAMES_2M)
        count &= ~(FRAMES_2M - 1);
    if (((count | gfn) & (FRAMES_2M - 1)) == 0)
        *call =
            (struct pb_meminit_call){.gfn = gfn, .nr = count >> 9, .order = 9, .mem_flags = flags};
    else
        *call = (struct pb_meminit_call){
            .gfn = gfn, .nr = count, .order = 0, .mem_flags = flags, .exact = true};
}

static uint64_t call_pages(const struct pb_meminit_call *call)
{
    return call->nr << call->order;
}

/* Pages of the pass of meminit_hvm's loop at gfn: at most 1 GiB, up to a 1 GiB boundary. */
static uint64_t pass_pages(uint64_t gfn, uint64_t end)
{
    uint64_t count = end - gfn < FRAMES_1G ? end - gfn : FRAMES_1G;
    uint64_t to_1g = (FRAMES_1G - (gfn & (FRAMES_1G - 1))) & (FRAMES_1G - 1);
    if ((gfn & (FRAMES_1G - 1)) != 0 && count > to_1g)
        count = to_1g;
    return count;
}

static bool hand_out(struct pb_meminit_plan *p, struct pb_meminit_call *out,
                     const struct pb_meminit_call *call)
{
    *out = *call;
    p->inflight++;
    return true;
}

bool pb_meminit_plan_next(struct pb_meminit_plan *p, struct pb_meminit_call *out)
{
    const struct pb_meminit_config *cfg = p->cfg;
    struct pb_meminit_call call;

    /* Each call in flight may need one more; keep room for it. */
    if (p->failed || p->nr_pending + p->inflight >= PB_MEMINIT_MAX_PENDING)
        return false;
    if (!p->low_done) {
        p->low_done = true;
        call = (struct pb_meminit_call){.gfn = 0,
                                        .nr = PB_HVM_VGA_HOLE_START,
                                        .order = 0,
                                        .mem_flags = cfg->mem_flags,
                                        .exact = true};
        return hand_out(p, out, &call);
    }
    if (p->nr_pending > 0) {
        struct pb_meminit_pending *w = &p->pending[p->nr_pending - 1];
        if (w->rest_4k) {
            call = (struct pb_meminit_call){.gfn = w->gfn,
                                            .nr = w->end - w->gfn,
                                            .order = 0,
                                            .mem_flags = w->flags,
                                            .exact = true};
            p->nr_pending--;
            return hand_out(p, out, &call);
        }
        chunk_call(w->gfn, pass_pages(w->gfn, w->end), w->flags, &call);
        w->gfn += call_pages(&call);
        if (w->gfn == w->end)
            p->nr_pending--;
        return hand_out(p, out, &call);
    }
    while (p->range < cfg->nr_ranges && p->cur >= cfg->ranges[p->range].end_gfn) {
        if (++p->range < cfg->nr_ranges)
            p->cur = cfg->ranges[p->range].start_gfn;
    }
    if (p->range == cfg->nr_ranges)
        return false;
    uint64_t gfn = p->cur, count = pass_pages(gfn, cfg->ranges[p->range].end_gfn);
    unsigned flags = range_flags(cfg, p->range);
    if (((count | gfn) & (FRAMES_1G - 1)) == 0 && !meets_mmio_hole(cfg, gfn))
        call = (struct pb_meminit_call){.gfn = gfn, .nr = 1, .order = 18, .mem_flags = flags};
    else
        chunk_call(gfn, count, flags, &call);
    p->cur += call_pages(&call);
    return hand_out(p, out, &call);
}

static void push(struct pb_meminit_plan *p, uint64_t gfn, uint64_t end, unsigned flags,
                 bool rest_4k)
{
    PB_BUG_ON(p->nr_pending == PB_MEMINIT_MAX_PENDING); /* next() keeps room */
    p->pending[p->nr_pending].gfn = gfn;
    p->pending[p->nr_pending].end = end;
    p->pending[p->nr_pending].flags = flags;
    p->pending[p->nr_pending].rest_4k = rest_4k;
    p->nr_pending++;
}

bool pb_meminit_plan_done(struct pb_meminit_plan *p, const struct pb_meminit_call *call,
                          uint64_t nr_done)
{
    struct pb_meminit_report *r = &p->rep;

    PB_BUG_ON(p->inflight == 0 || nr_done > call->nr);
    p->inflight--;
    r->frames += nr_done << call->order;
    switch (call->order) {
    case 18:
        r->calls_1g++;
        r->extents_1g += nr_done;
        break;
    case 9:
        r->calls_2m++;
        r->extents_2m += nr_done;
        break;
    default:
        r->calls_4k++;
        r->extents_4k += nr_done;
        break;
    }
    if (nr_done == call->nr)
        return !p->failed;
    uint64_t next = call->gfn + (nr_done << call->order), end = call->gfn + call_pages(call);
    if (call->exact) {
        p->failed = true;
    } else if (call->order == 18) {
        /* meminit_hvm goes on with this GiB in 2 MiB chunks, then tries 1 GiB again. */
        r->misses_1g++;
        push(p, next, end, call->mem_flags, false);
    } else {
        /* Only the rest of this 8 MiB chunk in 4 KiB pages; the next chunk tries 2 MiB. */
        r->misses_2m++;
        push(p, next, end, call->mem_flags, true);
    }
    return !p->failed;
}

bool pb_meminit_plan_complete(const struct pb_meminit_plan *p)
{
    return !p->failed && p->low_done && p->nr_pending == 0 && p->inflight == 0 &&
           p->range == p->cfg->nr_ranges;
}

int pb_meminit_hvm(struct pb_heap *h, const struct pb_memop_caller *caller, unsigned domid,
                   const struct pb_meminit_config *cfg, struct pb_meminit_report *out)
{
    struct pb_meminit_plan plan;

    if (!h || !caller || !out || pb_meminit_plan_init(&plan, cfg) != 0)
        return -EINVAL;
    for (unsigned i = 0; i < cfg->nr_ranges; i++)
        if (cfg->ranges[i].node >= (int)pb_heap_nr_nodes(h))
            return -EINVAL;
    struct pb_domain *d = pb_domain_get(h, domid);
    if (!d)
        return -ESRCH;
    uint64_t *gfns = malloc(PB_MEMINIT_MAX_EXTENTS * sizeof(*gfns));
    if (!gfns)
        return -ENOMEM;
    struct pb_xc_stats xc = {0};
    int rc = 0;
    if (cfg->claim)
        rc = pb_domain_claim_pages(d, pb_meminit_claim_pages(cfg));
    struct pb_meminit_call call;
    while (!rc && pb_meminit_plan_next(&plan, &call)) {
        for (uint64_t i = 0; i < call.nr; i++)
            gfns[i] = call.gfn + (i << call.order);
        uint64_t before = xc.c.extents;
        if (call.exact)
            pb_xc_domain_populate_physmap_exact(h, caller, domid, call.nr, call.order,
                                                call.mem_flags, gfns, &xc);
        else
            pb_xc_domain_populate_physmap(h, caller, domid, call.nr, call.order, call.mem_flags,
                                          gfns, &xc);
        if (!pb_meminit_plan_done(&plan, &call, xc.c.extents - before))
            rc = -ENOMEM;
    }
    free(gfns);
    /* xl cancels the claim whatever happened: no unclaimed pages are left behind. */
    if (cfg->claim)
        pb_domain_claim_pages(d, 0);
    *out = plan.rep;
    out->xc = xc;
    if (rc)
        return rc;
    PB_BUG_ON(!pb_meminit_plan_complete(&plan));
    return pb_memop_finish_creation(h, d);
}
