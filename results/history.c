#include "results/history.h"

#include "results/cli.h"
#include "results/cli_internal.h"
#include "results/compare.h"
#include "results/compare_table.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pb_history {
    sqlite3 *db;
    char *path;
};

static const char schema_v1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE files(id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, path TEXT NOT NULL,"
    " imported_at INTEGER NOT NULL, date TEXT, date_epoch INTEGER NOT NULL, git_commit TEXT,"
    " host TEXT, cpu_model TEXT, partial INTEGER NOT NULL);"
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),"
    " git_commit TEXT NOT NULL, host TEXT NOT NULL, cpu_model TEXT NOT NULL,"
    " workload TEXT NOT NULL, variant TEXT NOT NULL, threads INTEGER NOT NULL,"
    " repetition INTEGER NOT NULL, name TEXT NOT NULL, date_epoch INTEGER NOT NULL,"
    " UNIQUE(git_commit, host, cpu_model, workload, variant, threads, repetition));"
    "CREATE TABLE metrics(run_id INTEGER NOT NULL REFERENCES runs(id), metric TEXT NOT NULL,"
    " value REAL NOT NULL, PRIMARY KEY(run_id, metric));"
    "CREATE INDEX metrics_by_name ON metrics(metric);"
    "INSERT INTO meta(key, value) VALUES('schema_version', '1');";

/* ==== Opening ============================================================================= */

static int check_schema(struct pb_history *h, bool create, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    int found = 0, rc;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'",
                           -1, &st, NULL) != SQLITE_OK) {
        pb_errf(err, errlen, "%s: not an SQLite database: %s", h->path, sqlite3_errmsg(h->db));
        return -EINVAL;
    }
    if (sqlite3_step(st) == SQLITE_ROW)
        found = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (!found) {
        if (!create) {
            pb_errf(err, errlen, "%s: not a popbench history (no meta table)", h->path);
            return -EINVAL;
        }
        char *msg = NULL;
        rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(h->db, schema_v1, NULL, NULL, &msg);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, &msg);
        if (rc != SQLITE_OK) {
            pb_errf(err, errlen, "%s: cannot create the schema: %s", h->path,
                    msg ? msg : sqlite3_errstr(rc));
            sqlite3_free(msg);
            sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
            return -EIO;
        }
        return 0;
    }
    long version = -1;
    if (sqlite3_prepare_v2(h->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st,
                           NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            version = strtol((const char *)sqlite3_column_text(st, 0), NULL, 10);
        sqlite3_finalize(st);
    }
    if (version > PB_HISTORY_SCHEMA_VERSION) {
        pb_errf(err, errlen,
                "%s: schema_version %ld is newer than this build reads (%d): use a newer popbench",
                h->path, version, PB_HISTORY_SCHEMA_VERSION);
        return -EPROTONOSUPPORT;
    }
    if (version != PB_HISTORY_SCHEMA_VERSION) {
        pb_errf(err, errlen, "%s: meta.schema_version: expected %d", h->path,
                PB_HISTORY_SCHEMA_VERSION);
        return -EINVAL;
    }
    return 0;
}

int pb_history_open(const char *path, bool create, struct pb_history **out, char *err,
                    size_t errlen)
{
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    if (!create && access(path, F_OK) != 0) {
        pb_errf(err, errlen, "%s: no history database here (import results first)", path);
        return -ENOENT;
    }
    struct pb_history *h = calloc(1, sizeof(*h));
    if (!h || !(h->path = strdup(path))) {
        free(h);
        pb_errf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    int flags = create ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READWRITE;
    int rc = sqlite3_open_v2(path, &h->db, flags, NULL);
    if (rc != SQLITE_OK) {
        pb_errf(err, errlen, "%s: cannot open: %s", path,
                h->db ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc));
        pb_history_close(h);
        return -EIO;
    }
    sqlite3_busy_timeout(h->db, 10000);
    sqlite3_exec(h->db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL);
    if ((rc = check_schema(h, create, err, errlen))) {
        pb_history_close(h);
        return rc;
    }
    *out = h;
    return 0;
}

void pb_history_close(struct pb_history *h)
{
    if (!h)
        return;
    sqlite3_close(h->db);
    free(h->path);
    free(h);
}

/* ==== Importing =========================================================================== */

/* FNV-1a over the file's bytes: recognises a re-import, not an adversary. */
static int file_hash(const char *path, char out[17])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -errno;
    uint64_t h = 0xcbf29ce484222325ull;
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        for (size_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 0x100000001b3ull;
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return rc;
}

