/*
 * run_session.c: the loop of `popbench run` (cli/run.h): per workload, rounds of one
 * repetition of every variant and thread count, the variants in a seeded order and the
 * parallel ceiling at a seeded place among them, until the stopping rule says so; the results
 * checkpointed to --out as runs finish; SIGINT and SIGTERM stop it, set-up included.
 */
#include "cli/run.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/ceiling.h"
#include "bench/interrupt.h"
#include "core/clock.h"
#include "core/pb.h"
#include "core/prng.h"
#include "results/verdict.h"

#define ERR_LEN 2048
#define MS      UINT64_C(1000000)

/* ---------------------------------------------------------------------------------------------
 * Interruption: SIGINT (Ctrl-C) and SIGTERM (what CI runners, timeout and systemd send) alike.
 */

static _Atomic bool interrupted;         /* the runs and the set-up loops stop on it */
static _Atomic int interrupt_signal;     /* the first signal that stopped the run, or 0 */
static _Atomic uint64_t steps_at_signal; /* set-up steps counted when it came */

static void on_signal(int sig)
{
    int none = 0;
    if (atomic_compare_exchange_strong(&interrupt_signal, &none, sig))
        atomic_store(&steps_at_signal, pb_setup_steps());
    atomic_store(&interrupted, true);
    /* A second Ctrl-C or SIGTERM ends the process the ordinary way. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

/* Without SA_RESTART: a blocking open of a FIFO given as --out returns when a signal comes. */
static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pb_setup_watch(&interrupted);
}

/* 130 for SIGINT, 143 for SIGTERM, after saying what was kept. */
static int interrupted_exit(const char *out, size_t measured)
{
    int sig = atomic_load(&interrupt_signal);
    sig = sig ? sig : SIGINT; /* the test hook raises SIGINT from inside a run */
    fprintf(stderr, "popbench run: interrupted by %s (%" PRIu64 " set-up steps ran after it): %s\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", pb_setup_steps() - atomic_load(&steps_at_signal),
            measured ? "the results hold the runs that finished (partial)"
            : out    ? "nothing was measured, --out left as it was"
                     : "nothing was measured");
    return sig == SIGTERM ? PB_EXIT_TERMINATED : PB_EXIT_INTERRUPT;
}

/* ---------------------------------------------------------------------------------------------
 * Progress and failures.
 */

struct progress {
    bool on;
    size_t workload, workloads;
    const char *wl_name, *label;
    unsigned threads, rep;
};

static void progress_cb(void *ctx, uint64_t elapsed_ns, uint64_t pages)
{
    struct progress *p = ctx;
    char rate[PB_RESULTS_FMT_LEN];
    double s = (double)elapsed_ns / 1e9;

    if (!p->on)
        return;
    fprintf(stderr, "\r\033[K[%zu/%zu] %s/%s/threads:%u rep %u  %.1fs  %s pages/s", p->workload + 1,
            p->workloads, p->wl_name, p->label, p->threads, p->rep + 1, s,
            pb_results_fmt_rate(s > 0 ? (double)pages / s : 0, rate));
    fflush(stderr);
}

/* What a session carries from run to run. */
struct session {
    const struct pb_run_opts *o;
    const struct pb_topology *topo;
    struct pb_report *rep;
    struct pb_run_out *out;
    struct progress prog;
    struct pb_rng ceiling_rng; /* where the ceiling goes among the variants */
    size_t runs;               /* variants' runs started: --interrupt-after counts them */
    unsigned failed;           /* runs that failed */
    char first_failure[ERR_LEN + 256];
    bool stopped;
    json_t *precision; /* context.precision, built as workloads finish */
};

/* A line on stderr that the progress line does not overwrite. */
static const char *clear_line(const struct session *ss)
{
    return ss->prog.on ? "\r\033[K" : "";
}

