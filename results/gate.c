/*
 * gate.c: `popbench gate`, the CI performance gate of a fresh results file against a baseline.
 *
 * Two tiers, chosen per metric:
 *   deterministic  lock_acq_per_page, scrub_pages_per_page, continuations_per_call,
 *                  instructions and the plain counts. Gated hard, within a tolerance (0.5% for
 *                  instructions, exact for the rest). A repeatable benchmark (one thread, and
 *                  the same number of calls, `iterations`, in every repetition of both files:
 *                  an operation-bounded run) is compared repetition by repetition, baseline
 *                  rep i against fresh rep i: repetition r runs seed + r, so its counts differ
 *                  from the other repetitions' by design but repeat exactly from run to run.
 *                  Otherwise the medians are compared, which needs the baseline's repetitions
 *                  to agree within the tolerance; where they do not (a timed or multi-threaded
 *                  run, whose repetitions are not repeatable) a per-page metric falls back to
 *                  the Mann-Whitney test with the minimum effect, and a plain count is only
 *                  shown; the note column says so.
 *   wallclock      throughput, latency and lock wait. Gated only as the ratio of a variant to
 *                  the reference variant measured in the same run, repetition by repetition,
 *                  fresh ratios against baseline ratios with the Mann-Whitney test and the
 *                  minimum effect. A failure there is a regression only when a re-run
 *                  (--confirm) fails too; without one it is inconclusive.
 * Exit status: 0 pass, 1 regression, 2 error, 3 inconclusive or the environment (cpu_model,
 * compiler, build_type) differs from the baseline's.
 */
#include "results/cli.h"

#include "core/pb.h"
#include "results/cli_internal.h"
#include "results/compare.h"
#include "results/compare_table.h"
#include "results/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const cmd = "gate";

enum tier { TIER_DETERMINISTIC = 1, TIER_WALLCLOCK = 2, TIER_ALL = 3 };

static const char *const deterministic_metrics[] = {
    "lock_acq_per_page",
    "scrub_pages_per_page",
    "continuations_per_call",
    "instructions",
};

static const char *const default_wallclock_metrics[] = {
    "pages_per_second",
    "call_p50_ns",
    "call_p99_ns",
    "lock_wait_ns_per_page",
};

/* Relative slack for "exact": per-page metrics are quotients printed as decimals. */
#define EXACT_SLACK 1e-9

struct gate_opts {
    const char *baseline, *fresh, *confirm, *reference;
    enum tier tier;
    double min_effect, alpha, instr_tol, count_tol;
    char **metrics; /* NULL-ended, or NULL for the defaults */
};

enum outcome { OUT_PASS, OUT_FAIL, OUT_INCONCLUSIVE, OUT_INFO };

struct gate {
    const struct gate_opts *o;
    const struct pb_rfile *base, *fresh, *confirm;
    struct pb_ctable table;
    size_t gated, failed, inconclusive;
};

static bool is_deterministic(const char *metric)
{
    for (size_t i = 0; i < PB_ARRAY_SIZE(deterministic_metrics); i++)
        if (strcmp(metric, deterministic_metrics[i]) == 0)
            return true;
    return pb_metric_direction(metric) == PB_INFORMATIONAL;
}

static bool selected(const struct gate *g, const char *metric)
{
    if (g->o->metrics) {
        for (char **m = g->o->metrics; *m; m++)
            if (strcmp(*m, metric) == 0)
                return true;
        return false;
    }
    if (is_deterministic(metric))
        return true;
    for (size_t i = 0; i < PB_ARRAY_SIZE(default_wallclock_metrics); i++)
        if (strcmp(metric, default_wallclock_metrics[i]) == 0)
            return true;
    return false;
}

static bool is_callgrind(const struct pb_rbench *b)
{
    return strncmp(b->name, "callgrind/", 10) == 0;
}

static void fmt(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.6g", v);
}

static void emit(struct gate *g, const char *bench, const char *metric, const char *tier,
                 double base, double fresh, double ratio, const char *tol, enum outcome out,
                 const char *verdict, const char *note)
{
    char b[32], f[32], r[32];
    fmt(b, sizeof(b), base);
    fmt(f, sizeof(f), fresh);
    if (isnan(ratio))
        snprintf(r, sizeof(r), "-");
    else
        snprintf(r, sizeof(r), "%.4f", ratio);
    pb_ctable_add(&g->table, bench, metric, tier, b, f, r, tol, verdict, note);
    g->gated += out == OUT_PASS || out == OUT_FAIL;
    g->failed += out == OUT_FAIL;
    g->inconclusive += out == OUT_INCONCLUSIVE;
}

