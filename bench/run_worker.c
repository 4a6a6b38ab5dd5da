/*
 * run_worker.c: a worker's thread. It pins itself, waits at the start gate with the others,
 * then runs its role's loop (PB_ROLE_LOOP, runner_impl.h): the role's step between two
 * checkpoints. At a checkpoint it parks while the measuring thread holds the workers back
 * (pause) and exits once it stops them; after a step it counts the operation against an
 * ops-bounded phase (parking when its share is done), paces, or blocks when the role has
 * nothing to do. Here: everything but the loop's fast path, which is inline.
 */
#include "bench/runner_impl.h"

#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* This thread's involuntary context switches; false when getrusage cannot say. */
static bool thread_nivcsw(uint64_t *n)
{
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0)
        return false;
    *n = (uint64_t)ru.ru_nivcsw;
    return true;
}

void worker_probe(struct worker *w)
{
    w->probe_left = PB_NOISE_PROBE_EVERY;
    if (!measuring(w->rn))
        return;
    int cpu = sched_getcpu();
    if (cpu < 0) {
        w->probe_failed = true;
        return;
    }
    w->cpu_samples++;
    w->migrations += cpu != w->pinned_os;
}

/* The end of the worker's measure phase: its involuntary switches since the start. */
static void noise_end(struct worker *w)
{
    uint64_t now;
    if (w->phase_seen != PHASE_MEASURE)
        return;
    worker_probe(w);
    if (w->rusage_ok && thread_nivcsw(&now) && now >= w->nivcsw_start)
        w->nivcsw = now - w->nivcsw_start;
    else
        w->rusage_ok = false;
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
    if (phase == PHASE_MEASURE) {
        w->cpu_samples = w->migrations = 0;
        w->probe_failed = false;
        w->rusage_ok = thread_nivcsw(&w->nivcsw_start);
        worker_probe(w);
    }
    if (w->ops->phase_start)
        w->ops->phase_start(w);
}

/* Parks until the pause is lifted (and, for a worker that has done its share, until the phase
 * changes). Returns true when the worker must exit. */
static bool park(struct worker *w, bool quota_done)
{
    struct runner *rn = w->rn;
    struct pb_event *ev = &rn->wake[PB_EV_CONTROL];

    worker_probe(w); /* rounds of a storm: one sample per round at least */
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

bool worker_checkpoint_slow(struct worker *w)
{
    if (atomic_load(&w->rn->stop))
        return true;
    return park(w, false);
}

bool worker_share_done(struct worker *w)
{
    struct runner *rn = w->rn;

    if (atomic_fetch_add(&rn->quota_done, 1) + 1 >= rn->nr_quota_workers)
        pb_event_signal(&rn->runner_ev);
    return park(w, true);
}

enum pb_step worker_wait_for_work(struct worker *w, enum pb_step r)
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

void worker_pace(struct worker *w)
{
    w->pace_units += w->step_units;
    w->step_units = 0;
    worker_sleep_until(w, pb_pace_due_ns(w->pace_t0, w->pace_units, w->pace_rate));
}

void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct runner *rn = w->rn;
    int rc = pb_topology_bind(rn->cfg->topo, w->vcpu);

    if (rc)
        worker_fail(w, "cannot pin to vCPU %u: %s", w->vcpu, strerror(-rc));
    w->cpu_start_seen = sched_getcpu();
    w->pinned_os = (int)rn->cfg->topo->cpus[w->vcpu].real_os;
    w->probe_left = PB_NOISE_PROBE_EVERY;
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

    w->ops->loop(w);
    /* Whatever we were building stays as it is: the measuring thread tears it down. */
    w->cpu_ns = thread_cpu_ns() - w->cpu_start;
    noise_end(w);
    pb_preempt_counters_read(&w->pc);
    w->cpu_end_seen = sched_getcpu();
    pb_rcu_unregister_thread();
    return NULL;
}
