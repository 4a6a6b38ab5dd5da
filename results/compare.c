/*
 * compare.c: B against A, metric by metric, from the per-metric view of the results reader:
 * medians, their ratio, a Mann-Whitney test over the repetitions, a bootstrap interval for
 * tail percentiles, and a verdict in the metric's direction (results/metrics.def).
 */
#include "results/compare.h"

#include "core/pb.h"
#include "results/metrics.h"
#include "results/stats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Small helpers ======================================================================= */

void pb_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Entries a vector of n strings has room for (with its NULL): doubling, so that n pushes
 * cost O(n). */
static size_t strv_room(size_t n)
{
    size_t room = 4;
    while (room < n + 1)
        room *= 2;
    return room;
}

/* A copy of s appended to a NULL-ended vector of *n strings; 0 or -ENOMEM. */
static int strv_push(char ***v, size_t *n, const char *s)
{
    if (!*v || strv_room(*n + 1) != strv_room(*n)) {
        char **nv = realloc(*v, strv_room(*n + 1) * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
    }
    char **nv = *v;
    nv[*n] = strdup(s);
    nv[*n + 1] = NULL;
    return nv[(*n)++] ? 0 : -ENOMEM;
}

/* ==== Environment ========================================================================= */

static int env_diff_str(char ***v, size_t *n, const struct pb_results *a,
                        const struct pb_results *b, const char *key)
{
    const char *x = pb_results_context_string(a, key), *y = pb_results_context_string(b, key);
    if ((!x && !y) || (x && y && strcmp(x, y) == 0))
        return 0;
    char line[512];
    snprintf(line, sizeof(line), "%s: '%s' vs '%s'", key, x ? x : "(absent)", y ? y : "(absent)");
    return strv_push(v, n, line);
}

char **pb_env_mismatch(const struct pb_results *a, const struct pb_results *b, bool with_cpu_model,
                       bool with_num_cpus)
{
    char **v = NULL;
    size_t n = 0;
    if (with_cpu_model)
        env_diff_str(&v, &n, a, b, "cpu_model");
    env_diff_str(&v, &n, a, b, "compiler");
    env_diff_str(&v, &n, a, b, "build_type");
    double na = -1, nb = -1;
    pb_results_context_number(a, "num_cpus", &na);
    pb_results_context_number(b, "num_cpus", &nb);
    if (with_num_cpus && na != nb) {
        char line[128];
        snprintf(line, sizeof(line), "num_cpus: %.0f vs %.0f", na, nb);
        strv_push(&v, &n, line);
    }
    return v;
}

/* ==== Comparing =========================================================================== */

void pb_cmp_opts_default(struct pb_cmp_opts *o)
{
    *o = (struct pb_cmp_opts){
        .min_effect = 0.05, .alpha = 0.05, .resamples = 2000, .seed = 1, .metrics = NULL};
}

const char *pb_verdict_name(enum pb_verdict v)
{
    static const char *const names[] = {[PB_VERDICT_BETTER] = "better",
                                        [PB_VERDICT_WORSE] = "worse",
                                        [PB_VERDICT_NOISE] = "noise",
                                        [PB_VERDICT_INSUFFICIENT] = "insufficient"};
    PB_BUG_ON((size_t)v >= PB_ARRAY_SIZE(names));
    return names[v];
}

static double ratio_of(double b, double a)
{
    if (a != 0)
        return b / a;
    return b == 0 ? 1 : (b > 0 ? INFINITY : -INFINITY);
}

int pb_compare_samples(const char *metric, const double *a, size_t na, const double *b, size_t nb,
                       const struct pb_cmp_opts *o, struct pb_cmp_row *row)
{
    if (!metric || !o || !row || (na && !a) || (nb && !b) || !(o->min_effect >= 0) ||
        !(o->alpha > 0 && o->alpha < 1))
        return -EINVAL;
    row->na = na;
    row->nb = nb;
    row->med_a = pb_median(a, na);
    row->med_b = pb_median(b, nb);
    row->ratio = na && nb ? ratio_of(row->med_b, row->med_a) : NAN;
    row->p = NAN;
    row->exact = false;
    row->has_ci = false;
    row->ci_lo = row->ci_hi = NAN;
    if (na < 2 || nb < 2) {
        row->verdict = PB_VERDICT_INSUFFICIENT; /* never a verdict from one repetition */
        return 0;
    }
    struct pb_mwu mwu;
    int rc = pb_mwu_test(a, na, b, nb, &mwu);
    if (rc)
        return rc;
    row->p = mwu.p;
    row->exact = mwu.exact;
    if (pb_mwu_min_p(na, nb) >= o->alpha) {
        /* e.g. 3 against 3: no outcome could reach p < alpha, so no verdict either way */
        row->verdict = PB_VERDICT_INSUFFICIENT;
        return 0;
    }

    bool up, down; /* B moved above / below A by more than the minimum effect */
    if (pb_metric_is_tail(metric)) {
        rc = pb_bootstrap_ratio_ci(a, na, b, nb, o->resamples, 1 - o->alpha, o->seed, &row->ci_lo,
                                   &row->ci_hi);
        if (rc && rc != -EDOM)
            return rc;
        row->has_ci = rc == 0;
        up = row->has_ci && row->ci_lo > 1 + o->min_effect;
        down = row->has_ci && row->ci_hi < 1 - o->min_effect;
    } else {
        bool significant = row->p < o->alpha;
        up = significant && row->ratio >= 1 + o->min_effect;
        down = significant && row->ratio <= 1 - o->min_effect;
    }
    bool higher_better = pb_metric_direction(metric) == PB_METRIC_HIGHER;
    if (up)
        row->verdict = higher_better ? PB_VERDICT_BETTER : PB_VERDICT_WORSE;
    else if (down)
        row->verdict = higher_better ? PB_VERDICT_WORSE : PB_VERDICT_BETTER;
    else
        row->verdict = PB_VERDICT_NOISE;
    return 0;
}

static bool metric_selected(const char *metric, const struct pb_cmp_opts *o)
{
    if (pb_metric_direction(metric) == PB_METRIC_INFO)
        return false;
    if (!o->metrics)
        return true;
    for (const char *const *m = o->metrics; *m; m++)
        if (strcmp(*m, metric) == 0)
            return true;
    return false;
}

static int add_row(struct pb_cmp_result *r, const char *bench, const char *metric, const double *a,
                   size_t na, const double *b, size_t nb, const struct pb_cmp_opts *o)
{
    if (r->nrow == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 64;
        struct pb_cmp_row *nr = realloc(r->row, cap * sizeof(*nr));
        if (!nr)
            return -ENOMEM;
        r->row = nr;
        r->cap = cap;
    }
    struct pb_cmp_row *row = &r->row[r->nrow];
    *row = (struct pb_cmp_row){.metric = metric};
    int rc = pb_compare_samples(metric, a, na, b, nb, o, row);
    if (rc)
        return rc;
    if (!(row->bench = strdup(bench)))
        return -ENOMEM;
    r->nrow++;
    return 0;
}

/* Rows for every selected metric that both benchmarks have. */
static int compare_bench(struct pb_cmp_result *r, const char *label,
                         const struct pb_results_group *a, const struct pb_results_group *b,
                         const struct pb_cmp_opts *o)
{
    double *va = malloc((a->nrep + 1) * sizeof(*va)), *vb = malloc((b->nrep + 1) * sizeof(*vb));
    int rc = va && vb ? 0 : -ENOMEM;
    for (size_t i = 0; i < a->nmetric && rc == 0; i++) {
        const struct pb_results_metric *ma = &a->metric[i];
        const struct pb_results_metric *mb = pb_results_group_metric(b, ma->name);
        if (!mb || !metric_selected(ma->name, o))
            continue;
        size_t na = pb_results_metric_values(a, ma, va), nb = pb_results_metric_values(b, mb, vb);
        rc = add_row(r, label, ma->name, va, na, vb, nb, o);
    }
    free(va);
    free(vb);
    return rc;
}

static void finish_geomean(struct pb_cmp_result *r)
{
    double *ratios = malloc((r->nrow + 1) * sizeof(*ratios));
    size_t n = 0;
    for (size_t i = 0; ratios && i < r->nrow; i++)
        if (strcmp(r->row[i].metric, "pages_per_second") == 0 && r->row[i].ratio > 0 &&
            isfinite(r->row[i].ratio))
            ratios[n++] = r->row[i].ratio;
    r->geomean = ratios ? pb_geomean(ratios, n) : NAN;
    r->ngeomean = n;
    free(ratios);
}

static char *file_label(const struct pb_results *f)
{
    const char *commit = pb_results_context_string(f, "git_commit");
    const char *host = pb_results_context_string(f, "host_name");
    const char *date = pb_results_context_string(f, "date");
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s (commit %.12s, host %s, %s)", pb_results_path(f),
             commit ? commit : "?", host ? host : "?", date ? date : "no date");
    return strdup(buf);
}