static double rel_change(double fresh, double base)
{
    if (base != 0)
        return fresh / base;
    return fresh == 0 ? 1 : INFINITY;
}

/* worse by more than tol in the metric's direction */
static bool worse_beyond(const char *metric, double ratio, double tol)
{
    if (pb_metric_direction(metric) == PB_HIGHER_IS_BETTER)
        return ratio < 1 - tol;
    return ratio > 1 + tol;
}

/* ==== Deterministic tier ================================================================== */

/* One thread and the same call count in every repetition: an operation-bounded run, whose
 * repetition r (seed + r) repeats exactly from run to run. */
static bool repeatable(const struct pb_rbench *b)
{
    const struct pb_rmetric *it = pb_rbench_metric(b, "iterations");
    if (b->threads != 1 || b->nrep < 2 || !it)
        return false;
    for (size_t i = 0; i < b->nrep; i++)
        if (!isfinite(it->val[i]) || it->val[i] != it->val[0])
            return false;
    return true;
}

/* Both repeatable, with the same repetitions making the same number of calls. */
static bool pairable(const struct pb_rbench *bb, const struct pb_rbench *fb)
{
    if (bb->nrep != fb->nrep || !repeatable(bb) || !repeatable(fb))
        return false;
    for (size_t i = 0; i < bb->nrep; i++)
        if (bb->rep_index[i] != fb->rep_index[i])
            return false;
    return pb_rbench_metric(bb, "iterations")->val[0] == pb_rbench_metric(fb, "iterations")->val[0];
}

/* Baseline rep i against fresh rep i (rep_index ascending in both); the row shows the pair
 * that changed most in the worse direction, else the one that changed most. */
static void gate_paired(struct gate *g, const struct pb_rbench *bb, const struct pb_rmetric *bm,
                        const struct pb_rmetric *fm, double tol, const char *tolstr)
{
    const char *metric = bm->name, *tier = "deterministic";
    bool count = pb_metric_direction(metric) == PB_INFORMATIONAL;
    size_t worst = SIZE_MAX, changed = SIZE_MAX, nworse = 0, nchanged = 0;
    double worst_r = 1, changed_d = 0;
    for (size_t i = 0; i < bb->nrep; i++) {
        double b = bm->val[i], f = fm->val[i];
        if (!isfinite(b) || !isfinite(f)) {
            char note[96];
            snprintf(note, sizeof(note), "repetition %ld lacks a value", bb->rep_index[i]);
            emit(g, bb->name, metric, tier, b, f, NAN, tolstr, OUT_INCONCLUSIVE, "inconclusive",
                 note);
            return;
        }
        double r = rel_change(f, b), d = fabs(r - 1);
        if (d <= tol + EXACT_SLACK)
            continue;
        nchanged++;
        if (changed == SIZE_MAX || d > changed_d) {
            changed = i;
            changed_d = d;
        }
        if (!count && worse_beyond(metric, r, tol + EXACT_SLACK)) {
            nworse++;
            bool more =
                pb_metric_direction(metric) == PB_HIGHER_IS_BETTER ? r < worst_r : r > worst_r;
            if (worst == SIZE_MAX || more) {
                worst = i;
                worst_r = r;
            }
        }
    }
    if (count) { /* a count has no better: any change is a failure */
        nworse = nchanged;
        worst = changed;
    }
    size_t show = worst != SIZE_MAX ? worst : changed != SIZE_MAX ? changed : 0;
    double b = bm->val[show], f = fm->val[show];
    char note[160];
    if (nworse) {
        snprintf(note, sizeof(note), "paired by repetition: %zu of %zu differ, rep %ld shown",
                 nworse, bb->nrep, bb->rep_index[show]);
        emit(g, bb->name, metric, tier, b, f, rel_change(f, b), tolstr, OUT_FAIL,
             count ? "CHANGED" : "REGRESSION", note);
    } else if (nchanged) {
        snprintf(note, sizeof(note),
                 "paired by repetition: %zu of %zu improved (rep %ld shown); refresh the "
                 "baseline with --update",
                 nchanged, bb->nrep, bb->rep_index[show]);
        emit(g, bb->name, metric, tier, b, f, rel_change(f, b), tolstr, OUT_PASS, "better", note);
    } else {
        snprintf(note, sizeof(note), "paired by repetition: all %zu equal", bb->nrep);
        emit(g, bb->name, metric, tier, b, f, rel_change(f, b), tolstr, OUT_PASS, "pass", note);
    }
}

