/*
 * calibrate.c: `popbench calibrate`: how far this machine lets popbench's verdicts be trusted.
 *
 * Per workload, N A/A runs (the reference variant against a copy of itself: the same code, so
 * every "better" or "worse" is a false alarm) alternate with N known-effect runs (the copy
 * slowed by inject_alloc_delay_ns per extent allocated, so "worse" is a detection). Each run is
 * a whole `popbench run` loop with its stopping rule (cli/run.h); only the verdicts of runs
 * that met their precision target count. The rates go into context.calibration of the output
 * (results/FORMAT.md), which `popbench run --calibration FILE` copies into a run's results and
 * `popbench gate` reads.
 */
#include "cli/run.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/table.h"
#include "core/clock.h"
#include "core/pb.h"
#include "results/stats.h"
#include "results/verdict.h"

#define DEFAULT_RUNS   10
#define DEFAULT_EFFECT 0.10 /* the slowdown to inject, as a share of an extent's time */

struct cal_opts {
    unsigned runs;
    double effect;      /* share of the reference's time per extent (auto effect_ns) */
    uint64_t effect_ns; /* fixed; 0: auto */
};

/* What one workload's runs gave. */
struct cal_workload {
    const char *name;
    uint64_t effect_ns;
    uint64_t sized_ns;  /* from the first A/A run's time per extent, before the pilot (0: fixed) */
    double pilot_ratio; /* the pilot's pages/s ratio with sized_ns, or NAN */
    unsigned aa_verdicts, aa_false_alarms, effect_verdicts, effect_detected;
    /* The same over every run, its precision target met or not: what a user reads. */
    unsigned aa_all, aa_all_false_alarms, effect_all, effect_all_detected;
    double *effect_ratios; /* [runs]: the copy's pages/s against the reference, effect runs */
    unsigned nratios;
};

static void calibrate_usage(FILE *out)
{
    fputs("usage: popbench calibrate [WORKLOAD ...] [--runs N] [--effect PCT | --effect-ns NS]\n"
          "                          [popbench run's options]\n"
          "\n"
          "Measures how often popbench's verdicts call identical code different on this\n"
          "machine (A/A runs: the reference variant of --variant, default xen, against a copy\n"
          "of itself) and how often a known slowdown is found (the copy spins an extra delay\n"
          "per extent it allocates). Per workload (none: the default suite), N A/A runs and N\n"
          "known-effect runs alternate; each is a whole popbench run loop, stopping at its\n"
          "precision target or its share of --budget (the budget of one run of the whole set,\n"
          "split over the workloads). Only verdicts of runs that met their precision target\n"
          "count. --out FILE writes the rates as context.calibration, which popbench run\n"
          "--calibration FILE copies into its results.\n"
          "\n"
          "  --runs N          A/A runs and as many known-effect runs per workload (default 10)\n"
          "  --effect PCT      the slowdown to inject (default 10%): a delay of this share of the\n"
          "                    reference's time per extent and thread in the workload's first A/A\n"
          "                    run, scaled by one pilot run (not counted) so that the copy's\n"
          "                    pages/s falls by PCT\n"
          "  --effect-ns NS    the injected delay in ns per extent, the same for every workload\n"
          "  --out FILE        the calibration (a results file with no benchmarks)\n"
          "  (others)          as popbench run: --variant, --precision, --budget, ...\n"
          "Exit status: 0 done, 1 a run failed, 2 bad input, 130 interrupted by SIGINT, 143\n"
          "by SIGTERM.\n",
          out);
}

/* Takes calibrate's own flags out of argv (what is left goes to run's parser). 0, -1 after
 * --help, PB_EXIT_USAGE after a message. */
