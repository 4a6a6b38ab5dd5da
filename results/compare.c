#include "results/compare.h"
#include "results/results.h"

#include "core/pb.h"
#include "results/cli_internal.h"
#include "results/stats.h"
#include "results/compare_table.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== Small helpers ======================================================================= */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *json_dup_string(const json_t *obj, const char *key)
{
    return dup_or_null(json_string_value(json_object_get(obj, key)));
}

void pb_strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

/* Appends a copy of s to a NULL-ended vector; returns 0 or -ENOMEM. */
static int strv_push(char ***v, const char *s)
{
    size_t n = 0;
    while (*v && (*v)[n])
        n++;
    char **nv = realloc(*v, (n + 2) * sizeof(*nv));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    nv[n] = strdup(s);
    nv[n + 1] = NULL;
    return nv[n] ? 0 : -ENOMEM;
}

/* ==== Metrics ============================================================================= */

static const char *const metric_order[] = {
    "pages_per_second",
    "gib_per_second",
    "extents_per_second",
    "calls_per_second",
    "real_time",
    "cpu_time",
    "call_p50_ns",
    "call_p90_ns",
    "call_p99_ns",
    "call_p999_ns",
    "call_p9999_ns",
    "call_max_ns",
    "invocation_p50_ns",
    "invocation_p90_ns",
    "invocation_p99_ns",
    "invocation_p999_ns",
    "invocation_p9999_ns",
    "invocation_max_ns",
    "lock_acq_per_page",
    "lock_wait_ns_per_page",
    "lock_contended_pct",
    "scrub_pages_per_page",
    "scrub_backlog_max_pages",
    "continuations_per_call",
    "instructions",
};

/* Keys of a benchmark entry that identify it rather than measure it. */
static const char *const identity_keys[] = {
    "repetitions", "repetition_index", "threads", "family_index", "per_family_instance_index",
};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* The results library owns what each metric means; this only maps its enum. */
enum pb_direction pb_metric_direction(const char *metric)
{
    switch (pb_results_metric_direction(metric)) {
    case PB_RESULTS_HIGHER_IS_BETTER:
        return PB_HIGHER_IS_BETTER;
    case PB_RESULTS_INFORMATIONAL:
        return PB_INFORMATIONAL;
    default:
        return PB_LOWER_IS_BETTER;
    }
}

bool pb_metric_is_tail(const char *metric)
{
    bool latency = strncmp(metric, "call_", 5) == 0 || strncmp(metric, "invocation_", 11) == 0;
    return latency && (strstr(metric, "_p99") || ends_with(metric, "_max_ns"));
}

int pb_metric_rank(const char *metric)
{
    for (size_t i = 0; i < PB_ARRAY_SIZE(metric_order); i++)
        if (strcmp(metric, metric_order[i]) == 0)
            return (int)i;
    return (int)PB_ARRAY_SIZE(metric_order);
}

static int cmp_metric_name(const void *pa, const void *pb)
{
    const char *a = *(const char *const *)pa, *b = *(const char *const *)pb;
    int ra = pb_metric_rank(a), rb = pb_metric_rank(b);
    return ra != rb ? ra - rb : strcmp(a, b);
}

/* ==== Loading ============================================================================= */

/* Entries of one benchmark name while the file is being grouped. */
struct group {
    const char *name;
    json_t **entry;
    size_t n, cap;
};

static int cmp_entry_rep(const void *pa, const void *pb)
{
    json_int_t a = json_integer_value(json_object_get(*(json_t *const *)pa, "repetition_index"));
    json_int_t b = json_integer_value(json_object_get(*(json_t *const *)pb, "repetition_index"));
    return (a > b) - (a < b);
}

static void bench_free(struct pb_rbench *b)
{
    free(b->name);
    free(b->workload);
    free(b->variant);
    free(b->rep_index);
    for (size_t i = 0; i < b->nmetric; i++) {
        free(b->metric[i].name);
        free(b->metric[i].val);
    }
    free(b->metric);
}

void pb_rfile_free(struct pb_rfile *rf)
{
    if (!rf)
        return;
    free(rf->path);
    free(rf->env.host_name);
    free(rf->env.cpu_model);
    free(rf->env.compiler);
    free(rf->env.build_type);
    free(rf->env.git_commit);
    free(rf->env.date);
    for (size_t i = 0; i < rf->nbench; i++)
        bench_free(&rf->bench[i]);
    free(rf->bench);
    free(rf);
}

