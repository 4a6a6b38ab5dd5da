/*
 * test_gbench_shim.c: the C shim over Google Benchmark (bench/gbench/pbgb.h).
 *
 * Registers C benchmarks through the shim, runs them through pbgb_main() with
 * --benchmark_format=json --benchmark_out=<tmp> --benchmark_min_time=0.01, reads the JSON back
 * with jansson and checks names, counters, iteration accounting, errors and context. Timing-
 * dependent values are checked exactly through manual time (1/1024 s per iteration, exact in
 * binary) or through identities with the reported iteration count, never against wall clocks.
 * Benchmark bodies run on Google Benchmark's threads, so they record failures instead of
 * asserting; the tests assert on the record after the run.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "bench/gbench/pbgb.h"
#include "core/pb.h"

#define ITERATION_SECONDS (1.0 / 1024) /* manual time per iteration: exact in binary */

static char out_path[] = "/tmp/test_gbench_shim.XXXXXX";
static json_t *report; /* the parsed --benchmark_out file */

/* Failures seen inside benchmark bodies (any thread). */
static atomic_int body_failures;
static atomic_int first_failure_line;

#define BODY_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            int zero_ = 0;                                                                         \
            atomic_compare_exchange_strong(&first_failure_line, &zero_, __LINE__);                 \
            atomic_fetch_add(&body_failures, 1);                                                   \
        }                                                                                          \
    } while (0)

/* Set by the bodies for the checks after the run. */
static atomic_int skip_mid_passes_after_skip;
static atomic_int threads_seen_count; /* pbgb_thread_count() seen by shim_threads bodies */

/* ---- Benchmark bodies ---- */

/* One counter of each flag kind; manual time makes "seconds" exactly iterations / 1024. */
static void bm_counters(pbgb_state *st, void *user)
{
    (void)user;
    int64_t passes = 0;
    while (pbgb_keep_running(st)) {
        passes++;
        BODY_CHECK(pbgb_set_iteration_time(st, ITERATION_SECONDS) == 0);
    }
    BODY_CHECK(pbgb_state_iterations(st) == passes);
    BODY_CHECK(pbgb_counter_set(st, "plain", 42, PBGB_COUNTER_DEFAULT) == 0);
    BODY_CHECK(pbgb_counter_set(st, "rate", 8, PBGB_COUNTER_RATE) == 0);
    BODY_CHECK(pbgb_counter_set(st, "avg_threads", 10, PBGB_COUNTER_AVG_THREADS) == 0);
    BODY_CHECK(pbgb_counter_set(st, "avg_threads_rate", 10, PBGB_COUNTER_AVG_THREADS_RATE) == 0);
    BODY_CHECK(pbgb_counter_set(st, "iter_inv", 3, PBGB_COUNTER_ITERATION_INVARIANT) == 0);
    BODY_CHECK(pbgb_counter_set(st, "iter_inv_rate", 3, PBGB_COUNTER_ITERATION_INVARIANT_RATE) ==
               0);
    BODY_CHECK(pbgb_counter_set(st, "avg_iter", 6, PBGB_COUNTER_AVG_ITERATIONS) == 0);
    BODY_CHECK(pbgb_counter_set(st, "avg_iter_rate", 6, PBGB_COUNTER_AVG_ITERATIONS_RATE) == 0);
    BODY_CHECK(pbgb_counter_set(st, "inverted", 4, PBGB_COUNTER_INVERT) == 0);
    BODY_CHECK(pbgb_counter_set(st, "inverted_rate", 4, PBGB_COUNTER_RATE | PBGB_COUNTER_INVERT) ==
               0);
    BODY_CHECK(pbgb_counter_set_base(st, "kib", 2048, PBGB_COUNTER_DEFAULT, 1024) == 0);
    BODY_CHECK(pbgb_counter_set(st, "passes", (double)passes, PBGB_COUNTER_DEFAULT) == 0);
    BODY_CHECK(pbgb_bytes_processed(st, 4096) == 0);
    BODY_CHECK(pbgb_items_processed(st, 512) == 0);
    BODY_CHECK(pbgb_set_label(st, "shim label") == 0);
    /* Rejected, and no trace in the report. */
    BODY_CHECK(pbgb_counter_set(st, "bad_flags", 1, 1u << 5) == -EINVAL);
    BODY_CHECK(pbgb_counter_set_base(st, "bad_base", 1, PBGB_COUNTER_DEFAULT, 1001) == -EINVAL);
    BODY_CHECK(pbgb_counter_set(st, NULL, 1, PBGB_COUNTER_DEFAULT) == -EINVAL);
    BODY_CHECK(pbgb_bytes_processed(st, -1) == -EINVAL);
    BODY_CHECK(pbgb_set_iteration_time(st, -1.0) == -EINVAL);
}

