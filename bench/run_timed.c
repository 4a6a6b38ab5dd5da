/*
 * run_timed.c: the timed memory operations of every role. One clock read before a call and
 * one after each invocation (timed_call, runner_impl.h): the end of an invocation is the start
 * of its continuation.
 */
#include "bench/runner_impl.h"

static void fill_gfns(struct worker *w, const struct pb_call *call)
{
    uint64_t ext = UINT64_C(1) << call->order;
    PB_BUG_ON(call->nr > w->gfns_len);
    for (unsigned i = 0; i < call->nr; i++) {
        unsigned k = call->descending ? call->nr - 1 - i : i;
        w->gfns[i] = call->gfn + k * ext;
    }
}

/* The reservation of one call: its gfns written into the worker's list. */
static struct pb_reservation call_reservation(struct worker *w, const struct slot *s,
                                              const struct pb_call *call, unsigned mem_flags)
{
    fill_gfns(w, call);
    return (struct pb_reservation){
        .extent_start = w->gfns,
        .extent_list_len = call->nr,
        .nr_extents = call->nr,
        .extent_order = call->order,
        .mem_flags = mem_flags,
        .domid = s->domid,
    };
}

/* A vNUMA domain's call that spans vnodes goes out as one call per vnode (vnode_extents). */
unsigned timed_populate(struct worker *w, struct slot *s, const struct pb_memop_caller *caller,
                        const struct pb_call *call, int *error)
{
    struct runner *rn = w->rn;
    unsigned done = 0;

    PB_BUG_ON(call->descending); /* populate calls ascend */
    *error = 0;
    while (done < call->nr) {
        struct pb_memop_result res;
        struct pb_call part = *call;
        part.gfn = call->gfn + ((uint64_t)done << call->order);
        /* A toolstack call names its own node and never spans vnodes. */
        part.nr = call->toolstack ? call->nr - done
                                  : vnode_extents(s, part.gfn, call->order, call->nr - done);
        unsigned flags = call->toolstack ? call->mem_flags : call_mem_flags(rn, s, part.gfn);
        struct pb_reservation r = call_reservation(w, s, &part, flags);

        timed_call(&w->rec, rn->h, caller, &r, &res, &w->last_end_ns);
        done += (unsigned)res.nr_done;
        *error = res.error;
        if (res.nr_done < part.nr)
            break;
    }
    return done;
}

/* Timed whole: one decrease_reservation call, its continuations included. */
unsigned timed_decrease(struct worker *w, struct slot *s, const struct pb_memop_caller *caller,
                        const struct pb_call *call, int *error)
{
    struct runner *rn = w->rn;
    struct pb_memop_result res;
    struct pb_reservation r = call_reservation(w, s, call, 0);
    uint64_t start = 0, frames = 0;

    uint64_t t0 = pb_clock_ns();
    for (;;) {
        pb_decrease_reservation(rn->h, caller, &r, start, rn->wl->churn.balloon.free_dirty, &res);
        frames += res.c.frames;
        pb_memop_counts_add(&w->rec.mc, &res.c);
        if (!res.preempted)
            break;
        start = res.nr_done;
    }
    uint64_t t1 = pb_clock_ns();
    pb_hist_record(w->dec_h, pb_clock_diff(t0, t1));
    w->last_end_ns = t1;
    ctr_add(&w->rec.ctr.dec_pages, frames);
    ctr_add(&w->rec.ctr.dec_calls, 1);
    *error = res.error;
    return (unsigned)res.nr_done;
}
