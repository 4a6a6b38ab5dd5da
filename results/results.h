/*
 * results.h: the results document of one `popbench run` (format version 1, described field by
 * field in results/FORMAT.md, as a JSON Schema in results/schema-v1.json): build it, write it
 * (JSON, CSV, terminal table) and read it back. This is the one reader of results files:
 * compare, gate, history and the tests all load through pb_results_load().
 *
 * Glossary:
 *   document   one run's results: a context (environment and settings), one benchmark entry per
 *              workload x variant x threads x repetition, and popbench's own run sections
 *   bench      one benchmark entry; its identity is its name "workload/variant/threads:N" plus
 *              its repetition index
 *   counter    a numeric field of a bench entry beyond the fixed ones ("pages_per_second", ...)
 *   metric     a counter, or a fixed field that measures (iterations, real_time, cpu_time);
 *              metrics.h says what each one is
 *   group      a benchmark with all its repetitions: the per-metric view's unit
 *
 * Threads: a document belongs to one thread at a time (the harness builds it after the workers
 * have stopped); nothing in it is shared, nothing locks.
 *
 * Errors: 0 or a negative errno. Bad arguments return -EINVAL and leave the document unchanged.
 * Functions that touch files also write a one-line message into err (errsz bytes, may be NULL)
 * that names the file and, for format errors, the field ("context.git_commit",
 * "benchmarks[2].threads").
 */
#ifndef POPBENCH_RESULTS_RESULTS_H
#define POPBENCH_RESULTS_RESULTS_H

#include "results/metrics.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PB_RESULTS_VERSION 1   /* context.popbench_results_version this build writes and reads */
#define PB_RESULTS_ERR_LEN 512 /* room for any message */
#define PB_RESULTS_FMT_LEN 16  /* room for any pb_results_fmt_*() string */

struct pb_results;
struct pb_results_bench;

/* ---- the document ---------------------------------------------------------------------- */

/* A new document: version, popbench_version, partial=false and the metric table
 * (context.metrics) set, no benchmarks. */
int pb_results_create(struct pb_results **out);
void pb_results_free(struct pb_results *doc);
/* Same content (key order aside). */
bool pb_results_equal(const struct pb_results *a, const struct pb_results *b);

/* ---- context ---------------------------------------------------------------------------- */

/*
 * Keys are [a-z0-9_]+. A key the format defines must get its type (setting "num_cpus" as a
 * string is -EINVAL); popbench_results_version cannot be set. Other keys may be added freely.
 */
int pb_results_context_set_string(struct pb_results *doc, const char *key, const char *value);
int pb_results_context_set_int(struct pb_results *doc, const char *key, int64_t value);
int pb_results_context_set_number(struct pb_results *doc, const char *key, double value);
int pb_results_context_set_bool(struct pb_results *doc, const char *key, bool value);
/* context.libraries.<name> = version ("hwloc", "sqlite3", ... whatever the harness links). */
int pb_results_set_library_version(struct pb_results *doc, const char *name, const char *version);
/*
 * The model's options the runs used: workload NULL, context.options.<name> = value (every run's,
 * unless its workload set the option); else context.workload_options.<workload>.<name> = value
 * (what that workload's runs used instead). name is [a-z0-9_]+.
 */
int pb_results_context_set_option(struct pb_results *doc, const char *workload, const char *name,
                                  int64_t value);
/* What only the build knows (the harness passes its compile definitions); cflags may be NULL. */
int pb_results_set_build_info(struct pb_results *doc, const char *git_commit,
                              const char *build_type, const char *cflags);