/* workload, variant and threads from the entry, or else from its name workload/variant/threads:N.
 */
static int bench_identity(struct pb_rbench *b, const json_t *e)
{
    b->workload = json_dup_string(e, "workload");
    b->variant = json_dup_string(e, "variant");
    json_t *t = json_object_get(e, "threads");
    b->threads = json_is_integer(t) ? (long)json_integer_value(t) : -1;
    char *copy = strdup(b->name), *save = NULL;
    if (!copy)
        return -ENOMEM;
    char *w = strtok_r(copy, "/", &save), *v = strtok_r(NULL, "/", &save);
    char *th = strtok_r(NULL, "/", &save);
    if (!b->workload)
        b->workload = strdup(w ? w : "");
    if (!b->variant)
        b->variant = strdup(v ? v : "");
    if (b->threads < 0 && th && strncmp(th, "threads:", 8) == 0)
        b->threads = strtol(th + 8, NULL, 10);
    free(copy);
    return b->workload && b->variant ? 0 : -ENOMEM;
}

static bool is_metric_key(const char *key, const json_t *v)
{
    return json_is_number(v) && !in_list(key, identity_keys, PB_ARRAY_SIZE(identity_keys));
}

static int bench_build(struct pb_rbench *b, struct group *g, const char *path, char *err,
                       size_t errlen)
{
    qsort(g->entry, g->n, sizeof(*g->entry), cmp_entry_rep);
    b->name = strdup(g->name);
    b->nrep = g->n;
    b->rep_index = calloc(g->n, sizeof(*b->rep_index));
    if (!b->name || !b->rep_index)
        return -ENOMEM;
    int rc = bench_identity(b, g->entry[0]);
    if (rc)
        return rc;
    for (size_t r = 0; r < g->n; r++) {
        b->rep_index[r] =
            (long)json_integer_value(json_object_get(g->entry[r], "repetition_index"));
        if (r > 0 && b->rep_index[r] == b->rep_index[r - 1]) {
            pb_errf(err, errlen, "%s: benchmark '%s': repetition_index %ld appears twice", path,
                    b->name, b->rep_index[r]);
            return -EINVAL;
        }
    }

    /* The union of metric names over the repetitions, in report order. */
    size_t cap = 0;
    const char **names = NULL;
    size_t nnames = 0;
    for (size_t r = 0; r < g->n; r++) {
        const char *key;
        json_t *v;
        json_object_foreach(g->entry[r], key, v)
        {
            if (!is_metric_key(key, v))
                continue;
            bool seen = false;
            for (size_t i = 0; i < nnames && !seen; i++)
                seen = strcmp(names[i], key) == 0;
            if (seen)
                continue;
            if (nnames == cap) {
                cap = cap ? cap * 2 : 32;
                const char **nn = realloc(names, cap * sizeof(*nn));
                if (!nn) {
                    free(names);
                    return -ENOMEM;
                }
                names = nn;
            }
            names[nnames++] = key;
        }
    }
    qsort(names, nnames, sizeof(*names), cmp_metric_name);
    b->metric = calloc(nnames ? nnames : 1, sizeof(*b->metric));
    if (!b->metric) {
        free(names);
        return -ENOMEM;
    }
    for (size_t i = 0; i < nnames; i++) {
        struct pb_rmetric *m = &b->metric[b->nmetric++];
        m->name = strdup(names[i]);
        m->val = malloc(g->n * sizeof(*m->val));
        if (!m->name || !m->val) {
            free(names);
            return -ENOMEM;
        }
        for (size_t r = 0; r < g->n; r++) {
            json_t *v = json_object_get(g->entry[r], names[i]);
            m->val[r] = json_is_number(v) ? json_number_value(v) : NAN;
        }
    }
    free(names);
    return 0;
}

static int check_entry(const json_t *e, size_t i, const char *path, char *err, size_t errlen)
{
    if (!json_is_object(e)) {
        pb_errf(err, errlen, "%s: benchmarks[%zu]: expected an object", path, i);
        return -EINVAL;
    }
    if (!json_is_string(json_object_get(e, "name"))) {
        pb_errf(err, errlen, "%s: benchmarks[%zu].name: expected a string", path, i);
        return -EINVAL;
    }
    json_t *ri = json_object_get(e, "repetition_index");
    if (ri && !json_is_integer(ri)) {
        pb_errf(err, errlen, "%s: benchmarks[%zu].repetition_index: expected an integer", path, i);
        return -EINVAL;
    }
    if (!json_is_number(json_object_get(e, "pages_per_second"))) {
        pb_errf(err, errlen, "%s: benchmarks[%zu].pages_per_second: expected a number", path, i);
        return -EINVAL;
    }
    return 0;
}

