/*
 * test_harness_stream.c: the operation streams of bench/stream.h: seeded random numbers, the
 * calls that build a domain (the toolstack's plan, and mixed orders with fallback), balloon
 * windows.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/stream.h"

#define GIB (UINT64_C(1) << 18) /* pages */

static struct pb_wl_orders mix_orders(double w0, double w9, double w18)
{
    return (struct pb_wl_orders){
        .mode = PB_WL_ORDERS_MIX, .weight = {w0, w9, w18}, .extents_per_call = {512, 16, 1}};
}

static void test_rng_repeats_and_spreads(void **state)
{
    (void)state;
    struct pb_rng a, b, c;
    pb_rng_seed(&a, 42);
    pb_rng_seed(&b, 42);
    pb_rng_seed(&c, 43);
    unsigned differ = 0, hist[8] = {0};
    for (int i = 0; i < 80000; i++) {
        uint64_t x = pb_rng_next(&a);
        assert_int_equal(x, pb_rng_next(&b));
        differ += x != pb_rng_next(&c);
        uint64_t k = pb_rng_below(&a, 8);
        assert_true(k < 8);
        pb_rng_next(&b); /* keep b in step with a */
        hist[k]++;
        double d = pb_rng_double(&c);
        assert_true(d >= 0 && d < 1);
    }
    assert_true(differ > 79990);
    for (int k = 0; k < 8; k++) /* 10000 expected each; 9% off is > 9 sigma */
        assert_in_range(hist[k], 9100, 10900);
    assert_int_not_equal(pb_rng_stream_seed(1, 0), pb_rng_stream_seed(1, 1));
    assert_int_equal(pb_rng_stream_seed(7, 3), pb_rng_stream_seed(7, 3));
}

/* Runs a whole build where every call succeeds; checks what the calls covered. */
static void build_all(const struct pb_wl_orders *o, unsigned max_order, uint64_t target,
                      uint64_t gfn_space, uint64_t *by_order, unsigned *calls)
{
    struct pb_build_cursor c;
    struct pb_call call;
    struct pb_rng rng;
    uint8_t *seen = calloc(gfn_space, 1);

    assert_non_null(seen);
    pb_rng_seed(&rng, 9);
    pb_build_cursor_init(&c, target, gfn_space);
    memset(by_order, 0, 3 * sizeof(*by_order));
    *calls = 0;
    while (pb_build_next(o, max_order, &rng, &c, &call)) {
        uint64_t ext = UINT64_C(1) << call.order;
        assert_true(call.order == 0 || call.order == 9 || call.order == 18);
        assert_true(call.order <= max_order);
        assert_true(call.nr >= 1);
        assert_int_equal(call.gfn % ext, 0);
        assert_true(call.gfn + call.nr * ext <= gfn_space);
        for (uint64_t g = call.gfn; g < call.gfn + call.nr * ext; g++) {
            assert_int_equal(seen[g], 0); /* no gfn is handed out twice */
            seen[g] = 1;
        }
        by_order[call.order == 18 ? 2 : call.order == 9 ? 1 : 0] += call.nr * ext;
        assert_true(pb_build_done(&c, &call, call.nr));
        (*calls)++;
    }
    assert_true(pb_build_complete(&c));
    assert_int_equal(by_order[0] + by_order[1] + by_order[2], target);
    free(seen);
}

/* A toolstack build hands out exactly the calls of core/toolstack.h's plan (one builder). */
static void test_toolstack_build_is_the_core_plan(void **state)
{
    (void)state;
    struct pb_wl_orders unused = mix_orders(1, 0, 0);
    const uint64_t sizes[] = {20000, 12513};
    const int nodes[] = {1, 0};
    struct pb_hvm_guest g = {
        .memory_pages = 32513, .nr_vnodes = 2, .vnode_pages = sizes, .vnode_node = nodes};
    struct pb_build_cursor c;
    struct pb_meminit_config cfg;
    struct pb_meminit_plan plan;
    struct pb_meminit_call mc;
    struct pb_call call;
    struct pb_rng rng;

    pb_rng_seed(&rng, 1);
    assert_int_equal(pb_build_cursor_init_toolstack(&c, &g), 0);
    assert_true(c.toolstack);
    assert_int_equal(c.target, 32513 - 0x20);
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    assert_int_equal(pb_meminit_plan_init(&plan, &cfg), 0);
    unsigned calls = 0, fails = 0;
    while (pb_meminit_plan_next(&plan, &mc)) {
        assert_true(pb_build_next(&unused, 18, &rng, &c, &call));
        assert_true(call.toolstack);
        assert_int_equal(call.gfn, mc.gfn);
        assert_int_equal(call.order, mc.order);
        assert_int_equal(call.nr, mc.nr);
        assert_int_equal(call.exact, mc.exact);
        assert_int_equal(call.mem_flags, mc.mem_flags);
        /* Every third 2 MiB call comes back half done, in both. */
        uint64_t done = mc.order == 9 && ++fails % 3 == 0 ? mc.nr / 2 : mc.nr;
        assert_true(pb_meminit_plan_done(&plan, &mc, done));
        assert_true(pb_build_done(&c, &call, (unsigned)done));
        calls++;
    }
    assert_false(pb_build_next(&unused, 18, &rng, &c, &call));
    assert_true(pb_build_complete(&c));
    assert_true(pb_meminit_plan_complete(&plan));
    assert_int_equal(c.issued, c.target);
    assert_true(calls > 10);
    assert_true(plan.rep.misses_2m > 0);
}

