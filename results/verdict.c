/*
 * verdict.c: intervals of ratios, verdicts, the stopping rule and a run's verdicts per
 * workload (verdict.h).
 */
#include "results/verdict.h"

#include "core/pb.h"
#include "results/stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== Names =============================================================================== */

const char *pb_verdict_name(enum pb_verdict v)
{
    static const char *const names[] = {[PB_VERDICT_BETTER] = "better",
                                        [PB_VERDICT_WORSE] = "worse",
                                        [PB_VERDICT_NO_DIFFERENCE] = "no difference",
                                        [PB_VERDICT_INCONCLUSIVE] = "inconclusive"};
    PB_BUG_ON((size_t)v >= PB_ARRAY_SIZE(names));
    return names[v];
}

const char *pb_interval_method_name(enum pb_interval_method m)
{
    static const char *const names[] = {[PB_INTERVAL_NONE] = "none",
                                        [PB_INTERVAL_EQUAL] = "equal",
                                        [PB_INTERVAL_PAIRED_T] = "paired-t",
                                        [PB_INTERVAL_WELCH_T] = "welch-t",
                                        [PB_INTERVAL_BOOTSTRAP] = "bootstrap"};
    PB_BUG_ON((size_t)m >= PB_ARRAY_SIZE(names));
    return names[m];
}

static const char *const stop_names[] = {
    [PB_STOP_NO] = "continue",
    [PB_STOP_TARGET] = "target met",
    [PB_STOP_BUDGET] = "budget",
    [PB_STOP_MAX_REPS] = "max repetitions",
    [PB_STOP_INTERRUPTED] = "interrupted",
    [PB_STOP_FIXED] = "fixed repetitions",
    [PB_STOP_FAILED] = "run failed",
};

const char *pb_stop_name(enum pb_stop s)
{
    PB_BUG_ON((size_t)s >= PB_ARRAY_SIZE(stop_names));
    return stop_names[s];
}

int pb_stop_parse(const char *name, enum pb_stop *out)
{
    for (size_t i = 0; name && i < PB_ARRAY_SIZE(stop_names); i++)
        if (strcmp(name, stop_names[i]) == 0) {
            *out = (enum pb_stop)i;
            return 0;
        }
    return -EINVAL;
}

/* ==== Intervals =========================================================================== */

static void no_interval(struct pb_ratio_interval *out, double ratio, size_t n)
{
    *out = (struct pb_ratio_interval){
        .ratio = ratio, .lo = NAN, .hi = NAN, .n = n, .method = PB_INTERVAL_NONE};
}

static bool all_positive(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(v[i] > 0) || !isfinite(v[i]))
            return false;
    return true;
}

static bool conf_ok(double conf)
{
    return conf > 0 && conf < 1;
}

/* mean +- t * se in logs, exponentiated. */
static void t_interval(struct pb_ratio_interval *out, double mean_log, double se, double df,
                       double conf, size_t n, enum pb_interval_method m)
{
    double h = se > 0 ? pb_t_quantile((1 + conf) / 2, df) * se : 0;
    *out = (struct pb_ratio_interval){.ratio = exp(mean_log),
                                      .lo = exp(mean_log - h),
                                      .hi = exp(mean_log + h),
                                      .n = n,
                                      .method = m};
}

int pb_interval_paired(const double *a, const double *b, size_t n, double conf,
                       struct pb_ratio_interval *out)
{
    if (!out || (n && (!a || !b)) || !conf_ok(conf))
        return -EINVAL;
    if (!all_positive(a, n) || !all_positive(b, n)) {
        no_interval(out, NAN, n);
        return -EDOM;
    }
    if (n < 2) {
        no_interval(out, n ? b[0] / a[0] : NAN, n);
        return 0;
    }
    double *d = malloc(n * sizeof(*d));
    if (!d)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        d[i] = log(b[i]) - log(a[i]);
    double m = pb_mean(d, n), sd = pb_stddev(d, n);
    free(d);
    t_interval(out, m, sd / sqrt((double)n), (double)(n - 1), conf, n, PB_INTERVAL_PAIRED_T);
    return 0;
}