/* Reports its arguments as counters. */
static void bm_args(pbgb_state *st, void *user)
{
    (void)user;
    while (pbgb_keep_running(st)) {
    }
    size_t n = pbgb_range_count(st);
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (double)pbgb_range_value(st, i);
    BODY_CHECK(pbgb_counter_set(st, "nargs", (double)n, PBGB_COUNTER_DEFAULT) == 0);
    BODY_CHECK(pbgb_counter_set(st, "r0", n ? (double)pbgb_range_value(st, 0) : -1,
                                PBGB_COUNTER_DEFAULT) == 0);
    BODY_CHECK(pbgb_counter_set(st, "sum", sum, PBGB_COUNTER_DEFAULT) == 0);
}

/* Per-thread counters, summed or averaged over the threads of the instance. */
static void bm_threads(pbgb_state *st, void *user)
{
    (void)user;
    int64_t passes = 0;
    PBGB_LOOP(st)
    {
        passes++;
    }
    atomic_store(&threads_seen_count, pbgb_thread_count(st));
    BODY_CHECK(pbgb_thread_index(st) >= 0 && pbgb_thread_index(st) < pbgb_thread_count(st));
    BODY_CHECK(pbgb_counter_set(st, "sum", 1, PBGB_COUNTER_DEFAULT) == 0);
    BODY_CHECK(pbgb_counter_set(st, "avg", 42, PBGB_COUNTER_AVG_THREADS) == 0);
    BODY_CHECK(pbgb_counter_set(st, "idx_sum", pbgb_thread_index(st) + 1, PBGB_COUNTER_DEFAULT) ==
               0);
    BODY_CHECK(pbgb_counter_set(st, "nthreads", pbgb_thread_count(st), PBGB_COUNTER_AVG_THREADS) ==
               0);
    BODY_CHECK(pbgb_counter_set(st, "passes", (double)passes, PBGB_COUNTER_DEFAULT) == 0);
}

/* Batches of 7, with the clock paused and resumed in the first. */
static void bm_batch(pbgb_state *st, void *user)
{
    (void)user;
    int64_t batches = 0;
    BODY_CHECK(pbgb_pause_timing(st) == -EINVAL); /* not in the loop yet */
    while (pbgb_keep_running_batch(st, 7)) {
        if (batches++ == 0) {
            BODY_CHECK(pbgb_pause_timing(st) == 0);
            BODY_CHECK(pbgb_pause_timing(st) == -EINVAL);
            BODY_CHECK(pbgb_resume_timing(st) == 0);
            BODY_CHECK(pbgb_resume_timing(st) == -EINVAL);
        }
    }
    BODY_CHECK(pbgb_resume_timing(st) == -EINVAL); /* the loop is over */
    BODY_CHECK(pbgb_state_iterations(st) == 7 * batches);
    BODY_CHECK(pbgb_counter_set(st, "batches", (double)batches, PBGB_COUNTER_DEFAULT) == 0);
}

/* Batch sizes 1, 4, 3 in turn: batches that straddle the end of the shim's grant. */
static void bm_mixed(pbgb_state *st, void *user)
{
    (void)user;
    static const int64_t sizes[] = {1, 4, 3};
    int64_t consumed = 0;
    for (size_t k = 0;; k++) {
        int64_t n = sizes[k % 3];
        if (!(n == 1 ? pbgb_keep_running(st) : pbgb_keep_running_batch(st, n)))
            break;
        consumed += n;
    }
    BODY_CHECK(pbgb_counter_set(st, "consumed", (double)consumed, PBGB_COUNTER_DEFAULT) == 0);
}

static void bm_skip_before(pbgb_state *st, void *user)
{
    (void)user;
    BODY_CHECK(pbgb_skip_with_error(st, "deliberate: no frames to allocate") == 0);
    while (pbgb_keep_running(st))
        BODY_CHECK(!"keep_running true after a skip");
}

