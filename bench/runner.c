/*
 * runner.c: one run of a workload, from the measuring thread (the thread that calls pb_run):
 * setup, starting the workers and releasing them together, the warm-up, parking every worker
 * for the baselines, the measure phase (its rounds, the floor, the noise probes around them)
 * and its samples, stopping, what was measured, teardown.
 * runner.h has the phases and roles; runner_impl.h the files around this one (run_worker.c is
 * the workers' side of the same protocol).
 */
#include "bench/runner_impl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define INTERRUPT_POLL_NS (10 * NS_PER_MS) /* the measuring thread looks at cfg->interrupt */

/* Wakes every worker that waits, whatever for: after a change of pause, phase or stop. */
static void wake_workers(struct runner *rn)
{
    for (int e = 0; e < PB_EV_NR; e++)
        pb_event_signal(&rn->wake[e]);
}

static bool interrupted(const struct runner *rn)
{
    return rn->cfg->interrupt && atomic_load(rn->cfg->interrupt);
}

/* Starts the workers and releases them together once all are pinned and ready. Returns how
 * many started; *rc the error that stopped the others. */
static unsigned start_workers(struct runner *rn, int *rc)
{
    unsigned started = 0;

    *rc = 0;
    for (; started < rn->nr_workers; started++)
        if ((*rc = -pthread_create(&rn->w[started].tid, NULL, worker_main, &rn->w[started])) != 0)
            break;
    pthread_mutex_lock(&rn->gate);
    while (rn->ready < started)
        pthread_cond_wait(&rn->gate_cv, &rn->gate);
    rn->go = true;
    pthread_cond_broadcast(&rn->gate_cv);
    pthread_mutex_unlock(&rn->gate);
    return started;
}

/* Every worker between two operations. */
static void pause_all(struct runner *rn)
{
    atomic_store(&rn->pause, true);
    wake_workers(rn);
    for (;;) {
        uint32_t seen = pb_event_arm(&rn->runner_ev);
        if (atomic_load(&rn->parked) >= rn->nr_workers) {
            pb_event_disarm(&rn->runner_ev);
            return;
        }
        pb_event_wait(&rn->runner_ev, seen, PB_EVENT_FOREVER);
    }
}

static void set_quotas(struct runner *rn, const struct pb_wl_phase *ph)
{
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        w->quota = UINT64_MAX;
        if (ph->unit != PB_WL_PHASE_OPS || i >= rn->nr_quota_workers)
            continue;
        /* Worker i's share of the count; a worker with no share does one operation. */
        uint64_t share = ph->ops / rn->nr_quota_workers + (i < ph->ops % rn->nr_quota_workers);
        w->quota = share ? share : 1;
    }
    atomic_store(&rn->quota_done, 0);
}

/* until-built after a warm-up: the builds start again from nothing (the workers are parked). */
static void requeue_building(struct runner *rn)
{
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        if (s->running)
            continue;
        slot_destroy(rn, s);
        atomic_fetch_add(&s->gen, 1); /* builders holding it let go */
        slot_release(rn, s, SLOT_QUEUED);
    }
}

/* Whether a phase that began at t0 is over at `now`. */
static bool phase_over(struct runner *rn, const struct pb_wl_phase *ph, uint64_t t0, uint64_t now)
{
    switch (ph->unit) {
    case PB_WL_PHASE_TIME:
        return now - t0 >= ph->ns;
    case PB_WL_PHASE_OPS:
        return atomic_load(&rn->quota_done) >= rn->nr_quota_workers;
    case PB_WL_PHASE_UNTIL_BUILT:
        break;
    }
    return atomic_load(&rn->built_measure) >= rn->nr_building;
}

/* Blocks until the phase is over, `until` (pb_clock_ns) or the next look at the interrupt
 * flag, whichever comes first: the workers signal runner_ev when their part is done. */
static void wait_phase(struct runner *rn, const struct pb_wl_phase *ph, uint64_t t0, uint64_t until)
{
    uint32_t seen = pb_event_arm(&rn->runner_ev);
    uint64_t now = pb_clock_ns();

    if (ph->unit == PB_WL_PHASE_TIME && t0 + ph->ns < until)
        until = t0 + ph->ns;
    if (now + INTERRUPT_POLL_NS < until)
        until = now + INTERRUPT_POLL_NS;
    if (phase_over(rn, ph, t0, now) || now >= until)
        pb_event_disarm(&rn->runner_ev);
    else
        pb_event_wait(&rn->runner_ev, seen, until - now);
}

