// pbgb.cc: the C API of pbgb.h over Google Benchmark. The one C++ file of the shim: every
// extern "C" function is noexcept and turns exceptions into -ENOMEM, and checks arguments that
// Google Benchmark would abort on, so C callers see only return codes.
#include "bench/gbench/pbgb.h"
#include "pb_git_commit.h" // generated: POPBENCH_GIT_COMMIT

#include <benchmark/benchmark.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

// The C enums are Google Benchmark's values, so they pass through unconverted.
static_assert(int(PBGB_NS) == int(benchmark::kNanosecond) &&
                  int(PBGB_US) == int(benchmark::kMicrosecond) &&
                  int(PBGB_MS) == int(benchmark::kMillisecond) &&
                  int(PBGB_S) == int(benchmark::kSecond),
              "pbgb_unit must match benchmark::TimeUnit");
static_assert(int(PBGB_COUNTER_DEFAULT) == int(benchmark::Counter::kDefaults) &&
                  int(PBGB_COUNTER_RATE) == int(benchmark::Counter::kIsRate) &&
                  int(PBGB_COUNTER_AVG_THREADS) == int(benchmark::Counter::kAvgThreads) &&
                  int(PBGB_COUNTER_AVG_THREADS_RATE) == int(benchmark::Counter::kAvgThreadsRate) &&
                  int(PBGB_COUNTER_ITERATION_INVARIANT) ==
                      int(benchmark::Counter::kIsIterationInvariant) &&
                  int(PBGB_COUNTER_ITERATION_INVARIANT_RATE) ==
                      int(benchmark::Counter::kIsIterationInvariantRate) &&
                  int(PBGB_COUNTER_AVG_ITERATIONS) == int(benchmark::Counter::kAvgIterations) &&
                  int(PBGB_COUNTER_AVG_ITERATIONS_RATE) ==
                      int(benchmark::Counter::kAvgIterationsRate) &&
                  static_cast<unsigned>(PBGB_COUNTER_INVERT) ==
                      static_cast<unsigned>(benchmark::Counter::kInvert),
              "pbgb_counter_flags must match benchmark::Counter::Flags");
static_assert(std::is_same<benchmark::IterationCount, int64_t>::value,
              "pbgb_state.left holds a benchmark::IterationCount");
static_assert(std::is_standard_layout<pbgb_state>::value, "pbgb_state is shared with C");

namespace
{

constexpr unsigned counter_flag_mask =
    PBGB_COUNTER_RATE | PBGB_COUNTER_AVG_THREADS | PBGB_COUNTER_ITERATION_INVARIANT |
    PBGB_COUNTER_AVG_ITERATIONS | static_cast<unsigned>(PBGB_COUNTER_INVERT);

[[noreturn]] void shim_bug(const char *bench, const char *what)
{
    std::fprintf(stderr, "popbench: BUG in benchmark %s: %s\n", bench, what);
    std::fflush(stderr);
    std::abort();
}

} // namespace

// One registered family. Written only by the registering thread before the run; read-only
// while benchmarks run.
struct pbgb_bench {
    benchmark::internal::Benchmark *gb; // owned by Google Benchmark's registry
    pbgb_fn *fn;
    void *user;
    std::string name;
    int args_count = -1;   // arguments per set (or names); -1 until the first is added
    bool has_args = false; // at least one argument set: instances have args_count arguments
    bool real_time = false;
    bool manual_time = false;
    bool fixed_iterations = false;
    bool min_time = false;
};

// The C++ side of one thread's run of one instance; lives on that thread's stack, used only by
// it.
struct pbgb_thread_run {
    benchmark::State *gb;
    const pbgb_bench *bench;
    bool started = false;  // the first keep_running call has been made
    bool finished = false; // keep_running returned false
    bool paused = false;   // pbgb_pause_timing without pbgb_resume_timing
};

namespace
{

// Registry of the families' C-side data: they live as long as Google Benchmark's own
// registration objects (to exit), which point at them.
std::vector<std::unique_ptr<pbgb_bench>> &registry()
{
    static std::vector<std::unique_ptr<pbgb_bench>> benches;
    return benches;
}

void run_c_benchmark(pbgb_bench *b, benchmark::State &gb)
{
    pbgb_thread_run run;
    run.gb = &gb;
    run.bench = b;
    pbgb_state st;
    st.left = 0;
    st.thread_index = gb.thread_index();
    st.threads = gb.threads();
    st.run = &run;
    b->fn(&st, b->user);
    // Google Benchmark would abort here too, with a message naming its C++ loop.
    if (!run.finished && !gb.error_occurred())
        shim_bug(b->name.c_str(), "returned before pbgb_keep_running() returned false");
}

// Adds one more argument set of size n; -EINVAL if the family's sets have another size.
bool args_count_ok(const pbgb_bench *b, size_t n)
{
    return n > 0 && n <= INT32_MAX && (b->args_count == -1 || b->args_count == (int)n);
}

bool running_loop(const pbgb_state *st)
{
    return st && st->run && st->run->started && !st->run->finished &&
           !st->run->gb->error_occurred();
}

} // namespace