static int take_own_flags(int *argc, char **argv, struct cal_opts *c)
{
    int out = 1;
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i], *val = NULL;
        const char *names[] = {"--runs", "--effect-ns", "--effect"};
        int which = -1;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            calibrate_usage(stdout);
            return -1;
        }
        for (int k = 0; k < 3 && which < 0; k++) {
            size_t n = strlen(names[k]);
            if (strncmp(a, names[k], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
                which = k;
                val = a[n] == '=' ? a + n + 1 : (i + 1 < *argc ? argv[++i] : NULL);
            }
        }
        if (which < 0) {
            argv[out++] = argv[i];
            continue;
        }
        uint64_t v;
        if (!val)
            return pb_cli_error("calibrate", "%s needs a value (see popbench calibrate --help)",
                                names[which]);
        if (which == 0) {
            if (pb_cli_u64("calibrate", "--runs", val, 1, 1000, &v))
                return PB_EXIT_USAGE;
            c->runs = (unsigned)v;
        } else if (which == 1) {
            if (pb_cli_u64("calibrate", "--effect-ns", val, 1, 10000000, &v))
                return PB_EXIT_USAGE;
            c->effect_ns = v;
        } else if (pb_cli_double("calibrate", "--effect", val, 0.001, 10, true, &c->effect)) {
            return PB_EXIT_USAGE;
        }
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

/*
 * The reference's time per extent and primary thread, the median over its repetitions:
 * threads x measured time / extents. 0 when the document has none.
 */
static double ns_per_extent(const struct pb_results *doc, const char *reference)
{
    size_t n = pb_results_bench_count(doc), k = 0;
    double *v = calloc(n ? n : 1, sizeof(*v));
    for (size_t i = 0; v && i < n; i++) {
        const struct pb_results_bench *b = pb_results_bench_at(doc, i);
        double ns, ext;
        if (strcmp(pb_results_bench_variant(b), reference) != 0 ||
            pb_results_bench_counter(b, "measure_ns", &ns) ||
            pb_results_bench_counter(b, "extents", &ext) || !(ext > 0))
            continue;
        v[k++] = (double)pb_results_bench_threads(b) * ns / ext;
    }
    double m = k ? pb_median(v, k) : 0;
    free(v);
    return m;
}

/* The copy's pages/s against the reference's in one run's results (its interval's centre), or
 * NAN. */
static double copy_ratio(const struct pb_results *doc, const char *copy)
{
    struct pb_run_verdicts rv;
    double r = NAN;
    if (pb_run_verdicts(doc, &rv) != 0)
        return r;
    for (size_t i = 0; i < rv.n; i++)
        for (size_t k = 1; k < rv.w[i].nvariants; k++)
            if (!strcmp(rv.w[i].v[k].variant, copy))
                r = rv.w[i].v[k].iv.ratio;
    pb_run_verdicts_free(&rv);
    return r;
}

/*
 * A delay sized from time alone misses: a spin per extent costs what the machine makes of it
 * (threads beyond the CPUs, blocked workers, scrubbers that lose their idle time): 25-50% where
 * 10% was meant, on a 2-CPU host. One pilot run with that delay measures the slowdown it gave,
 * and the delay is scaled so that the slowdown is the share asked for (pages/s x (1 - share),
 * time per page x 1 / (1 - share)), within a factor of 20 either way. A pilot swamped by noise
 * (no slowdown seen) leaves the delay as sized.
 */
static uint64_t rescale_effect(uint64_t ns, double share, double pilot_ratio)
{
    if (!(pilot_ratio > 0 && pilot_ratio < 0.995) || !ns)
        return ns;
    double want = 1 / (1 - share) - 1, got = 1 / pilot_ratio - 1, f = want / got;
    f = f < 0.05 ? 0.05 : f > 20 ? 20 : f;
    double v = (double)ns * f;
    return v < 1 ? 1 : (uint64_t)llround(v);
}

/* Counts the verdicts of the copy (label) against the reference in one run's results. */
static void count_verdicts(const struct pb_results *doc, const char *copy, bool effect,
                           struct cal_workload *cw, unsigned runs)
{
    struct pb_run_verdicts rv;
    if (pb_run_verdicts(doc, &rv) != 0)
        return;
    for (size_t i = 0; i < rv.n; i++) {
        const struct pb_workload_verdict *w = &rv.w[i];
        for (size_t k = 1; k < w->nvariants; k++) {
            const struct pb_variant_verdict *v = &w->v[k];
            if (strcmp(v->variant, copy) != 0)
                continue;
            if (effect && cw->nratios < runs && isfinite(v->iv.ratio))
                cw->effect_ratios[cw->nratios++] = v->iv.ratio;
            bool alarm = v->verdict == PB_VERDICT_BETTER || v->verdict == PB_VERDICT_WORSE;
            if (effect) {
                cw->effect_all++;
                cw->effect_all_detected += v->verdict == PB_VERDICT_WORSE;
            } else {
                cw->aa_all++;
                cw->aa_all_false_alarms += alarm;
            }
            /* The target met, whatever stopped the run (a fixed count may meet it too). */
            if (!(w->half_width <= rv.precision))
                continue;
            if (effect) {
                cw->effect_verdicts++;
                cw->effect_detected += v->verdict == PB_VERDICT_WORSE;
            } else {
                cw->aa_verdicts++;
                cw->aa_false_alarms += alarm;
            }
        }
    }
    pb_run_verdicts_free(&rv);
}

/*
 * context.calibration (FORMAT.md): the fields popbench gate reads, through
 * pb_results_set_calibration, then the details. A rate of no verdict at all is the worst
 * (false alarms 1, detections 0): a calibration that counted nothing supports no verdict.
 * 0, or a negative errno.
 */
static int record_calibration(struct pb_results *doc, const struct pb_run_opts *o,
                              const struct cal_opts *c, const struct cal_workload *cw, size_t n,
                              const char *date, struct pb_results_calibration *cal)
{
    unsigned aa = 0, fa = 0, ev = 0, ed = 0, aa_all = 0, fa_all = 0, ev_all = 0, ed_all = 0;
    double *ns = calloc(n ? n : 1, sizeof(*ns));
    json_t *per = json_object();
    for (size_t i = 0; i < n; i++) {
        aa += cw[i].aa_verdicts;
        fa += cw[i].aa_false_alarms;
        ev += cw[i].effect_verdicts;
        ed += cw[i].effect_detected;
        aa_all += cw[i].aa_all;
        fa_all += cw[i].aa_all_false_alarms;
        ev_all += cw[i].effect_all;
        ed_all += cw[i].effect_all_detected;
        if (ns)
            ns[i] = (double)cw[i].effect_ns;
        double observed = cw[i].nratios ? pb_geomean(cw[i].effect_ratios, cw[i].nratios) : NAN;
        json_object_set_new(
            per, cw[i].name,
            json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "effect_ns",
                      (json_int_t)cw[i].effect_ns, "effect_sized_ns", (json_int_t)cw[i].sized_ns,
                      "pilot_ratio",
                      isfinite(cw[i].pilot_ratio) ? json_real(cw[i].pilot_ratio) : json_null(),
                      "aa_verdicts", (json_int_t)cw[i].aa_verdicts, "aa_false_alarms",
                      (json_int_t)cw[i].aa_false_alarms, "effect_verdicts",
                      (json_int_t)cw[i].effect_verdicts, "effect_detected",
                      (json_int_t)cw[i].effect_detected, "aa_all_verdicts",
                      (json_int_t)cw[i].aa_all, "aa_all_false_alarms",
                      (json_int_t)cw[i].aa_all_false_alarms, "effect_all_verdicts",
                      (json_int_t)cw[i].effect_all, "effect_all_detected",
                      (json_int_t)cw[i].effect_all_detected, "effect_observed_ratio",
                      isfinite(observed) ? json_real(observed) : json_null()));
    }
    /* One number for the gate: the fixed delay, or the median of the workloads' own. */
    uint64_t effect_ns = c->effect_ns ? c->effect_ns : (uint64_t)llround(ns ? pb_median(ns, n) : 0);
    free(ns);
    *cal = (struct pb_results_calibration){
        .aa_runs = c->runs,
        .aa_verdicts = aa,
        .aa_false_alarms = fa,
        .aa_false_alarm_rate = aa ? (double)fa / aa : 1,
        .effect_ns = effect_ns,
        .effect_runs = c->runs,
        .effect_verdicts = ev,
        .effect_detected = ed,
        .effect_detection_rate = ev ? (double)ed / ev : 0,
        .precision_target = o->precision,
        .date = date ? date : "unknown",
    };
    int rc = per ? pb_results_set_calibration(doc, cal) : -ENOMEM;
    rc = rc ? rc
            : pb_results_set_calibration_detail(doc, "variant",
                                                json_string(o->variants[o->reference].variant));
    rc = rc ? rc : pb_results_set_calibration_detail(doc, "min_effect", json_real(o->min_effect));
    rc = rc ? rc
            : pb_results_set_calibration_detail(doc, "effect_share",
                                                c->effect_ns ? json_null() : json_real(c->effect));
    rc = rc ? rc
            : pb_results_set_calibration_detail(
                  doc, "all_runs",
                  json_pack("{s:I, s:I, s:I, s:I}", "aa_verdicts", (json_int_t)aa_all,
                            "aa_false_alarms", (json_int_t)fa_all, "effect_verdicts",
                            (json_int_t)ev_all, "effect_detected", (json_int_t)ed_all));
    rc = rc ? rc : pb_results_set_calibration_detail(doc, "workloads", json_incref(per));
    json_decref(per);
    return rc;
}