static void bm_skip_mid(pbgb_state *st, void *user)
{
    (void)user;
    int passes = 0, after = 0;
    while (pbgb_keep_running(st)) {
        if (passes < 3)
            passes++;
        else
            after++;
        if (passes == 3 && after == 0)
            BODY_CHECK(pbgb_skip_with_error(st, "deliberate: stopped after 3 passes") == 0);
    }
    atomic_store(&skip_mid_passes_after_skip, after);
}

static void bm_plain(pbgb_state *st, void *user)
{
    (void)user;
    uint64_t x = 0;
    while (pbgb_keep_running(st)) {
        x++;
        pbgb_do_not_optimize(x);
    }
}

/* ---- Registration: every configuration call, with the bad ones rejected ---- */

static pbgb_bench *reg(const char *name, pbgb_fn *fn)
{
    pbgb_bench *b = pbgb_register(name, fn, NULL);
    assert_non_null(b);
    return b;
}

static void test_register_and_configure(void **state)
{
    (void)state;
    pbgb_bench *b;

    errno = 0;
    assert_null(pbgb_register(NULL, bm_plain, NULL));
    assert_int_equal(errno, EINVAL);
    assert_null(pbgb_register("", bm_plain, NULL));
    assert_null(pbgb_register("shim_nofn", NULL, NULL));
    assert_int_equal(pbgb_arg(NULL, 1), -EINVAL);
    assert_int_equal(pbgb_threads(NULL, 1), -EINVAL);

    b = reg("shim_counters", bm_counters);
    assert_int_equal(pbgb_use_manual_time(b), 0);
    assert_int_equal(pbgb_use_real_time(b), -EINVAL); /* excludes manual time */

    /* One argument per set: a set of two, a reversed range and a zero step are refused. */
    b = reg("shim_args", bm_args);
    assert_int_equal(pbgb_arg(b, 3), 0);
    assert_int_equal(pbgb_range(b, 8, 64), 0); /* 8, 64 (multiplier 8) */
    int64_t two[] = {1, 2};
    assert_int_equal(pbgb_args(b, two, 2), -EINVAL);
    assert_int_equal(pbgb_args(b, two, 0), -EINVAL);
    assert_int_equal(pbgb_range(b, 10, 5), -EINVAL);
    assert_int_equal(pbgb_dense_range(b, 0, 4, 0), -EINVAL);
    assert_int_equal(pbgb_range_multiplier(b, 1), -EINVAL);

    b = reg("shim_dense", bm_args);
    assert_int_equal(pbgb_dense_range(b, 0, 6, 3), 0);

    b = reg("shim_mult", bm_args);
    assert_int_equal(pbgb_range_multiplier(b, 2), 0);
    assert_int_equal(pbgb_range(b, 1, 8), 0);

    b = reg("shim_two", bm_args);
    const char *names[] = {"a", "b"};
    assert_int_equal(pbgb_arg_names(b, names, 2), 0);
    assert_int_equal(pbgb_arg_names(b, names, 1), -EINVAL);
    int64_t five_seven[] = {5, 7};
    assert_int_equal(pbgb_args(b, five_seven, 2), 0);
    int64_t lo[] = {1, 10}, hi[] = {2, 10};
    assert_int_equal(pbgb_ranges(b, lo, hi, 2), 0); /* (1,10), (2,10) */
    int64_t bad_hi[] = {2, 9};
    assert_int_equal(pbgb_ranges(b, lo, bad_hi, 2), -EINVAL);
    assert_int_equal(pbgb_arg(b, 1), -EINVAL);

    b = reg("shim_threads", bm_threads);
    assert_int_equal(pbgb_use_real_time(b), 0);
    assert_int_equal(pbgb_use_manual_time(b), -EINVAL);
    assert_int_equal(pbgb_threads(b, 2), 0);
    assert_int_equal(pbgb_threads(b, 0), -EINVAL);

    b = reg("shim_trange", bm_threads);
    assert_int_equal(pbgb_thread_range(b, 1, 4), 0); /* 1, 2, 4 */
    assert_int_equal(pbgb_thread_range(b, 2, 1), -EINVAL);
    assert_int_equal(pbgb_dense_thread_range(b, 1, 2, 0), -EINVAL);

    b = reg("shim_batch", bm_batch);
    assert_int_equal(pbgb_unit(b, PBGB_MS), 0);
    assert_int_equal(pbgb_unit(b, (enum pbgb_unit)7), -EINVAL);

    b = reg("shim_batch_fixed", bm_batch);
    assert_int_equal(pbgb_iterations(b, 100), 0);
    assert_int_equal(pbgb_min_time(b, 0.5), -EINVAL); /* excludes a fixed count */

    b = reg("shim_mixed", bm_mixed);
    assert_int_equal(pbgb_iterations(b, 0), -EINVAL);
    assert_int_equal(pbgb_iterations(b, 52), 0);

    b = reg("shim_reps", bm_plain);
    assert_int_equal(pbgb_iterations(b, 10), 0);
    assert_int_equal(pbgb_repetitions(b, 0), -EINVAL);
    assert_int_equal(pbgb_repetitions(b, 2), 0);

    b = reg("shim_min_time", bm_plain);
    assert_int_equal(pbgb_min_time(b, 0.0), -EINVAL);
    assert_int_equal(pbgb_min_time(b, 0.02), 0);
    assert_int_equal(pbgb_iterations(b, 5), -EINVAL);

    reg("shim_skip_before", bm_skip_before);
    reg("shim_skip_mid", bm_skip_mid);

    assert_int_equal(pbgb_add_context("popbench_test", "shim"), 0);
    assert_int_equal(pbgb_add_context("popbench_test", "again"), -EEXIST);
    assert_int_equal(pbgb_add_context(NULL, "x"), -EINVAL);
    assert_int_equal(pbgb_add_context("", "x"), -EINVAL);
}

