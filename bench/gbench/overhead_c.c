/*
 * overhead_c.c: the body of overhead_native.cc (an increment kept in memory) through the C
 * shim: per iteration with pbgb_keep_running() and with PBGB_LOOP(), and per batch with
 * pbgb_keep_running_batch().
 * Compare the ns/iteration of the two programs (docs/gbench.md).
 */
#include <stdint.h>

#include "bench/gbench/pbgb.h"

#define FIXED_ITERATIONS (1 << 22)

static void c_keep_running(pbgb_state *st, void *user)
{
    (void)user;
    uint64_t x = 0;
    while (pbgb_keep_running(st)) {
        x++;
        pbgb_do_not_optimize(x);
    }
}

static void c_loop_macro(pbgb_state *st, void *user)
{
    (void)user;
    uint64_t x = 0;
    PBGB_LOOP(st)
    {
        x++;
        pbgb_do_not_optimize(x);
    }
}

static void c_batch(pbgb_state *st, void *user)
{
    (void)user;
    const int64_t batch = pbgb_range_value(st, 0);
    uint64_t x = 0;
    while (pbgb_keep_running_batch(st, batch)) {
        for (int64_t i = 0; i < batch; i++) {
            x++;
            pbgb_do_not_optimize(x);
        }
    }
}

/* Each loop twice: timed, and with a fixed iteration count for instruction counts under
 * callgrind (--benchmark_filter=iterations), where the count must not depend on the clock. */
static int register_both(const char *name, pbgb_fn *fn, int64_t arg)
{
    for (int fixed = 0; fixed < 2; fixed++) {
        pbgb_bench *b = pbgb_register(name, fn, NULL);
        if (!b || (arg && pbgb_arg(b, arg) < 0) ||
            (fixed && pbgb_iterations(b, FIXED_ITERATIONS) < 0))
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (register_both("c_keep_running", c_keep_running, 0) < 0 ||
        register_both("c_loop_macro", c_loop_macro, 0) < 0 ||
        register_both("c_batch", c_batch, 64) < 0)
        return 1;
    return pbgb_main(argc, argv);
}