/* ISO 8601 "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" to Unix seconds; -1 if unparseable. */
static int64_t parse_date(const char *s)
{
    if (!s)
        return -1;
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    long offset = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        offset = (*p == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
    } else if (*p != 'Z' && *p != '\0') {
        return -1;
    }
    return (int64_t)timegm(&tm) - offset;
}

static const char *or_unknown(const char *s)
{
    return s && *s ? s : "unknown";
}

struct import_stmts {
    sqlite3_stmt *file, *run, *metric;
};

static int import_one(struct pb_history *h, struct import_stmts *s, const struct pb_rfile *rf,
                      const char *hash, struct pb_import_stats *st)
{
    int64_t now = (int64_t)time(NULL), date = parse_date(rf->env.date);
    if (date < 0)
        date = now;
    const char *commit = or_unknown(rf->env.git_commit), *host = or_unknown(rf->env.host_name);
    const char *cpu = or_unknown(rf->env.cpu_model);

    sqlite3_reset(s->file);
    sqlite3_bind_text(s->file, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->file, 2, rf->path, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->file, 3, now);
    sqlite3_bind_text(s->file, 4, rf->env.date, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->file, 5, date);
    sqlite3_bind_text(s->file, 6, commit, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->file, 7, host, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->file, 8, cpu, -1, SQLITE_STATIC);
    sqlite3_bind_int(s->file, 9, rf->env.partial);
    if (sqlite3_step(s->file) != SQLITE_DONE)
        return -EIO;
    if (sqlite3_changes(h->db) == 0) {
        st->files_seen++;
        return 0;
    }
    st->files_new++;
    sqlite3_int64 file_id = sqlite3_last_insert_rowid(h->db);

    for (size_t b = 0; b < rf->nbench; b++) {
        const struct pb_rbench *bench = &rf->bench[b];
        for (size_t r = 0; r < bench->nrep; r++) {
            sqlite3_reset(s->run);
            sqlite3_bind_int64(s->run, 1, file_id);
            sqlite3_bind_text(s->run, 2, commit, -1, SQLITE_STATIC);
            sqlite3_bind_text(s->run, 3, host, -1, SQLITE_STATIC);
            sqlite3_bind_text(s->run, 4, cpu, -1, SQLITE_STATIC);
            sqlite3_bind_text(s->run, 5, bench->workload, -1, SQLITE_STATIC);
            sqlite3_bind_text(s->run, 6, bench->variant, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s->run, 7, bench->threads);
            sqlite3_bind_int64(s->run, 8, bench->rep_index[r]);
            sqlite3_bind_text(s->run, 9, bench->name, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s->run, 10, date);
            if (sqlite3_step(s->run) != SQLITE_DONE)
                return -EIO;
            if (sqlite3_changes(h->db) == 0) {
                st->runs_seen++;
                continue;
            }
            st->runs_new++;
            sqlite3_int64 run_id = sqlite3_last_insert_rowid(h->db);
            for (size_t m = 0; m < bench->nmetric; m++) {
                double v = bench->metric[m].val[r];
                if (!isfinite(v))
                    continue;
                sqlite3_reset(s->metric);
                sqlite3_bind_int64(s->metric, 1, run_id);
                sqlite3_bind_text(s->metric, 2, bench->metric[m].name, -1, SQLITE_STATIC);
                sqlite3_bind_double(s->metric, 3, v);
                if (sqlite3_step(s->metric) != SQLITE_DONE)
                    return -EIO;
            }
        }
    }
    return 0;
}