/* ---- Bad flags: pbgb_main's exit status, in a child process ---- */

static int main_status_in_child(const char *flag)
{
    char arg0[] = "test_gbench_shim";
    char arg1[256];
    snprintf(arg1, sizeof(arg1), "%s", flag);
    char *argv[] = {arg0, arg1, NULL};
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(pbgb_main(2, argv));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_bad_flags_exit_2(void **state)
{
    (void)state;
    assert_int_equal(main_status_in_child("--benchmark_no_such_flag=1"), 2);
    assert_int_equal(main_status_in_child("--benchmark_min_time=10x"), 2);
    assert_int_equal(main_status_in_child("stray"), 2);
    assert_int_equal(main_status_in_child("--benchmark_format=yaml"), 2);
    assert_int_equal(main_status_in_child("--benchmark_filter=^no_such_benchmark$"), 2);
    /* The same machinery with a good flag: listing the benchmarks succeeds. */
    assert_int_equal(main_status_in_child("--benchmark_list_tests=true"), 0);
}

/* ---- The run ---- */

static void test_main_writes_json(void **state)
{
    (void)state;
    char arg0[] = "test_gbench_shim";
    char fmt[] = "--benchmark_format=json";
    char out[sizeof("--benchmark_out=") + sizeof(out_path)];
    snprintf(out, sizeof(out), "--benchmark_out=%s", out_path);
    char min_time[] = "--benchmark_min_time=0.01";
    char *argv[] = {arg0, fmt, out, min_time, NULL};

    assert_int_equal(pbgb_main(4, argv), 0);
    json_error_t err;
    report = json_load_file(out_path, 0, &err);
    if (!report)
        fail_msg("%s:%d: %s", out_path, err.line, err.text);
    assert_true(json_is_array(json_object_get(report, "benchmarks")));
    if (atomic_load(&body_failures))
        fail_msg("%d checks failed in benchmark bodies, first at line %d",
                 atomic_load(&body_failures), atomic_load(&first_failure_line));
}

/* The iteration (not aggregate) run named name, or NULL. */
static json_t *find_run(const char *name)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(report, "benchmarks"), i, b)
    {
        const char *type = json_string_value(json_object_get(b, "run_type"));
        if (!strcmp(json_string_value(json_object_get(b, "name")), name) && type &&
            !strcmp(type, "iteration"))
            return b;
    }
    return NULL;
}

static json_t *run_of(const char *name)
{
    assert_non_null(report);
    json_t *b = find_run(name);
    if (!b)
        fail_msg("no benchmark named %s in the report", name);
    return b;
}

static double num(json_t *b, const char *key)
{
    json_t *v = json_object_get(b, key);
    if (!json_is_number(v))
        fail_msg("%s has no number %s", json_string_value(json_object_get(b, "name")), key);
    return json_number_value(v);
}