/* Runs the warm-up; false when interrupted. */
static bool run_warmup(struct runner *rn)
{
    const struct pb_wl_phase *ph = &rn->cfg->warmup;
    uint64_t t0 = pb_clock_ns();

    while (!phase_over(rn, ph, t0, pb_clock_ns())) {
        if (interrupted(rn))
            return false;
        wait_phase(rn, ph, t0, UINT64_MAX);
    }
    return true;
}

/* The time series: pages populated per interval and the scrub backlog. */
struct series {
    uint64_t *t, *pages, *backlog;
    size_t n, cap;
    uint64_t last_pages, backlog_max;
    uint64_t next_ns; /* measured time of the next sample */
};

static void series_add(struct series *s, uint64_t t, uint64_t pages, uint64_t backlog)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        uint64_t *a = realloc(s->t, cap * sizeof(uint64_t));
        if (a)
            s->t = a;
        uint64_t *b = realloc(s->pages, cap * sizeof(uint64_t));
        if (b)
            s->pages = b;
        uint64_t *c = realloc(s->backlog, cap * sizeof(uint64_t));
        if (c)
            s->backlog = c;
        if (!a || !b || !c)
            return; /* a sample lost to memory pressure; the series stays consistent */
        s->cap = cap;
    }
    s->t[s->n] = t;
    s->pages[s->n] = pages;
    s->backlog[s->n] = backlog;
    s->n++;
}

static void sample(struct runner *rn, struct series *ser, uint64_t t_ms, uint64_t elapsed_ns)
{
    const struct pb_run_config *cfg = rn->cfg;
    uint64_t pages = 0, backlog = pb_scrub_backlog(rn->h);

    for (unsigned i = 0; i < rn->nr_workers; i++)
        pages += ctr_get(&rn->w[i].rec.ctr.pages);
    series_add(ser, t_ms, pages - ser->last_pages, backlog);
    if (backlog > ser->backlog_max)
        ser->backlog_max = backlog;
    ser->last_pages = pages;
    if (cfg->progress)
        cfg->progress(cfg->progress_ctx, elapsed_ns, pages);
}

/*
 * The rounds of the measure phase and the noise around them (measuring thread only). One round
 * unless until-built repeats; each is measured on its own and their times add up.
 */
struct rounds {
    uint64_t *ns;
    unsigned n, cap;
    uint64_t measured; /* sum of ns */
    uint64_t t0;       /* start of the round in progress */
    unsigned *pus;     /* the real PUs the workers are pinned to (OS indexes), once each */
    unsigned npus;
    struct pb_noise_snapshot snap0;
    struct pb_noise noise;
};

static void round_start(struct runner *rn, struct rounds *rd)
{
    pb_noise_snapshot(rn->cfg->noise_paths, rd->pus, rd->npus, &rd->snap0);
    rd->t0 = pb_clock_ns();
}

/* A round that ended at `end` (its noise interval already added). */
static void round_record(struct rounds *rd, uint64_t end)
{
    uint64_t ns = end > rd->t0 ? end - rd->t0 : 0;
    if (rd->n == rd->cap) {
        unsigned cap = rd->cap ? 2 * rd->cap : 16;
        uint64_t *a = realloc(rd->ns, cap * sizeof(*a));
        if (a) {
            rd->ns = a;
            rd->cap = cap;
        }
    }
    if (rd->n < rd->cap)
        rd->ns[rd->n] = ns;
    rd->n++; /* a round lost to memory pressure still counts; its time is in measured */
    rd->measured += ns;
}

static void round_end(struct runner *rn, struct rounds *rd, uint64_t end)
{
    struct pb_noise_snapshot snap;
    pb_noise_snapshot(rn->cfg->noise_paths, rd->pus, rd->npus, &snap);
    pb_noise_add_interval(&rd->noise, &rd->snap0, &snap);
    round_record(rd, end);
}

/* Runs one round, sampling every PB_RUN_SAMPLE_MS of measured time; false when interrupted. */
static bool run_round(struct runner *rn, struct series *ser, const struct rounds *rd)
{
    const struct pb_wl_phase *ph = &rn->measure;

    for (;;) {
        uint64_t now = pb_clock_ns();
        if (phase_over(rn, ph, rd->t0, now))
            return true;
        if (interrupted(rn))
            return false;
        uint64_t mt = rd->measured + (now - rd->t0);
        if (mt >= ser->next_ns) {
            sample(rn, ser, ser->next_ns / NS_PER_MS, mt);
            ser->next_ns += PB_RUN_SAMPLE_MS * NS_PER_MS;
        }
        wait_phase(rn, ph, rd->t0, ser->next_ns > mt ? now + (ser->next_ns - mt) : now);
    }
}