int pb_history_import(struct pb_history *h, const char *const *paths, size_t n,
                      struct pb_import_stats *st, char *err, size_t errlen)
{
    if (!h || (n && !paths) || !st)
        return -EINVAL;
    *st = (struct pb_import_stats){0};
    /* Read and check every file before the database sees any of them. */
    struct pb_rfile **rf = calloc(n + 1, sizeof(*rf));
    char(*hash)[17] = calloc(n + 1, sizeof(*hash));
    int rc = rf && hash ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = pb_rfile_load(paths[i], &rf[i], err, errlen);
        if (rc == 0 && (rc = file_hash(paths[i], hash[i])))
            pb_errf(err, errlen, "%s: cannot read: %s", paths[i], strerror(-rc));
    }

    struct import_stmts s = {0};
    if (rc == 0) {
        if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(h->db,
                               "INSERT OR IGNORE INTO files(hash, path, imported_at, date,"
                               " date_epoch, git_commit, host, cpu_model, partial)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                               -1, &s.file, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(h->db,
                               "INSERT OR IGNORE INTO runs(file_id, git_commit, host, cpu_model,"
                               " workload, variant, threads, repetition, name, date_epoch)"
                               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                               -1, &s.run, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(h->db,
                               "INSERT INTO metrics(run_id, metric, value) VALUES(?1, ?2, ?3)", -1,
                               &s.metric, NULL) != SQLITE_OK)
            rc = -EIO;
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = import_one(h, &s, rf[i], hash[i], st);
        if (rc)
            pb_errf(err, errlen, "%s: import failed: %s", h->path, sqlite3_errmsg(h->db));
        sqlite3_finalize(s.file);
        sqlite3_finalize(s.run);
        sqlite3_finalize(s.metric);
        if (rc == 0 && sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            pb_errf(err, errlen, "%s: commit failed: %s", h->path, sqlite3_errmsg(h->db));
            rc = -EIO;
        }
        if (rc) {
            sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
            *st = (struct pb_import_stats){0};
        }
    } else if (rc == -ENOMEM) {
        pb_errf(err, errlen, "out of memory");
    }
    for (size_t i = 0; rf && i < n; i++)
        pb_rfile_free(rf[i]);
    free(rf);
    free(hash);
    return rc;
}

static long count_of(struct pb_history *h, const char *sql)
{
    sqlite3_stmt *st;
    long n = -1;
    if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int pb_history_counts(struct pb_history *h, long *files, long *runs, long *metrics)
{
    if (!h || !files || !runs || !metrics)
        return -EINVAL;
    *files = count_of(h, "SELECT count(*) FROM files");
    *runs = count_of(h, "SELECT count(*) FROM runs");
    *metrics = count_of(h, "SELECT count(*) FROM metrics");
    return *files < 0 || *runs < 0 || *metrics < 0 ? -EIO : 0;
}

/* ==== Trends ============================================================================== */

void pb_trend_opts_default(struct pb_trend_opts *o)
{
    *o = (struct pb_trend_opts){
        .min_shift = 0.05, .alpha = 0.05, .permutations = 999, .seed = 1, .min_seg = 2};
}

void pb_trends_free(struct pb_trend *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].host);
        free(t[i].cpu_model);
        free(t[i].bench);
        for (size_t p = 0; p < t[i].npoint; p++)
            free(t[i].point[p].commit);
        free(t[i].point);
    }
    free(t);
}

static bool same_text(sqlite3_stmt *st, int col, const char *s)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return v && s && strcmp(v, s) == 0;
}

static char *col_dup(sqlite3_stmt *st, int col)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return strdup(v ? v : "");
}

/* Turns a point's collected values into its median and range. */
static void finish_point(struct pb_trend_point *p, double *vals)
{
    p->median = pb_median(vals, p->nrep);
    p->min = p->max = vals[0];
    for (size_t i = 1; i < p->nrep; i++) {
        p->min = fmin(p->min, vals[i]);
        p->max = fmax(p->max, vals[i]);
    }
}

static int detect_change(struct pb_trend *t, const struct pb_trend_opts *o)
{
    size_t min_seg = o->min_seg ? o->min_seg : 1;
    if (t->npoint < 2 * min_seg)
        return 0;
    double *x = malloc(t->npoint * sizeof(*x));
    if (!x)
        return -ENOMEM;
    for (size_t i = 0; i < t->npoint; i++)
        x[i] = t->point[i].median;
    int rc = pb_changepoint_find(x, t->npoint, min_seg, o->permutations, o->seed, &t->cp);
    free(x);
    if (rc)
        return rc;
    t->tested = true;
    double shift = t->cp.mean_before != 0 ? t->cp.mean_after / t->cp.mean_before - 1 : INFINITY;
    t->change = t->cp.p < o->alpha && fabs(shift) >= o->min_shift;
    return 0;
}