static int64_t iterations_of(json_t *b)
{
    json_t *v = json_object_get(b, "iterations");
    assert_true(json_is_integer(v));
    return (int64_t)json_integer_value(v);
}

/* Equal to the last bits that a decimal round trip may cost. */
static void assert_close(double got, double want)
{
    if (!(fabs(got - want) <= 1e-12 * fabs(want)))
        fail_msg("got %.17g, want %.17g", got, want);
}

static void test_every_instance_named(void **state)
{
    (void)state;
    static const char *const expected[] = {
        "shim_counters/manual_time",
        "shim_args/3",
        "shim_args/8",
        "shim_args/64",
        "shim_dense/0",
        "shim_dense/3",
        "shim_dense/6",
        "shim_mult/1",
        "shim_mult/2",
        "shim_mult/4",
        "shim_mult/8",
        "shim_two/a:5/b:7",
        "shim_two/a:1/b:10",
        "shim_two/a:2/b:10",
        "shim_threads/real_time/threads:2",
        "shim_trange/threads:1",
        "shim_trange/threads:2",
        "shim_trange/threads:4",
        "shim_batch",
        "shim_batch_fixed/iterations:100",
        "shim_mixed/iterations:52",
        "shim_reps/iterations:10/repeats:2",
        "shim_min_time/min_time:0.020",
        "shim_skip_before",
        "shim_skip_mid",
    };
    size_t i, runs = 0;
    json_t *b;
    assert_non_null(report);
    for (i = 0; i < PB_ARRAY_SIZE(expected); i++)
        run_of(expected[i]);
    /* Nothing else: refused configuration calls added no instance. */
    json_array_foreach(json_object_get(report, "benchmarks"), i, b)
    {
        if (!strcmp(json_string_value(json_object_get(b, "run_type")), "iteration"))
            runs++;
    }
    assert_int_equal(runs, PB_ARRAY_SIZE(expected) + 1); /* shim_reps runs twice */
}

static void test_counters(void **state)
{
    (void)state;
    json_t *b = run_of("shim_counters/manual_time");
    double iters = (double)iterations_of(b);
    double seconds = iters * ITERATION_SECONDS; /* exact: manual time */

    assert_true(iters >= 1);
    assert_string_equal(json_string_value(json_object_get(b, "time_unit")), "ns");
    assert_close(num(b, "real_time"), ITERATION_SECONDS * 1e9);
    assert_close(num(b, "passes"), iters);
    assert_close(num(b, "plain"), 42);
    assert_close(num(b, "rate"), 8 / seconds);
    assert_close(num(b, "avg_threads"), 10);
    assert_close(num(b, "avg_threads_rate"), 10 / seconds);
    assert_close(num(b, "iter_inv"), 3 * iters);
    assert_close(num(b, "iter_inv_rate"), 3 / seconds * iters);
    assert_close(num(b, "avg_iter"), 6 / iters);
    assert_close(num(b, "avg_iter_rate"), 6 / seconds / iters);
    assert_close(num(b, "inverted"), 0.25);
    assert_close(num(b, "inverted_rate"), 1 / (4 / seconds));
    assert_close(num(b, "kib"), 2048);
    assert_close(num(b, "bytes_per_second"), 4096 / seconds);
    assert_close(num(b, "items_per_second"), 512 / seconds);
    assert_string_equal(json_string_value(json_object_get(b, "label")), "shim label");
    assert_null(json_object_get(b, "bad_flags"));
    assert_null(json_object_get(b, "bad_base"));
}

static void test_args_reach_the_body(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        double nargs, r0, sum;
    } cases[] = {
        {"shim_args/3", 1, 3, 3}, {"shim_args/64", 1, 64, 64},    {"shim_dense/6", 1, 6, 6},
        {"shim_mult/4", 1, 4, 4}, {"shim_two/a:5/b:7", 2, 5, 12}, {"shim_two/a:2/b:10", 2, 2, 12},
    };
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        json_t *b = run_of(cases[i].name);
        assert_close(num(b, "nargs"), cases[i].nargs);
        assert_close(num(b, "r0"), cases[i].r0);
        assert_close(num(b, "sum"), cases[i].sum);
    }
}

