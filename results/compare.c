/*
 * compare.c: B against A, metric by metric, from the per-metric view of the results reader:
 * medians, the interval of their ratio and its verdict in the metric's direction
 * (results/verdict.h, results/metrics.def), a Mann-Whitney test alongside for independent
 * samples.
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
    *o = (struct pb_cmp_opts){.min_effect = PB_VERDICT_PRECISION,
                              .alpha = 0.05,
                              .resamples = PB_VERDICT_RESAMPLES,
                              .seed = 1,
                              .metrics = NULL,
                              .all = false};
}

int pb_compare_samples(const char *metric, const double *a, size_t na, const double *b, size_t nb,
                       bool paired, const struct pb_cmp_opts *o, struct pb_cmp_row *row)
{
    if (!metric || !o || !row || (na && !a) || (nb && !b) || !(o->min_effect >= 0) ||
        !(o->alpha > 0 && o->alpha < 1) || (paired && na != nb))
        return -EINVAL;
    row->na = na;
    row->nb = nb;
    row->med_a = pb_median(a, na);
    row->med_b = pb_median(b, nb);
    row->cv_a = pb_cv(a, na);
    row->cv_b = pb_cv(b, nb);
    row->p = NAN;
    row->exact = false;
    struct pb_ratio_interval iv;
    int rc = pb_interval_for(metric, a, na, b, nb, paired, 1 - o->alpha, o->seed, &iv);
    if (rc)
        return rc;
    row->ratio = iv.ratio;
    row->method = iv.method;
    row->has_ci = iv.method != PB_INTERVAL_NONE;
    row->ci_lo = iv.lo;
    row->ci_hi = iv.hi;
    row->verdict = pb_verdict_decide(&iv, pb_metric_direction(metric), o->min_effect);
    /* Mann-Whitney alongside, where the samples are independent: a second opinion that needs
     * no assumption about their shape. */
    struct pb_mwu mwu;
    if (!paired && na >= 2 && nb >= 2 && pb_mwu_test(a, na, b, nb, &mwu) == 0) {
        row->p = mwu.p;
        row->exact = mwu.exact;
    }
    return 0;
}

static bool metric_selected(const char *metric, const struct pb_cmp_opts *o)
{
    if (pb_metric_direction(metric) == PB_METRIC_INFO)
        return false;
    if (!o->metrics)
        return o->all || pb_metric_is_headline(metric);
    for (const char *const *m = o->metrics; *m; m++)
        if (strcmp(*m, metric) == 0)
            return true;
    return false;
}

static int add_row(struct pb_cmp_result *r, const char *bench, const char *metric, const double *a,
                   size_t na, const double *b, size_t nb, bool paired, const struct pb_cmp_opts *o)
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
    int rc = pb_compare_samples(metric, a, na, b, nb, paired, o, row);
    if (rc)
        return rc;
    if (!(row->bench = strdup(bench)))
        return -ENOMEM;
    r->nrow++;
    return 0;
}

/*
 * Rows for every selected metric that both benchmarks have. Paired: a repetition of b goes with
 * the repetition of a of the same index (the same round), where both have the metric.
 */
static int compare_bench(struct pb_cmp_result *r, const char *label,
                         const struct pb_results_group *a, const struct pb_results_group *b,
                         bool paired, const struct pb_cmp_opts *o)
{
    double *va = malloc((a->nrep + 1) * sizeof(*va)), *vb = malloc((b->nrep + 1) * sizeof(*vb));
    int rc = va && vb ? 0 : -ENOMEM;
    for (size_t i = 0; i < a->nmetric && rc == 0; i++) {
        const struct pb_results_metric *ma = &a->metric[i];
        const struct pb_results_metric *mb = pb_results_group_metric(b, ma->name);
        if (!mb || !metric_selected(ma->name, o))
            continue;
        size_t na = 0, nb = 0;
        if (paired) {
            for (size_t x = 0; x < a->nrep; x++)
                for (size_t y = 0; y < b->nrep; y++)
                    if (a->rep_index[x] == b->rep_index[y] && isfinite(ma->val[x]) &&
                        isfinite(mb->val[y])) {
                        va[na++] = ma->val[x];
                        vb[nb++] = mb->val[y];
                    }
        } else {
            na = pb_results_metric_values(a, ma, va);
            nb = pb_results_metric_values(b, mb, vb);
        }
        rc = add_row(r, label, ma->name, va, na, vb, nb, paired, o);
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
    out->min_effect = o->min_effect;
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
        rc = gb ? compare_bench(out, ga->name, ga, gb, false, o)
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
    out->min_effect = o->min_effect;
    out->paired = true;
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
            rc = compare_bench(out, buf, g, partner, true, o);
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
