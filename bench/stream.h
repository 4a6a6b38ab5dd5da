/*
 * stream.h: a workload turned into the operations threads issue: seeded random numbers, the
 * populate calls that build a domain (the toolstack's meminit_hvm, core/toolstack.h, or the
 * harness's own mix of random orders), the balloon window of a running domain, and paced
 * loops.
 *
 * Glossary
 *   call      one populate_physmap (or decrease_reservation) request: nr extents of one order
 *             at consecutive aligned gfns from `gfn`.
 *   cursor    where a domain's build stands. A toolstack build (`orders: meminit`, and every
 *             running domain) follows the plan of core/toolstack.h: libxl's layout of the
 *             guest and meminit_hvm's calls, each with its range's exact-node flags. A mixed
 *             build (the harness's own, not a toolstack's) draws each call's order from the
 *             weights: pages still to populate and the next gfn; the gfn space of a domain is
 *             [0, pb_stream_gfn_space(max_pages)): orders 0 and 9 grow from gfn 0 up, 1 GiB
 *             extents from the top down, so alignment never wastes more than a 2 MiB hole per
 *             call.
 *   fallback  mixed builds: a call that came back short (no free buddy of its order) is redone
 *             for the same gfns one order down (18 -> 9 -> 0).
 *
 * Threads: nothing here is shared; each thread owns its rng and the cursors it works on.
 */
#ifndef POPBENCH_BENCH_STREAM_H
#define POPBENCH_BENCH_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/prng.h"
#include "core/toolstack.h"
#include "workloads/workload.h"

struct pb_call {
    unsigned order;     /* 0, 9 or 18 */
    unsigned nr;        /* extents, >= 1 */
    uint64_t gfn;       /* lowest extent's gfn, aligned to 2^order */
    bool from_top;      /* a build's 1 GiB extent from the downward region */
    bool descending;    /* issue the extents from the highest gfn down (balloon decreases, so
                           that a short count leaves the window contiguous) */
    bool toolstack;     /* a toolstack build's call: mem_flags and exact are its own (the
                           harness names no vnode nodes for it) */
    bool exact;         /* xc_domain_populate_physmap_exact: a short count fails the build */
    unsigned mem_flags; /* toolstack: XENMEMF_ flags of the call */
};

#define PB_BUILD_MAX_RETRY 8

/* A range of gfns whose calls came back short, to be redone at `order`. */
struct pb_build_retry {
    uint64_t gfn, end;
    unsigned order;
};

struct pb_build_cursor {
    bool toolstack;                  /* meminit_hvm's plan below; else a mixed build */
    struct pb_meminit_config layout; /* toolstack: libxl's layout of the guest */
    struct pb_meminit_plan plan;     /* toolstack: its calls (points into layout: never copy
                                        a cursor once it is initialised) */
    uint64_t target;                 /* pages the build populates */
    uint64_t issued;                 /* pages of the calls handed out, less what came back short */
    uint64_t low_gfn;  /* next gfn of the upward region (orders 0 and 9; all of meminit) */
    uint64_t high_gfn; /* bottom of the downward region (1 GiB extents, mixed mode) */
    struct pb_build_retry retry[PB_BUILD_MAX_RETRY]; /* a stack: the last one is served first */
    unsigned nr_retry;
    bool failed; /* an order-0 call came back short: the build cannot finish */
};

/* gfns a domain of max_pages needs: max_pages rounded up to 1 GiB, plus 1 GiB of room. */
uint64_t pb_stream_gfn_space(uint64_t max_pages);

/* A mixed build of `target` pages. */
void pb_build_cursor_init(struct pb_build_cursor *c, uint64_t target, uint64_t gfn_space);
/* A toolstack build of guest g (pb_meminit_layout): 0 or -EINVAL. target is what it
 * populates (pb_meminit_pages). */
int pb_build_cursor_init_toolstack(struct pb_build_cursor *c, const struct pb_hvm_guest *g);
/*
 * Hands out the next call of the build (and counts its pages as issued), or false when nothing
 * is left to hand out now or the build failed. Toolstack builds: the plan's next call (o, max_order
 * and rng are not used). Mixed builds: retries come first; the order is drawn from the
 * weights among those that fit what is left and max_order (the caller's order limit). Several
 * threads may share one cursor if they serialise these calls.
 */
bool pb_build_next(const struct pb_wl_orders *o, unsigned max_order, struct pb_rng *rng,
                   struct pb_build_cursor *c, struct pb_call *call);
/*
 * Reports how many extents of `call` were populated. Toolstack builds: what meminit_hvm does
 * next (pb_meminit_plan_done). Mixed builds: the rest is queued to be redone one order down;
 * an order-0 call that came back short fails the build. Returns false once the build failed.
 */
bool pb_build_done(struct pb_build_cursor *c, const struct pb_call *call, unsigned nr_done);
/* Ends the build as failed (a claim it needed was refused): nothing more is handed out. */
void pb_build_fail(struct pb_build_cursor *c);
/* Everything issued and nothing to redo (in-flight calls are the caller's to count). */
bool pb_build_complete(const struct pb_build_cursor *c);

/*
 * A running domain's balloon: it gives back the top of its memory, down to depth, in calls of
 * extents_per_call extents, then takes it back, and again. `out` pages are ballooned out.
 * Running domains are built by the toolstack, so the top of their memory is libxl's: the
 * highest range of the layout (from 4 GiB up when memory was relocated above the MMIO hole),
 * and the window never goes below it (nor into the VGA hole): depth is clipped to that range.
 */
struct pb_balloon_state {
    uint64_t top;   /* first gfn above the balloonable range (memory aligned down to 2^order) */
    uint64_t depth; /* pages to go down, a multiple of 2^order, >= 2^order */
    uint64_t out;   /* pages now ballooned out: gfns [top - out, top) are unpopulated */
    bool going_up;
};
void pb_balloon_init(struct pb_balloon_state *b, const struct pb_wl_balloon *cfg,
                     uint64_t memory_pages);
/* The next call; *decrease says whether it is a decrease_reservation. */
void pb_balloon_next(const struct pb_balloon_state *b, const struct pb_wl_balloon *cfg,
                     struct pb_call *call, bool *decrease);
/* Records what the call did (nr_done extents). */
void pb_balloon_done(struct pb_balloon_state *b, const struct pb_call *call, bool decrease,
                     unsigned nr_done);

/* Pacing: rate units per second from t0; the ns at which `units` should have been done. */
static inline uint64_t pb_pace_due_ns(uint64_t t0, uint64_t units, uint64_t rate)
{
    return t0 + (uint64_t)((double)units * 1e9 / (double)rate);
}

#endif