/*
 * Baselines taken with every worker parked, then the measure phase: one round, or rounds of a
 * storm until they have measured the floor (runner.h). False when interrupted.
 */
static bool measure(struct runner *rn, struct run_baseline *base, struct series *ser,
                    struct rounds *rd)
{
    const struct pb_run_config *cfg = rn->cfg;
    unsigned max = cfg->max_rounds ? cfg->max_rounds : PB_RUN_MAX_ROUNDS;
    unsigned min = cfg->min_rounds ? cfg->min_rounds : 1;

    pause_all(rn);
    if (rn->until_built)
        requeue_building(rn);
    run_take_baseline(rn, base);
    set_quotas(rn, &rn->measure);
    ser->next_ns = PB_RUN_SAMPLE_MS * NS_PER_MS;
    for (;;) {
        atomic_store(&rn->built_measure, 0);
        round_start(rn, rd);
        if (rd->n == 0) {
            rn->t_measure0 = rd->t0;
            atomic_store(&rn->phase, PHASE_MEASURE);
        }
        atomic_store(&rn->pause, false);
        wake_workers(rn);
        if (rd->n == 0 && cfg->raise_sigint_in_measure)
            raise(SIGINT);
        if (!run_round(rn, ser, rd))
            return false;
        if (!rn->until_built)
            return true; /* run_phases ends the round when the workers have stopped */
        pause_all(rn);
        round_end(rn, rd, atomic_load(&rn->last_built_ns));
        if ((rd->measured >= cfg->floor_ns && rd->n >= min) || rd->n >= max)
            return true;
        /* Destroy and rebuild: the teardown is not measured. */
        struct run_baseline from, to;
        run_read_counters(rn, &from);
        requeue_building(rn);
        run_read_counters(rn, &to);
        run_baseline_skip(base, &from, &to);
    }
}

/* A time- or ops-bounded phase ends with the last operation that finished. */
static uint64_t measure_end(struct runner *rn, uint64_t t_stop)
{
    uint64_t end = t_stop;

    for (unsigned i = 0; i < rn->nr_workers; i++)
        if (rn->w[i].last_end_ns > end)
            end = rn->w[i].last_end_ns;
    return end;
}

/* The real PUs the workers are pinned to, each once (the noise probes read those). */
static int noise_pus(struct runner *rn, struct rounds *rd)
{
    rd->pus = calloc(rn->nr_workers ? rn->nr_workers : 1, sizeof(*rd->pus));
    if (!rd->pus)
        return -ENOMEM;
    for (unsigned i = 0; i < rn->nr_workers && rd->npus < PB_NOISE_MAX_PUS; i++) {
        unsigned pu = rn->cfg->topo->cpus[rn->w[i].vcpu].real_os;
        bool seen = false;
        for (unsigned k = 0; k < rd->npus && !seen; k++)
            seen = rd->pus[k] == pu;
        if (!seen)
            rd->pus[rd->npus++] = pu;
    }
    return 0;
}

/* The workers' share of the noise, and the verdict on it. */
static void finish_noise(struct runner *rn, struct rounds *rd, struct pb_run_result *res)
{
    struct pb_noise *n = &rd->noise;
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        const struct worker *w = &rn->w[i];
        n->nivcsw_ok &= w->rusage_ok;
        n->nivcsw += w->nivcsw;
        n->migrations_ok &= !w->probe_failed;
        n->cpu_samples += w->cpu_samples;
        n->migrations += w->migrations;
    }
    n->worker_ns = res->measure_ns * rn->nr_workers;
    n->threads_per_pu = res->max_threads_per_pu;
    pb_noise_judge(n);
    res->noise = *n;
}