static void gate_deterministic_metric(struct gate *g, const struct pb_rbench *bb,
                                      const struct pb_rbench *fb, const struct pb_rmetric *bm,
                                      double *bv, double *fv)
{
    const char *metric = bm->name, *tier = "deterministic";
    const struct pb_rmetric *fm = pb_rbench_metric(fb, metric);
    if (!fm) {
        emit(g, bb->name, metric, tier, NAN, NAN, NAN, "-", OUT_INCONCLUSIVE, "inconclusive",
             "missing in the fresh run");
        return;
    }
    size_t nb = pb_metric_values(bb, bm, bv), nf = pb_metric_values(fb, fm, fv);
    if (nb == 0 || nf == 0) {
        emit(g, bb->name, metric, tier, NAN, NAN, NAN, "-", OUT_INCONCLUSIVE, "inconclusive",
             "no value");
        return;
    }
    bool count = pb_metric_direction(metric) == PB_INFORMATIONAL;
    double tol = strcmp(metric, "instructions") == 0 ? g->o->instr_tol : g->o->count_tol;
    double mb = pb_median(bv, nb), mf = pb_median(fv, nf), ratio = rel_change(mf, mb);
    char tolstr[48];
    if (tol == 0)
        snprintf(tolstr, sizeof(tolstr), "exact");
    else
        snprintf(tolstr, sizeof(tolstr), "%g%%", tol * 100);

    if (pairable(bb, fb)) {
        gate_paired(g, bb, bm, fm, tol, tolstr);
        return;
    }

    double lo = bv[0], hi = bv[0];
    for (size_t i = 1; i < nb; i++) {
        lo = fmin(lo, bv[i]);
        hi = fmax(hi, bv[i]);
    }
    double spread = mb != 0 ? (hi - lo) / fabs(mb) : hi - lo;
    if (count && nb < 2 && !is_callgrind(bb)) {
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, OUT_INFO, "not gated",
             "one baseline repetition cannot show that the count repeats");
        return;
    }
    if (spread > tol + EXACT_SLACK) {
        if (count) {
            emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, OUT_INFO, "not gated",
                 "baseline repetitions disagree and cannot be paired (not an "
                 "operation-bounded single-thread run)");
            return;
        }
        /* Not deterministic here: judge it as a sample, like the wall-clock metrics. */
        char mw[48];
        snprintf(mw, sizeof(mw), "%g%% p<%g", g->o->min_effect * 100, g->o->alpha);
        struct pb_mwu t;
        if (pb_mwu_min_p(nb, nf) >= g->o->alpha || pb_mwu_test(bv, nb, fv, nf, &t) != 0) {
            emit(g, bb->name, metric, tier, mb, mf, ratio, mw, OUT_INCONCLUSIVE, "inconclusive",
                 "baseline repetitions disagree, cannot be paired: too few for p < alpha");
            return;
        }
        char note[96];
        snprintf(note, sizeof(note),
                 "baseline repetitions disagree, cannot be paired: Mann-Whitney p=%.3g", t.p);
        bool fail = t.p < g->o->alpha && worse_beyond(metric, ratio, g->o->min_effect);
        emit(g, bb->name, metric, tier, mb, mf, ratio, mw, fail ? OUT_FAIL : OUT_PASS,
             fail ? "REGRESSION" : "pass", note);
        return;
    }

    double change = fabs(ratio - 1);
    const char *note = "";
    double flo = fv[0], fhi = fv[0];
    for (size_t i = 1; i < nf; i++) {
        flo = fmin(flo, fv[i]);
        fhi = fmax(fhi, fv[i]);
    }
    if ((mf != 0 ? (fhi - flo) / fabs(mf) : fhi - flo) > tol + EXACT_SLACK)
        note = "fresh repetitions disagree: judged by their median";
    if (change <= tol + EXACT_SLACK)
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, OUT_PASS, "pass", note);
    else if (count)
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, OUT_FAIL, "CHANGED",
             "a deterministic count differs from the baseline");
    else if (worse_beyond(metric, ratio, tol + EXACT_SLACK))
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, OUT_FAIL, "REGRESSION", note);
    else
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, OUT_PASS, "better",
             "improved: refresh the baseline with --update");
}

