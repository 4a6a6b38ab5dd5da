/*
 * results_fixture.h: results documents and files for the tests of results/ and cli/: a
 * document with every section (test_results), synthetic runs with noise (compare, gate,
 * history, plot), scratch directories, captured output.
 */
#ifndef POPBENCH_TESTS_RESULTS_FIXTURE_H
#define POPBENCH_TESTS_RESULTS_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "results/results.h"

/* The run's context; a calibration (context.calibration) unless uncalibrated. */
struct fx_ctx {
    const char *commit, *host, *cpu_model, *compiler, *build_type, *date;
    long num_cpus;
    bool partial;
    bool uncalibrated;
    double false_alarm_rate, detection_rate; /* of the calibration */
};
/* A calibration a gate accepts: 2% false alarms, 95% detected. */
void fx_ctx_default(struct fx_ctx *c);

/* One benchmark: its centre values; repetitions draw wall-clock values within +-noise. */
struct fx_bench {
    const char *workload, *variant;
    int threads, reps;
    double pps, p50, p99, lock_wait; /* wall-clock: noisy */
    double lock_acq, scrub;          /* per page: exact in every repetition */
    double instructions;             /* > 0: an exact instruction count is written */
    double noise;                    /* relative half-width of the uniform noise */
};
/* pps 1e6, p50 2e4, p99 5e4, lock_wait 10, lock_acq 0.004, scrub 1, 8 repetitions, 1% noise. */
struct fx_bench fx_bench_default(const char *workload, const char *variant, int threads);

/* Writes a results file with the results writer; the seed drives the noise. 0 or -errno. */
int fx_write(const char *path, const struct fx_ctx *c, const struct fx_bench *b, size_t n,
             uint64_t seed);

/* A fresh scratch directory under $TMPDIR (or /tmp), readable by all, and its removal with
 * everything in it (dir is freed). */
char *fx_tmpdir(void);
void fx_rmtree(char *dir);
/* dir/name, malloc'd. */
char *fx_path(const char *dir, const char *name);
/* A file's whole text, malloc'd. */
char *fx_slurp(const char *path);
/* The names in dir, sorted, joined by spaces (malloc'd). */
char *fx_dir_listing(const char *dir);
/* What print wrote for d, malloc'd (print must succeed). */
char *fx_capture(int (*print)(const struct pb_results *, FILE *), const struct pb_results *d);

/* An entry workload/variant/threads:N, repetition rep of reps; speed divides its times. */
struct pb_results_bench *fx_add(struct pb_results *doc, const char *workload, const char *variant,
                                unsigned threads, unsigned rep, unsigned reps, double speed);
/* The context: this machine's (real_env) or fixed values, then a fixed build and settings. */
void fx_fill_context(struct pb_results *doc, bool real_env);
/*
 * bootstorm/xen/threads:{1,2} and bootstorm/pernode/threads:2, three repetitions each, with
 * every run section when sections; speed scales throughput up and time per call down.
 */
struct pb_results *fx_sample_doc(double speed, bool sections, bool real_env);
/* Loads a file that must load; loads one that must be refused with expect_rc and returns the
 * message (a static buffer), which must name the file. */
struct pb_results *fx_load_ok(const char *path);
const char *fx_load_fails(const char *path, int expect_rc);
json_t *fx_load_json(const char *path);
void fx_dump_json(const json_t *j, const char *path);

/* cmocka 1.1.5 has no assert_double_equal: |a - b| <= eps, with the values on failure. */
#define assert_near(a, b, eps) fx_assert_near((a), (b), (eps), #a, __FILE__, __LINE__)
void fx_assert_near(double a, double b, double eps, const char *expr, const char *file, int line);

/* Runs fn(argc, argv) with stdout going to a string (malloc'd into *out); returns fn's value. */
int fx_run_captured(int (*fn)(int, char **), int argc, char **argv, char **out);

#endif