/* The threads and the phases of a set-up run, then what was measured. */
static int run_phases(struct runner *rn, struct pb_run_result *res, char *err, size_t errlen)
{
    const struct pb_run_config *cfg = rn->cfg;
    struct run_baseline base;
    struct series ser = {0};
    struct rounds rd = {0};
    int rc;

    rn->measure = cfg->measure;
    if (rn->measure.unit == PB_WL_PHASE_TIME && rn->measure.ns < cfg->floor_ns)
        rn->measure.ns = cfg->floor_ns;
    pb_noise_init(&rd.noise);
    if ((rc = noise_pus(rn, &rd)) != 0) {
        pb_errf(err, errlen, "cannot set up the noise probes: %s", strerror(-rc));
        return rc;
    }
    set_quotas(rn, &cfg->warmup);
    bool no_warmup = (cfg->warmup.unit == PB_WL_PHASE_TIME && cfg->warmup.ns == 0) ||
                     (cfg->warmup.unit == PB_WL_PHASE_OPS && cfg->warmup.ops == 0);
    /* Without a warm-up the workers start parked: left running until pause_all() sees them,
     * they would do a racy number of operations before the measure phase. */
    if (no_warmup)
        atomic_store(&rn->pause, true);
    unsigned started = start_workers(rn, &rc);
    bool ok = !rc && (no_warmup || run_warmup(rn)) && measure(rn, &base, &ser, &rd);
    uint64_t t_stop = pb_clock_ns();
    bool open_round = atomic_load(&rn->phase) == PHASE_MEASURE && (!rn->until_built || !ok);
    struct pb_noise_snapshot stop_snap;
    if (open_round)
        pb_noise_snapshot(cfg->noise_paths, rd.pus, rd.npus, &stop_snap);
    atomic_store(&rn->stop, true);
    wake_workers(rn);
    for (unsigned i = 0; i < started; i++)
        pthread_join(rn->w[i].tid, NULL);
    if (rn->scrubber) {
        pb_scrubber_stop(rn->scrubber);
        rn->scrubber = NULL;
    }
    if (atomic_load(&rn->phase) == PHASE_MEASURE) {
        if (open_round) {
            /* The round in progress ends with the last operation that finished. */
            pb_noise_add_interval(&rd.noise, &rd.snap0, &stop_snap);
            round_record(&rd, measure_end(rn, t_stop));
        }
        res->measure_ns = rd.measured;
        res->rounds = rd.n;
        if (rd.n <= rd.cap) {
            res->round_ns = rd.ns; /* every round's time is there */
            rd.ns = NULL;
        }
        res->floor_ns = cfg->floor_ns;
        res->floor_met = rd.measured >= cfg->floor_ns;
        run_collect(rn, &base, res);
        res->scrub_backlog_max = ser.backlog_max;
        res->t_ms = ser.t;
        res->ts_pages = ser.pages;
        res->ts_backlog = ser.backlog;
        res->nr_samples = ser.n;
        ser = (struct series){0};
    }
    free(ser.t);
    free(ser.pages);
    free(ser.backlog);
    free(rd.ns);
    if (rc) {
        free(rd.pus);
        pb_errf(err, errlen, "cannot start worker %u: %s", started, strerror(-rc));
        return rc;
    }
    res->completed = ok;
    res->total_threads = rn->nr_workers + atomic_load(&rn->scrub_threads);
    for (unsigned i = 0; i < cfg->topo->nr_real_pus; i++)
        if (rn->pu_threads[i] > res->max_threads_per_pu)
            res->max_threads_per_pu = rn->pu_threads[i];
    finish_noise(rn, &rd, res);
    free(rd.pus);
    run_validate(rn, res);
    return 0;
}

int pb_run(const struct pb_run_config *cfg, struct pb_run_result *res, char *err, size_t errlen)
{
    struct runner rn = {0};
    int rc;

    if (!cfg || !res || !cfg->wl || !cfg->topo || !cfg->variant || cfg->wl->kind != PB_WL_SINGLE ||
        (unsigned)cfg->claim_mode > PB_RUN_CLAIM_NONE)
        return -EINVAL;
    memset(res, 0, sizeof(*res));
    res->lock_kind = cfg->lock_kind;
    pb_clock_init();
    pb_rcu_register_thread();
    pb_set_current_node(0);
    /* The measuring thread's setup and teardown use a fixed pcp slot (see worker_main). */
    pb_set_current_cpu(0);
    rc = runner_setup(&rn, cfg, res, err, errlen);
    if (!rc)
        rc = run_phases(&rn, res, err, errlen);
    else if (rc == -EINTR && interrupted(&rn))
        rc = 0; /* stopped in set-up (bench/interrupt.h): not completed */
    runner_teardown(&rn);
    pb_rcu_unregister_thread();
    return rc;
}