static void gate_deterministic(struct gate *g)
{
    for (size_t i = 0; i < g->base->nbench; i++) {
        const struct pb_rbench *bb = &g->base->bench[i];
        const struct pb_rbench *fb = pb_rfile_find(g->fresh, bb->name);
        if (!fb) {
            emit(g, bb->name, "-", "deterministic", NAN, NAN, NAN, "-", OUT_INCONCLUSIVE,
                 "inconclusive", "benchmark missing in the fresh run");
            continue;
        }
        double *bv = malloc((bb->nrep + 1) * sizeof(*bv)),
               *fv = malloc((fb->nrep + 1) * sizeof(*fv));
        for (size_t m = 0; bv && fv && m < bb->nmetric; m++)
            if (is_deterministic(bb->metric[m].name) && selected(g, bb->metric[m].name))
                gate_deterministic_metric(g, bb, fb, &bb->metric[m], bv, fv);
        free(bv);
        free(fv);
    }
}

/* ==== Wall-clock tier ===================================================================== */

/* metric(variant) / metric(reference), repetition by repetition; returns how many. */
static size_t paired_ratios(const struct pb_rbench *v, const struct pb_rbench *ref,
                            const char *metric, double *out)
{
    const struct pb_rmetric *mv = pb_rbench_metric(v, metric), *mr = pb_rbench_metric(ref, metric);
    size_t n = 0;
    if (!mv || !mr)
        return 0;
    for (size_t i = 0; i < v->nrep; i++)
        for (size_t j = 0; j < ref->nrep; j++)
            if (v->rep_index[i] == ref->rep_index[j] && isfinite(mv->val[i]) &&
                isfinite(mr->val[j]) && mr->val[j] != 0)
                out[n++] = mv->val[i] / mr->val[j];
    return n;
}

struct wc_verdict {
    bool no_ratio; /* the reference's metric is 0 in every repetition of a side */
    bool ok;       /* enough repetitions to judge */
    bool worse;    /* significantly worse beyond the minimum effect */
    bool better;   /* significantly better beyond the minimum effect */
    double base, fresh, ratio, p;
};

static struct wc_verdict wallclock_judge(const struct gate *g, const struct pb_rfile *run,
                                         const struct pb_rbench *bb, const struct pb_rbench *br,
                                         const char *metric, double *bv, double *fv)
{
    struct wc_verdict w = {.base = NAN, .fresh = NAN, .ratio = NAN, .p = NAN};
    const struct pb_rbench *fb = pb_rfile_find(run, bb->name);
    const struct pb_rbench *fr =
        fb ? pb_rfile_find_variant(run, fb->workload, g->o->reference, fb->threads) : NULL;
    if (!fb || !fr)
        return w;
    size_t nb = paired_ratios(bb, br, metric, bv), nf = paired_ratios(fb, fr, metric, fv);
    w.no_ratio = nb == 0 || nf == 0;
    w.base = pb_median(bv, nb);
    w.fresh = pb_median(fv, nf);
    w.ratio = nb && nf ? rel_change(w.fresh, w.base) : NAN;
    struct pb_mwu t;
    if (pb_mwu_min_p(nb, nf) >= g->o->alpha || pb_mwu_test(bv, nb, fv, nf, &t) != 0)
        return w;
    w.ok = true;
    w.p = t.p;
    bool significant = t.p < g->o->alpha;
    w.worse = significant && worse_beyond(metric, w.ratio, g->o->min_effect);
    bool higher = pb_metric_direction(metric) == PB_HIGHER_IS_BETTER;
    w.better =
        significant && (higher ? w.ratio > 1 + g->o->min_effect : w.ratio < 1 - g->o->min_effect);
    return w;
}