/* context.command_line: argv joined by spaces, arguments shell-quoted where needed. */
int pb_results_set_command_line(struct pb_results *doc, int argc, char *const argv[]);
/* An interrupted run sets partial and holds only the repetitions it finished. */
int pb_results_set_partial(struct pb_results *doc, bool partial);
bool pb_results_is_partial(const struct pb_results *doc);
/*
 * Everything the process can find out itself: date, host_name, executable, num_cpus,
 * mhz_per_cpu, cpu_scaling_enabled, caches, load_avg, library_build_type, compiler, kernel,
 * cpu_model, governor ("unknown" without cpufreq), libraries.jansson and libraries.glibc.
 * What it cannot read stays at a neutral value ("unknown", 0, []), so this never fails on a
 * sparse /proc or /sys; -ENOMEM only.
 */
int pb_results_fill_environment(struct pb_results *doc);

/* A key the format does not define (calibration, precision, variants, ...) set to a JSON value,
 * whose reference it takes (even on failure). 0, -EINVAL, -ENOMEM. */
int pb_results_context_set_json(struct pb_results *doc, const char *key, json_t *value);

/*
 * context.calibration: how often this machine's verdicts call identical code different (A/A)
 * and how often they find a known injected slowdown (`popbench calibrate`); `popbench gate`
 * refuses wall-clock verdicts without a good one. Field by field as results/FORMAT.md says.
 */
struct pb_results_calibration {
    uint64_t aa_runs;           /* A/A runs made */
    uint64_t aa_verdicts;       /* verdicts they gave */
    uint64_t aa_false_alarms;   /* of those, "better" or "worse" (<= aa_verdicts) */
    double aa_false_alarm_rate; /* 0 to 1 */
    uint64_t effect_ns;         /* the slowdown injected per allocation, ns */
    uint64_t effect_runs, effect_verdicts;
    uint64_t effect_detected;     /* verdicts that found it (<= effect_verdicts) */
    double effect_detection_rate; /* 0 to 1 */
    double precision_target;      /* the runs' target half-width of the ratio's interval (> 0) */
    const char *date;             /* when it was measured, ISO 8601 */
};
/* Sets it (-EINVAL when a field is out of its range); reads it back (-ENOENT: none). */
int pb_results_set_calibration(struct pb_results *doc, const struct pb_results_calibration *cal);
int pb_results_get_calibration(const struct pb_results *doc, struct pb_results_calibration *out);
/* A key of context.calibration beyond the fields above (the calibrating run's details:
 * variant, min_effect, workloads, ...) set to value, whose reference it takes (even on
 * failure). 0; -ENOENT without a calibration; -EEXIST for one of the fields above (set them
 * with pb_results_set_calibration); -EINVAL, -ENOMEM. */
int pb_results_set_calibration_detail(struct pb_results *doc, const char *key, json_t *value);

/* Readers: NULL / -ENOENT when absent, -EINVAL when the key holds another type. */
const char *pb_results_context_string(const struct pb_results *doc, const char *key);
int pb_results_context_number(const struct pb_results *doc, const char *key, double *value);
int pb_results_context_bool(const struct pb_results *doc, const char *key, bool *value);
/* The whole context object, read-only. */
const json_t *pb_results_context_json(const struct pb_results *doc);

/* ---- benchmark entries ------------------------------------------------------------------ */

struct pb_results_bench_spec {
    const char *workload;      /* non-empty, no '/' */
    const char *variant;       /* non-empty, no '/' */
    const char *lock_kind;     /* NULL: not recorded */
    unsigned threads;          /* >= 1 */
    unsigned repetition_index; /* < repetitions */
    unsigned repetitions;      /* >= 1 */
    uint64_t iterations;       /* populate calls completed in the measure phase */
    double real_time_ns;       /* mean wall-clock ns per call, finite, >= 0 */
    double cpu_time_ns;        /* mean CPU ns per call, finite, >= 0 */
};

/*
 * Appends an entry named "workload/variant/threads:N"; family_index and
 * per_family_instance_index follow Google Benchmark (a family is workload/variant, an instance
 * one thread count). -EEXIST if that name and repetition are already there. *out lives as long
 * as the document.
 */
int pb_results_add_bench(struct pb_results *doc, const struct pb_results_bench_spec *spec,
                         struct pb_results_bench **out);
