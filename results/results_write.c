/*
 * results_write.c: the writers: JSON and CSV files (written by results_file.c's atomic writer),
 * the terminal table and the human-friendly number formats.
 */
#include "results/results_internal.h"

#include "core/pb.h"
#include "results/metrics.h"
#include "results/stats.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ============================================================================================
 * JSON
 * ========================================================================================== */

static bool is_scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

/* Scalars through jansson: its escaping, and 17 digits so every double reads back exactly. */
static int emit_scalar(FILE *f, const json_t *v)
{
    if (json_is_integer(v)) { /* the bulk of a file: histogram buckets, series */
        fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    if (!s)
        return -ENOMEM;
    fputs(s, f);
    free(s);
    return 0;
}

/* Objects of at most this many scalars stay on one line: a lock, a thread, a metric. */
#define FLAT_OBJECT_MAX 8

/*
 * Indented like Google Benchmark's output, except that arrays of scalars and small objects of
 * scalars stay on one line, so a histogram bucket [lo, hi, count], a time series or a row of
 * the metric table does not take a line per number.
 */
static int emit_json(FILE *f, const json_t *v, int depth)
{
    int rc = 0;
    size_t i, n;
    if (json_is_object(v) && json_object_size(v)) {
        const char *key;
        json_t *x;
        bool flat = json_object_size(v) <= FLAT_OBJECT_MAX;
        json_object_foreach((json_t *)v, key, x) flat &= is_scalar(x);
        n = 0;
        fputs(flat ? "{" : "{\n", f);
        json_object_foreach((json_t *)v, key, x)
        {
            json_t *k = json_string(key);
            if (!flat)
                fprintf(f, "%*s", 2 * (depth + 1), "");
            rc = k ? emit_scalar(f, k) : -ENOMEM;
            json_decref(k);
            if (rc)
                return rc;
            fputs(": ", f);
            if ((rc = emit_json(f, x, depth + 1)))
                return rc;
            if (++n < json_object_size(v))
                fputs(flat ? ", " : ",\n", f);
        }
        if (flat)
            fputc('}', f);
        else
            fprintf(f, "\n%*s}", 2 * depth, "");
    } else if (json_is_array(v) && json_array_size(v)) {
        json_t *x;
        bool flat = true;
        json_array_foreach(v, i, x) flat &= is_scalar(x);
        n = json_array_size(v);
        fputs(flat ? "[" : "[\n", f);
        json_array_foreach(v, i, x)
        {
            if (!flat)
                fprintf(f, "%*s", 2 * (depth + 1), "");
            if ((rc = emit_json(f, x, depth + 1)))
                return rc;
            if (i + 1 < n)
                fputs(flat ? ", " : ",\n", f);
        }
        if (!flat)
            fprintf(f, "\n%*s", 2 * depth, "");
        fputc(']', f);
    } else if (json_is_object(v)) {
        fputs("{}", f);
    } else if (json_is_array(v)) {
        fputs("[]", f);
    } else {
        rc = emit_scalar(f, v);
    }
    return rc;
}

/* The document as JSON into a new string *data of *len bytes. */
static int json_text(const struct pb_results *doc, const char *what, char **data, size_t *len,
                     char *err, size_t errsz)
{
    int rc = pb_results_check(doc->root, what, NULL, err, errsz);
    if (rc)
        return rc;
    json_t *ordered = pb_results_ordered_root(doc);
    FILE *f = ordered ? open_memstream(data, len) : NULL;
    rc = f ? emit_json(f, ordered, 0) : -ENOMEM;
    if (f) {
        fputc('\n', f);
        if (fclose(f) && !rc)
            rc = -ENOMEM;
    }
    json_decref(ordered);
    if (rc) {
        if (f)
            free(*data);
        *data = NULL;
        pb_errf(err, errsz, "%s: out of memory", what);
    }
    return rc;
}

int pb_results_write_json(const struct pb_results *doc, const char *path, char *err, size_t errsz)
{
    if (!doc || !path || !*path) {
        pb_errf(err, errsz, "pb_results_write_json: no document or no path");
        return -EINVAL;
    }
    char what[PB_RESULTS_ERR_LEN];
    snprintf(what, sizeof(what), "cannot write results to '%s'", path);
    size_t len = 0;
    char *data = NULL;
    int rc = json_text(doc, what, &data, &len, err, errsz);
    if (rc)
        return rc;
    rc = pb_file_write_atomic(path, data, len, err, errsz);
    free(data);
    return rc;
}

int pb_results_print_json(const struct pb_results *doc, FILE *out, char *err, size_t errsz)
{
    if (!doc || !out) {
        pb_errf(err, errsz, "pb_results_print_json: no document or no stream");
        return -EINVAL;
    }
    size_t len = 0;
    char *data = NULL;
    int rc = json_text(doc, "cannot print the results", &data, &len, err, errsz);
    if (rc)
        return rc;
    rc = fwrite(data, 1, len, out) == len ? 0 : -EIO;
    free(data);
    if (rc)
        pb_errf(err, errsz, "cannot print the results: %s", strerror(EIO));
    return rc;
}

/* ============================================================================================
 * Key order for writing: the format's order, then whatever else in insertion order
 * ========================================================================================== */

static const char *const run_order[] = {
    "name",       "repetition_index", "histograms", "locks",
    "timeseries", "threads",          "scrub",      "validator",
};
static const char *const histogram_order[] = {"call_ns", "invocation_ns", "p2m_lookup_ns"};
static const char *const timeseries_order[] = {"interval_ms", "t_ms", "pages", "scrub_backlog"};

/* A copy of in (sharing the values) with the keys of order first, then the others as they
 * come, and last (when not NULL) at the end. */
static json_t *ordered(const json_t *in, const char *const *order, size_t n, const char *last)
{
    json_t *out = json_object(), *v;
    for (size_t i = 0; out && i < n; i++)
        if ((v = json_object_get(in, order[i])) && json_object_set(out, order[i], v))
            goto fail;
    const char *key;
    json_object_foreach((json_t *)in, key, v)
    {
        if (out && !json_object_get(out, key) && json_object_set(out, key, v))
            goto fail;
    }
    if (out && last && (v = json_object_get(out, last))) {
        json_incref(v);
        if (json_object_del(out, last) || json_object_set_new(out, last, v))
            goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *ordered_run(const json_t *run)
{
    json_t *out = ordered(run, run_order, PB_ARRAY_SIZE(run_order), NULL);
    const json_t *h = json_object_get(run, "histograms");
    const json_t *ts = json_object_get(run, "timeseries");
    if (out && h &&
        json_object_set_new(out, "histograms",
                            ordered(h, histogram_order, PB_ARRAY_SIZE(histogram_order), NULL)))
        goto fail;
    if (out && ts &&
        json_object_set_new(out, "timeseries",
                            ordered(ts, timeseries_order, PB_ARRAY_SIZE(timeseries_order), NULL)))
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

json_t *pb_results_ordered_root(const struct pb_results *doc)
{
    /* The context's keys, its metric table last; an entry's fixed fields, then the table's. */
    size_t nctx = pb_results_ncontext_rules, nbench = pb_results_nbench_rules + PB_NMETRICS;
    const char **ctx_order = malloc(nctx * sizeof(*ctx_order));
    const char **bench_order = malloc(nbench * sizeof(*bench_order));
    json_t *root = json_object(), *benches = json_array(), *runs = json_array();
    json_t *pop = json_object();
    if (!ctx_order || !bench_order)
        goto fail;
    for (size_t i = 0; i < nctx; i++)
        ctx_order[i] = pb_results_context_rules[i].key;
    for (size_t i = 0; i < pb_results_nbench_rules; i++)
        bench_order[i] = pb_results_bench_rules[i].key;
    for (size_t i = 0; i < PB_NMETRICS; i++)
        bench_order[pb_results_nbench_rules + i] = pb_metrics[i].name;
    /* set_new takes the reference even when it fails: nothing leaks on the way out. */
    if (json_object_set_new(root, "context", ordered(doc->context, ctx_order, nctx, "metrics")) ||
        json_object_set(root, "benchmarks", benches) || json_object_set(pop, "runs", runs) ||
        json_object_set(root, "popbench", pop))
        goto fail;
    size_t i;
    json_t *v;
    json_array_foreach(doc->benchmarks, i, v)
    {
        if (json_array_append_new(benches, ordered(v, bench_order, nbench, NULL)))
            goto fail;
    }
    json_array_foreach(doc->runs, i, v)
    {
        if (json_array_append_new(runs, ordered_run(v)))
            goto fail;
    }
    free(ctx_order);
    free(bench_order);
    json_decref(benches);
    json_decref(runs);
    json_decref(pop);
    return root;
fail:
    free(ctx_order);
    free(bench_order);
    json_decref(benches);
    json_decref(runs);
    json_decref(pop);
    json_decref(root);
    return NULL;
}

/* ============================================================================================
 * CSV
 * ========================================================================================== */

static const char *const csv_fixed[] = {
    "name",        "workload",   "variant",   "lock_kind", "threads",   "repetition_index",
    "repetitions", "iterations", "real_time", "cpu_time",  "time_unit",
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Appends s to a growing array of names. */
static int push_name(const char ***v, size_t *n, size_t *cap, const char *s)
{
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        const char **nv = realloc(*v, c * sizeof(*nv));
        if (!nv)
            return -ENOMEM;
        *v = nv;
        *cap = c;
    }
    (*v)[(*n)++] = s;
    return 0;
}

/* The counter columns: the table's metrics any entry has, in its order, then others by name. */
static int csv_counter_columns(const struct pb_results *doc, const char ***out, size_t *nout)
{
    const char **cols = NULL, **other = NULL;
    size_t n = 0, cap = 0, nother = 0, cap_other = 0;
    json_t *seen = json_object();
    int rc = seen ? 0 : -ENOMEM;
    for (size_t i = 0; rc == 0 && i < doc->nbenches; i++) {
        const char *key;
        json_t *v;
        json_object_foreach(doc->benches[i]->entry, key, v)
        {
            if (rc || json_object_get(seen, key))
                continue;
            if (json_object_set_new(seen, key, json_null()))
                rc = -ENOMEM;
            else if (!pb_metric_find(key) && !pb_results_is_fixed_field(key))
                rc = push_name(&other, &nother, &cap_other, key);
        }
    }
    for (size_t k = 0; rc == 0 && k < PB_NMETRICS; k++)
        if (json_object_get(seen, pb_metrics[k].name) &&
            !pb_results_is_fixed_field(pb_metrics[k].name))
            rc = push_name(&cols, &n, &cap, pb_metrics[k].name);
    if (nother)
        qsort(other, nother, sizeof(*other), cmp_str);
    for (size_t k = 0; rc == 0 && k < nother; k++)
        rc = push_name(&cols, &n, &cap, other[k]);
    json_decref(seen);
    free(other);
    if (rc) {
        free(cols);
        return rc;
    }
    *out = cols;
    *nout = n;
    return 0;
}

static void csv_string(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' ')) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            fputc('"', out);
        fputc(*p, out);
    }
    fputc('"', out);
}

/* The shortest decimal that reads back as the same double. */
static void fmt_double(double v, char *buf, size_t sz)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sz, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void csv_cell(FILE *out, const json_t *v)
{
    char num[40];
    if (!v)
        return; /* absent: empty cell */
    switch (json_typeof(v)) {
    case JSON_STRING:
        csv_string(out, json_string_value(v));
        break;
    case JSON_INTEGER:
        fprintf(out, "%lld", (long long)json_integer_value(v));
        break;
    case JSON_REAL:
        fmt_double(json_real_value(v), num, sizeof(num));
        fputs(num, out);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        fputs(json_is_true(v) ? "true" : "false", out);
        break;
    default:
        break; /* null, arrays, objects: not flat figures */
    }
}

int pb_results_print_csv(const struct pb_results *doc, FILE *out)
{
    if (!doc || !out)
        return -EINVAL;
    const char **cols;
    size_t ncols;
    int rc = csv_counter_columns(doc, &cols, &ncols);
    if (rc)
        return rc;
    for (size_t c = 0; c < PB_ARRAY_SIZE(csv_fixed); c++)
        fprintf(out, "%s%s", c ? "," : "", csv_fixed[c]);
    for (size_t c = 0; c < ncols; c++)
        fprintf(out, ",%s", cols[c]);
    fputc('\n', out);
    for (size_t i = 0; i < doc->nbenches; i++) {
        const json_t *e = doc->benches[i]->entry;
        for (size_t c = 0; c < PB_ARRAY_SIZE(csv_fixed); c++) {
            if (c)
                fputc(',', out);
            csv_cell(out, json_object_get(e, csv_fixed[c]));
        }
        for (size_t c = 0; c < ncols; c++) {
            fputc(',', out);
            csv_cell(out, json_object_get(e, cols[c]));
        }
        fputc('\n', out);
    }
    free(cols);
    return ferror(out) ? -EIO : 0;
}

int pb_results_write_csv(const struct pb_results *doc, const char *path, char *err, size_t errsz)
{
    if (!doc || !path || !*path) {
        pb_errf(err, errsz, "pb_results_write_csv: no document or no path");
        return -EINVAL;
    }
    char *data = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&data, &len);
    int rc = f ? pb_results_print_csv(doc, f) : -ENOMEM;
    if (f && fclose(f) && !rc)
        rc = -ENOMEM;
    if (rc) {
        free(data);
        pb_errf(err, errsz, "cannot write results to '%s': %s", path, strerror(-rc));
        return rc;
    }
    rc = pb_file_write_atomic(path, data, len, err, errsz);
    free(data);
    return rc;
}