static void gate_wallclock_metric(struct gate *g, const struct pb_rbench *fb,
                                  const struct pb_rbench *bb, const struct pb_rbench *br,
                                  const char *metric, double *bv, double *fv)
{
    const char *tier = "wallclock";
    char tol[48], note[160];
    snprintf(tol, sizeof(tol), "%g%% p<%g", g->o->min_effect * 100, g->o->alpha);
    struct wc_verdict w = wallclock_judge(g, g->fresh, bb, br, metric, bv, fv);
    if (w.no_ratio) {
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, OUT_INFO, "not gated",
             "no ratio: the reference's value is 0 (or absent) in every repetition");
        return;
    }
    if (!w.ok) {
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, OUT_INCONCLUSIVE,
             "inconclusive", "too few paired repetitions of variant and reference for p < alpha");
        return;
    }
    if (!w.worse) {
        snprintf(note, sizeof(note), "ratio to %s; p=%.3g", g->o->reference, w.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, OUT_PASS,
             w.better ? "better" : "pass", note);
        return;
    }
    if (!g->confirm) {
        snprintf(note, sizeof(note), "ratio to %s; p=%.3g; re-run and pass --confirm",
                 g->o->reference, w.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, OUT_INCONCLUSIVE,
             "needs confirmation", note);
        return;
    }
    struct wc_verdict c = wallclock_judge(g, g->confirm, bb, br, metric, bv, fv);
    if (c.ok && c.worse) {
        snprintf(note, sizeof(note),
                 "ratio to %s; p=%.3g; confirmed by the re-run (ratio %.4f, p=%.3g)",
                 g->o->reference, w.p, c.ratio, c.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, OUT_FAIL, "REGRESSION",
             note);
    } else if (c.ok) {
        snprintf(note, sizeof(note),
                 "ratio to %s; p=%.3g; not confirmed by the re-run (ratio %.4f, p=%.3g)",
                 g->o->reference, w.p, c.ratio, c.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, OUT_PASS, "pass", note);
    } else {
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, OUT_INCONCLUSIVE,
             "needs confirmation", "the re-run lacks this benchmark or its repetitions");
    }
}

static void gate_wallclock(struct gate *g)
{
    const char *ref = g->o->reference;
    /* (the deterministic tier already reports missing benchmarks) */
    for (size_t i = 0; !(g->o->tier & TIER_DETERMINISTIC) && i < g->base->nbench; i++) {
        const struct pb_rbench *bb = &g->base->bench[i];
        if (strcmp(bb->variant, ref) != 0 && !is_callgrind(bb) &&
            !pb_rfile_find(g->fresh, bb->name))
            emit(g, bb->name, "-", "wallclock", NAN, NAN, NAN, "-", OUT_INCONCLUSIVE,
                 "inconclusive", "benchmark missing in the fresh run");
    }
    for (size_t i = 0; i < g->fresh->nbench; i++) {
        const struct pb_rbench *fb = &g->fresh->bench[i];
        if (strcmp(fb->variant, ref) == 0 || is_callgrind(fb))
            continue;
        if (!pb_rfile_find_variant(g->fresh, fb->workload, ref, fb->threads)) {
            emit(g, fb->name, "-", "wallclock", NAN, NAN, NAN, "-", OUT_INFO, "not gated",
                 "no reference variant in the fresh run (--reference-variant)");
            continue;
        }
        const struct pb_rbench *bb = pb_rfile_find(g->base, fb->name);
        const struct pb_rbench *br = pb_rfile_find_variant(g->base, fb->workload, ref, fb->threads);
        if (!bb || !br) {
            emit(g, fb->name, "-", "wallclock", NAN, NAN, NAN, "-", OUT_INFO, "not gated",
                 "benchmark or its reference missing in the baseline");
            continue;
        }
        size_t cap = bb->nrep > fb->nrep ? bb->nrep : fb->nrep;
        if (g->confirm) {
            const struct pb_rbench *cb = pb_rfile_find(g->confirm, fb->name);
            cap = cb && cb->nrep > cap ? cb->nrep : cap;
        }
        double *bv = malloc((cap + 1) * sizeof(*bv)), *fv = malloc((cap + 1) * sizeof(*fv));
        for (size_t m = 0; bv && fv && m < fb->nmetric; m++) {
            const char *metric = fb->metric[m].name;
            if (!is_deterministic(metric) && selected(g, metric) && pb_rbench_metric(bb, metric))
                gate_wallclock_metric(g, fb, bb, br, metric, bv, fv);
        }
        free(bv);
        free(fv);
    }
}

