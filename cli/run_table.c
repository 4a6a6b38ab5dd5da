/*
 * run_table.c: the table `popbench run` ends with: a comparison per workload and thread count.
 * Each variant's headline figures (medians over its repetitions), the CV of its pages/s, its
 * pages/s against the reference with the 95% interval and the verdict (results/verdict.h),
 * the repetitions the noise probes marked disturbed, then, where some variant of the block has
 * them, what its figures are read against: its clearing against the host's clear bandwidth and
 * its speed-up beside the parallel ceiling's (medians; no verdict); warnings where the noise is
 * as large as the effect a verdict reports.
 */
#include "cli/run.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/table.h"
#include "results/metrics.h"
#include "results/stats.h"
#include "results/verdict.h"

/* The figures beside the verdict, in metrics.def's column order (their headings there). */
static const enum pb_metric_id beside[] = {PB_M_clear_bandwidth_ratio, PB_M_speedup,
                                           PB_M_ceiling_speedup, PB_M_ceiling_efficiency};
#define NBESIDE (sizeof(beside) / sizeof(beside[0]))

/* The median of metric id over the repetitions of a variant's group; NAN when it has none. */
static double beside_median(const struct pb_results *doc, const struct pb_workload_verdict *w,
                            const char *variant, enum pb_metric_id id)
{
    const struct pb_results_group *g =
        pb_results_find_variant(doc, w->workload, variant, w->threads);
    const struct pb_results_metric *m = g ? pb_results_group_metric(g, pb_metrics[id].name) : NULL;
    double *v = m ? calloc(g->nrep ? g->nrep : 1, sizeof(*v)) : NULL;
    size_t n = v ? pb_results_metric_values(g, m, v) : 0;
    double med = n ? pb_median(v, n) : NAN;
    free(v);
    return med;
}

static void fmt_headline(char *buf, size_t len, enum pb_metric_id id, double v)
{
    char f[PB_RESULTS_FMT_LEN];
    const char *unit = pb_metrics[id].unit;
    if (isnan(v))
        snprintf(buf, len, "-");
    else if (strcmp(unit, "ns") == 0 || strcmp(unit, "ns/page") == 0)
        snprintf(buf, len, "%s", pb_results_fmt_ns(v, f));
    else
        snprintf(buf, len, "%s", pb_results_fmt_rate(v, f));
}

/* The line above a workload's rows: how it was measured and how precise it got. */
static void print_header(const struct pb_run_verdicts *rv, const struct pb_workload_verdict *w,
                         FILE *out)
{
    fprintf(out, "%s/threads:%u: ", w->workload, w->threads);
    if (isfinite(w->rounds) && w->rounds > 1)
        fprintf(out, "%.0f rounds, ", w->rounds);
    if (isfinite(w->measure_ns))
        fprintf(out, "%.2f s measured per repetition, ", w->measure_ns / 1e9);
    size_t reps = w->nvariants ? w->v[0].reps : 0;
    fprintf(out, "%zu repetition%s; precision ", reps, reps == 1 ? "" : "s");
    if (isfinite(w->half_width))
        fprintf(out, "+-%.1f%%", w->half_width * 100);
    else
        fprintf(out, "unknown");
    fprintf(out, " (target +-%.1f%%", rv->precision * 100);
    if (w->stop)
        fprintf(out, ", stopped: %s", w->stop);
    fputs(")\n", out);
}

static void print_warnings(const struct pb_workload_verdict *w, FILE *out)
{
    const struct pb_variant_verdict *ref = &w->v[0];
    for (size_t k = 0; k < w->nvariants; k++) {
        const struct pb_variant_verdict *v = &w->v[k];
        if (v->migrations)
            fprintf(out, "  note: %s: pinned workers seen off their PU %zu time%s\n", v->variant,
                    v->migrations, v->migrations == 1 ? "" : "s");
        if (!v->noise_exceeds_effect)
            continue;
        fprintf(out, "  warning: %s: the noise (", v->variant);
        double steal = fmax(isnan(v->steal_max_pct) ? 0 : v->steal_max_pct,
                            isnan(ref->steal_max_pct) ? 0 : ref->steal_max_pct);
        if (steal > 0)
            fprintf(out, "steal up to %.1f%%, ", steal);
        fprintf(out,
                "CV %.1f%%, %zu of %zu repetitions disturbed) is as large as the effect "
                "reported (%+.1f%%): treat the verdict '%s' with care\n",
                v->cv * 100, v->disturbed + ref->disturbed, v->reps + ref->reps,
                (v->iv.ratio - 1) * 100, pb_verdict_name(v->verdict));
    }
}

