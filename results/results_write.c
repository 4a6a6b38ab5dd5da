/*
 * results_write.c: the writers: JSON and CSV files (written atomically), the terminal table,
 * and the human-friendly number formats.
 */
#include "results/results_internal.h"

#include "core/pb.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ============================================================================================
 * Atomic file replacement
 * ========================================================================================== */

/* Best effort: the rename is done; a directory that cannot be synced does not undo it. */
static void sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/*
 * Writes data to a temporary file beside path and renames it over path, so a reader sees the
 * old file or the new one, never a torn one; a crash leaves at worst a stray temporary file.
 */
static int write_atomic(const char *path, const char *data, size_t len, char *err, size_t errsz)
{
    char *tmp;
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
        pb_errf(err, errsz, "cannot write results to '%s': out of memory", path);
        return -ENOMEM;
    }
    const char *step = "creating a temporary file beside it";
    bool created = false;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        goto fail;
    created = true;
    /* A replaced file keeps its mode; a new one is readable by all, as results are shared. */
    struct stat st;
    mode_t mode = stat(path, &st) == 0 ? (st.st_mode & 07777) : 0644;
    step = "setting the temporary file's mode";
    if (fchmod(fd, mode))
        goto fail;
    step = "writing the temporary file";
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            goto fail;
        done += (size_t)n;
    }
    step = "flushing the temporary file to disk";
    if (fsync(fd))
        goto fail;
    step = "closing the temporary file";
    int rc = close(fd);
    fd = -1;
    if (rc)
        goto fail;
    step = "renaming the temporary file over it";
    if (rename(tmp, path))
        goto fail;
    free(tmp);
    sync_dir_of(path);
    return 0;
fail:;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp);
    free(tmp);
    pb_errf(err, errsz, "cannot write results to '%s': %s: %s", path, step, strerror(e));
    return -e;
}

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

/*
 * Indented like Google Benchmark's output, except that arrays of scalars stay on one line, so
 * a histogram bucket [lo, hi, count] or a time series does not take a line per number.
 */
