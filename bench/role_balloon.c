/*
 * role_balloon.c: balloon workers (churn.balloon with pages_per_second) take running domains
 * down by `depth` of their memory with decrease_reservation and back up with populate_physmap,
 * sharing the domains round-robin (those bound to the worker's node first), each at
 * pages_per_second (0: as fast as it can).
 */
#include "bench/runner_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

bool balloon_call(struct worker *w)
{
    struct runner *rn = w->rn;
    const struct pb_wl_balloon *b = &rn->wl->churn.balloon;
    struct slot *s = NULL;

    /* A guest balloons from its own vCPUs, which NUMA placement keeps on its nodes: a worker
     * serves the idle domains bound to its node (or to none) first, then any. */
    for (int pass = 0; pass < 2 && !s; pass++)
        for (unsigned k = 0; k < rn->nr_running; k++) {
            struct slot *c = &rn->slots[rn->running_idx[(w->scan + k) % rn->nr_running]];
            if (!pass && c->own_nodes && !(c->own_nodes & (1ull << w->node)))
                continue;
            if (atomic_load(&c->state) == SLOT_IDLE && slot_cas(c, SLOT_IDLE, SLOT_BUSY)) {
                s = c;
                w->scan += k + 1;
                break;
            }
        }
    if (!s)
        return false;

    struct pb_call call;
    bool decrease;
    int error;
    struct pb_memop_caller caller = {.privilege = s->privilege};
    pb_balloon_next(&s->balloon, b, &call, &decrease);
    unsigned done = decrease ? timed_decrease(w, s, &caller, &call, &error)
                             : timed_populate(w, s, &caller, &call, &error);
    if (done < call.nr && (decrease || error != -ENOMEM))
        worker_fail(w,
                    "%s of domain %u (order %u, %u extents at gfn %#" PRIx64 ") stopped at %u: %s",
                    decrease ? "decrease_reservation" : "populate_physmap", s->domid, call.order,
                    call.nr, call.gfn, done, strerror(-error));
    pb_balloon_done(&s->balloon, &call, decrease, done);
    slot_release(rn, s, SLOT_IDLE);
    return true;
}

static int balloon_init(struct worker *w)
{
    w->pace_rate = w->rn->wl->churn.balloon.pages_per_second;
    return worker_alloc_gfns(w);
}

static PB_ALWAYS_INLINE enum pb_step balloon_step(struct worker *w)
{
    const struct pb_wl_balloon *b = &w->rn->wl->churn.balloon;

    if (!balloon_call(w))
        return PB_STEP_IDLE;
    w->step_units += (uint64_t)b->extents_per_call << b->order;
    return PB_STEP_OP;
}

PB_ROLE_LOOP(balloon_loop, balloon_step)

const struct pb_role_ops pb_role_balloon = {
    .name = "balloon",
    .idle_event = PB_EV_BALLOON,
    .init = balloon_init,
    .step = balloon_step,
    .loop = balloon_loop,
};