/* Counters: any [a-z0-9_]+ name that is not a fixed field; a finite value. */
int pb_results_bench_set_counter(struct pb_results_bench *b, const char *name, double value);
/* The same for counts, written as JSON integers (<= INT64_MAX). */
int pb_results_bench_set_count(struct pb_results_bench *b, const char *name, uint64_t value);
/* A string counter: a metric whose unit is "name" (lock_hottest). */
int pb_results_bench_set_string(struct pb_results_bench *b, const char *name, const char *value);
/* repetitions of an entry, once known (a run that adds repetitions until it is precise
 * enough); above its repetition_index. */
int pb_results_bench_set_repetitions(struct pb_results_bench *b, unsigned repetitions);

/* ---- popbench run sections (one per bench entry, made on first use) ----------------------- */

struct pb_results_bucket {
    uint64_t lo;    /* values v with lo <= v < hi */
    uint64_t hi;    /* > lo; buckets ascend and do not overlap */
    uint64_t count; /* samples in the bucket */
};
/* histograms.<name> = {count: sum of the bucket counts, buckets: [[lo,hi,count], ...]}. */
int pb_results_bench_set_histogram(struct pb_results_bench *b, const char *name,
                                   const struct pb_results_bucket *buckets, size_t n);

struct pb_results_lock {
    const char *name; /* "heap.node0", ... */
    uint64_t acquisitions;
    uint64_t contended; /* <= acquisitions */
    uint64_t wait_ns_total;
    uint64_t wait_ns_max; /* <= wait_ns_total */
    uint64_t hold_ns_total;
    uint64_t hold_ns_max; /* <= hold_ns_total */
    bool hold_untimed;    /* some of its locks' holds are not timed: written "hold_timed": false */
};
int pb_results_bench_add_lock(struct pb_results_bench *b, const struct pb_results_lock *lock);

/* timeseries.interval_ms and .t_ms (n ascending sample times); replaces earlier series. */
int pb_results_bench_set_timeseries(struct pb_results_bench *b, uint32_t interval_ms,
                                    const uint64_t *t_ms, size_t n);
/* timeseries.<name> ("pages", "scrub_backlog", ...): one value per sample time, same n. */
int pb_results_bench_add_series(struct pb_results_bench *b, const char *name,
                                const uint64_t *values, size_t n);

struct pb_results_thread {
    unsigned index; /* worker index */
    unsigned vcpu;  /* virtual CPU it plays */
    unsigned node;  /* virtual NUMA node */
    unsigned pu;    /* real processing unit it is pinned to */
    uint64_t pages;
    uint64_t calls;
};
int pb_results_bench_add_thread(struct pb_results_bench *b, const struct pb_results_thread *t);

struct pb_results_scrub {
    uint64_t on_alloc;     /* pages scrubbed by the allocating call */
    uint64_t background;   /* pages scrubbed by idle scrubbers */
    uint64_t domain_build; /* pages scrubbed while building the domain */
    uint64_t aborts;       /* background scrubs abandoned for an allocation */
};
int pb_results_bench_set_scrub(struct pb_results_bench *b, const struct pb_results_scrub *s);
/* "ok", or what the heap validator found. */
int pb_results_bench_set_validator(struct pb_results_bench *b, const char *verdict);
/* Another section of the run (measure, noise, ...; not one the format defines) set to a JSON
 * value, whose reference it takes (even on failure). 0, -EINVAL, -ENOMEM. */
int pb_results_bench_set_run_json(struct pb_results_bench *b, const char *key, json_t *value);

/* ---- reading ---------------------------------------------------------------------------- */

/*
 * Loads and checks a results file: its version must be PB_RESULTS_VERSION and every required
 * field present with its type (-EINVAL, the message names file and field); -errno when the
 * file cannot be read. Time and memory are linear in the file.
 */
int pb_results_load(const char *path, struct pb_results **out, char *err, size_t errsz);
/* The path it was loaded from; NULL for a document built here. */
const char *pb_results_path(const struct pb_results *doc);

