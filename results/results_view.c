/*
 * results_view.c: reading a document: its entries one by one, and the per-metric view that
 * groups them by benchmark (name -> repetitions -> one value per metric), which compare, gate,
 * history and the terminal table read.
 *
 * The view is made on first use, in time linear in the document (hashes, not scans), and
 * dropped by any change to the document.
 */
#include "results/results_internal.h"

#include "core/pb.h"
#include "results/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================================
 * Entries one by one
 * ========================================================================================== */

const char *pb_results_path(const struct pb_results *doc)
{
    return doc ? doc->path : NULL;
}

size_t pb_results_bench_count(const struct pb_results *doc)
{
    return doc ? doc->nbenches : 0;
}

const struct pb_results_bench *pb_results_bench_at(const struct pb_results *doc, size_t i)
{
    return doc && i < doc->nbenches ? doc->benches[i] : NULL;
}

const char *pb_results_bench_name(const struct pb_results_bench *b)
{
    return pb_results_str(b->entry, "name");
}

const char *pb_results_bench_workload(const struct pb_results_bench *b)
{
    return pb_results_str(b->entry, "workload");
}

const char *pb_results_bench_variant(const struct pb_results_bench *b)
{
    return pb_results_str(b->entry, "variant");
}

const char *pb_results_bench_lock_kind(const struct pb_results_bench *b)
{
    return pb_results_str(b->entry, "lock_kind");
}

unsigned pb_results_bench_threads(const struct pb_results_bench *b)
{
    return (unsigned)pb_results_uint(b->entry, "threads");
}

unsigned pb_results_bench_repetition_index(const struct pb_results_bench *b)
{
    return (unsigned)pb_results_uint(b->entry, "repetition_index");
}

unsigned pb_results_bench_repetitions(const struct pb_results_bench *b)
{
    return (unsigned)pb_results_uint(b->entry, "repetitions");
}

uint64_t pb_results_bench_iterations(const struct pb_results_bench *b)
{
    return pb_results_uint(b->entry, "iterations");
}

double pb_results_bench_real_time(const struct pb_results_bench *b)
{
    return json_number_value(json_object_get(b->entry, "real_time"));
}

double pb_results_bench_cpu_time(const struct pb_results_bench *b)
{
    return json_number_value(json_object_get(b->entry, "cpu_time"));
}

int pb_results_bench_counter(const struct pb_results_bench *b, const char *name, double *value)
{
    return b ? pb_results_number(b->entry, name, value) : -EINVAL;
}

const char *pb_results_bench_string(const struct pb_results_bench *b, const char *name)
{
    return b && name ? pb_results_str(b->entry, name) : NULL;
}

const json_t *pb_results_bench_json(const struct pb_results_bench *b)
{
    return b ? b->entry : NULL;
}

const json_t *pb_results_bench_run_json(const struct pb_results_bench *b)
{
    return b ? b->run : NULL;
}

/* ============================================================================================
 * The per-metric view
 * ========================================================================================== */

struct pb_results_view {
    struct pb_results_group *groups; /* in order of first appearance */
    size_t ngroups;
    json_t *by_name; /* name -> position in groups */
};

void pb_results_view_free(struct pb_results_view *view)
{
    if (!view)
        return;
    for (size_t i = 0; i < view->ngroups; i++) {
        struct pb_results_group *g = &view->groups[i];
        free((void *)g->rep_index);
        free((void *)g->rep);
        if (g->nmetric)
            free(g->metric[0].val);
        free((void *)g->metric);
    }
    free(view->groups);
    json_decref(view->by_name);
    free(view);
}

static int cmp_rep(const void *a, const void *b)
{
    uint64_t x =
        pb_results_uint((*(const struct pb_results_bench *const *)a)->entry, "repetition_index");
    uint64_t y =
        pb_results_uint((*(const struct pb_results_bench *const *)b)->entry, "repetition_index");
    return (x > y) - (x < y);
}

struct ranked {
    size_t rank;
    const char *name;
};

static int cmp_ranked(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Scratch space for the names of one group's metrics. */
struct names {
    struct ranked *v;
    size_t cap;
};

/*
 * The group's metrics: every number of its entries but the identity fields (repetitions,
 * threads, ...), in report order; seen and names are scratch space.
 */
static int group_metrics(struct pb_results_group *g, json_t *seen, struct names *s)
{
    size_t n = 0;
    json_object_clear(seen);
    for (size_t r = 0; r < g->nrep; r++) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)pb_results_bench_json(g->rep[r]), key, v)
        {
            if (!json_is_number(v) || json_object_get(seen, key))
                continue;
            size_t rank = pb_metric_rank(key);
            bool metric = rank < PB_NMETRICS || !pb_results_is_fixed_field(key);
            if (json_object_set_new(seen, key, json_boolean(metric)))
                return -ENOMEM;
            if (metric && n == s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 64;
                struct ranked *nv = realloc(s->v, cap * sizeof(*nv));
                if (!nv)
                    return -ENOMEM;
                s->v = nv;
                s->cap = cap;
            }
            if (metric)
                s->v[n++] = (struct ranked){rank, key};
        }
    }
    struct ranked *names = s->v;
    if (n)
        qsort(names, n, sizeof(*names), cmp_ranked);
    struct pb_results_metric *m = calloc(n ? n : 1, sizeof(*m));
    double *val = malloc((n * g->nrep + 1) * sizeof(*val));
    if (!m || !val) {
        free(m);
        free(val);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        m[i].name = names[i].name;
        m[i].val = val + i * g->nrep;
        for (size_t r = 0; r < g->nrep; r++) {
            json_t *v = json_object_get(pb_results_bench_json(g->rep[r]), names[i].name);
            m[i].val[r] = json_is_number(v) ? json_number_value(v) : NAN;
        }
    }
    if (!n)
        free(val);
    g->metric = m;
    g->nmetric = n;
    return 0;
}