/* One block; returns which of beside[] it showed (bit j: beside[j]). */
static unsigned print_workload(const struct pb_results *doc, const struct pb_run_verdicts *rv,
                               const struct pb_workload_verdict *w, FILE *out)
{
    enum { FIXED_COLS = 8 };
    struct pb_ctable t;
    char head[64];
    const char *cells[FIXED_COLS + PB_NHEADLINES + NBESIDE];
    /* bv[k * NBESIDE + j]: variant k's figure beside[j]; a column only when someone has it */
    double *bv = calloc(w->nvariants * NBESIDE + 1, sizeof(*bv));
    bool shown[NBESIDE] = {false};
    size_t nshown = 0;
    for (size_t j = 0; bv && j < NBESIDE; j++) {
        for (size_t k = 0; k < w->nvariants; k++) {
            bv[k * NBESIDE + j] = beside_median(doc, w, w->v[k].variant, beside[j]);
            shown[j] |= !isnan(bv[k * NBESIDE + j]);
        }
        nshown += shown[j];
    }

    print_header(rv, w, out);
    pb_ctable_init(&t, FIXED_COLS + PB_NHEADLINES - 1 + nshown);
    snprintf(head, sizeof(head), "vs %s", w->reference);
    /* pages/s (the first headline) goes with the ratio; the other headlines after. */
    const char *hdr[FIXED_COLS + PB_NHEADLINES + NBESIDE] = {"variant", "reps",   "pages/s", "CV",
                                                             head,      "95% CI", "verdict"};
    size_t nc = 7;
    for (size_t h = 1; h < PB_NHEADLINES; h++)
        hdr[nc++] = pb_headlines[h].title;
    hdr[nc++] = "disturbed";
    for (size_t j = 0; j < NBESIDE; j++)
        if (shown[j])
            hdr[nc++] = pb_metrics[beside[j]].title;
    pb_ctable_add_row(&t, hdr);
    for (size_t k = 0; k < w->nvariants; k++) {
        const struct pb_variant_verdict *v = &w->v[k];
        char reps[16], pps[32], cv[16], ratio[32], ci[48], hv[PB_NHEADLINES][32], dist[24],
            bs[NBESIDE][24];
        snprintf(reps, sizeof(reps), "%zu", v->reps);
        fmt_headline(pps, sizeof(pps), PB_M_pages_per_second, v->pps);
        if (isfinite(v->cv))
            snprintf(cv, sizeof(cv), "%.1f%%", v->cv * 100);
        else
            snprintf(cv, sizeof(cv), "-");
        if (k == 0) {
            snprintf(ratio, sizeof(ratio), "ref");
            snprintf(ci, sizeof(ci), "-");
        } else {
            if (isfinite(v->iv.ratio))
                snprintf(ratio, sizeof(ratio), "%.3f", v->iv.ratio);
            else
                snprintf(ratio, sizeof(ratio), "-");
            if (v->iv.method != PB_INTERVAL_NONE)
                snprintf(ci, sizeof(ci), "[%.3f, %.3f]", v->iv.lo, v->iv.hi);
            else
                snprintf(ci, sizeof(ci), "-");
        }
        snprintf(dist, sizeof(dist), "%zu/%zu", v->disturbed, v->reps);
        nc = 0;
        cells[nc++] = v->variant;
        cells[nc++] = reps;
        cells[nc++] = pps;
        cells[nc++] = cv;
        cells[nc++] = ratio;
        cells[nc++] = ci;
        cells[nc++] = k == 0 ? "-" : pb_verdict_name(v->verdict);
        for (size_t h = 1; h < PB_NHEADLINES; h++) {
            fmt_headline(hv[h], sizeof(hv[h]), pb_headlines[h].id, v->headline[h]);
            cells[nc++] = hv[h];
        }
        cells[nc++] = dist;
        for (size_t j = 0; j < NBESIDE; j++) {
            if (!shown[j])
                continue;
            double x = bv[k * NBESIDE + j];
            if (isnan(x))
                snprintf(bs[j], sizeof(bs[j]), "-");
            else
                snprintf(bs[j], sizeof(bs[j]), "%.2f", x);
            cells[nc++] = bs[j];
        }
        pb_ctable_add_row(&t, cells);
    }
    free(bv);
    pb_ctable_print(&t, false, out);
    pb_ctable_free(&t);
    print_warnings(w, out);
    unsigned mask = 0;
    for (size_t j = 0; j < NBESIDE; j++)
        mask |= shown[j] ? 1u << j : 0;
    return mask;
}

int pb_run_print_verdicts(const struct pb_results *doc, FILE *out)
{
    struct pb_run_verdicts rv;
    if (pb_results_bench_count(doc) == 0) {
        fputs("no benchmarks\n", out);
        return 0;
    }
    if (pb_run_verdicts(doc, &rv) != 0)
        return -ENOMEM;
    if (pb_results_is_partial(doc))
        fputs("partial run: only the repetitions that finished\n", out);
    unsigned shown = 0;
    for (size_t i = 0; i < rv.n; i++) {
        if (i)
            fputc('\n', out);
        shown |= print_workload(doc, &rv, &rv.w[i], out);
    }
    fprintf(out,
            "\nvs: pages/s against the reference, the geometric mean over rounds (one round = "
            "one repetition of every variant, back to back) with its 95%% interval (t on the "
            "rounds' log ratios). Verdict: no difference when the interval lies inside "
            "+-%.1f%%, better or worse when wholly beyond, else inconclusive. Other columns: "
            "medians over the repetitions; disturbed: repetitions with steal > 5%%, a migrated "
            "worker or many involuntary switches (results/FORMAT.md).",
            rv.min_effect * 100);
    /* What the columns beside the verdict are, for those shown. */
    static const char *const meaning[NBESIDE] = {
        "the run's clearing against this host's clear bandwidth",
        "pages/s against the smallest thread count",
        "the parallel ceiling's speed-up (bench/ceiling.h) at the same counts",
        "speedup / ceiling",
    };
    for (size_t j = 0; j < NBESIDE; j++)
        if (shown & (1u << j))
            fprintf(out, " %s: %s.", pb_metrics[beside[j]].title, meaning[j]);
    fputc('\n', out);
    pb_run_verdicts_free(&rv);
    return ferror(out) ? -EIO : 0;
}