/* Mean and variance of the logs of v. */
static int log_moments(const double *v, size_t n, double *mean, double *var)
{
    double *l = malloc(n * sizeof(*l));
    if (!l)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        l[i] = log(v[i]);
    *mean = pb_mean(l, n);
    double sd = pb_stddev(l, n);
    *var = sd * sd;
    free(l);
    return 0;
}

int pb_interval_unpaired(const double *a, size_t na, const double *b, size_t nb, double conf,
                         struct pb_ratio_interval *out)
{
    if (!out || (na && !a) || (nb && !b) || !conf_ok(conf))
        return -EINVAL;
    size_t n = na < nb ? na : nb;
    if (!all_positive(a, na) || !all_positive(b, nb)) {
        no_interval(out, NAN, n);
        return -EDOM;
    }
    if (n < 2) {
        no_interval(out, n ? pb_median(b, nb) / pb_median(a, na) : NAN, n);
        return 0;
    }
    double ma, va, mb, vb;
    int rc = log_moments(a, na, &ma, &va);
    rc = rc ? rc : log_moments(b, nb, &mb, &vb);
    if (rc)
        return rc;
    double sa = va / (double)na, sb = vb / (double)nb, se2 = sa + sb;
    /* Welch-Satterthwaite degrees of freedom. */
    double df = se2 > 0 ? se2 * se2 / (sa * sa / (double)(na - 1) + sb * sb / (double)(nb - 1))
                        : (double)(na + nb - 2);
    t_interval(out, mb - ma, sqrt(se2), df, conf, n, PB_INTERVAL_WELCH_T);
    return 0;
}

int pb_interval_level(const double *v, size_t n, double conf, struct pb_ratio_interval *out)
{
    if (!out || (n && !v) || !conf_ok(conf))
        return -EINVAL;
    if (!all_positive(v, n)) {
        no_interval(out, NAN, n);
        return -EDOM;
    }
    if (n < 2) {
        no_interval(out, 1, n);
        return 0;
    }
    double m, var;
    int rc = log_moments(v, n, &m, &var);
    if (rc)
        return rc;
    t_interval(out, 0, sqrt(var / (double)n), (double)(n - 1), conf, n, PB_INTERVAL_PAIRED_T);
    return 0;
}

static bool constant(const double *v, size_t n, double value)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] != value)
            return false;
    return true;
}

int pb_interval_for(const char *metric, const double *a, size_t na, const double *b, size_t nb,
                    bool paired, double conf, uint64_t seed, struct pb_ratio_interval *out)
{
    if (!metric || !out || (na && !a) || (nb && !b) || !conf_ok(conf) || (paired && na != nb))
        return -EINVAL;
    size_t n = na < nb ? na : nb;
    if (n >= 2 && constant(a, na, a[0]) && constant(b, nb, a[0])) {
        *out = (struct pb_ratio_interval){
            .ratio = 1, .lo = 1, .hi = 1, .n = n, .method = PB_INTERVAL_EQUAL};
        return 0;
    }
    bool logs = all_positive(a, na) && all_positive(b, nb);
    int rc;
    if (logs && paired)
        return pb_interval_paired(a, b, n, conf, out);
    if (logs && !pb_metric_is_tail(metric))
        return pb_interval_unpaired(a, na, b, nb, conf, out);
    double ma = pb_median(a, na), mb = pb_median(b, nb);
    no_interval(out, n && ma != 0 ? mb / ma : NAN, n);
    if (n < 2)
        return 0;
    rc = pb_bootstrap_ratio_ci(a, na, b, nb, PB_VERDICT_RESAMPLES, conf, seed, &out->lo, &out->hi);
    if (rc == -EDOM) {
        out->lo = out->hi = NAN;
        return 0; /* the reference's median is 0 too often: no interval */
    }
    if (rc == 0)
        out->method = PB_INTERVAL_BOOTSTRAP;
    return rc;
}

