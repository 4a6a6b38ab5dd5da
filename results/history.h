/*
 * history.h: the results history, an SQLite database of imported runs, and the trend of a
 * metric over commits with every change point in it (results/changepoint.h).
 *
 * Schema, version 1 (scripts/plot reads it too; a newer version is refused):
 *   meta(key TEXT PRIMARY KEY, value TEXT)        key 'schema_version'
 *   files(id INTEGER PRIMARY KEY, hash TEXT UNIQUE, path, imported_at INTEGER (Unix s),
 *         date TEXT, date_epoch INTEGER, git_commit, host, cpu_model, partial INTEGER)
 *   runs(id INTEGER PRIMARY KEY, file_id REFERENCES files(id), git_commit, host, cpu_model,
 *        workload, variant, threads, repetition, name, date_epoch,
 *        UNIQUE(git_commit, host, cpu_model, workload, variant, threads, repetition))
 *   metrics(run_id REFERENCES runs(id), metric TEXT, value REAL, PRIMARY KEY(run_id, metric))
 * A run is keyed by commit, machine (host + cpu_model), workload, variant, threads and
 * repetition: importing a file again, or another file with the same keys, adds nothing. A
 * trend is one series per machine and benchmark, a point per commit (the median over its
 * repetitions), ordered by the run's date, then by import order.
 *
 * Every statement waits up to PB_HISTORY_WAIT_S (30 s) for another process's lock; the schema is
 * made and checked inside one IMMEDIATE transaction, so that processes creating one database at
 * once take turns.
 *
 * A struct pb_history is one connection: use it from one thread at a time.
 */
#ifndef POPBENCH_RESULTS_HISTORY_H
#define POPBENCH_RESULTS_HISTORY_H

#include "results/changepoint.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_HISTORY_SCHEMA_VERSION 1

struct pb_history;

/*
 * Opens (with create, creating the file and schema if needed) a history database. Returns 0,
 * -EPROTONOSUPPORT for a newer schema, -EINVAL for a file that is not a history (or not an
 * SQLite database), -EISDIR for a directory, -ENOENT when it is missing and create is false,
 * -EBUSY when another process held its lock for the whole wait, -EIO for a corrupt database
 * and other SQLite errors; err says which and where.
 */
int pb_history_open(const char *path, bool create, struct pb_history **out, char *err,
                    size_t errlen);
/* The same, waiting up to wait_s seconds (not 30) for another process's lock. */
#define PB_HISTORY_WAIT_S 30
int pb_history_open_waiting(const char *path, bool create, unsigned wait_s, struct pb_history **out,
                            char *err, size_t errlen);
void pb_history_close(struct pb_history *h);

struct pb_import_stats {
    size_t files_new, files_seen; /* files_seen: the same content was imported before */
    size_t runs_new, runs_seen;   /* runs_seen: a run with the same keys was already there */
};

/* Imports results files in one transaction: all of them or (on any error) none. */
int pb_history_import(struct pb_history *h, const char *const *paths, size_t n,
                      struct pb_import_stats *st, char *err, size_t errlen);

int pb_history_counts(struct pb_history *h, long *files, long *runs, long *metrics);

/* One imported file. */
struct pb_history_file {
    long long id;
    int64_t date; /* Unix seconds of its run */
    char *commit, *host, *cpu_model, *path;
    long long runs; /* the runs it added (its others were there before) */
    bool partial;
};
/* Every imported file, by date then import order. 0, -EIO (err says why) or -ENOMEM. */
int pb_history_files(struct pb_history *h, struct pb_history_file **out, size_t *n, char *err,
                     size_t errlen);
void pb_history_files_free(struct pb_history_file *f, size_t n);

struct pb_trend_point {
    char *commit;
    int64_t date; /* Unix seconds of the earliest run of the commit */
    size_t nrep;
    double median, min, max;
};

/* One change point of a trend. */
struct pb_trend_change {
    struct pb_cp cp; /* cp.index: the first point (commit) after the change */
    double shift;    /* cp.mean_after / cp.mean_before - 1; NAN when mean_before is 0 */
    bool counts;     /* |shift| >= min_shift: a change worth reporting */
};

struct pb_trend {
    char *host, *cpu_model, *bench;
    size_t npoint;
    struct pb_trend_point *point;
    bool tested;                    /* enough points to look for change points */
    size_t nchange;                 /* every significant change point, by index */
    struct pb_trend_change *change; /* [nchange] */
};

struct pb_trend_opts {
    double min_shift;      /* smallest relative shift of the mean that counts, e.g. 0.05 */
    double alpha;          /* significance level of each permutation test */
    unsigned permutations; /* permutation rounds of each test */
    uint64_t seed;
    size_t min_seg; /* points on each side of a change, at least 1 */
};
/* 5%, 0.05, 199 rounds, seed 1, 2 points a side. */
void pb_trend_opts_default(struct pb_trend_opts *o);

/* Series of metric (of benchmark bench, or all when NULL); *n = 0 when there are none. */
int pb_history_trend(struct pb_history *h, const char *metric, const char *bench,
                     const struct pb_trend_opts *o, struct pb_trend **out, size_t *n);
void pb_trends_free(struct pb_trend *t, size_t n);

#endif