/* ==== Baselines =========================================================================== */

/* DIR_OR_FILE: an existing directory (or a path ending in '/') holds NAME.json named after
 * the results file; anything else is the baseline file itself. Returns malloc'd path. */
static char *baseline_path(const char *spec, const char *results)
{
    struct stat st;
    size_t len = strlen(spec);
    bool dir = (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) || (len && spec[len - 1] == '/');
    if (!dir)
        return strdup(spec);
    char *copy = strdup(results);
    if (!copy)
        return NULL;
    char *path = NULL;
    if (asprintf(&path, "%s%s%s", spec, len && spec[len - 1] == '/' ? "" : "/", basename(copy)) < 0)
        path = NULL;
    free(copy);
    return path;
}

/* Copies src over dst atomically: a temporary file in dst's directory, fsync, rename. */
static int copy_atomic(const char *src, const char *dst)
{
    FILE *in = fopen(src, "rb");
    if (!in)
        return -errno;
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", dst) < 0) {
        fclose(in);
        return -ENOMEM;
    }
    int fd = mkstemp(tmp), rc = 0;
    if (fd < 0) {
        rc = -errno;
        free(tmp);
        fclose(in);
        return rc;
    }
    char buf[65536];
    size_t n;
    while (rc == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0)
        for (size_t off = 0; rc == 0 && off < n;) {
            ssize_t w = write(fd, buf + off, n - off);
            if (w < 0 && errno != EINTR)
                rc = -errno;
            else if (w > 0)
                off += (size_t)w;
        }
    if (rc == 0 && ferror(in))
        rc = -EIO;
    fclose(in);
    if (rc == 0 && (fchmod(fd, 0644) != 0 || fsync(fd) != 0))
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, dst) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int gate_update(const struct gate_opts *o, const char *path)
{
    struct pb_rfile *rf;
    char err[1024];
    if (pb_rfile_load(o->fresh, &rf, err, sizeof(err)) != 0) {
        pb_cli_error(cmd, "%s", err);
        return PB_EXIT_USAGE;
    }
    bool partial = rf->env.partial;
    if (partial) {
        pb_cli_error(cmd, "%s: a partial (interrupted) run cannot become a baseline", o->fresh);
    } else {
        int rc = copy_atomic(o->fresh, path);
        if (rc) {
            pb_cli_error(cmd, "--baseline %s: cannot write: %s", path, strerror(-rc));
            partial = true;
        } else {
            printf("baseline %s updated from %s (commit %.12s, host %s)\n", path, o->fresh,
                   rf->env.git_commit ? rf->env.git_commit : "?",
                   rf->env.host_name ? rf->env.host_name : "?");
        }
    }
    pb_rfile_free(rf);
    return partial ? PB_EXIT_USAGE : PB_EXIT_OK;
}

/* ==== The command ========================================================================= */

static void print_env(const char *what, char **mismatch)
{
    if (!mismatch)
        return;
    printf("*** ENVIRONMENT DIFFERS between the baseline and %s: the gate cannot judge.\n", what);
    for (char **p = mismatch; *p; p++)
        printf("***   %s\n", *p);
}