static int emit_json(FILE *f, const json_t *v, int depth)
{
    int rc = 0;
    size_t i, n;
    if (json_is_object(v) && json_object_size(v)) {
        const char *key;
        json_t *x;
        n = 0;
        fputs("{\n", f);
        json_object_foreach((json_t *)v, key, x)
        {
            json_t *k = json_string(key);
            fprintf(f, "%*s", 2 * (depth + 1), "");
            rc = k ? emit_scalar(f, k) : -ENOMEM;
            json_decref(k);
            if (rc)
                return rc;
            fputs(": ", f);
            if ((rc = emit_json(f, x, depth + 1)))
                return rc;
            fputs(++n < json_object_size(v) ? ",\n" : "\n", f);
        }
        fprintf(f, "%*s}", 2 * depth, "");
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

int pb_results_write_json(const struct pb_results *doc, const char *path, char *err, size_t errsz)
{
    if (!doc || !path || !*path) {
        pb_errf(err, errsz, "pb_results_write_json: no document or no path");
        return -EINVAL;
    }
    char what[PB_RESULTS_ERR_LEN];
    snprintf(what, sizeof(what), "cannot write results to '%s'", path);
    int rc = pb_results_check(doc->root, what, err, errsz);
    if (rc)
        return rc;
    json_t *ordered = pb_results_ordered_root(doc);
    char *data = NULL;
    size_t len = 0;
    FILE *f = ordered ? open_memstream(&data, &len) : NULL;
    rc = f ? emit_json(f, ordered, 0) : -ENOMEM;
    if (f) {
        fputc('\n', f);
        if (fclose(f) && !rc)
            rc = -ENOMEM;
    }
    json_decref(ordered);
    if (rc) {
        free(data);
        pb_errf(err, errsz, "cannot write results to '%s': out of memory", path);
        return rc;
    }
    rc = write_atomic(path, data, len, err, errsz);
    free(data);
    return rc;
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

/* The counter columns: the format's counters any entry has, in its order, then others by name. */
static int csv_counter_columns(const struct pb_results *doc, const char ***out, size_t *nout)
{
    size_t cap = pb_results_nknown_counters + 16, n = 0;
    const char **cols = malloc(cap * sizeof(*cols));
    if (!cols)
        return -ENOMEM;
    for (size_t k = 0; k < pb_results_nknown_counters; k++)
        for (size_t i = 0; i < doc->nbenches; i++)
            if (json_object_get(doc->benches[i]->entry, pb_results_known_counters[k])) {
                cols[n++] = pb_results_known_counters[k];
                break;
            }
    size_t first_other = n;
    for (size_t i = 0; i < doc->nbenches; i++) {
        const char *key;
        json_t *v;
        json_object_foreach(doc->benches[i]->entry, key, v)
        {
            if (pb_results_is_fixed_field(key) || pb_results_known_counter_rank(key) >= 0)
                continue;
            bool seen = false;
            for (size_t j = first_other; j < n && !seen; j++)
                seen = strcmp(cols[j], key) == 0;
            if (seen)
                continue;
            if (n == cap) {
                const char **c = realloc(cols, 2 * cap * sizeof(*cols));
                if (!c) {
                    free(cols);
                    return -ENOMEM;
                }
                cols = c;
                cap *= 2;
            }
            cols[n++] = key;
        }
    }
    qsort(cols + first_other, n - first_other, sizeof(*cols), cmp_str);
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
    rc = write_atomic(path, data, len, err, errsz);
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

enum {
    COL_WORKLOAD,
    COL_VARIANT,
    COL_THREADS,
    COL_REPS,
    COL_PAGES,
    COL_P50,
    COL_P99,
    COL_P999,
    COL_LOCK,
    COL_CONTENDED,
    COL_WAIT,
    COL_LOCALITY, /* only when an entry has a locality */
    NCOLS
};

static const char *const col_title[NCOLS] = {
    "workload", "variant", "threads",      "reps",      "pages/s",   "call p50",
    "p99",      "p99.9",   "hottest lock", "contended", "wait/page", "locality",
};
static const bool col_left[NCOLS] = {
    [COL_WORKLOAD] = true, [COL_VARIANT] = true, [COL_LOCK] = true};

typedef char table_cell[48];

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of a counter over the entries listed; false when none has it. */
static bool median_of(const struct pb_results *doc, const size_t *idx, size_t n, const char *key,
                      double *scratch, double *out)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (pb_results_bench_counter(doc->benches[idx[i]], key, &scratch[m]) == 0)
            m++;
    if (m == 0)
        return false;
    qsort(scratch, m, sizeof(*scratch), cmp_double);
    *out = m % 2 ? scratch[m / 2] : (scratch[m / 2 - 1] + scratch[m / 2]) / 2;
    return true;
}

/* The lock most entries name hottest; ties go to the one named first. */
static const char *mode_lock(const struct pb_results *doc, const size_t *idx, size_t n)
{
    const char *best = NULL;
    size_t best_n = 0;
    for (size_t i = 0; i < n; i++) {
        const char *l = pb_results_bench_string(doc->benches[idx[i]], "lock_hottest");
        if (!l)
            continue;
        size_t c = 0;
        for (size_t j = 0; j < n; j++) {
            const char *o = pb_results_bench_string(doc->benches[idx[j]], "lock_hottest");
            c += o && strcmp(o, l) == 0;
        }
        if (c > best_n) {
            best = l;
            best_n = c;
        }
    }
    return best;
}

static void fill_row(const struct pb_results *doc, const size_t *idx, size_t n, double *scratch,
                     table_cell *row)
{
    const struct pb_results_bench *b = doc->benches[idx[0]];
    double v;
    snprintf(row[COL_WORKLOAD], sizeof(table_cell), "%s", pb_results_bench_workload(b));
    snprintf(row[COL_VARIANT], sizeof(table_cell), "%s", pb_results_bench_variant(b));
    snprintf(row[COL_THREADS], sizeof(table_cell), "%u", pb_results_bench_threads(b));
    if (n == pb_results_bench_repetitions(b))
        snprintf(row[COL_REPS], sizeof(table_cell), "%zu", n);
    else
        snprintf(row[COL_REPS], sizeof(table_cell), "%zu/%u", n, pb_results_bench_repetitions(b));
    static const struct {
        int col;
        const char *key;
        bool ns;
    } figures[] = {
        {COL_PAGES, "pages_per_second", false},
        {COL_P50, "call_p50_ns", true},
        {COL_P99, "call_p99_ns", true},
        {COL_P999, "call_p999_ns", true},
        {COL_WAIT, "lock_wait_ns_per_page", true},
    };
    for (size_t f = 0; f < PB_ARRAY_SIZE(figures); f++) {
        char *cell = row[figures[f].col];
        if (!median_of(doc, idx, n, figures[f].key, scratch, &v))
            snprintf(cell, sizeof(table_cell), "-");
        else if (figures[f].ns)
            pb_results_fmt_ns(v, cell);
        else
            pb_results_fmt_rate(v, cell);
    }
    if (median_of(doc, idx, n, "lock_contended_pct", scratch, &v))
        snprintf(row[COL_CONTENDED], sizeof(table_cell), "%.1f%%", v);
    else
        snprintf(row[COL_CONTENDED], sizeof(table_cell), "-");
    const char *lock = mode_lock(doc, idx, n);
    snprintf(row[COL_LOCK], sizeof(table_cell), "%s", lock ? lock : "-");
    if (median_of(doc, idx, n, "locality", scratch, &v))
        snprintf(row[COL_LOCALITY], sizeof(table_cell), "%.3f", v);
    else
        snprintf(row[COL_LOCALITY], sizeof(table_cell), "-");
}

int pb_results_print_table(const struct pb_results *doc, FILE *out)
{
    if (!doc || !out)
        return -EINVAL;
    size_t nb = doc->nbenches;
    if (pb_results_is_partial(doc))
        fprintf(out, "partial run: only the repetitions that finished\n");
    if (nb == 0) {
        fprintf(out, "no benchmarks\n");
        return ferror(out) ? -EIO : 0;
    }
    table_cell *cells = calloc((nb + 1) * NCOLS, sizeof(*cells));
    size_t *idx = malloc(nb * sizeof(*idx));
    double *scratch = malloc(nb * sizeof(*scratch));
    if (!cells || !idx || !scratch) {
        free(cells);
        free(idx);
        free(scratch);
        return -ENOMEM;
    }
    for (int c = 0; c < NCOLS; c++)
        snprintf(cells[c], sizeof(table_cell), "%s", col_title[c]);
    int ncols = NCOLS - 1;
    for (size_t i = 0; i < nb && ncols < NCOLS; i++) {
        double v;
        if (pb_results_bench_counter(doc->benches[i], "locality", &v) == 0)
            ncols = NCOLS;
    }
    size_t rows = 1;
    for (size_t i = 0; i < nb; i++) {
        const char *name = pb_results_bench_name(doc->benches[i]);
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = strcmp(pb_results_bench_name(doc->benches[j]), name) != 0;
        if (!first)
            continue;
        size_t n = 0;
        for (size_t j = i; j < nb; j++)
            if (strcmp(pb_results_bench_name(doc->benches[j]), name) == 0)
                idx[n++] = j;
        fill_row(doc, idx, n, scratch, &cells[rows * NCOLS]);
        rows++;
    }
    int width[NCOLS] = {0};
    for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < ncols; c++) {
            int w = (int)strlen(cells[r * NCOLS + c]);
            width[c] = w > width[c] ? w : width[c];
        }
    for (size_t r = 0; r < rows; r++) {
        for (int c = 0; c < ncols; c++) {
            const char *s = cells[r * NCOLS + c];
            if (c == ncols - 1 && col_left[c])
                fprintf(out, "%s", s);
            else
                fprintf(out, col_left[c] ? "%-*s" : "%*s", width[c], s);
            fputs(c == ncols - 1 ? "\n" : "  ", out);
        }
    }
    free(cells);
    free(idx);
    free(scratch);
    return ferror(out) ? -EIO : 0;
}
