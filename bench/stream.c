/*
 * stream.c: random numbers, build cursors and balloon windows (see stream.h).
 */
#include "bench/stream.h"

#include <string.h>

#include "core/pb.h"

#define GIB_PAGES (UINT64_C(1) << 18)

uint64_t pb_stream_gfn_space(uint64_t max_pages)
{
    return ((max_pages + GIB_PAGES - 1) & ~(GIB_PAGES - 1)) + GIB_PAGES;
}

void pb_build_cursor_init(struct pb_build_cursor *c, uint64_t target, uint64_t gfn_space)
{
    memset(c, 0, sizeof(*c));
    c->target = target;
    c->high_gfn = gfn_space & ~(GIB_PAGES - 1);
}

int pb_build_cursor_init_toolstack(struct pb_build_cursor *c, const struct pb_hvm_guest *g)
{
    memset(c, 0, sizeof(*c));
    int rc = pb_meminit_layout(g, &c->layout);
    if (rc == 0)
        rc = pb_meminit_plan_init(&c->plan, &c->layout);
    if (rc)
        return rc;
    c->toolstack = true;
    c->target = pb_meminit_pages(&c->layout);
    return 0;
}

static bool toolstack_next(struct pb_build_cursor *c, struct pb_call *call)
{
    struct pb_meminit_call mc;

    if (!pb_meminit_plan_next(&c->plan, &mc))
        return false;
    *call = (struct pb_call){.order = mc.order,
                             .nr = (unsigned)mc.nr,
                             .gfn = mc.gfn,
                             .toolstack = true,
                             .exact = mc.exact,
                             .mem_flags = mc.mem_flags};
    c->issued += mc.nr << mc.order;
    return true;
}

static unsigned order_slot(unsigned order)
{
    return order == 18 ? 2 : order == 9 ? 1 : 0;
}

static uint64_t align_up(uint64_t v, unsigned order)
{
    uint64_t m = (UINT64_C(1) << order) - 1;
    return (v + m) & ~m;
}

static uint64_t min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* A call of `order` from the upward region, or false when it has no room. */
static bool low_call(const struct pb_wl_orders *o, struct pb_build_cursor *c, unsigned order,
                     uint64_t left, struct pb_call *call)
{
    uint64_t gfn = align_up(c->low_gfn, order);
    uint64_t room = c->high_gfn > gfn ? (c->high_gfn - gfn) >> order : 0;
    uint64_t nr = min64(min64(o->extents_per_call[order_slot(order)], left >> order), room);
    if (nr == 0)
        return false;
    *call = (struct pb_call){.order = order, .nr = (unsigned)nr, .gfn = gfn};
    return true;
}

static bool mix_next(const struct pb_wl_orders *o, unsigned max_order, struct pb_rng *rng,
                     struct pb_build_cursor *c, uint64_t left, struct pb_call *call)
{
    double w[PB_WL_NR_ORDERS], total = 0;

    for (int i = 0; i < PB_WL_NR_ORDERS; i++) {
        unsigned ord = pb_wl_orders[i];
        bool fits = ord <= max_order && (UINT64_C(1) << ord) <= left;
        w[i] = fits ? o->weight[i] : 0;
        total += w[i];
    }
    int pick = 0;
    if (total > 0) {
        double x = pb_rng_double(rng) * total;
        for (pick = 0; pick < PB_WL_NR_ORDERS - 1; pick++) {
            if (x < w[pick])
                break;
            x -= w[pick];
        }
        while (pick > 0 && w[pick] == 0) /* rounding at the top end */
            pick--;
    }
    /* Whatever the draw, fall down the orders until one has room. */
    for (int i = pick; i >= 0; i--) {
        unsigned ord = pb_wl_orders[i];
        if (ord > max_order || (UINT64_C(1) << ord) > left)
            continue;
        if (ord == 18) {
            uint64_t low = align_up(c->low_gfn, 9);
            uint64_t room = c->high_gfn > low ? (c->high_gfn - low) >> 18 : 0;
            uint64_t nr = min64(min64(o->extents_per_call[2], left >> 18), room);
            if (nr == 0)
                continue;
            *call = (struct pb_call){
                .order = 18, .nr = (unsigned)nr, .gfn = c->high_gfn - (nr << 18), .from_top = true};
            c->high_gfn = call->gfn;
            return true;
        }
        if (low_call(o, c, ord, left, call)) {
            c->low_gfn = call->gfn + ((uint64_t)call->nr << ord);
            return true;
        }
    }
    return false;
}

bool pb_build_next(const struct pb_wl_orders *o, unsigned max_order, struct pb_rng *rng,
                   struct pb_build_cursor *c, struct pb_call *call)
{
    bool ok;