/* ============================================================================================
 * Human-friendly numbers
 * ========================================================================================== */

/* Three significant digits in the largest unit (each 1000 times the last) that keeps >= 1. */
static const char *fmt_scaled(double v, const char *const *units, size_t nunits, char *buf)
{
    if (!isfinite(v)) {
        snprintf(buf, PB_RESULTS_FMT_LEN, "-");
        return buf;
    }
    if (v == 0) {
        snprintf(buf, PB_RESULTS_FMT_LEN, "0%s", units[0]);
        return buf;
    }
    double a = fabs(v);
    size_t u = 0;
    /* 999.5 rounds to "1000": show it as 1.00 of the next unit instead. */
    while (u + 1 < nunits && a >= 999.5) {
        a /= 1000;
        u++;
    }
    int decimals = a < 9.995 ? 2 : a < 99.95 ? 1 : 0;
    snprintf(buf, PB_RESULTS_FMT_LEN, "%s%.*f%s", v < 0 ? "-" : "", decimals, a, units[u]);
    return buf;
}

const char *pb_results_fmt_rate(double value, char buf[PB_RESULTS_FMT_LEN])
{
    static const char *const units[] = {"", "k", "M", "G", "T", "P"};
    return fmt_scaled(value, units, PB_ARRAY_SIZE(units), buf);
}