static int gate_run(const struct gate_opts *o, const char *path)
{
    struct pb_rfile *base = NULL, *fresh = NULL, *confirm = NULL;
    char err[1024];
    int rc = 0;
    if ((rc = pb_rfile_load(path, &base, err, sizeof(err))) ||
        (rc = pb_rfile_load(o->fresh, &fresh, err, sizeof(err))) ||
        (o->confirm && (rc = pb_rfile_load(o->confirm, &confirm, err, sizeof(err))))) {
        pb_cli_error(cmd, "%s%s", rc == -ENOENT && !base ? "--baseline: " : "", err);
        pb_rfile_free(base);
        pb_rfile_free(fresh);
        return PB_EXIT_USAGE;
    }

    printf("baseline: %s (commit %.12s, host %s)\nfresh:    %s (commit %.12s, host %s)\n", path,
           base->env.git_commit ?: "?", base->env.host_name ?: "?", o->fresh,
           fresh->env.git_commit ?: "?", fresh->env.host_name ?: "?");
    if (confirm)
        printf("confirm:  %s (commit %.12s)\n", o->confirm, confirm->env.git_commit ?: "?");
    /* The deterministic tier alone gates counts, which another CPU model does not change. */
    bool cpu_matters = o->tier != TIER_DETERMINISTIC;
    char **env = pb_env_mismatch(&base->env, &fresh->env, cpu_matters, false);
    char **env_confirm =
        confirm ? pb_env_mismatch(&base->env, &confirm->env, cpu_matters, false) : NULL;
    print_env("the fresh run", env);
    print_env("the confirming run", env_confirm);
    if (fresh->env.partial)
        printf(
            "NOTE: the fresh run is partial (interrupted): missing benchmarks are inconclusive.\n");
    putchar('\n');

    struct gate g = {.o = o, .base = base, .fresh = fresh, .confirm = confirm};
    pb_ctable_init(&g.table, 9);
    pb_ctable_add(&g.table, "benchmark", "metric", "tier", "baseline", "fresh", "ratio",
                  "tolerance", "verdict", "note");
    if (o->tier & TIER_DETERMINISTIC)
        gate_deterministic(&g);
    if (o->tier & TIER_WALLCLOCK)
        gate_wallclock(&g);
    pb_ctable_print(&g.table, false, stdout);
    if (o->tier & TIER_WALLCLOCK)
        printf("\nwallclock rows: baseline and fresh are medians of metric(variant) / "
               "metric(%s) over repetitions of one run.\n",
               o->reference);

    int exit_code;
    if (env || env_confirm) {
        exit_code = PB_EXIT_INCONCLUSIVE;
        printf("\ngate: INCONCLUSIVE (exit 3): the environment differs from the baseline's; "
               "record a new baseline on this machine (--update)\n");
    } else if (g.table.failed) {
        exit_code = PB_EXIT_USAGE;
        pb_cli_error(cmd, "out of memory");
    } else if (g.failed) {
        exit_code = PB_EXIT_REGRESSION;
        printf("\ngate: REGRESSION (exit 1): %zu of %zu gated metrics failed\n", g.failed, g.gated);
    } else if (g.inconclusive || g.gated == 0) {
        exit_code = PB_EXIT_INCONCLUSIVE;
        printf("\ngate: INCONCLUSIVE (exit 3): %zu inconclusive, %zu gated\n", g.inconclusive,
               g.gated);
    } else {
        exit_code = PB_EXIT_OK;
        printf("\ngate: PASS (exit 0): %zu gated metrics\n", g.gated);
    }
    pb_ctable_free(&g.table);
    pb_strv_free(env);
    pb_strv_free(env_confirm);
    pb_rfile_free(base);
    pb_rfile_free(fresh);
    pb_rfile_free(confirm);
    return exit_code;
}

static void gate_usage(FILE *out)
{
    fputs("usage: popbench gate --baseline DIR_OR_FILE [options] RESULTS.json\n"
          "       popbench gate --update --baseline DIR_OR_FILE RESULTS.json\n"
          "\n"
          "Gates a fresh results file against a baseline (with a directory, the baseline is\n"
          "DIR/<name of RESULTS.json>; --update copies RESULTS.json there atomically).\n"
          "Deterministic metrics (lock_acq_per_page, scrub_pages_per_page,\n"
          "continuations_per_call, instructions, plain counts) gate hard within a tolerance,\n"
          "repetition by repetition where both runs are operation-bounded single-thread runs\n"
          "with the same repetitions (rep r runs seed + r), else by their medians;\n"
          "wall-clock metrics gate only as ratios to a reference variant of the same run,\n"
          "with a Mann-Whitney test over repetitions, and fail only when a re-run (--confirm)\n"
          "fails too. Record runs with 2 or more repetitions (4 or more for wall-clock\n"
          "metrics at alpha 0.05).\n"
          "\n"
          "options:\n"
          "  --baseline PATH          baseline file, or directory of NAME.json (required)\n"
          "  --update                 make RESULTS.json the baseline\n"
          "  --confirm RESULTS2.json  a re-run that must fail too for a wall-clock regression\n"
          "  --reference-variant V    reference for wall-clock ratios (default xen)\n"
          "  --tier T                 deterministic, wallclock or all (default all)\n"
          "  --metrics LIST           gate only these metrics (default: the deterministic ones\n"
          "                           and pages_per_second,call_p50_ns,call_p99_ns,\n"
          "                           lock_wait_ns_per_page)\n"
          "  --min-effect F           wall-clock minimum relative change (default 0.05 = 5%)\n"
          "  --alpha F                significance level (default 0.05)\n"
          "  --instr-tolerance F      relative tolerance of instructions (default 0.005)\n"
          "  --count-tolerance F      relative tolerance of other deterministic metrics\n"
          "                           (default 0: exact)\n"
          "  -h, --help               this text\n"
          "Exit status: 0 pass, 1 regression, 2 error, 3 inconclusive or environment differs\n"
          "(compiler, build_type; and cpu_model unless --tier deterministic).\n",
          out);
}

