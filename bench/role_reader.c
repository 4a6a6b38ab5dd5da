/*
 * role_reader.c: p2m readers look up random gfns of the domains that exist, lock-free under
 * RCU, each at lookups_per_second (0: as fast as it can).
 */
#define _LGPL_SOURCE /* inline liburcu's read side */
#include "bench/runner_impl.h"

#include <urcu/urcu-memb.h>

#include "core/tsan.h"

static int reader_init(struct worker *w)
{
    w->pace_rate = w->rn->wl->p2m_readers.lookups_per_second;
    return 0;
}

static PB_ALWAYS_INLINE enum pb_step reader_step(struct worker *w)
{
    struct runner *rn = w->rn;
    struct slot *s = &rn->slots[pb_rng_below(&w->rng, rn->nr_slots)];
    uint64_t gfn = pb_rng_below(&w->rng, s->memory);
    struct p2m_entry e;

    urcu_memb_read_lock();
    struct p2m *p = atomic_load_explicit(&s->p2m_pub, memory_order_acquire);
    if (p) {
        uint64_t t0 = pb_clock_ns();
        p2m_lookup(p, gfn, &e);
        uint64_t t1 = pb_clock_ns();
        pb_hist_record(w->lookup_h, pb_clock_diff(t0, t1));
        ctr_add(&w->rec.ctr.lookups, 1);
    }
    PB_TSAN_READ_DONE(&run_rcu_tsan_sync); /* inside the section: a grace period ends after it */
    urcu_memb_read_unlock();
    w->step_units++;
    if (p)
        return PB_STEP_WORK;
    /* No domain in that slot: another may have one; with none at all, wait for one. */
    return atomic_load(&rn->published) ? PB_STEP_MISS : PB_STEP_IDLE;
}

PB_ROLE_LOOP(reader_loop, reader_step)

const struct pb_role_ops pb_role_reader = {
    .name = "p2m-reader",
    .idle_event = PB_EV_P2M,
    .init = reader_init,
    .step = reader_step,
    .loop = reader_loop,
};