double pb_interval_half_width(const struct pb_ratio_interval *iv)
{
    if (!iv || iv->method == PB_INTERVAL_NONE || !(iv->ratio > 0) || isnan(iv->lo) || isnan(iv->hi))
        return INFINITY;
    return fmax(iv->hi / iv->ratio - 1, 1 - iv->lo / iv->ratio);
}

enum pb_verdict pb_verdict_decide(const struct pb_ratio_interval *iv, enum pb_metric_direction dir,
                                  double min_effect)
{
    if (!iv || iv->method == PB_INTERVAL_NONE || isnan(iv->lo) || isnan(iv->hi) ||
        !(min_effect >= 0))
        return PB_VERDICT_INCONCLUSIVE;
    double lo = 1 - min_effect, hi = 1 + min_effect;
    if (iv->lo >= lo && iv->hi <= hi)
        return PB_VERDICT_NO_DIFFERENCE;
    bool up = iv->lo > hi, down = iv->hi < lo;
    if (dir == PB_METRIC_INFO || (!up && !down))
        return PB_VERDICT_INCONCLUSIVE;
    return up == (dir == PB_METRIC_HIGHER) ? PB_VERDICT_BETTER : PB_VERDICT_WORSE;
}

/* ==== Stopping ============================================================================ */

enum pb_stop pb_stop_decide(const struct pb_stop_rule *r, unsigned reps, double worst_half_width,
                            uint64_t elapsed_ns, uint64_t last_round_ns)
{
    if (reps < r->min_reps)
        return PB_STOP_NO;
    if (worst_half_width <= r->precision)
        return PB_STOP_TARGET;
    if (reps >= r->max_reps)
        return PB_STOP_MAX_REPS;
    if (r->budget_ns != UINT64_MAX &&
        (elapsed_ns >= r->budget_ns || last_round_ns > r->budget_ns - elapsed_ns))
        return PB_STOP_BUDGET;
    return PB_STOP_NO;
}

double pb_worst_half_width(const double *const *v, size_t nvariants, size_t ref, size_t n,
                           double conf)
{
    struct pb_ratio_interval iv;
    if (nvariants == 1)
        return pb_interval_level(v[0], n, conf, &iv) ? INFINITY : pb_interval_half_width(&iv);
    double worst = 0;
    for (size_t k = 0; k < nvariants; k++) {
        if (k == ref)
            continue;
        if (pb_interval_paired(v[ref], v[k], n, conf, &iv))
            return INFINITY;
        worst = fmax(worst, pb_interval_half_width(&iv));
    }
    return worst;
}

/* ==== A run's verdicts ==================================================================== */

/* context.precision.<workload>: {half_width, stop, ...} (FORMAT.md); NULL when absent. */
static const json_t *precision_of(const struct pb_results *doc, const char *workload)
{
    const json_t *p = json_object_get(pb_results_context_json(doc), "precision");
    return json_is_object(p) ? json_object_get(p, workload) : NULL;
}

/* The values of a metric of g in the repetitions that ref also has, in ref's order (NAN where
 * g lacks one), into out[ref->nrep]. */
static void aligned_values(const struct pb_results_group *g, const struct pb_results_group *ref,
                           const char *metric, double *out)
{
    const struct pb_results_metric *m = pb_results_group_metric(g, metric);
    for (size_t i = 0; i < ref->nrep; i++) {
        out[i] = NAN;
        for (size_t j = 0; m && j < g->nrep; j++)
            if (g->rep_index[j] == ref->rep_index[i])
                out[i] = m->val[j];
    }
}

/* The pairs of two aligned series where both have a value: compacted in place; how many. */
static size_t compact_pairs(double *a, double *b, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(a[i]) && isfinite(b[i])) {
            a[k] = a[i];
            b[k] = b[i];
            k++;
        }
    return k;
}

static double metric_median(const struct pb_results_group *g, const char *metric, double *buf)
{
    const struct pb_results_metric *m = pb_results_group_metric(g, metric);
    size_t n = m ? pb_results_metric_values(g, m, buf) : 0;
    return n ? pb_median(buf, n) : NAN;
}