static void test_toolstack_build_fails_on_a_short_exact_call(void **state)
{
    (void)state;
    struct pb_wl_orders unused = mix_orders(1, 0, 0);
    struct pb_hvm_guest g = {.memory_pages = 4096};
    struct pb_build_cursor c;
    struct pb_call call;
    struct pb_rng rng;

    pb_rng_seed(&rng, 1);
    assert_int_equal(pb_build_cursor_init_toolstack(&c, &g), 0);
    assert_true(pb_build_next(&unused, 18, &rng, &c, &call));
    assert_true(call.exact);
    assert_int_equal(call.nr, 0xa0);
    assert_false(pb_build_done(&c, &call, 0x9f));
    assert_false(pb_build_next(&unused, 18, &rng, &c, &call));
    assert_false(pb_build_complete(&c));
    /* A refused claim ends a build before its first call. */
    assert_int_equal(pb_build_cursor_init_toolstack(&c, &g), 0);
    pb_build_fail(&c);
    assert_false(pb_build_next(&unused, 18, &rng, &c, &call));
    assert_false(pb_build_complete(&c));
    g.memory_pages = 0xff;
    assert_int_equal(pb_build_cursor_init_toolstack(&c, &g), -EINVAL);
}

static void test_mix_follows_weights(void **state)
{
    (void)state;
    struct pb_wl_orders only4k = mix_orders(1, 0, 0), only2m = mix_orders(0, 1, 0);
    struct pb_wl_orders mixed = mix_orders(60, 35, 5);
    uint64_t by[3];
    unsigned calls;

    build_all(&only4k, 18, 100000, pb_stream_gfn_space(100000), by, &calls);
    assert_int_equal(by[0], 100000);
    /* 2 MiB only, with a remainder that is not a whole 2 MiB: the tail falls to 4 KiB. */
    build_all(&only2m, 18, 100000, pb_stream_gfn_space(100000), by, &calls);
    assert_int_equal(by[1], 100000 / 512 * 512);
    assert_int_equal(by[0], 100000 % 512);
    /* The mix of mixed-orders on 2 GiB: every order appears, and it adds up. */
    build_all(&mixed, 18, 2 * GIB, pb_stream_gfn_space(2 * GIB), by, &calls);
    assert_true(by[0] > 0 && by[1] > 0 && by[2] > 0);
}

static void test_mixed_fallback_after_short_count(void **state)
{
    (void)state;
    struct pb_wl_orders o = mix_orders(0, 0, 1);
    struct pb_build_cursor c;
    struct pb_call call, retry;
    struct pb_rng rng;

    pb_rng_seed(&rng, 1);
    pb_build_cursor_init(&c, GIB, pb_stream_gfn_space(GIB));
    assert_true(pb_build_next(&o, 18, &rng, &c, &call));
    assert_int_equal(call.order, 18);
    assert_false(call.toolstack);
    /* No 1 GiB buddy: the same gfns are asked for again in 2 MiB extents. */
    assert_true(pb_build_done(&c, &call, 0));
    assert_false(pb_build_complete(&c));
    uint64_t covered = 0;
    while (pb_build_next(&o, 18, &rng, &c, &retry)) {
        assert_int_equal(retry.order, 9);
        assert_true(retry.gfn >= call.gfn && retry.gfn + retry.nr * 512 <= call.gfn + GIB);
        covered += retry.nr * 512;
        /* The first 2 MiB call comes back short too: its rest falls to 4 KiB. */
        unsigned done = covered == 16 * 512 ? 10 : retry.nr;
        assert_true(pb_build_done(&c, &retry, done));
        if (done < retry.nr)
            break;
    }
    unsigned small = 0;
    while (pb_build_next(&o, 18, &rng, &c, &retry)) {
        if (retry.order == 0)
            small += retry.nr;
        assert_true(pb_build_done(&c, &retry, retry.nr));
    }
    assert_int_equal(small, (16 - 10) * 512);
    assert_true(pb_build_complete(&c));
    assert_int_equal(c.issued, GIB);
}