/* Entries in document order. */
size_t pb_results_bench_count(const struct pb_results *doc);
const struct pb_results_bench *pb_results_bench_at(const struct pb_results *doc, size_t i);
/* NULL when absent. */
const struct pb_results_bench *pb_results_find_bench(const struct pb_results *doc, const char *name,
                                                     unsigned repetition_index);

const char *pb_results_bench_name(const struct pb_results_bench *b);
const char *pb_results_bench_workload(const struct pb_results_bench *b);
const char *pb_results_bench_variant(const struct pb_results_bench *b);
const char *pb_results_bench_lock_kind(const struct pb_results_bench *b); /* NULL if absent */
unsigned pb_results_bench_threads(const struct pb_results_bench *b);
unsigned pb_results_bench_repetition_index(const struct pb_results_bench *b);
unsigned pb_results_bench_repetitions(const struct pb_results_bench *b);
uint64_t pb_results_bench_iterations(const struct pb_results_bench *b);
double pb_results_bench_real_time(const struct pb_results_bench *b);
double pb_results_bench_cpu_time(const struct pb_results_bench *b);

/* Any numeric field by name (counters, and real_time, iterations, ...); -ENOENT, -EINVAL. */
int pb_results_bench_counter(const struct pb_results_bench *b, const char *name, double *value);
/* A string field ("lock_hottest", "lock_kind", ...); NULL when absent or not a string. */
const char *pb_results_bench_string(const struct pb_results_bench *b, const char *name);
/* The entry and its popbench run section (NULL if it has none), read-only. */
const json_t *pb_results_bench_json(const struct pb_results_bench *b);
const json_t *pb_results_bench_run_json(const struct pb_results_bench *b);

/* ---- reading: the per-metric view ------------------------------------------------------- */

/*
 * The entries grouped by benchmark (one group per name workload/variant/threads:N, in order of
 * first appearance), each with its repetitions and, per metric, one value per repetition. A
 * metric is any number of an entry but its identity (repetitions, repetition_index, threads,
 * family_index, per_family_instance_index): the counters, iterations, real_time and cpu_time.
 *
 * The view is made on first use and kept until the document changes; everything it hands out
 * lives until then. Its making can only fail for memory: then it is empty, and
 * pb_results_make_view() says so (pb_results_load() has made it already).
 */
struct pb_results_metric {
    const char *name; /* borrowed from the document */
    double *val;      /* [group's nrep]: the value of each repetition, NAN where it lacks one */
};

struct pb_results_group {
    const char *name; /* workload/variant/threads:N */
    const char *workload;
    const char *variant;
    unsigned threads;
    size_t nrep;
    const unsigned *rep_index;                 /* [nrep], ascending */
    const struct pb_results_bench *const *rep; /* [nrep], the entries in that order */
    size_t nmetric;
    const struct pb_results_metric *metric; /* [nmetric], in report order (pb_metric_rank) */
};

int pb_results_make_view(const struct pb_results *doc); /* 0 or -ENOMEM */
size_t pb_results_group_count(const struct pb_results *doc);
const struct pb_results_group *pb_results_group_at(const struct pb_results *doc, size_t i);
/* NULL when absent. */
const struct pb_results_group *pb_results_find_group(const struct pb_results *doc,
                                                     const char *name);
const struct pb_results_group *pb_results_find_variant(const struct pb_results *doc,
                                                       const char *workload, const char *variant,
                                                       unsigned threads);
const struct pb_results_metric *pb_results_group_metric(const struct pb_results_group *g,
                                                        const char *name);
/* The finite values of a metric, in repetition order, into out (room for g->nrep); how many. */
size_t pb_results_metric_values(const struct pb_results_group *g, const struct pb_results_metric *m,
                                double *out);

/* ---- writers ---------------------------------------------------------------------------- */