/* The noise of g's repetitions: disturbed ones, the largest steal, migrations. */
static void variant_noise(const struct pb_results_group *g, struct pb_variant_verdict *vv,
                          double *buf)
{
    const struct pb_results_metric *m;
    size_t n;
    vv->steal_max_pct = NAN;
    if ((m = pb_results_group_metric(g, pb_metrics[PB_M_disturbed].name)) != NULL) {
        n = pb_results_metric_values(g, m, buf);
        for (size_t i = 0; i < n; i++)
            vv->disturbed += buf[i] > 0;
    }
    if ((m = pb_results_group_metric(g, pb_metrics[PB_M_noise_steal_pct].name)) != NULL) {
        n = pb_results_metric_values(g, m, buf);
        for (size_t i = 0; i < n; i++)
            vv->steal_max_pct = isnan(vv->steal_max_pct) ? buf[i] : fmax(vv->steal_max_pct, buf[i]);
    }
    if ((m = pb_results_group_metric(g, pb_metrics[PB_M_noise_migrations].name)) != NULL) {
        n = pb_results_metric_values(g, m, buf);
        for (size_t i = 0; i < n; i++)
            vv->migrations += (size_t)buf[i];
    }
}

static void fill_variant(const struct pb_results_group *g, const struct pb_results_group *ref,
                         double min_effect, struct pb_variant_verdict *vv, double *a, double *b)
{
    const char *pps = pb_metrics[PB_M_pages_per_second].name;
    vv->variant = g->variant;
    vv->reps = g->nrep;
    const struct pb_results_metric *m = pb_results_group_metric(g, pps);
    size_t n = m ? pb_results_metric_values(g, m, a) : 0;
    vv->pps = n ? pb_median(a, n) : NAN;
    vv->cv = pb_cv(a, n);
    for (size_t h = 0; h < PB_NHEADLINES; h++)
        vv->headline[h] = metric_median(g, pb_metrics[pb_headlines[h].id].name, a);
    variant_noise(g, vv, a);
    if (g == ref) {
        no_interval(&vv->iv, 1, g->nrep);
        vv->verdict = PB_VERDICT_NO_DIFFERENCE;
        return;
    }
    aligned_values(ref, ref, pps, a);
    aligned_values(g, ref, pps, b);
    n = compact_pairs(a, b, ref->nrep);
    if (pb_interval_for(pps, a, n, b, n, true, PB_VERDICT_CONF, 1, &vv->iv) != 0)
        no_interval(&vv->iv, NAN, n);
    vv->verdict = pb_verdict_decide(&vv->iv, PB_METRIC_HIGHER, min_effect);
}

/* Noise beyond the effect: a verdict of better or worse whose size is below the steal time of
 * some repetition (of the variant or its reference), or with repetitions disturbed. */
static void judge_noise(struct pb_workload_verdict *w)
{
    const struct pb_variant_verdict *ref = &w->v[0];
    for (size_t k = 1; k < w->nvariants; k++) {
        struct pb_variant_verdict *vv = &w->v[k];
        if (vv->verdict != PB_VERDICT_BETTER && vv->verdict != PB_VERDICT_WORSE)
            continue;
        double effect = fabs(vv->iv.ratio - 1) * 100;
        double steal = fmax(isnan(vv->steal_max_pct) ? 0 : vv->steal_max_pct,
                            isnan(ref->steal_max_pct) ? 0 : ref->steal_max_pct);
        vv->noise_exceeds_effect =
            steal > effect || ((vv->disturbed || ref->disturbed) && vv->cv * 100 > effect);
    }
}

