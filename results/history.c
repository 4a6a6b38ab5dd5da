/*
 * history.c: the results history in SQLite (history.h): opening it, importing results files
 * through the results reader, listing them, and the trend of a metric with its change points.
 */
#include "results/history.h"

#include "core/pb.h"
#include "results/results.h"
#include "results/stats.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct pb_history {
    sqlite3 *db;
    char *path;
    unsigned wait_s; /* how long a statement waits for another process's lock */
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

/*
 * err for a failed SQLite call rc while `doing`: a lock held too long, a file that is not a
 * database, a corrupt one, and everything else, each in its own words. Returns the errno.
 */
static int db_error(struct pb_history *h, int rc, const char *doing, char *err, size_t errlen)
{
    const char *msg = sqlite3_errmsg(h->db);
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        pb_errf(err, errlen,
                "%s: %s: the database is locked, retried for %d s (another popbench history "
                "holds it; try again when it is done)",
                h->path, doing, h->wait_s);
        return -EBUSY;
    case SQLITE_NOTADB:
        pb_errf(err, errlen, "%s: not an SQLite database (expected a popbench history)", h->path);
        return -EINVAL;
    case SQLITE_CORRUPT:
        pb_errf(err, errlen,
                "%s: %s: the database is corrupt (%s); restore it from a copy or import the "
                "results files into a new one",
                h->path, doing, msg);
        return -EIO;
    default:
        pb_errf(err, errlen, "%s: %s: %s", h->path, doing, msg);
        return -EIO;
    }
}

/*
 * The schema version of an open database, read inside the caller's transaction: 0 when it has
 * no meta table (a new file), -1 when meta has no readable version. Returns 0 or the errno.
 */