extern "C" {

pbgb_bench *pbgb_register(const char *name, pbgb_fn *fn, void *user)
{
    if (!name || !*name || !fn) {
        errno = EINVAL;
        return nullptr;
    }
    try {
        auto bench = std::make_unique<pbgb_bench>();
        bench->fn = fn;
        bench->user = user;
        bench->name = name;
        registry().reserve(registry().size() + 1);
        pbgb_bench *raw = bench.get();
        raw->gb = benchmark::RegisterBenchmark(
            name, [raw](benchmark::State &gb) { run_c_benchmark(raw, gb); });
        registry().push_back(std::move(bench)); // cannot throw: reserved
        return raw;
    } catch (...) {
        errno = ENOMEM;
        return nullptr;
    }
}

int pbgb_arg(pbgb_bench *b, int64_t x)
{
    return pbgb_args(b, &x, 1);
}

int pbgb_args(pbgb_bench *b, const int64_t *xs, size_t n)
{
    if (!b || !xs || !args_count_ok(b, n))
        return -EINVAL;
    try {
        b->gb->Args(std::vector<int64_t>(xs, xs + n));
    } catch (...) {
        return -ENOMEM;
    }
    b->args_count = (int)n;
    b->has_args = true;
    return 0;
}

int pbgb_range(pbgb_bench *b, int64_t lo, int64_t hi)
{
    return pbgb_ranges(b, &lo, &hi, 1);
}

int pbgb_ranges(pbgb_bench *b, const int64_t *lo, const int64_t *hi, size_t n)
{
    if (!b || !lo || !hi || !args_count_ok(b, n))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (lo[i] > hi[i])
            return -EINVAL;
    try {
        std::vector<std::pair<int64_t, int64_t>> ranges;
        for (size_t i = 0; i < n; i++)
            ranges.emplace_back(lo[i], hi[i]);
        b->gb->Ranges(ranges);
    } catch (...) {
        return -ENOMEM;
    }
    b->args_count = (int)n;
    b->has_args = true;
    return 0;
}

int pbgb_range_multiplier(pbgb_bench *b, int mult)
{
    if (!b || mult < 2)
        return -EINVAL;
    b->gb->RangeMultiplier(mult);
    return 0;
}

int pbgb_dense_range(pbgb_bench *b, int64_t lo, int64_t hi, int step)
{
    // Google Benchmark loops forever on step <= 0 and overflows near INT64_MAX.
    if (!b || !args_count_ok(b, 1) || lo > hi || step <= 0 || hi > INT64_MAX - step)
        return -EINVAL;
    try {
        b->gb->DenseRange(lo, hi, step);
    } catch (...) {
        return -ENOMEM;
    }
    b->args_count = 1;
    b->has_args = true;
    return 0;
}

int pbgb_arg_names(pbgb_bench *b, const char *const *names, size_t n)
{
    if (!b || !names || !args_count_ok(b, n))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!names[i])
            return -EINVAL;
    try {
        b->gb->ArgNames(std::vector<std::string>(names, names + n));
    } catch (...) {
        return -ENOMEM;
    }
    b->args_count = (int)n;
    return 0;
}