static void print_summary(const struct cal_workload *cw, size_t n,
                          const struct pb_results_calibration *cal, FILE *out)
{
    struct pb_ctable t;
    pb_ctable_init(&t, 8);
    pb_ctable_add(&t, "workload", "effect ns", "A/A verdicts", "false alarms", "effect verdicts",
                  "detected (observed ratio)", "all runs: false alarms", "all runs: detected");
    unsigned aa_all = 0, fa_all = 0, ev_all = 0, ed_all = 0;
    for (size_t i = 0; i < n; i++) {
        char ns[32], aa[16], fa[16], ev[16], det[64], fall[32], dall[32];
        snprintf(ns, sizeof(ns), "%" PRIu64, cw[i].effect_ns);
        snprintf(aa, sizeof(aa), "%u", cw[i].aa_verdicts);
        snprintf(fa, sizeof(fa), "%u", cw[i].aa_false_alarms);
        snprintf(ev, sizeof(ev), "%u", cw[i].effect_verdicts);
        double obs = cw[i].nratios ? pb_geomean(cw[i].effect_ratios, cw[i].nratios) : NAN;
        snprintf(det, sizeof(det), "%u (%.3f)", cw[i].effect_detected, obs);
        snprintf(fall, sizeof(fall), "%u of %u", cw[i].aa_all_false_alarms, cw[i].aa_all);
        snprintf(dall, sizeof(dall), "%u of %u", cw[i].effect_all_detected, cw[i].effect_all);
        aa_all += cw[i].aa_all;
        fa_all += cw[i].aa_all_false_alarms;
        ev_all += cw[i].effect_all;
        ed_all += cw[i].effect_all_detected;
        pb_ctable_add(&t, cw[i].name, ns, aa, fa, ev, det, fall, dall);
    }
    pb_ctable_print(&t, false, out);
    pb_ctable_free(&t);
    fprintf(out, "\nfalse-alarm rate: ");
    if (cal->aa_verdicts)
        fprintf(out, "%.1f%%", cal->aa_false_alarm_rate * 100);
    else
        fprintf(out, "unknown (no A/A run met its precision target; recorded as 100%%)");
    fprintf(out, "; detection rate: ");
    if (cal->effect_verdicts)
        fprintf(out, "%.1f%%\n", cal->effect_detection_rate * 100);
    else
        fprintf(out, "unknown (no known-effect run met its precision target; recorded as 0%%)\n");
    fprintf(out, "Only verdicts of runs that met their precision target count (A/A: better or "
                 "worse is a false alarm; known effect: worse is a detection).\n");
    fprintf(out,
            "Over every run, its target met or not: %u false alarms in %u A/A verdicts; %u "
            "detections in %u known-effect verdicts.\n",
            fa_all, aa_all, ed_all, ev_all);
}

