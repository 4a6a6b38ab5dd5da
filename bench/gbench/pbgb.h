/*
 * pbgb.h: Google Benchmark (libbenchmark 1.7) from C.
 *
 * A C function registered with pbgb_register() runs as a Google Benchmark; its state handle
 * gives the measurement loop, timing control, counters, labels and errors; pbgb_main() parses
 * the standard --benchmark_* flags, runs the benchmarks and writes the console/JSON/CSV reports
 * that Google Benchmark's tools (compare.py) read. No C++ type or exception crosses this API.
 *
 *     static void bm_inc(pbgb_state *st, void *user)
 *     {
 *         (void)user;
 *         uint64_t x = 0;
 *         while (pbgb_keep_running(st)) {
 *             x++;
 *             pbgb_do_not_optimize(x);
 *         }
 *     }
 *     int main(int argc, char **argv)
 *     {
 *         pbgb_bench *b = pbgb_register("inc", bm_inc, NULL);
 *         if (!b || pbgb_threads(b, 2) < 0)
 *             return 1;
 *         return pbgb_main(argc, argv);
 *     }
 *
 * The measurement loop (why it costs what a C++ range-for costs): the C side holds a grant of
 * iterations, pbgb_state.left, that the inline fast path of pbgb_keep_running() and
 * pbgb_keep_running_batch() counts down without leaving C. Only when the grant runs out does
 * pbgb_keep_running_refill() cross into C++; it takes the next iterations from Google
 * Benchmark's own counter (State::KeepRunningBatch), so start and stop, the thread barriers,
 * errors and the overshoot of a last partial batch are Google Benchmark's own. It grants all
 * remaining whole batches but one iteration at once, so a run crosses the boundary about three
 * times, whatever its iteration count. Iteration counts reported equal those of the same loop
 * written in C++.
 *
 * Errors: functions that return int return 0 or a negative errno. A bad argument (NULL, a
 * value Google Benchmark would reject with an abort, a call in the wrong phase) returns -EINVAL
 * and changes nothing; out of memory returns -ENOMEM. Registration and configuration are not
 * thread-safe: do them on one thread before pbgb_run()/pbgb_main(). A pbgb_state belongs to the
 * one benchmark thread it is handed to.
 */
#ifndef POPBENCH_BENCH_GBENCH_PBGB_H
#define POPBENCH_BENCH_GBENCH_PBGB_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A registered benchmark family (one function, its arguments and thread counts). */
typedef struct pbgb_bench pbgb_bench;

/* Per-thread state of one running benchmark instance. */
typedef struct pbgb_state {
    /* Iterations granted to the inline fast path and not yet run (owned by the running thread;
     * private to the shim). */
    int64_t left;
    /* Read-only while the benchmark function runs. */
    int thread_index;            /* 0 .. threads - 1 */
    int threads;                 /* threads running this instance */
    struct pbgb_thread_run *run; /* private: the C++ side of this run */
} pbgb_state;

/* A benchmark body: run the measurement loop on st; user is pbgb_register()'s pointer. */
typedef void pbgb_fn(pbgb_state *st, void *user);

/* Time units of reports; values are Google Benchmark's benchmark::TimeUnit. */
enum pbgb_unit {
    PBGB_NS = 0,
    PBGB_US = 1,
    PBGB_MS = 2,
    PBGB_S = 3,
};

/*
 * Counter flags, bit for bit Google Benchmark's benchmark::Counter::Flags. Each thread's values
 * are summed over threads; then, in this order: RATE divides by the measured seconds (CPU time,
 * or real/manual time where the benchmark uses it), AVG_THREADS divides by the thread count,
 * ITERATION_INVARIANT multiplies by the iteration count, AVG_ITERATIONS divides by it, INVERT
 * takes the reciprocal.
 */