static const char trend_sql[] =
    "WITH c AS (SELECT host, cpu_model, name, git_commit, min(date_epoch) AS d, min(file_id) AS f"
    "  FROM runs GROUP BY host, cpu_model, name, git_commit)"
    " SELECT r.host, r.cpu_model, r.name, r.git_commit, c.d, m.value"
    " FROM runs r JOIN metrics m ON m.run_id = r.id"
    " JOIN c ON c.host = r.host AND c.cpu_model = r.cpu_model AND c.name = r.name"
    "  AND c.git_commit = r.git_commit"
    " WHERE m.metric = ?1 AND (?2 IS NULL OR r.name = ?2)"
    " ORDER BY r.host, r.cpu_model, r.name, c.d, c.f, r.git_commit";

int pb_history_trend(struct pb_history *h, const char *metric, const char *bench,
                     const struct pb_trend_opts *o, struct pb_trend **out, size_t *n)
{
    if (!h || !metric || !o || !out || !n || !(o->alpha > 0 && o->alpha < 1))
        return -EINVAL;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h->db, trend_sql, -1, &st, NULL) != SQLITE_OK)
        return -EIO;
    sqlite3_bind_text(st, 1, metric, -1, SQLITE_STATIC);
    if (bench)
        sqlite3_bind_text(st, 2, bench, -1, SQLITE_STATIC);

    struct pb_trend *t = NULL, *cur = NULL;
    struct pb_trend_point *pt = NULL;
    size_t nt = 0, cap_t = 0, cap_p = 0, cap_v = 0;
    double *vals = NULL;
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (!cur || !same_text(st, 0, cur->host) || !same_text(st, 1, cur->cpu_model) ||
            !same_text(st, 2, cur->bench)) {
            if (pt)
                finish_point(pt, vals);
            pt = NULL;
            if (nt == cap_t) {
                cap_t = cap_t ? 2 * cap_t : 8;
                struct pb_trend *nt_ = realloc(t, cap_t * sizeof(*nt_));
                if (!nt_) {
                    rc = -ENOMEM;
                    break;
                }
                t = nt_;
            }
            cur = &t[nt++];
            *cur = (struct pb_trend){
                .host = col_dup(st, 0), .cpu_model = col_dup(st, 1), .bench = col_dup(st, 2)};
            cap_p = 0;
        }
        if (!pt || !same_text(st, 3, pt->commit)) {
            if (pt)
                finish_point(pt, vals);
            if (cur->npoint == cap_p) {
                cap_p = cap_p ? 2 * cap_p : 16;
                struct pb_trend_point *np = realloc(cur->point, cap_p * sizeof(*np));
                if (!np) {
                    rc = -ENOMEM;
                    break;
                }
                cur->point = np;
            }
            pt = &cur->point[cur->npoint++];
            *pt = (struct pb_trend_point){.commit = col_dup(st, 3),
                                          .date = sqlite3_column_int64(st, 4)};
        }
        if (pt->nrep == cap_v) {
            cap_v = cap_v ? 2 * cap_v : 16;
            double *nv = realloc(vals, cap_v * sizeof(*nv));
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            vals = nv;
        }
        vals[pt->nrep++] = sqlite3_column_double(st, 5);
        if (!cur->host || !cur->cpu_model || !cur->bench || !pt->commit)
            rc = -ENOMEM;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = -EIO;
    if (rc == 0 && pt)
        finish_point(pt, vals);
    sqlite3_finalize(st);
    free(vals);
    for (size_t i = 0; rc == 0 && i < nt; i++)
        rc = detect_change(&t[i], o);
    if (rc) {
        pb_trends_free(t, nt);
        return rc;
    }
    *out = t;
    *n = nt;
    return 0;
}

/* ==== The command ========================================================================= */

static const char *const cmd = "history";

static void history_usage(FILE *out)
{
    fputs("usage: popbench history [--db PATH] import FILE.json [...]\n"
          "       popbench history [--db PATH] list\n"
          "       popbench history [--db PATH] trend METRIC [--benchmark NAME] [options]\n"
          "\n"
          "Keeps every imported run in an SQLite database keyed by commit, machine (host and\n"
          "cpu_model), workload, variant, threads and repetition: importing a file twice adds\n"
          "nothing, and a re-run of an imported commit on the same machine keeps the first.\n"
          "trend prints a metric per commit (median over repetitions) for each machine and\n"
          "benchmark, ordered by the run's date, and the single change point that maximises\n"
          "the pooled two-sample t over splits, tested by a seeded permutation test of that\n"
          "maximum; it names the first commit after the change.\n"
          "\n"
          "options:\n"
          "  --db PATH            database (default results/history.sqlite)\n"
          "  --benchmark NAME     trend: only this benchmark (workload/variant/threads:N)\n"
          "  --min-shift F        trend: smallest shift of the mean that counts (default 5%)\n"
          "  --alpha F            trend: significance level (default 0.05)\n"
          "  --permutations N     trend: permutation rounds (default 999)\n"
          "  --seed N             trend: permutation seed (default 1)\n"
          "  -h, --help           this text\n"
          "Exit status: 0 done, 2 bad input or error.\n",
          out);
}