    if (c->toolstack)
        return toolstack_next(c, call);
    if (c->failed || c->issued >= c->target)
        return false;
    uint64_t left = c->target - c->issued;
    while (c->nr_retry > 0) {
        struct pb_build_retry *r = &c->retry[c->nr_retry - 1];
        uint64_t nr =
            min64(o->extents_per_call[order_slot(r->order)], (r->end - r->gfn) >> r->order);
        nr = min64(nr, left >> r->order);
        if (nr == 0) {
            c->nr_retry--;
            continue;
        }
        *call = (struct pb_call){.order = r->order, .nr = (unsigned)nr, .gfn = r->gfn};
        r->gfn += nr << r->order;
        if (r->gfn >= r->end)
            c->nr_retry--;
        c->issued += nr << r->order;
        return true;
    }
    ok = mix_next(o, max_order, rng, c, left, call);
    if (ok)
        c->issued += (uint64_t)call->nr << call->order;
    return ok;
}

bool pb_build_done(struct pb_build_cursor *c, const struct pb_call *call, unsigned nr_done)
{
    uint64_t ext = UINT64_C(1) << call->order;

    PB_BUG_ON(nr_done > call->nr);
    if (c->toolstack) {
        struct pb_meminit_call mc = {.gfn = call->gfn,
                                     .nr = call->nr,
                                     .order = call->order,
                                     .mem_flags = call->mem_flags,
                                     .exact = call->exact};
        c->issued -= (call->nr - nr_done) * ext;
        if (!pb_meminit_plan_done(&c->plan, &mc, nr_done))
            c->failed = true;
        /* What the plan hands out next for the rest counts as issued again. */
        return !c->failed;
    }
    if (nr_done == call->nr)
        return !c->failed;
    c->issued -= (call->nr - nr_done) * ext;
    if (call->order == 0 || c->nr_retry == PB_BUILD_MAX_RETRY) {
        c->failed = true;
        return false;
    }
    c->retry[c->nr_retry++] = (struct pb_build_retry){
        .gfn = call->gfn + nr_done * ext,
        .end = call->gfn + call->nr * ext,
        .order = call->order == 18 ? 9 : 0,
    };
    return !c->failed;
}

void pb_build_fail(struct pb_build_cursor *c)
{
    c->failed = true;
    c->plan.failed = true;
}

bool pb_build_complete(const struct pb_build_cursor *c)
{
    if (c->toolstack)
        return !c->failed && pb_meminit_plan_complete(&c->plan);
    return !c->failed && c->issued == c->target && c->nr_retry == 0;
}

void pb_balloon_init(struct pb_balloon_state *b, const struct pb_wl_balloon *cfg,
                     uint64_t memory_pages)
{
    uint64_t ext = UINT64_C(1) << cfg->order;
    uint64_t depth = (uint64_t)(cfg->depth * (double)memory_pages) & ~(ext - 1);
    struct pb_hvm_guest g = {.memory_pages = memory_pages};
    struct pb_meminit_config layout;
    uint64_t bottom = 0, top = memory_pages;

    /* The top range of libxl's layout; the first starts after the VGA hole. */
    if (pb_meminit_layout(&g, &layout) == 0) {
        const struct pb_vmemrange *r = pb_meminit_top_range(&layout);
        bottom = r->start_gfn ? r->start_gfn : PB_HVM_VGA_HOLE_START + PB_HVM_VGA_HOLE_PAGES;
        top = r->end_gfn;
    }
    *b = (struct pb_balloon_state){
        .top = top & ~(ext - 1),
        .depth = depth ? depth : ext,
    };
    uint64_t room = b->top > bottom ? (b->top - bottom) & ~(ext - 1) : 0;
    if (b->depth > room)
        b->depth = room ? room : ext;
}

void pb_balloon_next(const struct pb_balloon_state *b, const struct pb_wl_balloon *cfg,
                     struct pb_call *call, bool *decrease)
{
    unsigned ord = cfg->order;
    uint64_t epc = cfg->extents_per_call ? cfg->extents_per_call : 1;

    if (!b->going_up) {
        uint64_t nr = min64(epc, (b->depth - b->out) >> ord);
        if (nr == 0)
            nr = 1;
        *call = (struct pb_call){.order = ord,
                                 .nr = (unsigned)nr,
                                 .gfn = b->top - b->out - (nr << ord),
                                 .descending = true};
        *decrease = true;
    } else {
        uint64_t nr = min64(epc, b->out >> ord);
        if (nr == 0)
            nr = 1;
        *call = (struct pb_call){.order = ord, .nr = (unsigned)nr, .gfn = b->top - b->out};
        *decrease = false;
    }
}

void pb_balloon_done(struct pb_balloon_state *b, const struct pb_call *call, bool decrease,
                     unsigned nr_done)
{
    uint64_t pages = (uint64_t)nr_done << call->order;

    if (decrease) {
        b->out += pages;
        if (b->out >= b->depth)
            b->going_up = true;
    } else {
        b->out -= pages < b->out ? pages : b->out;
        if (b->out == 0)
            b->going_up = false;
    }
}