/* One run of workload wl: the reference and its copy, the copy slowed by inject_ns. */
static int one_run(const struct pb_run_opts *base, const struct pb_topology *topo,
                   const struct pb_workload *wl, unsigned i, uint64_t inject_ns, uint64_t budget,
                   int argc, char **argv, struct pb_report *rep)
{
    struct pb_run_opts o = *base;
    const char *v = base->variants[base->reference].variant;
    o.nr_variants = 0;
    o.reference = 0;
    char bad[64];
    char list[2 * PB_RUN_LABEL_LEN + 2];
    snprintf(list, sizeof(list), "%s,%s", v, v);
    PB_BUG_ON(pb_run_parse_variants(list, &o, bad, sizeof(bad)) != 0);
    o.variants[1].inject_ns = inject_ns;
    o.budget_ns = budget;
    o.out = NULL;
    o.calibration = NULL;
    o.seed_given = true;
    o.seed = (base->seed_given ? base->seed : wl->seed) + (uint64_t)i * 1000;
    return pb_run_session(&o, topo, &wl, 1, argc, argv, NULL, rep);
}

/*
 * The delay for wl (no --effect-ns): c->effect of the reference's time per extent and thread
 * in the first A/A run (aa), then rescaled by one pilot known-effect run (rescale_effect),
 * which counts nowhere. 0, or PB_EXIT_USAGE from the pilot.
 */
