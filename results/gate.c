/*
 * gate.c: the CI performance gate's judgement of a fresh results file against a baseline
 * (gate.h); cli/gate.c is the command around it.
 */
#include "results/gate.h"

#include "core/pb.h"
#include "results/metrics.h"
#include "results/stats.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relative slack for "exact": per-page metrics are quotients printed as decimals. */
#define EXACT_SLACK 1e-9

struct gate {
    const struct pb_gate_opts *o;
    const struct pb_results *base, *fresh, *confirm;
    struct pb_gate_result *out;
    int rc; /* -ENOMEM once a row could not be kept */
};

static bool is_deterministic(const char *metric)
{
    return pb_metric_tier(metric) == PB_TIER_DETERMINISTIC;
}

/* The metrics named by --metrics, else the deterministic ones and the table's wall-clock ones. */
static bool selected(const struct gate *g, const char *metric)
{
    if (g->o->metrics) {
        for (const char *const *m = g->o->metrics; *m; m++)
            if (strcmp(*m, metric) == 0)
                return true;
        return false;
    }
    return pb_metric_tier(metric) != PB_TIER_UNGATED;
}

static bool is_callgrind(const struct pb_results_group *b)
{
    return strncmp(b->name, "callgrind/", 10) == 0;
}

static void emit(struct gate *g, const char *bench, const char *metric, const char *tier,
                 double base, double fresh, double ratio, const char *tol, enum pb_gate_outcome out,
                 const char *verdict, const char *note)
{
    struct pb_gate_result *r = g->out;
    if (g->rc)
        return;
    if (r->nrow == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        struct pb_gate_row *nr = realloc(r->row, cap * sizeof(*nr));
        if (!nr) {
            g->rc = -ENOMEM;
            return;
        }
        r->row = nr;
        r->cap = cap;
    }
    struct pb_gate_row *w = &r->row[r->nrow];
    *w = (struct pb_gate_row){.bench = strdup(bench),
                              .metric = metric,
                              .tier = tier,
                              .base = base,
                              .fresh = fresh,
                              .ratio = ratio,
                              .outcome = out,
                              .verdict = verdict};
    if (!w->bench) {
        g->rc = -ENOMEM;
        return;
    }
    snprintf(w->tolerance, sizeof(w->tolerance), "%s", tol);
    snprintf(w->note, sizeof(w->note), "%s", note);
    r->nrow++;
    r->gated += out == PB_GATE_PASS || out == PB_GATE_FAIL;
    r->failed += out == PB_GATE_FAIL;
    r->inconclusive += out == PB_GATE_INCONCLUSIVE;
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
    if (pb_metric_direction(metric) == PB_METRIC_HIGHER)
        return ratio < 1 - tol;
    return ratio > 1 + tol;
}

/* ==== Deterministic tier ================================================================== */

/* One thread and the same call count in every repetition: an operation-bounded run, whose
 * repetition r (seed + r) repeats exactly from run to run. */
static bool repeatable(const struct pb_results_group *b)
{
    const struct pb_results_metric *it = pb_results_group_metric(b, "iterations");
    if (b->threads != 1 || b->nrep < 2 || !it)
        return false;
    for (size_t i = 0; i < b->nrep; i++)
        if (!isfinite(it->val[i]) || it->val[i] != it->val[0])
            return false;
    return true;
}

/* Both repeatable, with the same repetitions making the same number of calls. */
static bool pairable(const struct pb_results_group *bb, const struct pb_results_group *fb)
{
    if (bb->nrep != fb->nrep || !repeatable(bb) || !repeatable(fb))
        return false;
    for (size_t i = 0; i < bb->nrep; i++)
        if (bb->rep_index[i] != fb->rep_index[i])
            return false;
    return pb_results_group_metric(bb, "iterations")->val[0] ==
           pb_results_group_metric(fb, "iterations")->val[0];
}