static void fmt_date(char *buf, size_t len, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(buf, len, "?");
}

static int history_list(struct pb_history *h)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT f.id, f.date_epoch, f.git_commit, f.host, f.cpu_model,"
                           " (SELECT count(*) FROM runs r WHERE r.file_id = f.id), f.partial,"
                           " f.path FROM files f ORDER BY f.date_epoch, f.id",
                           -1, &st, NULL) != SQLITE_OK) {
        pb_cli_error(cmd, "%s: %s", h->path, sqlite3_errmsg(h->db));
        return PB_EXIT_USAGE;
    }
    struct pb_ctable t;
    pb_ctable_init(&t, 8);
    pb_ctable_add(&t, "id", "date", "commit", "host", "cpu_model", "new runs", "partial", "path");
    while (sqlite3_step(st) == SQLITE_ROW) {
        char id[32], date[40], runs[32];
        snprintf(id, sizeof(id), "%lld", (long long)sqlite3_column_int64(st, 0));
        fmt_date(date, sizeof(date), sqlite3_column_int64(st, 1));
        snprintf(runs, sizeof(runs), "%lld", (long long)sqlite3_column_int64(st, 5));
        char commit[13];
        snprintf(commit, sizeof(commit), "%s", (const char *)sqlite3_column_text(st, 2));
        pb_ctable_add(&t, id, date, commit, (const char *)sqlite3_column_text(st, 3),
                      (const char *)sqlite3_column_text(st, 4), runs,
                      sqlite3_column_int(st, 6) ? "yes" : "no",
                      (const char *)sqlite3_column_text(st, 7));
    }
    sqlite3_finalize(st);
    pb_ctable_print(&t, false, stdout);
    pb_ctable_free(&t);
    long files, runs, metrics;
    if (pb_history_counts(h, &files, &runs, &metrics) == 0)
        printf("\n%ld files, %ld runs, %ld metric values in %s\n", files, runs, metrics, h->path);
    return PB_EXIT_OK;
}

static void print_trend(const struct pb_trend *t, const char *metric, const struct pb_trend_opts *o)
{
    printf("%s of %s on %s (%s):\n", metric, t->bench, t->host, t->cpu_model);
    struct pb_ctable tab;
    pb_ctable_init(&tab, 6);
    pb_ctable_add(&tab, "date", "commit", "reps", "median", "min", "max");
    for (size_t i = 0; i < t->npoint; i++) {
        const struct pb_trend_point *p = &t->point[i];
        char date[40], reps[24], med[32], lo[32], hi[32];
        fmt_date(date, sizeof(date), p->date);
        snprintf(reps, sizeof(reps), "%zu", p->nrep);
        snprintf(med, sizeof(med), "%.6g", p->median);
        snprintf(lo, sizeof(lo), "%.6g", p->min);
        snprintf(hi, sizeof(hi), "%.6g", p->max);
        pb_ctable_add(&tab, date, p->commit, reps, med, lo, hi);
    }
    pb_ctable_print(&tab, false, stdout);
    pb_ctable_free(&tab);
    if (!t->tested) {
        printf("change point: too few commits to look for one (%zu, need %zu)\n\n", t->npoint,
               2 * (o->min_seg ? o->min_seg : 1));
        return;
    }
    const struct pb_changepoint *cp = &t->cp;
    double shift = cp->mean_before != 0 ? 100 * (cp->mean_after / cp->mean_before - 1) : NAN;
    printf("%s at commit %s (point %zu of %zu): mean %.6g -> %.6g (%+.1f%%), t=%.3g, "
           "permutation p=%.3g%s\n\n",
           t->change ? "CHANGE POINT" : "no change point: best split", t->point[cp->index].commit,
           cp->index + 1, t->npoint, cp->mean_before, cp->mean_after, shift, cp->t, cp->p,
           t->change ? "" : " (not significant or below --min-shift)");
}