enum pbgb_counter_flags {
    PBGB_COUNTER_DEFAULT = 0,
    PBGB_COUNTER_RATE = 1 << 0,        /* kIsRate */
    PBGB_COUNTER_AVG_THREADS = 1 << 1, /* kAvgThreads */
    PBGB_COUNTER_AVG_THREADS_RATE = (1 << 0) | (1 << 1),
    PBGB_COUNTER_ITERATION_INVARIANT = 1 << 2, /* kIsIterationInvariant */
    PBGB_COUNTER_ITERATION_INVARIANT_RATE = (1 << 0) | (1 << 2),
    PBGB_COUNTER_AVG_ITERATIONS = 1 << 3, /* kAvgIterations */
    PBGB_COUNTER_AVG_ITERATIONS_RATE = (1 << 0) | (1 << 3),
    PBGB_COUNTER_INVERT = INT_MIN, /* kInvert: bit 31 */
};

/* ---- Registration and configuration (before pbgb_run) ---- */

/* Registers fn under name (copied). Returns NULL with errno EINVAL (NULL or empty name, NULL
 * fn) or ENOMEM. The handle stays valid until the process exits. */
pbgb_bench *pbgb_register(const char *name, pbgb_fn *fn, void *user);

/* Arguments: every argument set of a family has the same count, else -EINVAL. Read them in
 * the body with pbgb_range_value(). */
int pbgb_arg(pbgb_bench *b, int64_t x);
int pbgb_args(pbgb_bench *b, const int64_t *xs, size_t n);
/* lo, the powers of the range multiplier (default 8) between, hi; lo <= hi. */
int pbgb_range(pbgb_bench *b, int64_t lo, int64_t hi);
/* The cartesian product of n ranges lo[i]..hi[i]. */
int pbgb_ranges(pbgb_bench *b, const int64_t *lo, const int64_t *hi, size_t n);
int pbgb_range_multiplier(pbgb_bench *b, int mult); /* mult >= 2; for later ranges */
int pbgb_dense_range(pbgb_bench *b, int64_t lo, int64_t hi, int step); /* lo, lo+step, .. hi */
/* Names shown in instance names ("name/size:64"); n must match the argument count. */
int pbgb_arg_names(pbgb_bench *b, const char *const *names, size_t n);

/* Thread counts: each adds instances run by that many threads at once (default 1). */
int pbgb_threads(pbgb_bench *b, int threads);
int pbgb_thread_range(pbgb_bench *b, int min, int max); /* min, powers of 2 between, max */
int pbgb_dense_thread_range(pbgb_bench *b, int min, int max, int stride);

/* Timing: CPU time of the threads by default. Real time and manual time exclude each other. */
int pbgb_use_real_time(pbgb_bench *b);
int pbgb_use_manual_time(pbgb_bench *b); /* the body reports pbgb_set_iteration_time() */
int pbgb_measure_process_cpu_time(pbgb_bench *b);

/* Run length: a fixed iteration count or a minimum time (seconds), not both. */
int pbgb_iterations(pbgb_bench *b, int64_t n);
int pbgb_min_time(pbgb_bench *b, double seconds);
int pbgb_min_warmup_time(pbgb_bench *b, double seconds);
int pbgb_repetitions(pbgb_bench *b, int n);
int pbgb_report_aggregates_only(pbgb_bench *b, bool only);
int pbgb_unit(pbgb_bench *b, enum pbgb_unit unit);

/* ---- The measurement loop (in the body) ---- */

/* Slow path of the two below: crosses into Google Benchmark for the next grant. */
bool pbgb_keep_running_refill(pbgb_state *st, int64_t n);

/* True while the body must run one more iteration: `while (pbgb_keep_running(st)) {...}`.
 * Calling it again after it returned false is a bug (aborts, naming the benchmark). */
static inline bool pbgb_keep_running(pbgb_state *st)
{
    int64_t left = st->left - 1;
    if (__builtin_expect(left >= 0, 1)) {
        st->left = left;
        return true;
    }
    return pbgb_keep_running_refill(st, 1);
}

/* True while the body must run n (>= 1) more iterations; the last batch may overshoot the
 * iteration target, and the report counts the overshoot, as Google Benchmark does. */
static inline bool pbgb_keep_running_batch(pbgb_state *st, int64_t n)
{
    if (__builtin_expect(n > 0 && st->left >= n, 1)) {
        st->left -= n;
        return true;
    }
    return pbgb_keep_running_refill(st, n);
}

