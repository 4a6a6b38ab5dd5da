// overhead_native.cc: the reference for overhead_c.c: a trivial body (an increment kept in
// memory by DoNotOptimize) in Google Benchmark's own C++ loops. The difference per iteration
// between the two programs is the cost of the C shim's loop (docs/gbench.md). Each loop also
// runs with a fixed iteration count, for instruction counts under callgrind.
#include <benchmark/benchmark.h>

#include <cstdint>

// Fixed iteration count of the callgrind variants (as in overhead_c.c).
constexpr benchmark::IterationCount fixed_iterations = 1 << 22;

static void native_loop(benchmark::State &state)
{
    uint64_t x = 0;
    for (auto _ : state) {
        x++;
        benchmark::DoNotOptimize(x);
    }
}
BENCHMARK(native_loop);
BENCHMARK(native_loop)->Iterations(fixed_iterations);

static void native_keep_running(benchmark::State &state)
{
    uint64_t x = 0;
    while (state.KeepRunning()) {
        x++;
        benchmark::DoNotOptimize(x);
    }
}
BENCHMARK(native_keep_running);
BENCHMARK(native_keep_running)->Iterations(fixed_iterations);

static void native_batch(benchmark::State &state)
{
    const int64_t batch = state.range(0);
    uint64_t x = 0;
    while (state.KeepRunningBatch(batch)) {
        for (int64_t i = 0; i < batch; i++) {
            x++;
            benchmark::DoNotOptimize(x);
        }
    }
}
BENCHMARK(native_batch)->Arg(64);
BENCHMARK(native_batch)->Arg(64)->Iterations(fixed_iterations);

BENCHMARK_MAIN();
