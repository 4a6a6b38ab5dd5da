/*
 * compare_fixture.h: synthetic results files for the compare, gate, history and plot tests,
 * and the scratch directories and captured output those tests use.
 */
#ifndef POPBENCH_TESTS_COMPARE_FIXTURE_H
#define POPBENCH_TESTS_COMPARE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The run's context; NULL strings are left out of the file. */
struct fx_ctx {
    const char *commit, *host, *cpu_model, *compiler, *build_type, *date;
    long num_cpus;
    bool partial;
};
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

/* Writes a results file (format version 1); the seed drives the noise. Returns 0 or -errno. */
int fx_write(const char *path, const struct fx_ctx *c, const struct fx_bench *b, size_t n,
             uint64_t seed);

/* A fresh scratch directory under /tmp, and its removal with everything in it. */
char *fx_tmpdir(void);
void fx_rmtree(char *dir);
/* dir/name, malloc'd. */
char *fx_path(const char *dir, const char *name);

/* cmocka 1.1.5 has no assert_double_equal: |a - b| <= eps, with the values on failure. */
#define assert_near(a, b, eps) fx_assert_near((a), (b), (eps), #a, __FILE__, __LINE__)
void fx_assert_near(double a, double b, double eps, const char *expr, const char *file, int line);

/* Runs fn(argc, argv) with stdout going to a string (malloc'd into *out); returns fn's value. */
int fx_run_captured(int (*fn)(int, char **), int argc, char **argv, char **out);

#endif