const char *pb_results_fmt_ns(double ns, char buf[PB_RESULTS_FMT_LEN])
{
    static const char *const units[] = {"ns", "us", "ms", "s"};
    return fmt_scaled(ns, units, PB_ARRAY_SIZE(units), buf);
}

/* ============================================================================================
 * The terminal table
 * ========================================================================================== */

/* The identity columns, then the metrics the table places (pb_metric.column), left to right. */
#define NFIXED_COLS 4
static const char *const fixed_title[NFIXED_COLS] = {"workload", "variant", "threads", "reps"};

typedef char table_cell[48];

struct column {
    const char *title;
    const struct pb_metric *m; /* NULL for the identity columns */
    bool left;                 /* left-aligned: text */
};

static int cmp_column(const void *a, const void *b)
{
    const struct pb_metric *x = *(const struct pb_metric *const *)a;
    const struct pb_metric *y = *(const struct pb_metric *const *)b;
    return (x->column > y->column) - (x->column < y->column);
}

/* The metric columns some entry has a value for, in their order; returns how many. */
static size_t metric_columns(const struct pb_results *doc, const struct pb_metric **out)
{
    size_t n = 0;
    for (size_t k = 0; k < PB_NMETRICS; k++) {
        bool any = false;
        for (size_t i = 0; pb_metrics[k].column && i < doc->nbenches && !any; i++)
            any = json_object_get(doc->benches[i]->entry, pb_metrics[k].name) != NULL;
        if (any)
            out[n++] = &pb_metrics[k];
    }
    qsort(out, n, sizeof(*out), cmp_column);
    return n;
}