static int size_effect(const struct pb_run_opts *o, const struct pb_topology *topo,
                       const struct pb_workload *wl, const struct cal_opts *c, uint64_t budget,
                       int argc, char **argv, const char *copy, const struct pb_results *aa,
                       struct cal_workload *cw)
{
    cw->sized_ns =
        (uint64_t)llround(c->effect * ns_per_extent(aa, o->variants[o->reference].variant));
    cw->effect_ns = cw->sized_ns;
    if (!cw->sized_ns)
        return 0;
    struct pb_report rep;
    int rc = one_run(o, topo, wl, c->runs, cw->sized_ns, budget, argc + 1, argv - 1, &rep);
    if (rc == 0) {
        cw->pilot_ratio = copy_ratio(rep.doc, copy);
        cw->effect_ns = rescale_effect(cw->sized_ns, c->effect, cw->pilot_ratio);
    }
    if (!o->quiet)
        fprintf(stderr,
                "popbench calibrate: %s pilot: %" PRIu64 " ns per extent gave pages/s x %.3f; "
                "the known effect spins %" PRIu64 " ns\n",
                wl->name, cw->sized_ns, cw->pilot_ratio, cw->effect_ns);
    pb_report_free(&rep);
    return rc == PB_EXIT_USAGE ? rc : 0;
}