/* Baseline rep i against fresh rep i (rep_index ascending in both); the row shows the pair
 * that changed most in the worse direction, else the one that changed most. */
static void gate_paired(struct gate *g, const struct pb_results_group *bb,
                        const struct pb_results_metric *bm, const struct pb_results_metric *fm,
                        double tol, const char *tolstr)
{
    const char *metric = bm->name, *tier = "deterministic";
    bool count = pb_metric_direction(metric) == PB_METRIC_INFO;
    size_t worst = SIZE_MAX, changed = SIZE_MAX, nworse = 0, nchanged = 0;
    double worst_r = 1, changed_d = 0;
    for (size_t i = 0; i < bb->nrep; i++) {
        double b = bm->val[i], f = fm->val[i];
        if (!isfinite(b) || !isfinite(f)) {
            char note[96];
            snprintf(note, sizeof(note), "repetition %u lacks a value", bb->rep_index[i]);
            emit(g, bb->name, metric, tier, b, f, NAN, tolstr, PB_GATE_INCONCLUSIVE, "inconclusive",
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
            bool more = pb_metric_direction(metric) == PB_METRIC_HIGHER ? r < worst_r : r > worst_r;
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
        snprintf(note, sizeof(note), "paired by repetition: %zu of %zu differ, rep %u shown",
                 nworse, bb->nrep, bb->rep_index[show]);
        emit(g, bb->name, metric, tier, b, f, rel_change(f, b), tolstr, PB_GATE_FAIL,
             count ? "CHANGED" : "REGRESSION", note);
    } else if (nchanged) {
        snprintf(note, sizeof(note),
                 "paired by repetition: %zu of %zu improved (rep %u shown); refresh the "
                 "baseline with --update",
                 nchanged, bb->nrep, bb->rep_index[show]);
        emit(g, bb->name, metric, tier, b, f, rel_change(f, b), tolstr, PB_GATE_PASS, "better",
             note);
    } else {
        snprintf(note, sizeof(note), "paired by repetition: all %zu equal", bb->nrep);
        emit(g, bb->name, metric, tier, b, f, rel_change(f, b), tolstr, PB_GATE_PASS, "pass", note);
    }
}

static void gate_deterministic_metric(struct gate *g, const struct pb_results_group *bb,
                                      const struct pb_results_group *fb,
                                      const struct pb_results_metric *bm, double *bv, double *fv)
{
    const char *metric = bm->name, *tier = "deterministic";
    const struct pb_results_metric *fm = pb_results_group_metric(fb, metric);
    if (!fm) {
        emit(g, bb->name, metric, tier, NAN, NAN, NAN, "-", PB_GATE_INCONCLUSIVE, "inconclusive",
             "missing in the fresh run");
        return;
    }
    size_t nb = pb_results_metric_values(bb, bm, bv), nf = pb_results_metric_values(fb, fm, fv);
    if (nb == 0 || nf == 0) {
        emit(g, bb->name, metric, tier, NAN, NAN, NAN, "-", PB_GATE_INCONCLUSIVE, "inconclusive",
             "no value");
        return;
    }
    bool count = pb_metric_direction(metric) == PB_METRIC_INFO;
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
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, PB_GATE_INFO, "not gated",
             "one baseline repetition cannot show that the count repeats");
        return;
    }
    if (spread > tol + EXACT_SLACK) {
        if (count) {
            emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, PB_GATE_INFO, "not gated",
                 "baseline repetitions disagree and cannot be paired (not an "
                 "operation-bounded single-thread run)");
            return;
        }
        /* Not deterministic here: judge it as a sample, like the wall-clock metrics. */
        char mw[48];
        snprintf(mw, sizeof(mw), "%g%% p<%g", g->o->min_effect * 100, g->o->alpha);
        struct pb_mwu t;
        if (pb_mwu_min_p(nb, nf) >= g->o->alpha || pb_mwu_test(bv, nb, fv, nf, &t) != 0) {
            emit(g, bb->name, metric, tier, mb, mf, ratio, mw, PB_GATE_INCONCLUSIVE, "inconclusive",
                 "baseline repetitions disagree, cannot be paired: too few for p < alpha");
            return;
        }
        char note[96];
        snprintf(note, sizeof(note),
                 "baseline repetitions disagree, cannot be paired: Mann-Whitney p=%.3g", t.p);
        bool fail = t.p < g->o->alpha && worse_beyond(metric, ratio, g->o->min_effect);
        emit(g, bb->name, metric, tier, mb, mf, ratio, mw, fail ? PB_GATE_FAIL : PB_GATE_PASS,
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
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, PB_GATE_PASS, "pass", note);
    else if (count)
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, PB_GATE_FAIL, "CHANGED",
             "a deterministic count differs from the baseline");
    else if (worse_beyond(metric, ratio, tol + EXACT_SLACK))
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, PB_GATE_FAIL, "REGRESSION", note);
    else
        emit(g, bb->name, metric, tier, mb, mf, ratio, tolstr, PB_GATE_PASS, "better",
             "improved: refresh the baseline with --update");
}

