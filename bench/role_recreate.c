/*
 * role_recreate.c: the recreate thread (churn.recreate_per_second) destroys idle domains at that
 * rate, host-wide, freeing their pages dirty and releasing their claims; the builders build
 * them again.
 */
#include "bench/runner_impl.h"

static PB_ALWAYS_INLINE enum pb_step recreate_step(struct worker *w)
{
    struct runner *rn = w->rn;
    double rate = rn->wl->churn.recreate_per_second;
    uint64_t due = w->pace_t0 + (uint64_t)((double)(w->pace_units + 1) * 1e9 / rate);

    if (!worker_sleep_until(w, due))
        return PB_STEP_WORK; /* paused or stopped first */
    w->pace_units++;
    /* A few random picks among the domains that are idle. */
    for (unsigned tries = 0; tries < 4 * rn->nr_slots; tries++) {
        struct slot *s = &rn->slots[pb_rng_below(&w->rng, rn->nr_slots)];
        if (atomic_load(&s->state) != SLOT_IDLE || !slot_cas(s, SLOT_IDLE, SLOT_BUSY))
            continue;
        slot_destroy(rn, s);
        ctr_add(&w->rec.ctr.recreations, 1);
        slot_release(rn, s, SLOT_QUEUED);
        break;
    }
    return PB_STEP_WORK;
}

PB_ROLE_LOOP(recreate_loop, recreate_step)

const struct pb_role_ops pb_role_recreate = {
    .name = "recreate",
    .idle_event = PB_EV_CONTROL, /* never idle: it paces itself */
    .step = recreate_step,
    .loop = recreate_loop,
};