/*
 * The loop of pbgb_keep_running() with its counter in a local variable, so that it stays in a
 * register even where the body clobbers memory (as Google Benchmark's `for (auto _ : state)`):
 *
 *     PBGB_LOOP(st) { body }
 *
 * As with the C++ range-for: after pbgb_skip_with_error() the body must `break` itself, any
 * other `break` is a bug (the run aborts), and pbgb_state_iterations() is not meaningful inside.
 */
#define PBGB_LOOP(st)                                                                              \
    for (int64_t pbgb_loop_left_ = pbgb_loop_refill(st); pbgb_loop_left_ > 0;                      \
         pbgb_loop_left_ = pbgb_loop_left_ > 1 ? pbgb_loop_left_ - 1 : pbgb_loop_refill(st))

/* PBGB_LOOP's slow path: moves the next grant, plus the iteration just granted, to the loop. */
static inline int64_t pbgb_loop_refill(pbgb_state *st)
{
    int64_t n;
    if (!pbgb_keep_running_refill(st, 1))
        return 0;
    n = st->left + 1;
    st->left = 0;
    return n;
}

/* Keeps the compiler from deleting the computation of lvalue x or keeping it in a register
 * across the barrier (Google Benchmark's DoNotOptimize for GCC). */
#define pbgb_do_not_optimize(x) __asm__ volatile("" : "+m,r"(x) : : "memory")
/* Forces pending stores to memory (ClobberMemory). */
#define pbgb_clobber_memory() __asm__ volatile("" : : : "memory")

/* Iterations run so far by this thread (0 before the loop starts). */
int64_t pbgb_state_iterations(const pbgb_state *st);

/* Arguments of this instance: i < pbgb_range_count(); a larger i is a bug and aborts. */
size_t pbgb_range_count(const pbgb_state *st);
int64_t pbgb_range_value(const pbgb_state *st, size_t i);

static inline int pbgb_thread_index(const pbgb_state *st)
{
    return st->thread_index;
}

static inline int pbgb_thread_count(const pbgb_state *st)
{
    return st->threads;
}

/* Stop/restart the clock inside the loop (-EINVAL outside it or when already so). */
int pbgb_pause_timing(pbgb_state *st);
int pbgb_resume_timing(pbgb_state *st);
/* The time of the current iteration, for pbgb_use_manual_time() benchmarks (>= 0, finite). */
int pbgb_set_iteration_time(pbgb_state *st, double seconds);

/* Sets counter name (copied) of this thread to value; flags from enum pbgb_counter_flags.
 * Counters appear as keys of the benchmark's JSON object. */
int pbgb_counter_set(pbgb_state *st, const char *name, double value, unsigned flags);
/* Same, with the base that the console report uses for k/M/G: 1000 or 1024. */
int pbgb_counter_set_base(pbgb_state *st, const char *name, double value, unsigned flags, int base);
/* bytes_per_second / items_per_second: total processed over the measured seconds. */
int pbgb_bytes_processed(pbgb_state *st, int64_t bytes);
int pbgb_items_processed(pbgb_state *st, int64_t items);
int pbgb_set_label(pbgb_state *st, const char *label);
/* Marks the instance failed with msg (reported as error_message); the next keep_running call
 * returns false. Call it, then finish the loop or return before starting it. */
int pbgb_skip_with_error(pbgb_state *st, const char *msg);

/* ---- Running ---- */

/* Adds key: value to the report's "context" (before pbgb_run). -EEXIST if key is there. */
int pbgb_add_context(const char *key, const char *value);

/* Parses and removes the --benchmark_* flags from argc/argv. Anything left but argv[0], or a
 * flag value Google Benchmark would not accept, is reported on stderr: -EINVAL. Adds the
 * build's context (popbench_commit, popbench_build_type) unless already set. */
int pbgb_init(int *argc, char **argv);
/* Runs the benchmarks the filter selects: how many ran (0: none matched), or -errno. */
int pbgb_run(void);
void pbgb_shutdown(void);
/* init + run + shutdown, as an exit status: 0, 2 for bad flags or a filter matching nothing,
 * 1 for a failure to run. Benchmarks skipped with an error still give 0: the report says so. */
int pbgb_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
