/*
 * stream.h: a workload turned into the operations threads issue: seeded random numbers, the
 * populate calls that build a domain (mixed orders or toolstack meminit), the balloon window
 * of a running domain, and paced loops.
 *
 * Glossary
 *   call      one populate_physmap (or decrease_reservation) request: nr extents of one order
 *             at consecutive aligned gfns from `gfn`.
 *   cursor    where a domain's build stands: pages still to populate and the next gfn. The
 *             gfn space of a domain is [0, pb_stream_gfn_space(max_pages)): orders 0 and 9 grow
 *             from gfn 0 up, 1 GiB extents (mixed mode) from the top down, so alignment never
 *             wastes more than a 2 MiB hole per call.
 *   fallback  a call that came back short (no free buddy of its order) is redone for the same
 *             gfns one order down (18 -> 9 -> 0), as the toolstack's meminit does.
 *
 * Threads: nothing here is shared; each thread owns its rng and the cursors it works on.
 */
#ifndef POPBENCH_BENCH_STREAM_H
#define POPBENCH_BENCH_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/prng.h"
#include "workloads/workload.h"

struct pb_call {
    unsigned order;  /* 0, 9 or 18 */
    unsigned nr;     /* extents, >= 1 */
    uint64_t gfn;    /* lowest extent's gfn, aligned to 2^order */
    bool from_top;   /* a build's 1 GiB extent from the downward region */
    bool descending; /* issue the extents from the highest gfn down (balloon decreases, so
                        that a short count leaves the window contiguous) */
};

#define PB_BUILD_MAX_RETRY 8

/* A range of gfns whose calls came back short, to be redone at `order`. */
struct pb_build_retry {
    uint64_t gfn, end;
    unsigned order;
};

struct pb_build_cursor {
    uint64_t target;   /* pages the build populates */
    uint64_t issued;   /* pages of the calls handed out, less what came back short */
    uint64_t low_gfn;  /* next gfn of the upward region (orders 0 and 9; all of meminit) */
    uint64_t high_gfn; /* bottom of the downward region (1 GiB extents, mixed mode) */
    struct pb_build_retry retry[PB_BUILD_MAX_RETRY]; /* a stack: the last one is served first */
    unsigned nr_retry;
    bool failed; /* an order-0 call came back short: the build cannot finish */
};

/* gfns a domain of max_pages needs: max_pages rounded up to 1 GiB, plus 1 GiB of room. */
uint64_t pb_stream_gfn_space(uint64_t max_pages);

void pb_build_cursor_init(struct pb_build_cursor *c, uint64_t target, uint64_t gfn_space);
/*
 * Hands out the next call of the build (and counts its pages as issued), or false when nothing
 * is left to hand out or the build failed. Retries come first. Mixed mode draws the order from
 * the weights among those that fit what is left; meminit takes the largest order the gfn's
 * alignment and the remainder allow. max_order caps both (the caller's order limit). Several
 * threads may share one cursor if they serialise these calls.
 */
bool pb_build_next(const struct pb_wl_orders *o, unsigned max_order, struct pb_rng *rng,
                   struct pb_build_cursor *c, struct pb_call *call);
/*
 * Reports how many extents of `call` were populated. The rest is queued to be redone one order
 * down (as the toolstack's meminit falls back from 1 GiB to 2 MiB to 4 KiB); an order-0 call
 * that came back short fails the build. Returns false once the build has failed.
 */
bool pb_build_done(struct pb_build_cursor *c, const struct pb_call *call, unsigned nr_done);
/* Everything issued and nothing to redo (in-flight calls are the caller's to count). */
bool pb_build_complete(const struct pb_build_cursor *c);

/*
 * A running domain's balloon: it gives back the top of its memory, down to depth, in calls of
 * extents_per_call extents, then takes it back, and again. `out` pages are ballooned out.
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