static void load_env(struct pb_renv *env, const json_t *ctx)
{
    env->host_name = json_dup_string(ctx, "host_name");
    env->cpu_model = json_dup_string(ctx, "cpu_model");
    env->compiler = json_dup_string(ctx, "compiler");
    env->build_type = json_dup_string(ctx, "build_type");
    env->git_commit = json_dup_string(ctx, "git_commit");
    env->date = json_dup_string(ctx, "date");
    json_t *ncpu = json_object_get(ctx, "num_cpus");
    env->num_cpus = json_is_integer(ncpu) ? (long)json_integer_value(ncpu) : -1;
    env->partial = json_is_true(json_object_get(ctx, "partial"));
}

static int group_entries(json_t *benches, struct group **groups, size_t *ngroups, const char *path,
                         char *err, size_t errlen)
{
    size_t cap = 0, n = 0;
    struct group *g = NULL;
    size_t idx;
    json_t *e;
    int rc = 0;
    json_array_foreach(benches, idx, e)
    {
        if ((rc = check_entry(e, idx, path, err, errlen)))
            break;
        if (strcmp(json_string_value(json_object_get(e, "run_type")) ?: "", "aggregate") == 0)
            continue;
        const char *name = json_string_value(json_object_get(e, "name"));
        size_t k = 0;
        while (k < n && strcmp(g[k].name, name) != 0)
            k++;
        if (k == n) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                struct group *ng = realloc(g, cap * sizeof(*ng));
                if (!ng) {
                    rc = -ENOMEM;
                    break;
                }
                g = ng;
            }
            g[n++] = (struct group){.name = name};
        }
        if (g[k].n == g[k].cap) {
            g[k].cap = g[k].cap ? g[k].cap * 2 : 8;
            json_t **ne = realloc(g[k].entry, g[k].cap * sizeof(*ne));
            if (!ne) {
                rc = -ENOMEM;
                break;
            }
            g[k].entry = ne;
        }
        g[k].entry[g[k].n++] = e;
    }
    *groups = g;
    *ngroups = n;
    return rc;
}

int pb_rfile_load(const char *path, struct pb_rfile **out, char *err, size_t errlen)
{
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        pb_errf(err, errlen, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!root) {
        pb_errf(err, errlen, "%s:%d:%d: expected a JSON results file: %s", path, jerr.line,
                jerr.column, jerr.text);
        return -EINVAL;
    }

    int rc = -EINVAL;
    struct group *groups = NULL;
    size_t ngroups = 0;
    struct pb_rfile *rf = calloc(1, sizeof(*rf));
    json_t *ctx = json_object_get(root, "context");
    json_t *version = json_object_get(ctx, "popbench_results_version");
    json_t *benches = json_object_get(root, "benchmarks");
    if (!rf || !(rf->path = strdup(path))) {
        rc = -ENOMEM;
    } else if (!json_is_object(root) || !json_is_object(ctx)) {
        pb_errf(err, errlen, "%s: expected a JSON object with a \"context\" object", path);
    } else if (!json_is_integer(version)) {
        pb_errf(err, errlen,
                "%s: context.popbench_results_version: expected an integer (is this a popbench "
                "results file?)",
                path);
    } else if (json_integer_value(version) != PB_RESULTS_VERSION) {
        pb_errf(err, errlen, "%s: results version %lld, expected version %d", path,
                (long long)json_integer_value(version), PB_RESULTS_VERSION);
    } else if (!json_is_array(benches)) {
        pb_errf(err, errlen, "%s: \"benchmarks\": expected an array", path);
    } else if (!(rc = group_entries(benches, &groups, &ngroups, path, err, errlen))) {
        load_env(&rf->env, ctx);
        rf->bench = calloc(ngroups ? ngroups : 1, sizeof(*rf->bench));
        rc = rf->bench ? 0 : -ENOMEM;
        for (size_t i = 0; i < ngroups && rc == 0; i++) {
            rf->nbench++;
            rc = bench_build(&rf->bench[i], &groups[i], path, err, errlen);
        }
    }
    for (size_t i = 0; i < ngroups; i++)
        free(groups[i].entry);
    free(groups);
    json_decref(root);
    if (rc) {
        if (rc == -ENOMEM)
            pb_errf(err, errlen, "%s: out of memory", path);
        pb_rfile_free(rf);
        return rc;
    }
    *out = rf;
    return 0;
}