/* The name most repetitions give a text metric; ties go to the lowest repetition. */
static const char *mode_text(const struct pb_results_group *g, const char *metric)
{
    const char *best = NULL;
    size_t best_n = 0;
    for (size_t i = 0; i < g->nrep; i++) {
        const char *l = pb_results_bench_string(g->rep[i], metric);
        size_t c = 0;
        for (size_t j = 0; l && j < g->nrep; j++) {
            const char *o = pb_results_bench_string(g->rep[j], metric);
            c += o && strcmp(o, l) == 0;
        }
        if (c > best_n) {
            best = l;
            best_n = c;
        }
    }
    return best;
}

/* A metric's cell: the median over the repetitions, in its unit's way, "-" when none has it. */
static void metric_cell(const struct pb_results_group *g, const struct pb_metric *m,
                        double *scratch, table_cell cell)
{
    if (strcmp(m->unit, "name") == 0) {
        const char *name = mode_text(g, m->name);
        snprintf(cell, sizeof(table_cell), "%s", name ? name : "-");
        return;
    }
    const struct pb_results_metric *v = pb_results_group_metric(g, m->name);
    size_t n = v ? pb_results_metric_values(g, v, scratch) : 0, len = strlen(m->unit);
    double med = pb_median(scratch, n);
    if (n == 0)
        snprintf(cell, sizeof(table_cell), "-");
    else if (len >= 2 && strcmp(m->unit + len - 2, "/s") == 0)
        pb_results_fmt_rate(med, cell);
    else if (strncmp(m->unit, "ns", 2) == 0)
        pb_results_fmt_ns(med, cell);
    else if (strcmp(m->unit, "%") == 0)
        snprintf(cell, sizeof(table_cell), "%.1f%%", med);
    else
        snprintf(cell, sizeof(table_cell), "%.3f", med);
}