static void test_order0_short_fails_build(void **state)
{
    (void)state;
    struct pb_wl_orders o = mix_orders(1, 0, 0);
    struct pb_build_cursor c;
    struct pb_call call;
    struct pb_rng rng;

    pb_rng_seed(&rng, 1);
    pb_build_cursor_init(&c, 2048, pb_stream_gfn_space(2048));
    assert_true(pb_build_next(&o, 18, &rng, &c, &call));
    assert_false(pb_build_done(&c, &call, call.nr - 1));
    assert_true(c.failed);
    assert_false(pb_build_next(&o, 18, &rng, &c, &call));
    assert_false(pb_build_complete(&c));
}

static void test_balloon_window(void **state)
{
    (void)state;
    struct pb_wl_balloon cfg = {.pacing = PB_WL_BALLOON_RATE,
                                .threads = 1,
                                .order = 0,
                                .extents_per_call = 100,
                                .depth = 0.5};
    struct pb_balloon_state b;
    struct pb_call call;
    bool dec;

    pb_balloon_init(&b, &cfg, 1000);
    assert_int_equal(b.top, 1000);
    assert_int_equal(b.depth, 500);
    /* Down in calls of 100 from the top, listed from the top down. */
    for (int i = 0; i < 5; i++) {
        pb_balloon_next(&b, &cfg, &call, &dec);
        assert_true(dec);
        assert_true(call.descending);
        assert_int_equal(call.gfn, 1000 - 100 * (i + 1));
        assert_int_equal(call.nr, 100);
        pb_balloon_done(&b, &call, dec, call.nr);
    }
    assert_int_equal(b.out, 500);
    /* Depth reached: back up, from the bottom of the window; a short call (30 of 100) keeps
     * the window contiguous. */
    pb_balloon_next(&b, &cfg, &call, &dec);
    assert_false(dec);
    assert_int_equal(call.gfn, 500);
    pb_balloon_done(&b, &call, dec, 30);
    assert_int_equal(b.out, 470);
    pb_balloon_next(&b, &cfg, &call, &dec);
    assert_false(dec);
    assert_int_equal(call.gfn, 530);
    while (b.out > 0) {
        pb_balloon_next(&b, &cfg, &call, &dec);
        assert_false(dec);
        pb_balloon_done(&b, &call, dec, call.nr);
    }
    pb_balloon_next(&b, &cfg, &call, &dec);
    assert_true(dec);

    /* 2 MiB balloons: the window is aligned. */
    struct pb_wl_balloon big = {.order = 9, .extents_per_call = 4, .depth = 0.3};
    pb_balloon_init(&b, &big, 10000);
    assert_int_equal(b.top % 512, 0);
    assert_int_equal(b.depth % 512, 0);
    pb_balloon_next(&b, &big, &call, &dec);
    assert_int_equal(call.gfn % 512, 0);
    assert_true(call.gfn + call.nr * 512 <= b.top);

    /* Above the MMIO hole the top of memory is libxl's: from 4 GiB up, and the window stays
     * in that range (depth clipped to it). */
    struct pb_wl_balloon all = {.order = 0, .extents_per_call = 512, .depth = 1};
    pb_balloon_init(&b, &all, 4 * GIB);
    assert_int_equal(b.top, 4 * GIB + (4 * GIB - 0xf0000));
    assert_int_equal(b.depth, 4 * GIB - 0xf0000);
    /* Below it, the window never reaches the VGA hole. */
    pb_balloon_init(&b, &all, 1000);
    assert_int_equal(b.top, 1000);
    assert_int_equal(b.depth, 1000 - 0xc0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rng_repeats_and_spreads),
        cmocka_unit_test(test_toolstack_build_is_the_core_plan),
        cmocka_unit_test(test_toolstack_build_fails_on_a_short_exact_call),
        cmocka_unit_test(test_mix_follows_weights),
        cmocka_unit_test(test_mixed_fallback_after_short_count),
        cmocka_unit_test(test_order0_short_fails_build),
        cmocka_unit_test(test_balloon_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