int pbgb_threads(pbgb_bench *b, int threads)
{
    if (!b || threads <= 0)
        return -EINVAL;
    try {
        b->gb->Threads(threads);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_thread_range(pbgb_bench *b, int min, int max)
{
    if (!b || min <= 0 || max < min)
        return -EINVAL;
    try {
        b->gb->ThreadRange(min, max);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_dense_thread_range(pbgb_bench *b, int min, int max, int stride)
{
    if (!b || min <= 0 || max < min || stride <= 0)
        return -EINVAL;
    try {
        b->gb->DenseThreadRange(min, max, stride);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_use_real_time(pbgb_bench *b)
{
    if (!b || b->manual_time)
        return -EINVAL;
    b->gb->UseRealTime();
    b->real_time = true;
    return 0;
}

int pbgb_use_manual_time(pbgb_bench *b)
{
    if (!b || b->real_time)
        return -EINVAL;
    b->gb->UseManualTime();
    b->manual_time = true;
    return 0;
}

int pbgb_measure_process_cpu_time(pbgb_bench *b)
{
    if (!b)
        return -EINVAL;
    b->gb->MeasureProcessCPUTime();
    return 0;
}

int pbgb_iterations(pbgb_bench *b, int64_t n)
{
    if (!b || n <= 0 || b->min_time)
        return -EINVAL;
    b->gb->Iterations(n);
    b->fixed_iterations = true;
    return 0;
}

int pbgb_min_time(pbgb_bench *b, double seconds)
{
    if (!b || !std::isfinite(seconds) || seconds <= 0.0 || b->fixed_iterations)
        return -EINVAL;
    b->gb->MinTime(seconds);
    b->min_time = true;
    return 0;
}

int pbgb_min_warmup_time(pbgb_bench *b, double seconds)
{
    if (!b || !std::isfinite(seconds) || seconds < 0.0 || b->fixed_iterations)
        return -EINVAL;
    b->gb->MinWarmUpTime(seconds);
    return 0;
}

int pbgb_repetitions(pbgb_bench *b, int n)
{
    if (!b || n <= 0)
        return -EINVAL;
    b->gb->Repetitions(n);
    return 0;
}

int pbgb_report_aggregates_only(pbgb_bench *b, bool only)
{
    if (!b)
        return -EINVAL;
    b->gb->ReportAggregatesOnly(only);
    return 0;
}

int pbgb_unit(pbgb_bench *b, enum pbgb_unit unit)
{
    if (!b || unit < PBGB_NS || unit > PBGB_S)
        return -EINVAL;
    b->gb->Unit(static_cast<benchmark::TimeUnit>(unit));
    return 0;
}

// Grants: Google Benchmark keeps at least one iteration of its own while the C side holds a
// grant, so a batch that straddles the end of a grant can always be completed from its counter
// with its own accounting of the last partial batch.
bool pbgb_keep_running_refill(pbgb_state *st, int64_t n)
{
    pbgb_thread_run *run = st->run;
    benchmark::State &gb = *run->gb;
    if (n <= 0)
        shim_bug(run->bench->name.c_str(), "pbgb_keep_running_batch() with n < 1");
    if (run->finished)
        shim_bug(run->bench->name.c_str(), "pbgb_keep_running() after it returned false");
    int64_t held = st->left; // 0 <= held < n: iterations of this batch already granted
    // Ending the loop stops the clock, and Google Benchmark aborts if it is stopped already.
    if (run->paused && held == 0 && run->started && !gb.error_occurred() &&
        gb.iterations() >= gb.max_iterations)
        shim_bug(run->bench->name.c_str(), "measurement loop ended with timing paused");
    run->started = true;
    st->left = 0;
    if (!gb.KeepRunningBatch(n - held)) {
        if (held > 0)
            shim_bug(run->bench->name.c_str(), "grant invariant broken");
        run->finished = true;
        return false;
    }
    // Grant the whole batches that fit in what is left, keeping one iteration back.
    int64_t remaining = gb.max_iterations - gb.iterations();
    if (!gb.error_occurred() && remaining > n) {
        int64_t grant = (remaining - 1) / n * n;
        gb.KeepRunningBatch(grant);
        st->left = grant;
    }
    return true;
}

int64_t pbgb_state_iterations(const pbgb_state *st)
{
    if (!st || !st->run->started)
        return 0;
    return st->run->gb->iterations() - st->left;
}

size_t pbgb_range_count(const pbgb_state *st)
{
    const pbgb_bench *b = st->run->bench;
    return b->has_args ? (size_t)b->args_count : 0;
}

int64_t pbgb_range_value(const pbgb_state *st, size_t i)
{
    if (i >= pbgb_range_count(st))
        shim_bug(st->run->bench->name.c_str(), "pbgb_range_value() index out of range");
    return st->run->gb->range(i);
}

int pbgb_pause_timing(pbgb_state *st)
{
    if (!running_loop(st) || st->run->paused)
        return -EINVAL;
    st->run->gb->PauseTiming();
    st->run->paused = true;
    return 0;
}

int pbgb_resume_timing(pbgb_state *st)
{
    if (!running_loop(st) || !st->run->paused)
        return -EINVAL;
    st->run->gb->ResumeTiming();
    st->run->paused = false;
    return 0;
}

int pbgb_set_iteration_time(pbgb_state *st, double seconds)
{
    if (!st || !std::isfinite(seconds) || seconds < 0.0)
        return -EINVAL;
    st->run->gb->SetIterationTime(seconds);
    return 0;
}

int pbgb_counter_set_base(pbgb_state *st, const char *name, double value, unsigned flags, int base)
{
    if (!st || !name || !*name || (flags & ~counter_flag_mask) || (base != 1000 && base != 1024))
        return -EINVAL;
    try {
        st->run->gb->counters[name] =
            benchmark::Counter(value, static_cast<benchmark::Counter::Flags>(flags),
                               static_cast<benchmark::Counter::OneK>(base));
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_counter_set(pbgb_state *st, const char *name, double value, unsigned flags)
{
    return pbgb_counter_set_base(st, name, value, flags, 1000);
}

int pbgb_bytes_processed(pbgb_state *st, int64_t bytes)
{
    if (!st || bytes < 0)
        return -EINVAL;
    try {
        st->run->gb->SetBytesProcessed(bytes);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_items_processed(pbgb_state *st, int64_t items)
{
    if (!st || items < 0)
        return -EINVAL;
    try {
        st->run->gb->SetItemsProcessed(items);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_set_label(pbgb_state *st, const char *label)
{
    if (!st || !label)
        return -EINVAL;
    try {
        st->run->gb->SetLabel(label);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_skip_with_error(pbgb_state *st, const char *msg)
{
    if (!st || !msg)
        return -EINVAL;
    try {
        st->run->gb->SkipWithError(msg);
    } catch (...) {
        return -ENOMEM;
    }
    // Google Benchmark's counter is now 0; the grant must go too so the loop ends.
    st->left = 0;
    st->run->paused = false; // SkipWithError stops the clock itself
    return 0;
}

int pbgb_add_context(const char *key, const char *value)
{
    if (!key || !*key || !value)
        return -EINVAL;
    try {
        auto *ctx = benchmark::internal::GetGlobalContext();
        if (ctx && ctx->count(key))
            return -EEXIST;
        benchmark::AddCustomContext(key, value);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

} // extern "C"

namespace
{

// Flags whose bad values make Google Benchmark print its usage and exit 0; reject them first.
struct choice_flag {
    const char *prefix;
    const char *choices[5];
};
const choice_flag choice_flags[] = {
    {"--benchmark_format=", {"console", "json", "csv", nullptr}},
    {"--benchmark_out_format=", {"console", "json", "csv", nullptr}},
    {"--benchmark_time_unit=", {"ns", "us", "ms", "s", nullptr}},
};

bool check_choice_flags(int argc, char **argv)
{
    bool ok = true;
    for (int i = 1; i < argc; i++) {
        for (const choice_flag &f : choice_flags) {
            size_t len = std::strlen(f.prefix);
            if (std::strncmp(argv[i], f.prefix, len) != 0)
                continue;
            const char *value = argv[i] + len;
            bool known = false;
            for (const char *const *c = f.choices; *c; c++)
                known = known || std::strcmp(value, *c) == 0;
            if (!known) {
                std::fprintf(stderr, "%s: error: bad value '%s' for %.*s: expected one of", argv[0],
                             value, (int)(len - 1), f.prefix);
                for (const char *const *c = f.choices; *c; c++)
                    std::fprintf(stderr, " %s", *c);
                std::fprintf(stderr, "\n");
                ok = false;
            }
        }
    }
    return ok;
}

void add_default_context(const char *key, const char *value)
{
    auto *ctx = benchmark::internal::GetGlobalContext();
    if (!ctx || !ctx->count(key))
        benchmark::AddCustomContext(key, value);
}

} // namespace

#ifndef PBGB_BUILD_TYPE
#define PBGB_BUILD_TYPE "unknown"
#endif

extern "C" {

int pbgb_init(int *argc, char **argv)
{
    if (!argc || *argc < 1 || !argv || !argv[0])
        return -EINVAL;
    if (!check_choice_flags(*argc, argv))
        return -EINVAL;
    try {
        benchmark::Initialize(argc, argv);
        if (benchmark::ReportUnrecognizedArguments(*argc, argv))
            return -EINVAL;
        // What the report's own context cannot know: which popbench build made it.
        add_default_context("popbench_commit", POPBENCH_GIT_COMMIT);
        add_default_context("popbench_build_type", PBGB_BUILD_TYPE);
    } catch (...) {
        return -ENOMEM;
    }
    return 0;
}

int pbgb_run(void)
{
    try {
        size_t n = benchmark::RunSpecifiedBenchmarks();
        return n > INT32_MAX ? INT32_MAX : (int)n;
    } catch (...) {
        return -ENOMEM;
    }
}

void pbgb_shutdown(void)
{
    benchmark::Shutdown();
}

int pbgb_main(int argc, char **argv)
{
    int rc = pbgb_init(&argc, argv);
    if (rc == -EINVAL)
        return 2;
    if (rc < 0)
        return 1;
    rc = pbgb_run();
    pbgb_shutdown();
    if (rc < 0)
        return 1;
    // Google Benchmark has said which filter matched nothing.
    return rc == 0 ? 2 : 0;
}

} // extern "C"