static int schema_version(struct pb_history *h, long *version, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    *version = -1;
    int rc = sqlite3_prepare_v2(
        h->db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='meta'", -1, &st,
        NULL);
    int found = 0;
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        found = sqlite3_column_int(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return db_error(h, rc, "reading its schema", err, errlen);
    if (!found) {
        *version = 0;
        return 0;
    }
    rc = sqlite3_prepare_v2(h->db, "SELECT value FROM meta WHERE key='schema_version'", -1, &st,
                            NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : -1;
        *version = v && *v && !*end && n > 0 ? n : -1;
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? 0 : db_error(h, rc, "reading meta.schema_version", err, errlen);
}

/*
 * Checks the schema and, with create, makes it in a new database, all in one IMMEDIATE
 * transaction: two processes creating the same database at once take turns (the second waits
 * for the first, then finds the schema made), so neither fails.
 */
static int check_schema(struct pb_history *h, bool create, char *err, size_t errlen)
{
    int rc = sqlite3_exec(h->db, create ? "BEGIN IMMEDIATE" : "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return db_error(h, rc, "opening a transaction", err, errlen);
    long version;
    int e = schema_version(h, &version, err, errlen);
    if (e == 0 && version == 0 && !create) {
        pb_errf(err, errlen, "%s: not a popbench history (no meta table)", h->path);
        e = -EINVAL;
    } else if (e == 0 && version == 0) {
        rc = sqlite3_exec(h->db, schema_v1, NULL, NULL, NULL);
        if (rc != SQLITE_OK)
            e = db_error(h, rc, "creating the schema", err, errlen);
    } else if (e == 0 && version > PB_HISTORY_SCHEMA_VERSION) {
        pb_errf(err, errlen,
                "%s: schema_version %ld is newer than this build reads (%d): use a newer popbench",
                h->path, version, PB_HISTORY_SCHEMA_VERSION);
        e = -EPROTONOSUPPORT;
    } else if (e == 0 && version != PB_HISTORY_SCHEMA_VERSION) {
        pb_errf(err, errlen, "%s: meta.schema_version: expected %d, found no valid version",
                h->path, PB_HISTORY_SCHEMA_VERSION);
        e = -EINVAL;
    }
    if (e == 0 && (rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        e = db_error(h, rc, "committing the schema", err, errlen);
    if (e)
        sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

int pb_history_open(const char *path, bool create, struct pb_history **out, char *err,
                    size_t errlen)
{
    return pb_history_open_waiting(path, create, PB_HISTORY_WAIT_S, out, err, errlen);
}

int pb_history_open_waiting(const char *path, bool create, unsigned wait_s, struct pb_history **out,
                            char *err, size_t errlen)
{
    if (!path || !out)
        return -EINVAL;
    *out = NULL;
    /* SQLite would open a FIFO and wait on it, and calls a directory "unable to open". */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        pb_errf(err, errlen, "%s: is %s (expected an SQLite file)", path,
                S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
        return S_ISDIR(sb.st_mode) ? -EISDIR : -EINVAL;
    }
    if (!create && access(path, F_OK) != 0) {
        pb_errf(err, errlen, "%s: no history database here (import results first)", path);
        return -ENOENT;
    }
    struct pb_history *h = calloc(1, sizeof(*h));
    if (h)
        h->wait_s = wait_s;
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
    sqlite3_extended_result_codes(h->db, 1);
    sqlite3_busy_timeout(h->db, wait_s > INT_MAX / 1000 ? INT_MAX : (int)wait_s * 1000);
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

static int import_one(struct pb_history *h, struct import_stmts *s, const struct pb_results *rf,
                      const char *hash, struct pb_import_stats *st)
{
    const char *rf_date = pb_results_context_string(rf, "date");
    int64_t now = (int64_t)time(NULL), date = parse_date(rf_date);
    if (date < 0)
        date = now;
    const char *commit = or_unknown(pb_results_context_string(rf, "git_commit"));
    const char *host = or_unknown(pb_results_context_string(rf, "host_name"));
    const char *cpu = or_unknown(pb_results_context_string(rf, "cpu_model"));

    sqlite3_reset(s->file);
    sqlite3_bind_text(s->file, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->file, 2, pb_results_path(rf), -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->file, 3, now);
    sqlite3_bind_text(s->file, 4, rf_date, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->file, 5, date);
    sqlite3_bind_text(s->file, 6, commit, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->file, 7, host, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->file, 8, cpu, -1, SQLITE_STATIC);
    sqlite3_bind_int(s->file, 9, pb_results_is_partial(rf));
    if (sqlite3_step(s->file) != SQLITE_DONE)
        return -EIO;
    if (sqlite3_changes(h->db) == 0) {
        st->files_seen++;
        return 0;
    }
    st->files_new++;
    sqlite3_int64 file_id = sqlite3_last_insert_rowid(h->db);

    for (size_t b = 0; b < pb_results_group_count(rf); b++) {
        const struct pb_results_group *bench = pb_results_group_at(rf, b);
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
    struct pb_results **rf = calloc(n + 1, sizeof(*rf));
    char(*hash)[17] = calloc(n + 1, sizeof(*hash));
    int rc = rf && hash ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = pb_results_load(paths[i], &rf[i], err, errlen);
        if (rc == 0 && (rc = file_hash(paths[i], hash[i])))
            pb_errf(err, errlen, "%s: cannot read: %s", paths[i], strerror(-rc));
    }

    struct import_stmts s = {0};
    if (rc == 0) {
        int db = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        const char *doing = "opening the import's transaction";
        if (db == SQLITE_OK) {
            doing = "preparing the import";
            if ((db = sqlite3_prepare_v2(h->db,
                                         "INSERT OR IGNORE INTO files(hash, path, imported_at, "
                                         "date, date_epoch, git_commit, host, cpu_model, partial)"
                                         " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                         -1, &s.file, NULL)) == SQLITE_OK &&
                (db = sqlite3_prepare_v2(
                     h->db,
                     "INSERT OR IGNORE INTO runs(file_id, git_commit, host, cpu_model,"
                     " workload, variant, threads, repetition, name, date_epoch)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                     -1, &s.run, NULL)) == SQLITE_OK)
                db = sqlite3_prepare_v2(
                    h->db, "INSERT INTO metrics(run_id, metric, value) VALUES(?1, ?2, ?3)", -1,
                    &s.metric, NULL);
        }
        if (db == SQLITE_OK) {
            doing = "importing";
            for (size_t i = 0; i < n && db == SQLITE_OK; i++)
                if (import_one(h, &s, rf[i], hash[i], st))
                    db = sqlite3_extended_errcode(h->db);
        }
        sqlite3_finalize(s.file);
        sqlite3_finalize(s.run);
        sqlite3_finalize(s.metric);
        if (db == SQLITE_OK) {
            doing = "committing the import";
            db = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
        }
        if (db != SQLITE_OK) {
            rc = db_error(h, db, doing, err, errlen);
            sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
            *st = (struct pb_import_stats){0};
        }
    } else if (rc == -ENOMEM) {
        pb_errf(err, errlen, "out of memory");
    }
    for (size_t i = 0; rf && i < n; i++)
        pb_results_free(rf[i]);
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

static char *col_dup(sqlite3_stmt *st, int col)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return strdup(v ? v : "");
}

/* ==== Listing ============================================================================= */

int pb_history_files(struct pb_history *h, struct pb_history_file **out, size_t *n, char *err,
                     size_t errlen)
{
    if (!h || !out || !n)
        return -EINVAL;
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h->db,
                           "SELECT f.id, f.date_epoch, f.git_commit, f.host, f.cpu_model,"
                           " (SELECT count(*) FROM runs r WHERE r.file_id = f.id), f.partial,"
                           " f.path FROM files f ORDER BY f.date_epoch, f.id",
                           -1, &st, NULL) != SQLITE_OK) {
        pb_errf(err, errlen, "%s: %s", h->path, sqlite3_errmsg(h->db));
        return -EIO;
    }
    struct pb_history_file *f = NULL;
    size_t cap = 0;
    int rc = 0, step;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            struct pb_history_file *nf = realloc(f, cap * sizeof(*nf));
            if (!nf) {
                rc = -ENOMEM;
                break;
            }
            f = nf;
        }
        struct pb_history_file *x = &f[(*n)++];
        *x = (struct pb_history_file){.id = sqlite3_column_int64(st, 0),
                                      .date = sqlite3_column_int64(st, 1),
                                      .commit = col_dup(st, 2),
                                      .host = col_dup(st, 3),
                                      .cpu_model = col_dup(st, 4),
                                      .runs = sqlite3_column_int64(st, 5),
                                      .partial = sqlite3_column_int(st, 6) != 0,
                                      .path = col_dup(st, 7)};
        if (!x->commit || !x->host || !x->cpu_model || !x->path)
            rc = -ENOMEM;
    }
    if (rc == 0 && step != SQLITE_DONE) {
        pb_errf(err, errlen, "%s: %s", h->path, sqlite3_errmsg(h->db));
        rc = -EIO;
    }
    sqlite3_finalize(st);
    if (rc == -ENOMEM)
        pb_errf(err, errlen, "%s: out of memory", h->path);
    if (rc) {
        pb_history_files_free(f, *n);
        *n = 0;
        return rc;
    }
    *out = f;
    return 0;
}

void pb_history_files_free(struct pb_history_file *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++) {
        free(f[i].commit);
        free(f[i].host);
        free(f[i].cpu_model);
        free(f[i].path);
    }
    free(f);
}

void pb_trend_opts_default(struct pb_trend_opts *o)
{
    *o = (struct pb_trend_opts){
        .min_shift = 0.05, .alpha = 0.05, .permutations = 199, .seed = 1, .min_seg = 2};
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
        free(t[i].change);
    }
    free(t);
}

static bool same_text(sqlite3_stmt *st, int col, const char *s)
{
    const char *v = (const char *)sqlite3_column_text(st, col);
    return v && s && strcmp(v, s) == 0;
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

static int detect_changes(struct pb_trend *t, const struct pb_trend_opts *o)
{
    struct pb_cp_opts co = {.alpha = o->alpha,
                            .permutations = o->permutations,
                            .seed = o->seed,
                            .min_seg = o->min_seg ? o->min_seg : 1};
    if (t->npoint < 2 * co.min_seg)
        return 0;
    double *x = malloc(t->npoint * sizeof(*x));
    if (!x)
        return -ENOMEM;
    for (size_t i = 0; i < t->npoint; i++)
        x[i] = t->point[i].median;
    struct pb_cp *cp;
    size_t n;
    int rc = pb_changepoints_find(x, t->npoint, &co, &cp, &n);
    free(x);
    if (rc)
        return rc;
    t->tested = true;
    t->change = n ? calloc(n, sizeof(*t->change)) : NULL;
    if (n && !t->change) {
        free(cp);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct pb_trend_change *c = &t->change[i];
        c->cp = cp[i];
        c->shift = cp[i].mean_before != 0 ? cp[i].mean_after / cp[i].mean_before - 1 : NAN;
        c->counts = !(fabs(c->shift) < o->min_shift); /* NAN: from 0 to anything counts */
    }
    t->nchange = n;
    free(cp);
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
        rc = detect_changes(&t[i], o);
    if (rc) {
        pb_trends_free(t, nt);
        return rc;
    }
    *out = t;
    *n = nt;
    return 0;
}