int pb_compare_files(const struct pb_results *a, const struct pb_results *b,
                     const struct pb_cmp_opts *o, struct pb_cmp_result *out)
{
    if (!a || !b || !o || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->ci_level = 1 - o->alpha;
    out->label_a = file_label(a);
    out->label_b = file_label(b);
    out->env_mismatch = pb_env_mismatch(a, b, true, true);
    out->partial_a = pb_results_is_partial(a);
    out->partial_b = pb_results_is_partial(b);
    int rc =
        out->label_a && out->label_b && pb_results_make_view(a) == 0 && pb_results_make_view(b) == 0
            ? 0
            : -ENOMEM;
    for (size_t i = 0; i < pb_results_group_count(a) && rc == 0; i++) {
        const struct pb_results_group *ga = pb_results_group_at(a, i);
        const struct pb_results_group *gb = pb_results_find_group(b, ga->name);
        out->ncommon += gb != NULL;
        rc = gb ? compare_bench(out, ga->name, ga, gb, o)
                : strv_push(&out->only_a, &out->nonly_a, ga->name);
    }
    for (size_t i = 0; i < pb_results_group_count(b) && rc == 0; i++) {
        const struct pb_results_group *gb = pb_results_group_at(b, i);
        if (!pb_results_find_group(a, gb->name))
            rc = strv_push(&out->only_b, &out->nonly_b, gb->name);
    }
    finish_geomean(out);
    if (rc)
        pb_cmp_result_free(out);
    return rc;
}

int pb_compare_variants(const struct pb_results *f, const char *va, const char *vb,
                        const struct pb_cmp_opts *o, struct pb_cmp_result *out)
{
    if (!f || !va || !vb || !o || !out || strcmp(va, vb) == 0)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->ci_level = 1 - o->alpha;
    char buf[1024];
    snprintf(buf, sizeof(buf), "variant %s in %s", va, pb_results_path(f));
    out->label_a = strdup(buf);
    snprintf(buf, sizeof(buf), "variant %s in %s", vb, pb_results_path(f));
    out->label_b = strdup(buf);
    out->partial_a = out->partial_b = pb_results_is_partial(f);
    int rc = out->label_a && out->label_b && pb_results_make_view(f) == 0 ? 0 : -ENOMEM;
    bool any_a = false, any_b = false;
    for (size_t i = 0; i < pb_results_group_count(f) && rc == 0; i++) {
        const struct pb_results_group *g = pb_results_group_at(f, i);
        bool is_a = strcmp(g->variant, va) == 0, is_b = strcmp(g->variant, vb) == 0;
        if (!is_a && !is_b)
            continue;
        const struct pb_results_group *partner =
            pb_results_find_variant(f, g->workload, is_a ? vb : va, g->threads);
        any_a |= is_a;
        any_b |= is_b;
        if (!partner) {
            rc = is_a ? strv_push(&out->only_a, &out->nonly_a, g->name)
                      : strv_push(&out->only_b, &out->nonly_b, g->name);
        } else if (is_a) {
            out->ncommon++;
            snprintf(buf, sizeof(buf), "%s/threads:%u", g->workload, g->threads);
            rc = compare_bench(out, buf, g, partner, o);
        }
    }
    if (rc == 0 && (!any_a || !any_b))
        rc = -ENOENT;
    finish_geomean(out);
    if (rc)
        pb_cmp_result_free(out);
    return rc;
}

void pb_cmp_result_free(struct pb_cmp_result *r)
{
    if (!r)
        return;
    free(r->label_a);
    free(r->label_b);
    pb_strv_free(r->env_mismatch);
    pb_strv_free(r->only_a);
    pb_strv_free(r->only_b);
    for (size_t i = 0; i < r->nrow; i++)
        free(r->row[i].bench);
    free(r->row);
    memset(r, 0, sizeof(*r));
}

const struct pb_cmp_row *pb_cmp_find(const struct pb_cmp_result *r, const char *bench,
                                     const char *metric)
{
    for (size_t i = 0; i < r->nrow; i++)
        if (strcmp(r->row[i].bench, bench) == 0 && strcmp(r->row[i].metric, metric) == 0)
            return &r->row[i];
    return NULL;
}