/*
 * Writes the document as JSON, atomically (pb_file_write_atomic). A document missing a
 * required field is refused (-EINVAL) rather than written unreadable.
 */
int pb_results_write_json(const struct pb_results *doc, const char *path, char *err, size_t errsz);
/* The same JSON to a stream. */
int pb_results_print_json(const struct pb_results *doc, FILE *out, char *err, size_t errsz);
/*
 * CSV of the flat figures: one row per entry; columns name, workload, variant, lock_kind,
 * threads, repetition_index, repetitions, iterations, real_time, cpu_time, time_unit, then the
 * union of the counters (the format's in its order, then others by name); empty cell = absent.
 */
int pb_results_print_csv(const struct pb_results *doc, FILE *out);
int pb_results_write_csv(const struct pb_results *doc, const char *path, char *err,
                         size_t errsz); /* atomically, as write_json */
/*
 * The terminal summary: one row per workload x variant x threads, and a column per metric the
 * table places there (pages/s, call p50/p99/p99.9, the hottest lock, its contended % and the
 * wait per page, locality) that some entry has: the median over the repetitions, or for the
 * hottest lock the one most repetitions name.
 */
int pb_results_print_table(const struct pb_results *doc, FILE *out);

/* Human-friendly numbers, 3 significant digits: "812", "1.23k", "45.6M", "7.00G". */
const char *pb_results_fmt_rate(double value, char buf[PB_RESULTS_FMT_LEN]);
/* "812ns", "1.25us", "3.40ms", "1.20s". */
const char *pb_results_fmt_ns(double ns, char buf[PB_RESULTS_FMT_LEN]);

/* ---- files ------------------------------------------------------------------------------ */

/*
 * Where results are written. A destination is one of:
 *   a regular file, or a name not taken yet: replaced atomically (a temporary file beside it,
 *       fsync, rename over it, fsync of the directory), keeping its mode (a new one is 0644);
 *       a reader sees the old file or the new one, never a torn one;
 *   a symbolic link: followed (relative links from their own directory, at most 40), and its
 *       final target replaced as above, so that `latest.json -> run-42.json` keeps pointing at
 *       the new run-42.json (a link to a FIFO or a device writes through to it);
 *   a FIFO or a character device (/dev/null, /dev/stdout on a pipe): written through, once,
 *       with no temporary file and no rename (a FIFO without a reader waits for one);
 *   anything else (a directory, a block device, a socket): refused.
 * Nothing is renamed over what is not a regular file: the target is looked at again just
 * before the rename. The temporary file is "TARGET.tmp.XXXXXX", or ".popbench.tmp.XXXXXX" in
 * the target's directory when that name would be too long for one.
 */
enum pb_file_kind {
    PB_FILE_REPLACE, /* written atomically, as often as wanted */
    PB_FILE_STREAM,  /* written through: write it once, at the end */
};

/*
 * Finds out, before anything is measured, whether path can take results: its type (above),
 * and for a file to replace, whether the temporary file can be made beside it (made and
 * removed: a missing directory, a read-only file system, no permission, a name too long all
 * show now). *kind says how it will be written. 0, or -errno with the message naming path.
 */
int pb_file_probe(const char *path, enum pb_file_kind *kind, char *err, size_t errsz);
/*
 * Writes data to path as its kind says (above). On failure the old file is untouched and no
 * temporary file is left; the message names path (and the link's target) and the step.
 */
int pb_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errsz);
/* The bytes of src (a regular file), so written over dst. */
int pb_file_copy_atomic(const char *src, const char *dst, char *err, size_t errsz);
/*
 * The whole of a regular file, NUL-terminated, malloc'd into *data (*len bytes). A FIFO, a
 * device or a directory is refused without blocking (-EISDIR for a directory, -EINVAL for the
 * others): "WHAT 'PATH': it is a FIFO (expected a regular file)"; -errno when it cannot be read.
 */
int pb_file_read(const char *path, const char *what, char **data, size_t *len, char *err,
                 size_t errsz);

#endif