const struct pb_rbench *pb_rfile_find(const struct pb_rfile *rf, const char *name)
{
    for (size_t i = 0; i < rf->nbench; i++)
        if (strcmp(rf->bench[i].name, name) == 0)
            return &rf->bench[i];
    return NULL;
}

const struct pb_rbench *pb_rfile_find_variant(const struct pb_rfile *rf, const char *workload,
                                              const char *variant, long threads)
{
    for (size_t i = 0; i < rf->nbench; i++) {
        const struct pb_rbench *b = &rf->bench[i];
        if (b->threads == threads && strcmp(b->workload, workload) == 0 &&
            strcmp(b->variant, variant) == 0)
            return b;
    }
    return NULL;
}

const struct pb_rmetric *pb_rbench_metric(const struct pb_rbench *b, const char *name)
{
    for (size_t i = 0; i < b->nmetric; i++)
        if (strcmp(b->metric[i].name, name) == 0)
            return &b->metric[i];
    return NULL;
}

size_t pb_metric_values(const struct pb_rbench *b, const struct pb_rmetric *m, double *out)
{
    size_t n = 0;
    for (size_t r = 0; r < b->nrep; r++)
        if (isfinite(m->val[r]))
            out[n++] = m->val[r];
    return n;
}

/* ==== Environment ========================================================================= */

static int env_diff_str(char ***v, const char *key, const char *a, const char *b)
{
    if ((!a && !b) || (a && b && strcmp(a, b) == 0))
        return 0;
    char line[512];
    snprintf(line, sizeof(line), "%s: '%s' vs '%s'", key, a ? a : "(absent)", b ? b : "(absent)");
    return strv_push(v, line);
}