static int add_workload(struct pb_run_verdicts *out, const struct pb_results *doc,
                        const struct pb_results_group *first, const char *reference)
{
    size_t ngroups = pb_results_group_count(doc), cap = 0;
    const struct pb_results_group *ref = NULL;
    for (size_t i = 0; i < ngroups; i++) {
        const struct pb_results_group *g = pb_results_group_at(doc, i);
        if (strcmp(g->workload, first->workload) == 0 && g->threads == first->threads) {
            cap++;
            if (reference && strcmp(g->variant, reference) == 0)
                ref = g;
        }
    }
    if (!ref)
        ref = first;
    struct pb_workload_verdict *nw = realloc(out->w, (out->n + 1) * sizeof(*nw));
    if (!nw)
        return -ENOMEM;
    out->w = nw;
    struct pb_workload_verdict *w = &out->w[out->n];
    *w = (struct pb_workload_verdict){.workload = first->workload,
                                      .threads = first->threads,
                                      .reference = ref->variant,
                                      .half_width = INFINITY,
                                      .rounds = NAN};
    size_t most = 1;
    for (size_t i = 0; i < ngroups; i++)
        most = pb_results_group_at(doc, i)->nrep > most ? pb_results_group_at(doc, i)->nrep : most;
    w->v = calloc(cap, sizeof(*w->v));
    double *a = malloc(most * sizeof(*a)), *b = malloc(most * sizeof(*b));
    int rc = w->v && a && b ? 0 : -ENOMEM;
    if (rc == 0) {
        out->n++;
        fill_variant(ref, ref, out->min_effect, &w->v[w->nvariants++], a, b);
        for (size_t i = 0; i < ngroups; i++) {
            const struct pb_results_group *g = pb_results_group_at(doc, i);
            if (g != ref && strcmp(g->workload, first->workload) == 0 &&
                g->threads == first->threads)
                fill_variant(g, ref, out->min_effect, &w->v[w->nvariants++], a, b);
        }
        w->measure_ns = metric_median(ref, pb_metrics[PB_M_measure_ns].name, a);
        w->rounds = metric_median(ref, pb_metrics[PB_M_rounds].name, a);
        w->half_width = 0;
        for (size_t k = 0; k < w->nvariants; k++)
            if (w->nvariants > 1 && k > 0)
                w->half_width = fmax(w->half_width, pb_interval_half_width(&w->v[k].iv));
        if (w->nvariants == 1) {
            const struct pb_results_metric *m =
                pb_results_group_metric(ref, pb_metrics[PB_M_pages_per_second].name);
            size_t n = m ? pb_results_metric_values(ref, m, a) : 0;
            struct pb_ratio_interval iv;
            w->half_width = pb_interval_level(a, n, PB_VERDICT_CONF, &iv)
                                ? INFINITY
                                : pb_interval_half_width(&iv);
        }
        judge_noise(w);
        const json_t *p = precision_of(doc, first->workload);
        const char *stop = p ? json_string_value(json_object_get(p, "stop")) : NULL;
        w->stop = stop;
    }
    free(a);
    free(b);
    return rc;
}

int pb_run_verdicts(const struct pb_results *doc, struct pb_run_verdicts *out)
{
    if (!doc || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->min_effect = PB_VERDICT_PRECISION;
    out->precision = PB_VERDICT_PRECISION;
    double v;
    if (pb_results_context_number(doc, "min_effect", &v) == 0 && v >= 0)
        out->min_effect = v;
    if (pb_results_context_number(doc, "precision_target", &v) == 0 && v > 0)
        out->precision = v;
    const char *reference = pb_results_context_string(doc, "reference");
    int rc = pb_results_make_view(doc);
    for (size_t i = 0; rc == 0 && i < pb_results_group_count(doc); i++) {
        const struct pb_results_group *g = pb_results_group_at(doc, i);
        bool seen = false;
        for (size_t k = 0; k < out->n && !seen; k++)
            seen = strcmp(out->w[k].workload, g->workload) == 0 && out->w[k].threads == g->threads;
        if (!seen)
            rc = add_workload(out, doc, g, reference);
    }
    if (rc)
        pb_run_verdicts_free(out);
    return rc;
}

void pb_run_verdicts_free(struct pb_run_verdicts *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++)
        free(v->w[i].v);
    free(v->w);
    memset(v, 0, sizeof(*v));
}