int pb_cmd_gate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"baseline", required_argument, NULL, 'b'},
        {"update", no_argument, NULL, 'u'},
        {"confirm", required_argument, NULL, 'c'},
        {"reference-variant", required_argument, NULL, 'r'},
        {"tier", required_argument, NULL, 't'},
        {"metrics", required_argument, NULL, 'm'},
        {"min-effect", required_argument, NULL, 'e'},
        {"alpha", required_argument, NULL, 'a'},
        {"instr-tolerance", required_argument, NULL, 'I'},
        {"count-tolerance", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct gate_opts o = {.reference = "xen",
                          .tier = TIER_ALL,
                          .min_effect = 0.05,
                          .alpha = 0.05,
                          .instr_tol = 0.005,
                          .count_tol = 0};
    bool update = false;
    int c, rc = 0;
    optind = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o.baseline = optarg;
            break;
        case 'u':
            update = true;
            break;
        case 'c':
            o.confirm = optarg;
            break;
        case 'r':
            o.reference = optarg;
            break;
        case 't':
            if (strcmp(optarg, "deterministic") == 0)
                o.tier = TIER_DETERMINISTIC;
            else if (strcmp(optarg, "wallclock") == 0)
                o.tier = TIER_WALLCLOCK;
            else if (strcmp(optarg, "all") == 0)
                o.tier = TIER_ALL;
            else {
                pb_cli_error(cmd, "--tier '%s': expected deterministic, wallclock or all", optarg);
                rc = -EINVAL;
            }
            break;
        case 'm':
            pb_strv_free(o.metrics);
            if (!(o.metrics = pb_cli_split(optarg)) || !o.metrics[0]) {
                pb_cli_error(cmd, "--metrics '%s': expected metric names, comma-separated", optarg);
                rc = -EINVAL;
            }
            break;
        case 'e':
            rc = pb_cli_double(cmd, "--min-effect", optarg, 0, 0.99, true, &o.min_effect);
            break;
        case 'a':
            rc = pb_cli_double(cmd, "--alpha", optarg, 1e-9, 0.5, false, &o.alpha);
            break;
        case 'I':
            rc = pb_cli_double(cmd, "--instr-tolerance", optarg, 0, 0.99, true, &o.instr_tol);
            break;
        case 'C':
            rc = pb_cli_double(cmd, "--count-tolerance", optarg, 0, 0.99, true, &o.count_tol);
            break;
        case 'h':
            gate_usage(stdout);
            pb_strv_free(o.metrics);
            return PB_EXIT_OK;
        default:
            rc = -EINVAL;
            break;
        }
    }
    if (rc == 0 && !o.baseline) {
        pb_cli_error(cmd, "--baseline DIR_OR_FILE is required");
        rc = -EINVAL;
    } else if (rc == 0 && argc - optind != 1) {
        pb_cli_error(cmd, "expected one results file, RESULTS.json");
        rc = -EINVAL;
    } else if (rc == 0 && update && o.confirm) {
        pb_cli_error(cmd, "--confirm cannot be used with --update");
        rc = -EINVAL;
    }
    if (rc) {
        fprintf(stderr, "Try 'popbench gate --help'.\n");
        pb_strv_free(o.metrics);
        return PB_EXIT_USAGE;
    }
    o.fresh = argv[optind];
    char *path = baseline_path(o.baseline, o.fresh);
    int exit_code = PB_EXIT_USAGE;
    if (!path)
        pb_cli_error(cmd, "out of memory");
    else if (update)
        exit_code = gate_update(&o, path);
    else
        exit_code = gate_run(&o, path);
    free(path);
    pb_strv_free(o.metrics);
    return exit_code;
}