/* The groups' entries, in ascending repetition_index; group_of[i] is entry i's group. */
static int group_entries(struct pb_results_view *v, const struct pb_results *doc,
                         const size_t *group_of)
{
    size_t *fill = calloc(v->ngroups + 1, sizeof(*fill));
    if (!fill)
        return -ENOMEM;
    for (size_t i = 0; i < v->ngroups; i++) {
        struct pb_results_group *g = &v->groups[i];
        g->rep = calloc(g->nrep, sizeof(*g->rep));
        g->rep_index = calloc(g->nrep, sizeof(*g->rep_index));
        if (!g->rep || !g->rep_index) {
            free(fill);
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < doc->nbenches; i++) {
        struct pb_results_group *g = &v->groups[group_of[i]];
        ((const struct pb_results_bench **)g->rep)[fill[group_of[i]]++] = doc->benches[i];
    }
    free(fill);
    for (size_t i = 0; i < v->ngroups; i++) {
        struct pb_results_group *g = &v->groups[i];
        qsort((void *)g->rep, g->nrep, sizeof(*g->rep), cmp_rep);
        for (size_t r = 0; r < g->nrep; r++)
            ((unsigned *)g->rep_index)[r] = pb_results_bench_repetition_index(g->rep[r]);
    }
    return 0;
}

static int view_make(struct pb_results *doc)
{
    struct pb_results_view *v = calloc(1, sizeof(*v));
    size_t *group_of = calloc(doc->nbenches + 1, sizeof(*group_of)), cap = 0;
    json_t *seen = json_object();
    int rc = v && group_of && seen && (v->by_name = json_object()) ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < doc->nbenches; i++) {
        const struct pb_results_bench *b = doc->benches[i];
        const char *name = pb_results_bench_name(b);
        json_t *pos = json_object_get(v->by_name, name);
        if (!pos && v->ngroups == cap) {
            cap = cap ? 2 * cap : 16;
            struct pb_results_group *ng = realloc(v->groups, cap * sizeof(*ng));
            if (!ng) {
                rc = -ENOMEM;
                break;
            }
            v->groups = ng;
        }
        if (!pos) {
            if (json_object_set_new(v->by_name, name, json_integer((json_int_t)v->ngroups))) {
                rc = -ENOMEM;
                break;
            }
            v->groups[v->ngroups++] = (struct pb_results_group){
                .name = name,
                .workload = pb_results_bench_workload(b),
                .variant = pb_results_bench_variant(b),
                .threads = pb_results_bench_threads(b),
            };
        }
        group_of[i] = pos ? (size_t)json_integer_value(pos) : v->ngroups - 1;
        v->groups[group_of[i]].nrep++;
    }
    rc = rc ? rc : group_entries(v, doc, group_of);
    struct names names = {0};
    for (size_t i = 0; rc == 0 && i < v->ngroups; i++)
        rc = group_metrics(&v->groups[i], seen, &names);
    free(names.v);
    free(group_of);
    json_decref(seen);
    if (rc) {
        pb_results_view_free(v);
        return rc;
    }
    doc->view = v;
    return 0;
}

int pb_results_make_view(const struct pb_results *doc)
{
    if (!doc)
        return -EINVAL;
    /* The view is a cache of what the document holds: making it changes nothing a reader sees. */
    return doc->view ? 0 : view_make((struct pb_results *)doc);
}

static const struct pb_results_view *view_of(const struct pb_results *doc)
{
    return pb_results_make_view(doc) == 0 ? doc->view : NULL;
}

size_t pb_results_group_count(const struct pb_results *doc)
{
    const struct pb_results_view *v = view_of(doc);
    return v ? v->ngroups : 0;
}

const struct pb_results_group *pb_results_group_at(const struct pb_results *doc, size_t i)
{
    const struct pb_results_view *v = view_of(doc);
    return v && i < v->ngroups ? &v->groups[i] : NULL;
}

const struct pb_results_group *pb_results_find_group(const struct pb_results *doc, const char *name)
{
    const struct pb_results_view *v = name ? view_of(doc) : NULL;
    const json_t *pos = v ? json_object_get(v->by_name, name) : NULL;
    return pos ? &v->groups[json_integer_value(pos)] : NULL;
}

const struct pb_results_group *pb_results_find_variant(const struct pb_results *doc,
                                                       const char *workload, const char *variant,
                                                       unsigned threads)
{
    char *name;
    if (!workload || !variant ||
        asprintf(&name, "%s/%s/threads:%u", workload, variant, threads) < 0)
        return NULL;
    const struct pb_results_group *g = pb_results_find_group(doc, name);
    free(name);
    return g;
}

static int cmp_metric_key(const void *key, const void *elem)
{
    const struct pb_results_metric *m = elem;
    struct ranked e = {pb_metric_rank(m->name), m->name};
    return cmp_ranked(key, &e);
}

const struct pb_results_metric *pb_results_group_metric(const struct pb_results_group *g,
                                                        const char *name)
{
    if (!g || !name)
        return NULL;
    struct ranked key = {pb_metric_rank(name), name};
    return bsearch(&key, g->metric, g->nmetric, sizeof(*g->metric), cmp_metric_key);
}

size_t pb_results_metric_values(const struct pb_results_group *g, const struct pb_results_metric *m,
                                double *out)
{
    size_t n = 0;
    for (size_t r = 0; r < g->nrep; r++)
        if (isfinite(m->val[r]))
            out[n++] = m->val[r];
    return n;
}
