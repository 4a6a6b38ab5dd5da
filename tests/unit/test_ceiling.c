/*
 * test_ceiling.c: the parallel ceiling (bench/ceiling.h): the reference runs on the threads it
 * is given, pinned through the caller, counts their steps and reports them; an interrupt ends
 * it early; its buffers are what it says; the table's speed-ups and their spread. No timing is
 * asserted: only that work was done and counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/ceiling.h"

struct pins {
    _Atomic unsigned mask; /* threads that asked to be pinned */
    int fail_thread;       /* -1: none */
};

static int record_pin(void *ctx, unsigned thread)
{
    struct pins *p = ctx;
    atomic_fetch_or(&p->mask, 1u << thread);
    return (int)thread == p->fail_thread ? -EINVAL : 0;
}

static void test_runs_every_thread_and_counts(void **state)
{
    (void)state;
    struct pins pins = {.fail_thread = -1};
    struct pb_ceiling_config cfg = {
        .threads = 3,
        .bind = record_pin,
        .bind_ctx = &pins,
        .warmup_ns = 1000000,
        .measure_ns = 20000000,
        .buffer_bytes = 1u << 20,
    };
    struct pb_ceiling_result res;
    char err[256] = "";
    assert_int_equal(pb_ceiling_run(&cfg, &res, err, sizeof(err)), 0);
    assert_int_equal(atomic_load(&pins.mask), 7u);
    assert_true(res.completed);
    assert_int_equal(res.threads, 3);
    assert_int_equal(res.buffer_bytes, 1u << 20);
    assert_true(res.measure_ns >= cfg.measure_ns);
    assert_true(res.steps > 0);
    assert_true(res.steps_per_second > 0);
    assert_true(res.thread_min_sps <= res.thread_max_sps);
    assert_true(res.thread_max_sps <= res.steps_per_second);
}

static void test_pin_failure_is_an_error(void **state)
{
    (void)state;
    struct pins pins = {.fail_thread = 1};
    struct pb_ceiling_config cfg = {
        .threads = 2, .bind = record_pin, .bind_ctx = &pins, .measure_ns = 1000000};
    struct pb_ceiling_result res;
    char err[256] = "";
    assert_int_equal(pb_ceiling_run(&cfg, &res, err, sizeof(err)), -EINVAL);
    assert_false(res.completed);
    assert_non_null(strstr(err, "cannot pin thread 1"));
    cfg.threads = 0;
    assert_int_equal(pb_ceiling_run(&cfg, &res, err, sizeof(err)), -EINVAL);
}

static void test_interrupt_ends_it(void **state)
{
    (void)state;
    _Atomic bool stop = true;
    /* An hour-long phase: the interrupt, already raised, must end it at the first look. */
    struct pb_ceiling_config cfg = {
        .threads = 2, .measure_ns = 3600ull * 1000000000ull, .interrupt = &stop};
    struct pb_ceiling_result res;
    char err[256] = "";
    assert_int_equal(pb_ceiling_run(&cfg, &res, err, sizeof(err)), 0);
    assert_false(res.completed);
}

static void test_buffers(void **state)
{
    (void)state;
    struct pb_ceiling_buf b;
    assert_int_equal(pb_ceiling_buf_init(&b, 3u << 20, 7), 0);
    assert_int_equal(b.bytes, 4u << 20); /* a power of two */
    assert_int_equal(b.line_mask, (4u << 20) / 64 - 1);
    uint64_t sum = 0;
    for (int i = 0; i < 1000; i++)
        sum ^= pb_ceiling_step(&b);
    assert_true(sum != 0 || b.state != 0);
    pb_ceiling_buf_free(&b);
    assert_null(b.words);
    /* Without a topology: the minimum; with one: within the bounds, a power of two. */
    assert_int_equal(pb_ceiling_buffer_bytes(NULL), PB_CEILING_MIN_BUFFER);
    hwloc_topology_t topo;
    assert_int_equal(hwloc_topology_init(&topo), 0);
    assert_int_equal(hwloc_topology_load(topo), 0);
    size_t bytes = pb_ceiling_buffer_bytes(topo);
    assert_true(bytes >= PB_CEILING_MIN_BUFFER && bytes <= PB_CEILING_MAX_BUFFER);
    assert_int_equal(bytes & (bytes - 1), 0);
    hwloc_topology_destroy(topo);
    char what[256];
    assert_non_null(strstr(pb_ceiling_describe(bytes, what, sizeof(what)), "nothing shared"));
}

static void test_table(void **state)
{
    (void)state;
    struct pb_ceiling_table t = {0};
    double s, med, lo, hi;
    /* Repetitions 0..2 of threads 1 and 4; repetition 3 lacks its 1-thread run. */
    const double at4[4] = {300, 390, 360, 500};
    for (unsigned r = 0; r < 4; r++) {
        if (r < 3)
            assert_int_equal(pb_ceiling_table_add(&t, "w", 1, r, 100), 0);
        assert_int_equal(pb_ceiling_table_add(&t, "w", 4, r, at4[r]), 0);
    }
    assert_int_equal(pb_ceiling_table_add(&t, "other", 4, 0, 1), 0);
    assert_true(pb_ceiling_speedup(&t, "w", 4, 1, 1, &s));
    assert_float_equal(s, 3.9, 1e-12);
    assert_false(pb_ceiling_speedup(&t, "w", 4, 1, 3, &s)); /* no base in that repetition */
    assert_false(pb_ceiling_speedup(&t, "w", 2, 1, 0, &s));
    assert_false(pb_ceiling_speedup(&t, "nope", 4, 1, 0, &s));
    assert_true(pb_ceiling_speedup_spread(&t, "w", 4, 1, &med, &lo, &hi));
    assert_float_equal(med, 3.6, 1e-12);
    assert_float_equal(lo, 3.0, 1e-12);
    assert_float_equal(hi, 3.9, 1e-12);
    assert_false(pb_ceiling_speedup_spread(&t, "other", 4, 1, &med, &lo, &hi));
    /* A repeated run replaces the earlier rate. */
    assert_int_equal(pb_ceiling_table_add(&t, "w", 4, 0, 200), 0);
    assert_true(pb_ceiling_speedup(&t, "w", 4, 1, 0, &s));
    assert_float_equal(s, 2.0, 1e-12);
    pb_ceiling_table_free(&t);
    assert_int_equal(t.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_every_thread_and_counts),
        cmocka_unit_test(test_pin_failure_is_an_error),
        cmocka_unit_test(test_interrupt_ends_it),
        cmocka_unit_test(test_buffers),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