static void gate_deterministic(struct gate *g)
{
    for (size_t i = 0; i < pb_results_group_count(g->base); i++) {
        const struct pb_results_group *bb = pb_results_group_at(g->base, i);
        const struct pb_results_group *fb = pb_results_find_group(g->fresh, bb->name);
        if (!fb) {
            emit(g, bb->name, "-", "deterministic", NAN, NAN, NAN, "-", PB_GATE_INCONCLUSIVE,
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

/* metric(variant) / metric(reference), repetition by repetition (both ascending); returns how
 * many. */
static size_t paired_ratios(const struct pb_results_group *v, const struct pb_results_group *ref,
                            const char *metric, double *out)
{
    const struct pb_results_metric *mv = pb_results_group_metric(v, metric);
    const struct pb_results_metric *mr = pb_results_group_metric(ref, metric);
    size_t n = 0;
    for (size_t i = 0, j = 0; mv && mr && i < v->nrep && j < ref->nrep;) {
        if (v->rep_index[i] != ref->rep_index[j]) {
            v->rep_index[i] < ref->rep_index[j] ? i++ : j++;
            continue;
        }
        if (isfinite(mv->val[i]) && isfinite(mr->val[j]) && mr->val[j] != 0)
            out[n++] = mv->val[i] / mr->val[j];
        i++;
        j++;
    }
    return n;
}

struct wc_verdict {
    bool no_ratio; /* the reference's metric is 0 in every repetition of a side */
    bool ok;       /* enough repetitions to judge */
    bool worse;    /* significantly worse beyond the minimum effect */
    bool better;   /* significantly better beyond the minimum effect */
    double base, fresh, ratio, p;
};

static struct wc_verdict wallclock_judge(const struct gate *g, const struct pb_results *run,
                                         const struct pb_results_group *bb,
                                         const struct pb_results_group *br, const char *metric,
                                         double *bv, double *fv)
{
    struct wc_verdict w = {.base = NAN, .fresh = NAN, .ratio = NAN, .p = NAN};
    const struct pb_results_group *fb = pb_results_find_group(run, bb->name);
    const struct pb_results_group *fr =
        fb ? pb_results_find_variant(run, fb->workload, g->o->reference, fb->threads) : NULL;
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
    bool higher = pb_metric_direction(metric) == PB_METRIC_HIGHER;
    w.better =
        significant && (higher ? w.ratio > 1 + g->o->min_effect : w.ratio < 1 - g->o->min_effect);
    return w;
}

static void gate_wallclock_metric(struct gate *g, const struct pb_results_group *fb,
                                  const struct pb_results_group *bb,
                                  const struct pb_results_group *br, const char *metric, double *bv,
                                  double *fv)
{
    const char *tier = "wallclock";
    char tol[48], note[160];
    snprintf(tol, sizeof(tol), "%g%% p<%g", g->o->min_effect * 100, g->o->alpha);
    struct wc_verdict w = wallclock_judge(g, g->fresh, bb, br, metric, bv, fv);
    if (w.no_ratio) {
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, PB_GATE_INFO, "not gated",
             "no ratio: the reference's value is 0 (or absent) in every repetition");
        return;
    }
    if (!w.ok) {
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, PB_GATE_INCONCLUSIVE,
             "inconclusive", "too few paired repetitions of variant and reference for p < alpha");
        return;
    }
    if (!w.worse) {
        snprintf(note, sizeof(note), "ratio to %s; p=%.3g", g->o->reference, w.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, PB_GATE_PASS,
             w.better ? "better" : "pass", note);
        return;
    }
    if (!g->confirm) {
        snprintf(note, sizeof(note), "ratio to %s; p=%.3g; re-run and pass --confirm",
                 g->o->reference, w.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, PB_GATE_INCONCLUSIVE,
             "needs confirmation", note);
        return;
    }
    struct wc_verdict c = wallclock_judge(g, g->confirm, bb, br, metric, bv, fv);
    if (c.ok && c.worse) {
        snprintf(note, sizeof(note),
                 "ratio to %s; p=%.3g; confirmed by the re-run (ratio %.4f, p=%.3g)",
                 g->o->reference, w.p, c.ratio, c.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, PB_GATE_FAIL, "REGRESSION",
             note);
    } else if (c.ok) {
        snprintf(note, sizeof(note),
                 "ratio to %s; p=%.3g; not confirmed by the re-run (ratio %.4f, p=%.3g)",
                 g->o->reference, w.p, c.ratio, c.p);
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, PB_GATE_PASS, "pass", note);
    } else {
        emit(g, fb->name, metric, tier, w.base, w.fresh, w.ratio, tol, PB_GATE_INCONCLUSIVE,
             "needs confirmation", "the re-run lacks this benchmark or its repetitions");
    }
}

static void gate_wallclock(struct gate *g)
{
    const char *ref = g->o->reference;
    /* (the deterministic tier already reports missing benchmarks) */
    for (size_t i = 0; !(g->o->tier & PB_GATE_DETERMINISTIC) && i < pb_results_group_count(g->base);
         i++) {
        const struct pb_results_group *bb = pb_results_group_at(g->base, i);
        if (strcmp(bb->variant, ref) != 0 && !is_callgrind(bb) &&
            !pb_results_find_group(g->fresh, bb->name))
            emit(g, bb->name, "-", "wallclock", NAN, NAN, NAN, "-", PB_GATE_INCONCLUSIVE,
                 "inconclusive", "benchmark missing in the fresh run");
    }
    for (size_t i = 0; i < pb_results_group_count(g->fresh); i++) {
        const struct pb_results_group *fb = pb_results_group_at(g->fresh, i);
        if (strcmp(fb->variant, ref) == 0 || is_callgrind(fb))
            continue;
        if (!pb_results_find_variant(g->fresh, fb->workload, ref, fb->threads)) {
            emit(g, fb->name, "-", "wallclock", NAN, NAN, NAN, "-", PB_GATE_INFO, "not gated",
                 "no reference variant in the fresh run (--reference-variant)");
            continue;
        }
        const struct pb_results_group *bb = pb_results_find_group(g->base, fb->name);
        const struct pb_results_group *br =
            pb_results_find_variant(g->base, fb->workload, ref, fb->threads);
        if (!bb || !br) {
            emit(g, fb->name, "-", "wallclock", NAN, NAN, NAN, "-", PB_GATE_INFO, "not gated",
                 "benchmark or its reference missing in the baseline");
            continue;
        }
        size_t cap = bb->nrep > fb->nrep ? bb->nrep : fb->nrep;
        if (g->confirm) {
            const struct pb_results_group *cb = pb_results_find_group(g->confirm, fb->name);
            cap = cb && cb->nrep > cap ? cb->nrep : cap;
        }
        double *bv = malloc((cap + 1) * sizeof(*bv)), *fv = malloc((cap + 1) * sizeof(*fv));
        for (size_t m = 0; bv && fv && m < fb->nmetric; m++) {
            const char *metric = fb->metric[m].name;
            if (!is_deterministic(metric) && selected(g, metric) &&
                pb_results_group_metric(bb, metric))
                gate_wallclock_metric(g, fb, bb, br, metric, bv, fv);
        }
        free(bv);
        free(fv);
    }
}

/* Whether any wall-clock metric is selected (the table's, or one --metrics names). */
static bool wallclock_selected(const struct gate *g)
{
    if (!g->o->metrics)
        return true; /* the table's wall-clock metrics */
    for (const char *const *m = g->o->metrics; *m; m++)
        if (!is_deterministic(*m))
            return true;
    return false;
}

/* Whether the fresh file's machine can support a wall-clock verdict; if not, why in refusal. */
static bool calibration_supports(const struct gate *g, char *why, size_t len)
{
    struct pb_results_calibration c;
    const char *path = pb_results_path(g->fresh) ? pb_results_path(g->fresh) : "the fresh run";
    int rc = pb_results_get_calibration(g->fresh, &c);
    if (rc) {
        snprintf(why, len,
                 "%s has no context.calibration: this machine's false-alarm and detection rates "
                 "are unknown (measure them with popbench calibrate)",
                 path);
        return false;
    }
    if (c.aa_false_alarm_rate > g->o->alpha) {
        snprintf(why, len,
                 "the calibration of %s (%s) shows a false-alarm rate of %.3g (%llu of %llu A/A "
                 "verdicts), above --alpha %g",
                 path, c.date, c.aa_false_alarm_rate, (unsigned long long)c.aa_false_alarms,
                 (unsigned long long)c.aa_verdicts, g->o->alpha);
        return false;
    }
    if (c.effect_detection_rate < PB_GATE_MIN_DETECTION) {
        snprintf(why, len,
                 "the calibration of %s (%s) shows a detection rate of %.3g for a %llu ns "
                 "slowdown (%llu of %llu verdicts), below %g",
                 path, c.date, c.effect_detection_rate, (unsigned long long)c.effect_ns,
                 (unsigned long long)c.effect_detected, (unsigned long long)c.effect_verdicts,
                 PB_GATE_MIN_DETECTION);
        return false;
    }
    return true;
}

void pb_gate_opts_default(struct pb_gate_opts *o)
{
    *o = (struct pb_gate_opts){.reference = "xen",
                               .tier = PB_GATE_ALL,
                               .min_effect = 0.05,
                               .alpha = 0.05,
                               .instr_tol = 0.005,
                               .count_tol = 0};
}

int pb_gate_judge(const struct pb_gate_opts *o, const struct pb_results *base,
                  const struct pb_results *fresh, const struct pb_results *confirm,
                  struct pb_gate_result *out)
{
    if (!o || !base || !fresh || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    struct gate g = {.o = o, .base = base, .fresh = fresh, .confirm = confirm, .out = out};
    if (pb_results_make_view(base) || pb_results_make_view(fresh) ||
        (confirm && pb_results_make_view(confirm)))
        g.rc = -ENOMEM;
    if (!g.rc && (o->tier & PB_GATE_DETERMINISTIC))
        gate_deterministic(&g);
    if (!g.rc && (o->tier & PB_GATE_WALLCLOCK) && wallclock_selected(&g)) {
        if (calibration_supports(&g, out->refusal, sizeof(out->refusal)))
            gate_wallclock(&g);
        else
            out->wallclock_refused = true;
    }
    if (g.rc)
        pb_gate_result_free(out);
    return g.rc;
}

void pb_gate_result_free(struct pb_gate_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nrow; i++)
        free(r->row[i].bench);
    free(r->row);
    memset(r, 0, sizeof(*r));
}