static void fill_row(const struct pb_results_group *g, const struct column *cols, size_t ncols,
                     double *scratch, table_cell *row)
{
    unsigned reps = pb_results_bench_repetitions(g->rep[0]);
    snprintf(row[0], sizeof(table_cell), "%s", g->workload);
    snprintf(row[1], sizeof(table_cell), "%s", g->variant);
    snprintf(row[2], sizeof(table_cell), "%u", g->threads);
    if (g->nrep == reps)
        snprintf(row[3], sizeof(table_cell), "%zu", g->nrep);
    else
        snprintf(row[3], sizeof(table_cell), "%zu/%u", g->nrep, reps);
    for (size_t c = NFIXED_COLS; c < ncols; c++)
        metric_cell(g, cols[c].m, scratch, row[c]);
}

int pb_results_print_table(const struct pb_results *doc, FILE *out)
{
    if (!doc || !out)
        return -EINVAL;
    if (pb_results_is_partial(doc))
        fprintf(out, "partial run: only the repetitions that finished\n");
    if (doc->nbenches == 0) {
        fprintf(out, "no benchmarks\n");
        return ferror(out) ? -EIO : 0;
    }
    int rc = pb_results_make_view(doc);
    if (rc)
        return rc;
    const struct pb_metric *shown[PB_NMETRICS];
    struct column cols[NFIXED_COLS + PB_NMETRICS];
    size_t nshown = metric_columns(doc, shown), ncols = NFIXED_COLS + nshown;
    for (size_t c = 0; c < ncols; c++)
        cols[c] = c < NFIXED_COLS
                      ? (struct column){fixed_title[c], NULL, c < 2}
                      : (struct column){shown[c - NFIXED_COLS]->title, shown[c - NFIXED_COLS],
                                        strcmp(shown[c - NFIXED_COLS]->unit, "name") == 0};
    size_t rows = pb_results_group_count(doc) + 1;
    table_cell *cells = calloc(rows * ncols, sizeof(*cells));
    double *scratch = malloc(doc->nbenches * sizeof(*scratch));
    if (!cells || !scratch) {
        free(cells);
        free(scratch);
        return -ENOMEM;
    }
    for (size_t c = 0; c < ncols; c++)
        snprintf(cells[c], sizeof(table_cell), "%s", cols[c].title);
    for (size_t r = 1; r < rows; r++)
        fill_row(pb_results_group_at(doc, r - 1), cols, ncols, scratch, &cells[r * ncols]);
    int width[NFIXED_COLS + PB_NMETRICS] = {0};
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < ncols; c++) {
            int w = (int)strlen(cells[r * ncols + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    for (size_t r = 0; r < rows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *s = cells[r * ncols + c];
            bool last = c == ncols - 1;
            if (last && cols[c].left)
                fprintf(out, "%s", s);
            else
                fprintf(out, cols[c].left ? "%-*s" : "%*s", width[c], s);
            fputs(last ? "\n" : "  ", out);
        }
    }
    free(cells);
    free(scratch);
    return ferror(out) ? -EIO : 0;
}