static void test_threads(void **state)
{
    (void)state;
    json_t *b = run_of("shim_threads/real_time/threads:2");
    assert_int_equal(json_integer_value(json_object_get(b, "threads")), 2);
    assert_close(num(b, "sum"), 2);
    assert_close(num(b, "avg"), 42);
    assert_close(num(b, "idx_sum"), 1 + 2);
    assert_close(num(b, "nthreads"), 2);
    /* Iterations are the total over threads; each thread ran its own loop to the end. */
    assert_close(num(b, "passes"), (double)iterations_of(b));

    static const char *const tr[] = {"shim_trange/threads:1", "shim_trange/threads:2",
                                     "shim_trange/threads:4"};
    for (int i = 0; i < 3; i++) {
        b = run_of(tr[i]);
        assert_close(num(b, "nthreads"), 1 << i);
        assert_close(num(b, "sum"), 1 << i);
        assert_close(num(b, "passes"), (double)iterations_of(b));
    }
}

/* Google Benchmark's own accounting of n-batches against a target of t iterations. */
static int64_t gb_batches_total(int64_t target, const int64_t *sizes, size_t nsizes)
{
    int64_t left = target, leftover = 0;
    for (size_t k = 0;; k++) {
        int64_t n = sizes[k % nsizes];
        if (left >= n) {
            left -= n;
        } else if (left > 0) {
            leftover = n - left;
            left = 0;
        } else {
            return target + leftover;
        }
    }
}

static void test_batch_accounting(void **state)
{
    (void)state;
    json_t *b = run_of("shim_batch");
    assert_string_equal(json_string_value(json_object_get(b, "time_unit")), "ms");
    assert_close(7 * num(b, "batches"), (double)iterations_of(b));

    b = run_of("shim_batch_fixed/iterations:100");
    assert_int_equal(iterations_of(b), 105); /* 15 batches of 7 */
    assert_close(num(b, "batches"), 15);

    static const int64_t sizes[] = {1, 4, 3};
    b = run_of("shim_mixed/iterations:52");
    assert_int_equal(iterations_of(b), gb_batches_total(52, sizes, 3));
    assert_int_equal(iterations_of(b), 53);
    assert_close(num(b, "consumed"), 53);

    size_t i, reps = 0, aggregates = 0;
    json_array_foreach(json_object_get(report, "benchmarks"), i, b)
    {
        if (strcmp(json_string_value(json_object_get(b, "run_name")),
                   "shim_reps/iterations:10/repeats:2"))
            continue;
        if (!strcmp(json_string_value(json_object_get(b, "run_type")), "iteration")) {
            reps++;
            assert_int_equal(iterations_of(b), 10);
        } else {
            aggregates++;
        }
    }
    assert_int_equal(reps, 2);
    assert_true(aggregates >= 3); /* mean, median, stddev */
}

static void test_skipped_with_error(void **state)
{
    (void)state;
    json_t *b = run_of("shim_skip_before");
    assert_true(json_is_true(json_object_get(b, "error_occurred")));
    assert_string_equal(json_string_value(json_object_get(b, "error_message")),
                        "deliberate: no frames to allocate");
    b = run_of("shim_skip_mid");
    assert_true(json_is_true(json_object_get(b, "error_occurred")));
    assert_string_equal(json_string_value(json_object_get(b, "error_message")),
                        "deliberate: stopped after 3 passes");
    assert_int_equal(atomic_load(&skip_mid_passes_after_skip), 0);
    b = run_of("shim_args/3");
    assert_null(json_object_get(b, "error_occurred"));
}

static void test_context(void **state)
{
    (void)state;
    assert_non_null(report);
    json_t *ctx = json_object_get(report, "context");
    assert_true(json_is_object(ctx));
    assert_string_equal(json_string_value(json_object_get(ctx, "popbench_test")), "shim");
    assert_true(json_is_string(json_object_get(ctx, "popbench_commit")));
    assert_true(json_is_string(json_object_get(ctx, "popbench_build_type")));
}

static int group_setup(void **state)
{
    (void)state;
    int fd = mkstemp(out_path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    json_decref(report);
    unlink(out_path);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_configure),
        cmocka_unit_test(test_bad_flags_exit_2),
        cmocka_unit_test(test_main_writes_json),
        cmocka_unit_test(test_every_instance_named),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_args_reach_the_body),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_batch_accounting),
        cmocka_unit_test(test_skipped_with_error),
        cmocka_unit_test(test_context),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
