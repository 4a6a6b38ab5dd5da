/*
 * run_worker.c: a worker's thread. It pins itself, waits at the start gate with the others,
 * then loops over its role's step between checkpoints: at a checkpoint it parks while the
 * measuring thread holds the workers back (pause) and exits once it stops them; the loop counts
 * operations against an ops-bounded phase (parking when its share is done), paces the step, and
 * blocks when the role has nothing to do.
 */
#include "bench/runner_impl.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

void worker_fail(struct worker *w, const char *fmt, ...)
{
    va_list ap;

    if (w->error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof(w->error), fmt, ap);
    va_end(ap);
}

static bool held_back(struct runner *rn)
{
    return atomic_load(&rn->pause) || atomic_load(&rn->stop);
}

bool worker_sleep_until(struct worker *w, uint64_t deadline)
{
    struct pb_event *ev = &w->rn->wake[PB_EV_CONTROL];

    for (;;) {
        uint64_t now = pb_clock_ns();
        if (now >= deadline)
            return true; /* the common case of a worker behind its pace: no shared write */
        uint32_t seen = pb_event_arm(ev);
        if (held_back(w->rn)) {
            pb_event_disarm(ev);
            return false;
        }
        pb_event_wait(ev, seen, deadline - now);
    }
}

static void on_resume(struct worker *w)
{
    struct runner *rn = w->rn;
    int phase = atomic_load(&rn->phase);

    if (phase == w->phase_seen)
        return;
    w->phase_seen = phase;
    /* The measuring thread has emptied our histograms and counters; the rest is ours. */
    pb_preempt_counters_reset();
    memset(&w->rec.mc, 0, sizeof(w->rec.mc));
    w->cpu_start = thread_cpu_ns();
    w->pace_t0 = pb_clock_ns();
    w->pace_units = 0;
    if (w->ops->phase_start)
        w->ops->phase_start(w);
}

/* Parks until the pause is lifted (and, for a worker that has done its share, until the phase
 * changes). Returns true when the worker must exit. */
static bool park(struct worker *w, bool quota_done)
{
    struct runner *rn = w->rn;
    struct pb_event *ev = &rn->wake[PB_EV_CONTROL];

    if (atomic_fetch_add(&rn->parked, 1) + 1 == rn->nr_workers)
        pb_event_signal(&rn->runner_ev);
    for (;;) {
        uint32_t seen = pb_event_arm(ev);
        if (atomic_load(&rn->stop) || (!atomic_load(&rn->pause) &&
                                       !(quota_done && atomic_load(&rn->phase) == w->phase_seen))) {
            pb_event_disarm(ev);
            break;
        }
        pb_event_wait(ev, seen, PB_EVENT_FOREVER);
    }
    atomic_fetch_sub(&rn->parked, 1);
    if (atomic_load(&rn->stop))
        return true;
    on_resume(w);
    return false;
}

/* Between two operations: true when the worker must exit. */
static bool checkpoint(struct worker *w)
{
    struct runner *rn = w->rn;

    if (pb_likely(!atomic_load_explicit(&rn->pause, memory_order_relaxed) &&
                  !atomic_load_explicit(&rn->stop, memory_order_relaxed)))
        return false;
    if (atomic_load(&rn->stop))
        return true;
    return park(w, false);
}

/* Counts one memop operation against an ops-bounded phase; parks when the share is done. */
static bool count_op(struct worker *w)
{
    struct runner *rn = w->rn;

    if (w->quota == UINT64_MAX)
        return false;
    if (w->quota > 0 && --w->quota > 0)
        return false;
    if (atomic_fetch_add(&rn->quota_done, 1) + 1 >= rn->nr_quota_workers)
        pb_event_signal(&rn->runner_ev);
    return park(w, true);
}

/*
 * A step found nothing to do: block on the role's event, after one more look announced on it
 * (IDLE), or for a short back-off (MISS). Returns what the second look did.
 */
static enum pb_step wait_for_work(struct worker *w, enum pb_step r)
{
    struct pb_event *ev = &w->rn->wake[w->ops->idle_event];
    uint32_t seen = pb_event_arm(ev);

    if (held_back(w->rn)) {
        pb_event_disarm(ev);
        return PB_STEP_WORK; /* to the checkpoint */
    }
    if (r == PB_STEP_IDLE)
        r = w->ops->step(w);
    if (r == PB_STEP_IDLE || r == PB_STEP_MISS)
        pb_event_wait(ev, seen, r == PB_STEP_IDLE ? PB_EVENT_FOREVER : MISS_BACKOFF_NS);
    else
        pb_event_disarm(ev);
    return r;
}

static void worker_loop(struct worker *w)
{
    while (!checkpoint(w)) {
        w->step_units = 0;
        enum pb_step r = w->ops->step(w);
        if (r == PB_STEP_IDLE || r == PB_STEP_MISS)
            r = wait_for_work(w, r);
        if (r == PB_STEP_OP && count_op(w))
            return;
        if (w->pace_rate) {
            w->pace_units += w->step_units;
            worker_sleep_until(w, pb_pace_due_ns(w->pace_t0, w->pace_units, w->pace_rate));
        }
    }
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct runner *rn = w->rn;
    int rc = pb_topology_bind(rn->cfg->topo, w->vcpu);

    if (rc)
        worker_fail(w, "cannot pin to vCPU %u: %s", w->vcpu, strerror(-rc));
    w->cpu_start_seen = sched_getcpu();
    pb_set_current_node(w->node);
    /* pcp: the cache slot of the vCPU we are pinned to, not whichever CPU sched_getcpu() saw
     * first, so that a run of a fixed seed uses the same caches every time. */
    pb_set_current_cpu(w->vcpu);
    pb_rcu_register_thread();
    if (pb_preempt_configure(&w->preempt) != 0)
        worker_fail(w, "bad preemption policy");

    w->phase_seen = PHASE_WARMUP;
    w->cpu_start = thread_cpu_ns();
    pthread_mutex_lock(&rn->gate);
    rn->ready++;
    pthread_cond_broadcast(&rn->gate_cv);
    while (!rn->go)
        pthread_cond_wait(&rn->gate_cv, &rn->gate);
    pthread_mutex_unlock(&rn->gate);
    w->pace_t0 = pb_clock_ns();

    worker_loop(w);
    /* Whatever we were building stays as it is: the measuring thread tears it down. */
    w->cpu_ns = thread_cpu_ns() - w->cpu_start;
    pb_preempt_counters_read(&w->pc);
    w->cpu_end_seen = sched_getcpu();
    pb_rcu_unregister_thread();
    return NULL;
}