char **pb_env_mismatch(const struct pb_renv *a, const struct pb_renv *b, bool with_cpu_model,
                       bool with_num_cpus)
{
    char **v = NULL;
    if (with_cpu_model)
        env_diff_str(&v, "cpu_model", a->cpu_model, b->cpu_model);
    env_diff_str(&v, "compiler", a->compiler, b->compiler);
    env_diff_str(&v, "build_type", a->build_type, b->build_type);
    if (with_num_cpus && a->num_cpus != b->num_cpus) {
        char line[128];
        snprintf(line, sizeof(line), "num_cpus: %ld vs %ld", a->num_cpus, b->num_cpus);
        strv_push(&v, line);
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
    switch (v) {
    case PB_VERDICT_BETTER:
        return "better";
    case PB_VERDICT_WORSE:
        return "worse";
    case PB_VERDICT_NOISE:
        return "noise";
    case PB_VERDICT_INSUFFICIENT:
        return "insufficient";
    }
    PB_BUG_ON(1);
    return "?";
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
    bool higher_better = pb_metric_direction(metric) == PB_HIGHER_IS_BETTER;
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
    if (pb_metric_direction(metric) == PB_INFORMATIONAL)
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
static int compare_bench(struct pb_cmp_result *r, const char *label, const struct pb_rbench *a,
                         const struct pb_rbench *b, const struct pb_cmp_opts *o)
{
    double *va = malloc((a->nrep + 1) * sizeof(*va)), *vb = malloc((b->nrep + 1) * sizeof(*vb));
    int rc = va && vb ? 0 : -ENOMEM;
    for (size_t i = 0; i < a->nmetric && rc == 0; i++) {
        const struct pb_rmetric *ma = &a->metric[i], *mb = pb_rbench_metric(b, ma->name);
        if (!mb || !metric_selected(ma->name, o))
            continue;
        size_t na = pb_metric_values(a, ma, va), nb = pb_metric_values(b, mb, vb);
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

static char *file_label(const struct pb_rfile *f)
{
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s (commit %.12s, host %s, %s)", f->path,
             f->env.git_commit ? f->env.git_commit : "?", f->env.host_name ? f->env.host_name : "?",
             f->env.date ? f->env.date : "no date");
    return strdup(buf);
}

int pb_compare_files(const struct pb_rfile *a, const struct pb_rfile *b,
                     const struct pb_cmp_opts *o, struct pb_cmp_result *out)
{
    if (!a || !b || !o || !out)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->ci_level = 1 - o->alpha;
    out->label_a = file_label(a);
    out->label_b = file_label(b);
    out->env_mismatch = pb_env_mismatch(&a->env, &b->env, true, true);
    out->partial_a = a->env.partial;
    out->partial_b = b->env.partial;
    int rc = out->label_a && out->label_b ? 0 : -ENOMEM;
    for (size_t i = 0; i < a->nbench && rc == 0; i++) {
        const struct pb_rbench *ba = &a->bench[i], *bb = pb_rfile_find(b, ba->name);
        rc = bb ? compare_bench(out, ba->name, ba, bb, o) : strv_push(&out->only_a, ba->name);
    }
    for (size_t i = 0; i < b->nbench && rc == 0; i++)
        if (!pb_rfile_find(a, b->bench[i].name))
            rc = strv_push(&out->only_b, b->bench[i].name);
    finish_geomean(out);
    if (rc)
        pb_cmp_result_free(out);
    return rc;
}

int pb_compare_variants(const struct pb_rfile *f, const char *va, const char *vb,
                        const struct pb_cmp_opts *o, struct pb_cmp_result *out)
{
    if (!f || !va || !vb || !o || !out || strcmp(va, vb) == 0)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    out->ci_level = 1 - o->alpha;
    char buf[1024];
    snprintf(buf, sizeof(buf), "variant %s in %s", va, f->path);
    out->label_a = strdup(buf);
    snprintf(buf, sizeof(buf), "variant %s in %s", vb, f->path);
    out->label_b = strdup(buf);
    out->partial_a = out->partial_b = f->env.partial;
    int rc = out->label_a && out->label_b ? 0 : -ENOMEM;
    bool any_a = false, any_b = false;
    for (size_t i = 0; i < f->nbench && rc == 0; i++) {
        const struct pb_rbench *b = &f->bench[i];
        bool is_a = strcmp(b->variant, va) == 0, is_b = strcmp(b->variant, vb) == 0;
        if (!is_a && !is_b)
            continue;
        const struct pb_rbench *partner =
            pb_rfile_find_variant(f, b->workload, is_a ? vb : va, b->threads);
        any_a |= is_a;
        any_b |= is_b;
        if (!partner) {
            rc = strv_push(is_a ? &out->only_a : &out->only_b, b->name);
        } else if (is_a) {
            snprintf(buf, sizeof(buf), "%s/threads:%ld", b->workload, b->threads);
            rc = compare_bench(out, buf, b, partner, o);
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

/* ==== Output ============================================================================== */

static json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_strv(char **v)
{
    json_t *a = json_array();
    for (char **p = v; p && *p; p++)
        json_array_append_new(a, json_string(*p));
    return a;
}

static json_t *result_json(const struct pb_cmp_result *r, const struct pb_cmp_opts *o)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < r->nrow; i++) {
        const struct pb_cmp_row *w = &r->row[i];
        json_t *ci =
            w->has_ci ? json_pack("[o,o]", json_num(w->ci_lo), json_num(w->ci_hi)) : json_null();
        json_array_append_new(
            rows, json_pack("{s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:o,s:b,s:o,s:s}", "benchmark", w->bench,
                            "metric", w->metric, "n_a", (json_int_t)w->na, "n_b", (json_int_t)w->nb,
                            "median_a", json_num(w->med_a), "median_b", json_num(w->med_b), "ratio",
                            json_num(w->ratio), "p", json_num(w->p), "p_exact", w->exact, "ci", ci,
                            "verdict", pb_verdict_name(w->verdict)));
    }
    return json_pack(
        "{s:s,s:s,s:o,s:b,s:b,s:f,s:f,s:f,s:o,s:o,s:I,s:o,s:o}", "a", r->label_a, "b", r->label_b,
        "environment_mismatch", json_strv(r->env_mismatch), "partial_a", r->partial_a, "partial_b",
        r->partial_b, "alpha", o->alpha, "min_effect", o->min_effect, "ci_level", r->ci_level,
        "rows", rows, "geomean_pages_per_second_ratio", json_num(r->geomean), "geomean_count",
        (json_int_t)r->ngeomean, "only_a", json_strv(r->only_a), "only_b", json_strv(r->only_b));
}

static void fmt_num(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.4g", v);
}

static void print_text(const struct pb_cmp_result *r, bool md, FILE *out)
{
    fprintf(out, md ? "## B against A\n\n- A: %s\n- B: %s\n" : "A: %s\nB: %s\n", r->label_a,
            r->label_b);
    if (r->env_mismatch) {
        fprintf(out, md ? "\n> **ENVIRONMENT DIFFERS**: the ratios may measure the machines, "
                          "not the code.\n"
                        : "\n*** ENVIRONMENT DIFFERS: the ratios may measure the machines, not "
                          "the code.\n");
        for (char **p = r->env_mismatch; *p; p++)
            fprintf(out, md ? "> - %s\n" : "***   %s\n", *p);
    }
    if (r->partial_a || r->partial_b)
        fprintf(out, "\nNOTE: %s is a partial (interrupted) run.\n",
                r->partial_a && r->partial_b ? "each side"
                : r->partial_a               ? "A"
                                             : "B");
    fputc('\n', out);

    char ci_head[32];
    snprintf(ci_head, sizeof(ci_head), "%.0f%% CI of B/A", r->ci_level * 100);
    struct pb_ctable t;
    pb_ctable_init(&t, 9);
    pb_ctable_add(&t, "benchmark", "metric", "n A/B", "median A", "median B", "B/A", "p", ci_head,
                  "verdict");
    for (size_t i = 0; i < r->nrow; i++) {
        const struct pb_cmp_row *w = &r->row[i];
        char n[32], ma[32], mb[32], ratio[32], p[32], ci[64];
        snprintf(n, sizeof(n), "%zu/%zu", w->na, w->nb);
        fmt_num(ma, sizeof(ma), w->med_a);
        fmt_num(mb, sizeof(mb), w->med_b);
        if (isnan(w->ratio))
            snprintf(ratio, sizeof(ratio), "-");
        else
            snprintf(ratio, sizeof(ratio), "%.3f", w->ratio);
        if (isnan(w->p))
            snprintf(p, sizeof(p), "-");
        else
            snprintf(p, sizeof(p), "%.3g%s", w->p, w->exact ? "" : "~");
        if (w->has_ci)
            snprintf(ci, sizeof(ci), "[%.3f, %.3f]", w->ci_lo, w->ci_hi);
        else
            snprintf(ci, sizeof(ci), "-");
        pb_ctable_add(&t, w->bench, w->metric, n, ma, mb, ratio, p, ci,
                      pb_verdict_name(w->verdict));
    }
    pb_ctable_print(&t, md, out);
    pb_ctable_free(&t);

    if (r->ngeomean)
        fprintf(out,
                "\nGeometric mean of pages_per_second ratios (B/A) over %zu benchmark%s: %.3f\n",
                r->ngeomean, r->ngeomean == 1 ? "" : "s", r->geomean);
    for (char **p = r->only_a; p && *p; p++)
        fprintf(out, "only in A: %s\n", *p);
    for (char **p = r->only_b; p && *p; p++)
        fprintf(out, "only in B: %s\n", *p);
}

int pb_cmp_print(const struct pb_cmp_result *r, size_t n, enum pb_format fmt,
                 const struct pb_cmp_opts *o, FILE *out)
{
    if ((!r && n) || !o || !out)
        return -EINVAL;
    if (fmt == PB_FORMAT_JSON) {
        json_t *all = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(all, result_json(&r[i], o));
        json_t *doc = json_pack("{s:o}", "comparisons", all);
        int rc = json_dumpf(doc, out, JSON_INDENT(2));
        json_decref(doc);
        fputc('\n', out);
        return rc ? -EIO : 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc('\n', out);
        print_text(&r[i], fmt == PB_FORMAT_MARKDOWN, out);
    }
    if (fmt == PB_FORMAT_TABLE || fmt == PB_FORMAT_MARKDOWN)
        fprintf(out,
                "\np: two-sided Mann-Whitney U over repetitions (exact; ~ marks the normal "
                "approximation with tie correction). Tail percentiles are judged by a bootstrap "
                "interval of the ratio of medians (%u resamples of the repetitions, seed %llu); "
                "other metrics need p < %g. A verdict needs a change beyond %g%%.\n",
                o->resamples, (unsigned long long)o->seed, o->alpha, o->min_effect * 100);
    return ferror(out) ? -EIO : 0;
}