static int history_trend(struct pb_history *h, const char *metric, const char *bench,
                         const struct pb_trend_opts *o)
{
    struct pb_trend *t;
    size_t n;
    int rc = pb_history_trend(h, metric, bench, o, &t, &n);
    if (rc) {
        pb_cli_error(cmd, "%s: trend of %s failed: %s", h->path, metric, strerror(-rc));
        return PB_EXIT_USAGE;
    }
    if (n == 0) {
        pb_cli_error(cmd, "%s: no values of metric '%s'%s%s", h->path, metric,
                     bench ? " for --benchmark " : "", bench ? bench : "");
        return PB_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        print_trend(&t[i], metric, o);
    pb_trends_free(t, n);
    return PB_EXIT_OK;
}

int pb_cmd_history(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"benchmark", required_argument, NULL, 'b'},
        {"min-shift", required_argument, NULL, 's'},
        {"alpha", required_argument, NULL, 'a'},
        {"permutations", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = "results/history.sqlite", *bench = NULL;
    struct pb_trend_opts to;
    pb_trend_opts_default(&to);
    uint64_t u;
    int c, rc = 0;
    bool trend_flags = false;
    optind = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'b':
            bench = optarg;
            trend_flags = true;
            break;
        case 's':
            rc = pb_cli_double(cmd, "--min-shift", optarg, 0, 10, true, &to.min_shift);
            trend_flags = true;
            break;
        case 'a':
            rc = pb_cli_double(cmd, "--alpha", optarg, 1e-9, 0.5, false, &to.alpha);
            trend_flags = true;
            break;
        case 'p':
            rc = pb_cli_u64(cmd, "--permutations", optarg, 19, 1000000, &u);
            to.permutations = (unsigned)u;
            trend_flags = true;
            break;
        case 'S':
            rc = pb_cli_u64(cmd, "--seed", optarg, 0, UINT64_MAX, &to.seed);
            trend_flags = true;
            break;
        case 'h':
            history_usage(stdout);
            return PB_EXIT_OK;
        default:
            rc = -EINVAL;
            break;
        }
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int nargs = argc - optind - 1;
    if (rc == 0) {
        if (!sub) {
            pb_cli_error(cmd, "expected a subcommand: import, list or trend");
            rc = -EINVAL;
        } else if (strcmp(sub, "import") == 0  ? nargs < 1
                   : strcmp(sub, "list") == 0  ? nargs != 0
                   : strcmp(sub, "trend") == 0 ? nargs != 1
                                               : true) {
            if (strcmp(sub, "import") == 0)
                pb_cli_error(cmd, "import: expected results files");
            else if (strcmp(sub, "list") == 0)
                pb_cli_error(cmd, "list: takes no arguments");
            else if (strcmp(sub, "trend") == 0)
                pb_cli_error(cmd, "trend: expected one METRIC");
            else
                pb_cli_error(cmd, "'%s': expected a subcommand: import, list or trend", sub);
            rc = -EINVAL;
        } else if (trend_flags && strcmp(sub, "trend") != 0) {
            pb_cli_error(cmd, "--benchmark, --min-shift, --alpha, --permutations and --seed "
                              "apply to trend only");
            rc = -EINVAL;
        }
    }
    if (rc) {
        fprintf(stderr, "Try 'popbench history --help'.\n");
        return PB_EXIT_USAGE;
    }

    struct pb_history *h;
    char err[1024];
    bool import = strcmp(sub, "import") == 0;
    if ((rc = pb_history_open(db, import, &h, err, sizeof(err)))) {
        pb_cli_error(cmd, "--db %s", err);
        return PB_EXIT_USAGE;
    }
    int exit_code = PB_EXIT_OK;
    if (import) {
        struct pb_import_stats st;
        if (pb_history_import(h, (const char *const *)&argv[optind + 1], (size_t)nargs, &st, err,
                              sizeof(err))) {
            pb_cli_error(cmd, "%s (nothing imported)", err);
            exit_code = PB_EXIT_USAGE;
        } else {
            printf("imported into %s: %zu new file%s (%zu seen before), %zu new runs (%zu "
                   "already present)\n",
                   db, st.files_new, st.files_new == 1 ? "" : "s", st.files_seen, st.runs_new,
                   st.runs_seen);
        }
    } else if (strcmp(sub, "list") == 0) {
        exit_code = history_list(h);
    } else {
        exit_code = history_trend(h, argv[optind + 1], bench, &to);
    }
    pb_history_close(h);
    return exit_code;
}