static void failure(struct session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failure(struct session *ss, const char *fmt, ...)
{
    char msg[ERR_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%spopbench run: %s\n", clear_line(ss), msg);
    ss->failed++;
    if (!ss->first_failure[0])
        snprintf(ss->first_failure, sizeof(ss->first_failure), "%s", msg);
}

/* ---------------------------------------------------------------------------------------------
 * One run of a variant, one run of the ceiling.
 */

/* A figure no host could show: clearing faster than this host clears memory, or clearing that
 * cost nothing because no memory backs the frames; a worker seen off its PU. */
static void warn_run(const struct session *ss, const char *wl, const char *label,
                     const struct pb_run_result *res)
{
    if (ss->o->quiet)
        return;
    uint64_t scrubbed = res->scrub.on_alloc + res->scrub.domain_build + res->scrub.background;
    if (pb_run_clear_ratio(res) > 1)
        fprintf(stderr,
                "%spopbench: warning: %s/%s cleared at %.2fx this host's clear bandwidth "
                "(%.1f GB/s against %.1f GB/s)\n",
                clear_line(ss), wl, label, pb_run_clear_ratio(res), pb_run_clear_gbps(res),
                res->clear_host.gbps[res->clear_host.fastest]);
    else if (scrubbed > 0 && res->clear.bytes == 0)
        fprintf(stderr,
                "%spopbench: note: %s/%s scrubbed %" PRIu64
                " pages that no memory backs (backing: none): clearing cost nothing\n",
                clear_line(ss), wl, label, scrubbed);
    for (unsigned t = 0; t < res->nr_thr; t++)
        if (!res->thr[t].cpu_ok) {
            fprintf(stderr, "%spopbench: warning: %s/%s worker %u ran on CPU %d, pinned to %u\n",
                    clear_line(ss), wl, label, t, res->thr[t].cpu_seen, res->thr[t].pu);
            break;
        }
}

/*
 * One run: workload wl, variant k, `threads` primaries (0: the workload's), repetition rep of
 * reps. Its pages/s into *pps (NAN when it failed). False when the session must stop
 * (interrupted, set-up included); a failure to set up sets *setup_failed.
 */
static bool run_one(struct session *ss, const struct pb_workload *wl, unsigned k, unsigned threads,
                    unsigned rep, unsigned reps, double *pps, bool *setup_failed)
{
    const struct pb_run_opts *o = ss->o;
    const struct pb_run_variant *var = &o->variants[k];
    unsigned primaries = threads ? threads : pb_run_default_threads(wl);
    unsigned total = pb_run_total_threads(wl, primaries);
    enum pb_lock_kind lock = o->lock;
    char err[ERR_LEN];

    *pps = NAN;
    if (!o->lock_given) {
        bool over = pb_topology_oversubscribed(ss->topo) || total > ss->topo->nr_real_pus;
        lock = over ? PB_LOCK_MUTEX : PB_LOCK_TICKET;
    }
    /* A copy with a known slowdown: the same variant, the option set for it alone. */
    struct pb_options opts = o->options;
    if (var->inject_ns &&
        pb_options_set(&opts, "inject_alloc_delay_ns", (int64_t)var->inject_ns) != 0)
        PB_BUG_ON(true); /* --inject's range is the option's */
    struct pb_run_config cfg = {
        .wl = wl,
        .variant = var->variant,
        .lock_kind = lock,
        .threads = threads,
        .topo = ss->topo,
        .placement = o->placement,
        .seed = (o->seed_given ? o->seed : wl->seed) + rep,
        .warmup = o->warmup_given ? o->warmup : wl->phases.warmup,
        .measure = o->measure_given ? o->measure : wl->phases.measure,
        .verify = o->verify,
        .clear = o->clear,
        .claim_mode = o->claim_mode,
        .backing = o->backing_given ? &o->backing : NULL,
        .options = &opts,
        .interrupt = &interrupted,
        .raise_sigint_in_measure =
            o->interrupt_after >= 0 && (size_t)o->interrupt_after == ss->runs,
        .progress = progress_cb,
        .progress_ctx = &ss->prog,
        .floor_ns = o->floor_ns,
    };
    struct pb_run_result res;
    ss->prog.wl_name = wl->name;
    ss->prog.label = var->label;
    ss->prog.threads = primaries;
    ss->prog.rep = rep;
    ss->runs++;
    int rc = pb_run(&cfg, &res, err, sizeof(err));
    if (rc) {
        failure(ss, "%s/%s: %s", wl->name, var->label, err);
        pb_run_result_free(&res);
        *setup_failed = true;
        return true;
    }
    if (!res.completed) {
        pb_run_result_free(&res);
        return false;
    }
    struct pb_report_id id = {.workload = wl->name,
                              .variant = var->label,
                              .threads = primaries,
                              .repetition = rep,
                              .repetitions = reps,
                              .inject_alloc_delay_ns = var->inject_ns};
    rc = pb_report_add(ss->rep, &id, &res);
    if (rc)
        failure(ss, "cannot record %s/%s: %s", wl->name, var->label, strerror(-rc));
    if (!res.valid)
        failure(ss, "%s/%s/threads:%u rep %u: FAILED: %s", wl->name, var->label, primaries, rep,
                res.validator);
    else if (res.measure_ns > 0)
        *pps = (double)res.pages * 1e9 / (double)res.measure_ns;
    warn_run(ss, wl->name, var->label, &res);
    pb_run_result_free(&res);
    pb_run_out_checkpoint(ss->out, ss->rep);
    return !atomic_load(&interrupted);
}

/* The ceiling's threads, pinned as the runs' primaries: worker i on placement's vCPU i. */
struct ceiling_pin {
    const struct pb_topology *topo;
    enum pb_placement placement;
};

static int ceiling_bind(void *ctx, unsigned thread)
{
    const struct ceiling_pin *pin = ctx;
    return pb_topology_bind(pin->topo, pb_topology_place(pin->topo, pin->placement, thread));
}

/*
 * One run of the parallel ceiling at `threads`, recorded in the report: as long as the
 * measured phase (the floor included) within 200 ms to 1 s (enough slices of the scheduler for
 * a steady rate of a loop that shares nothing), 500 ms beside an operation-bounded or
 * until-built phase. False when the session must stop (interrupted); a failure is counted.
 */
static bool run_ceiling(struct session *ss, const struct pb_workload *wl, unsigned threads,
                        unsigned rep, unsigned reps)
{
    const struct pb_run_opts *o = ss->o;
    struct ceiling_pin pin = {ss->topo, o->placement};
    struct pb_wl_phase m = o->measure_given ? o->measure : wl->phases.measure;
    uint64_t ns = m.unit != PB_WL_PHASE_TIME ? 500 * MS : m.ns > o->floor_ns ? m.ns : o->floor_ns;
    ns = ns < 200 * MS ? 200 * MS : ns > 1000 * MS ? 1000 * MS : ns;
    struct pb_ceiling_config cfg = {
        .threads = threads,
        .bind = ceiling_bind,
        .bind_ctx = &pin,
        .warmup_ns = 100 * MS,
        .measure_ns = ns,
        .buffer_bytes = pb_ceiling_buffer_bytes(ss->topo->real),
        .interrupt = &interrupted,
    };
    struct pb_ceiling_result res;
    char err[ERR_LEN];
    ss->prog.wl_name = wl->name;
    ss->prog.label = "ceiling";
    ss->prog.threads = threads;
    ss->prog.rep = rep;
    progress_cb(&ss->prog, 0, 0);
    int rc = pb_ceiling_run(&cfg, &res, err, sizeof(err));
    if (rc == 0 && res.completed) {
        struct pb_report_id id = {.workload = wl->name,
                                  .variant = "ceiling",
                                  .threads = threads,
                                  .repetition = rep,
                                  .repetitions = reps};
        if ((rc = pb_report_add_ceiling(ss->rep, &id, &res)) != 0)
            pb_errf(err, sizeof(err), "cannot record the ceiling: %s", strerror(-rc));
    }
    if (rc)
        failure(ss, "%s/ceiling/threads:%u: %s", wl->name, threads, err);
    return res.completed || !atomic_load(&interrupted);
}

/* ---------------------------------------------------------------------------------------------
 * The rounds of one workload.
 */

/* A round's order at one thread count: the variants (0..nv-1) shuffled; with more than one
 * primary anywhere in the sweep, the ceiling (CEILING_AT_N) at a seeded place among them, and
 * once per round (CEILING_AT_1) at 1 thread when the sweep has no count of 1. */
#define CEILING_AT_N -1
#define CEILING_AT_1 -2

static unsigned round_order(struct session *ss, struct pb_rng *order_rng, bool ceiling,
                            bool ceiling_at_1, int *order)
{
    unsigned nv = ss->o->nr_variants, n = nv;
    for (unsigned k = 0; k < nv; k++)
        order[k] = (int)k;
    for (unsigned i = nv; i > 1; i--) {
        unsigned j = (unsigned)pb_rng_below(order_rng, i);
        int t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
    for (int one = 0; ceiling && one < 2; one++) {
        if (one && !ceiling_at_1)
            break;
        /* Between the variants of the same minutes, at a seeded place. */
        unsigned at = (unsigned)pb_rng_below(&ss->ceiling_rng, n + 1);
        memmove(&order[at + 1], &order[at], (n - at) * sizeof(*order));
        order[at] = one ? CEILING_AT_1 : CEILING_AT_N;
        n++;
    }
    return n;
}

/* One workload: rounds until the stopping rule says so. share_ns: its part of the budget. */
static void run_workload(struct session *ss, const struct pb_workload *wl, uint64_t share_ns,
                         struct pb_rng *order_rng)
{
    const struct pb_run_opts *o = ss->o;
    unsigned nt = o->nr_threads ? o->nr_threads : 1, nv = o->nr_variants;
    struct pb_wl_phase measure = o->measure_given ? o->measure : wl->phases.measure;
    bool fixed = o->repetitions || measure.unit == PB_WL_PHASE_OPS;
    unsigned min = o->min_reps > wl->phases.repetitions ? o->min_reps : wl->phases.repetitions;
    struct pb_stop_rule rule = {
        .precision = o->precision,
        .min_reps = fixed ? (o->repetitions ? o->repetitions : wl->phases.repetitions) : min,
        .max_reps = o->max_reps > min ? o->max_reps : min,
        .budget_ns = share_ns,
    };
    if (fixed)
        rule.max_reps = rule.min_reps;
    /* The parallel ceiling beside every multi-threaded measurement, and at 1 thread. */
    unsigned most = 0;
    bool has_one = false;
    for (unsigned t = 0; t < nt; t++) {
        unsigned n = o->nr_threads ? o->threads[t] : pb_run_default_threads(wl);
        most = n > most ? n : most;
        has_one |= n == 1;
    }
    /* pages/s of every round: vals[t * nv + k][round] */
    double **vals = calloc((size_t)nt * nv, sizeof(*vals));
    for (size_t i = 0; vals && i < (size_t)nt * nv; i++)
        if (!(vals[i] = calloc(rule.max_reps, sizeof(double))))
            rule.max_reps = 0; /* out of memory: nothing runs */
    enum pb_stop stop = PB_STOP_NO;
    double worst = INFINITY;
    uint64_t t0 = pb_now_ns(), last_round = 0;
    unsigned r = 0;
    while (vals && r < rule.max_reps && stop == PB_STOP_NO) {
        uint64_t round0 = pb_now_ns();
        unsigned reps = fixed ? rule.max_reps : r + 1;
        pb_report_set_repetitions(ss->rep, wl->name, reps);
        bool setup_failed = false;
        for (unsigned t = 0; t < nt && !ss->stopped; t++) {
            unsigned threads = o->nr_threads ? o->threads[t] : 0;
            unsigned primaries = threads ? threads : pb_run_default_threads(wl);
            int order[PB_RUN_MAX_VARIANTS + 2];
            unsigned n = round_order(ss, order_rng, most > 1, !has_one && t == 0, order);
            for (unsigned i = 0; i < n && !ss->stopped; i++) {
                if (order[i] < 0) {
                    unsigned at = order[i] == CEILING_AT_1 ? 1 : primaries;
                    ss->stopped = !run_ceiling(ss, wl, at, r, reps);
                    continue;
                }
                unsigned k = (unsigned)order[i];
                ss->stopped =
                    !run_one(ss, wl, k, threads, r, reps, &vals[t * nv + k][r], &setup_failed);
            }
        }
        r++;
        last_round = pb_now_ns() - round0;
        worst = 0;
        for (unsigned t = 0; t < nt; t++)
            worst = fmax(worst, pb_worst_half_width((const double *const *)&vals[t * nv], nv,
                                                    o->reference, r, PB_VERDICT_CONF));
        if (ss->stopped)
            stop = PB_STOP_INTERRUPTED;
        else if (setup_failed)
            stop = PB_STOP_FAILED;
        else if (fixed)
            stop = r >= rule.max_reps ? PB_STOP_FIXED : PB_STOP_NO;
        else
            stop = pb_stop_decide(&rule, r, worst, pb_now_ns() - t0, last_round);
    }
    if (vals && !ss->stopped)
        pb_report_set_repetitions(ss->rep, wl->name, r ? r : 1);
    json_t *p = json_pack("{s:I, s:o, s:f, s:s, s:f}", "repetitions", (json_int_t)r, "half_width",
                          isfinite(worst) ? json_real(worst) : json_null(), "target", o->precision,
                          "stop", pb_stop_name(stop == PB_STOP_NO ? PB_STOP_MAX_REPS : stop),
                          "elapsed_s", (double)(pb_now_ns() - t0) / 1e9);
    if (p)
        json_object_set_new(ss->precision, wl->name, p);
    for (size_t i = 0; vals && i < (size_t)nt * nv; i++)
        free(vals[i]);
    free(vals);
}

/* ---------------------------------------------------------------------------------------------
 * The session.
 */

int pb_run_session(const struct pb_run_opts *o, const struct pb_topology *topo,
                   const struct pb_workload *const *workloads, size_t n, int argc, char **argv,
                   struct pb_run_out *out, struct pb_report *rep)
{
    int rc = pb_run_report_init(o, topo, workloads, n, argc, argv, rep);
    if (rc)
        return rc;
    if (o->calibration && (rc = pb_run_copy_calibration(rep->doc, o->calibration)) != 0) {
        pb_report_free(rep);
        return rc;
    }
    if (!pb_cli_jemalloc_active() && !o->quiet)
        fprintf(stderr,
                "popbench: note: jemalloc does not serve malloc in this build (sanitizer?); "
                "the results say so\n");
    if (pb_topology_oversubscribed(topo) && !o->quiet)
        fprintf(stderr,
                "popbench: note: topology '%s' has %u vCPUs on %u real PUs: oversubscribed\n",
                topo->spec, topo->nr_vcpus, topo->nr_real_pus);

    catch_signals();

    struct session ss = {.o = o, .topo = topo, .rep = rep, .out = out, .precision = json_object()};
    ss.prog = (struct progress){.on = !o->quiet && isatty(STDERR_FILENO), .workloads = n};
    struct pb_rng order_rng;
    pb_rng_seed(&order_rng, o->seed_given ? o->seed : 1);
    pb_rng_seed(&ss.ceiling_rng, pb_rng_stream_seed(o->seed_given ? o->seed : 1, 1));
    uint64_t t_begin = pb_now_ns();
    for (size_t i = 0; i < n && !ss.stopped; i++) {
        const struct pb_workload *wl = workloads[i];
        unsigned threads = o->nr_threads ? o->threads[0] : pb_run_default_threads(wl);
        if (!o->lock_given && !o->quiet &&
            (pb_topology_oversubscribed(topo) ||
             pb_run_total_threads(wl, threads) > topo->nr_real_pus))
            fprintf(stderr,
                    "%spopbench: note: %s runs %u threads on %u real PUs: mutex lock "
                    "(--lock ticket to spin anyway)\n",
                    clear_line(&ss), wl->name, pb_run_total_threads(wl, threads),
                    topo->nr_real_pus);
        /* The budget left, shared by the workloads left. */
        uint64_t spent = pb_now_ns() - t_begin;
        uint64_t share = o->budget_ns > spent ? (o->budget_ns - spent) / (n - i) : 0;
        ss.prog.workload = i;
        run_workload(&ss, wl, share, &order_rng);
    }
    if (ss.prog.on)
        fputs("\r\033[K", stderr);
    ss.stopped |= atomic_load(&interrupted);
    if (pb_results_context_set_json(rep->doc, "precision", ss.precision) != 0)
        fprintf(stderr, "popbench run: cannot record the precision reached\n");
    pb_report_finish(rep, ss.stopped);
    int wrc = pb_run_out_final(out, rep);
    size_t measured = rep->nr;
    const char *path = out && out->path && measured ? out->path : NULL;
    if (!o->quiet)
        fprintf(stderr, "popbench: %zu runs in %.1f s%s%s\n", measured,
                (double)(pb_now_ns() - t_begin) / 1e9, path ? ", results in " : "",
                path ? path : "");
    if (ss.stopped)
        return interrupted_exit(out ? out->path : NULL, measured);
    if (ss.failed) {
        fprintf(
            stderr, "popbench run: %u run(s) failed; first: %s%s\n", ss.failed, ss.first_failure,
            out && out->path && !measured ? " (nothing was measured, --out left as it was)" : "");
        return PB_EXIT_FAILED;
    }
    return wrc ? PB_EXIT_FAILED : 0;
}