int pb_cmd_calibrate(int argc, char **argv)
{
    struct cal_opts c = {.runs = DEFAULT_RUNS, .effect = DEFAULT_EFFECT};
    struct pb_run_opts o;
    int first = 0, rc;
    char err[1024];

    if ((rc = take_own_flags(&argc, argv, &c)) != 0)
        return rc < 0 ? 0 : rc;
    if ((rc = pb_run_parse("calibrate", argc, argv, &o, &first)) != 0)
        return rc < 0 ? 0 : rc;
    pb_clock_init();
    /* A bad --out is found before hours of runs. */
    struct pb_run_out out_file;
    if (pb_run_out_probe("calibrate", &out_file, o.out))
        return PB_EXIT_USAGE;
    struct pb_topology topo;
    if (pb_topology_load(o.topology, &topo, err, sizeof(err)) != 0)
        return pb_cli_error("calibrate", "%s", err);
    struct pb_run_workloads set;
    if (pb_run_load_workloads("calibrate", o.workloads_dir, argv + first, argc - first, &topo,
                              &set) != 0 ||
        pb_run_prepare("calibrate", &o, set.runs, set.nr_runs) != 0) {
        pb_run_workloads_free(&set);
        pb_topology_free(&topo);
        return PB_EXIT_USAGE;
    }
    struct cal_workload *cw = calloc(set.nr_runs ? set.nr_runs : 1, sizeof(*cw));
    rc = cw ? 0 : PB_EXIT_FAILED;
    /* Each run gets the share of the budget a run of the whole set would give its workload. */
    uint64_t budget = set.nr_runs ? o.budget_ns / set.nr_runs : o.budget_ns;
    char copy[PB_RUN_LABEL_LEN + 8];
    snprintf(copy, sizeof(copy), "%s.2", o.variants[o.reference].variant);
    for (size_t w = 0; rc == 0 && w < set.nr_runs; w++) {
        const struct pb_workload *wl = set.runs[w];
        cw[w] =
            (struct cal_workload){.name = wl->name, .effect_ns = c.effect_ns, .pilot_ratio = NAN};
        cw[w].effect_ratios = calloc(c.runs, sizeof(double));
        if (!cw[w].effect_ratios)
            rc = PB_EXIT_FAILED;
        for (unsigned i = 0; rc == 0 && i < c.runs; i++) {
            struct pb_report rep;
            /* A/A, then the known effect: drift of the machine touches both alike. */
            for (int effect = 0; rc == 0 && effect < 2; effect++) {
                rc = one_run(&o, &topo, wl, i, effect ? cw[w].effect_ns : 0, budget, argc + 1,
                             argv - 1, &rep);
                if (rc == PB_EXIT_USAGE)
                    break;
                if (!effect && i == 0 && !c.effect_ns && rc == 0)
                    rc = size_effect(&o, &topo, wl, &c, budget, argc, argv, copy, rep.doc, &cw[w]);
                if (rc == 0)
                    count_verdicts(rep.doc, copy, effect, &cw[w], c.runs);
                if (!o.quiet)
                    fprintf(stderr, "popbench calibrate: %s %s run %u/%u done\n", wl->name,
                            effect ? "known-effect" : "A/A", i + 1, c.runs);
                pb_report_free(&rep);
            }
        }
    }
    if (rc == 0) {
        struct pb_report out;
        rc = pb_run_report_init(&o, &topo, set.runs, set.nr_runs, argc + 1, argv - 1, &out);
        if (rc == 0) {
            struct pb_results_calibration cal;
            int crc = record_calibration(out.doc, &o, &c, cw, set.nr_runs,
                                         pb_results_context_string(out.doc, "date"), &cal);
            print_summary(cw, set.nr_runs, &cal, stdout);
            if (crc) {
                fprintf(stderr, "popbench calibrate: cannot record the calibration: %s\n",
                        strerror(-crc));
                rc = PB_EXIT_FAILED;
            } else if (o.out && pb_results_write_json(out.doc, o.out, err, sizeof(err))) {
                fprintf(stderr, "popbench calibrate: %s\n", err);
                rc = PB_EXIT_FAILED;
            }
            pb_report_free(&out);
        }
    }
    for (size_t w = 0; cw && w < set.nr_runs; w++)
        free(cw[w].effect_ratios);
    free(cw);
    pb_run_workloads_free(&set);
    pb_topology_free(&topo);
    return rc;
}
