/*
 * test_hist: the histogram's buckets are within 1% of their values, its percentiles agree with
 * an exact sort to within 1%, and merging, overflow and the empty histogram behave as
 * documented.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench/hist.h"
#include "core/prng.h"

#define NVALUES 200000

/* Percentiles under test, in millionths (ppm) so that the expected rank is exact. */
static const uint64_t pct_ppm[] = {0, 500000, 900000, 990000, 999000, 999900, 1000000};

/* Uniform in [lo, hi]. */
static uint64_t uniform(uint64_t *rng, uint64_t lo, uint64_t hi)
{
    return lo + pb_splitmix64(rng) % (hi - lo + 1);
}

static double unit_double(uint64_t *rng)
{
    return (double)(pb_splitmix64(rng) >> 11) * 0x1.0p-53;
}

enum dist { DIST_UNIFORM, DIST_LOG_UNIFORM, DIST_BIMODAL, DIST_CONSTANT, DIST_SMALL, NR_DISTS };
static const char *const dist_names[] = {"uniform 1ns..1s", "log-uniform 1ns..100s",
                                         "bimodal 200ns/50us", "constant", "small 0..511"};

static uint64_t draw(enum dist d, uint64_t *rng)
{
    switch (d) {
    case DIST_UNIFORM:
        return uniform(rng, 1, 1000000000);
    case DIST_LOG_UNIFORM: {
        uint64_t v = (uint64_t)exp(unit_double(rng) * log(1e11));
        return v ? v : 1;
    }
    case DIST_BIMODAL:
        return pb_splitmix64(rng) % 10 < 9 ? uniform(rng, 150, 250) : uniform(rng, 40000, 60000);
    case DIST_CONSTANT:
        return 12345;
    case DIST_SMALL:
        return uniform(rng, 0, 511);
    default:
        fail();
        return 0;
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest rank, 1-based: max(1, ceil(ppm / 1e6 * n)). */
static uint64_t expected_rank(uint64_t ppm, uint64_t n)
{
    uint64_t rank = (ppm * n + 999999) / 1000000;
    return rank ? rank : 1;
}

static struct pb_hist *hist_new(void)
{
    struct pb_hist *h = pb_hist_alloc();
    assert_non_null(h);
    assert_int_equal((uintptr_t)h % 64, 0);
    return h;
}

static void assert_hist_equal(const struct pb_hist *a, const struct pb_hist *b)
{
    assert_int_equal(pb_hist_count(a), pb_hist_count(b));
    assert_int_equal(pb_hist_overflow(a), pb_hist_overflow(b));
    assert_int_equal(pb_hist_min(a), pb_hist_min(b));
    assert_int_equal(pb_hist_max(a), pb_hist_max(b));
    assert_true(a->sum == b->sum);
    assert_memory_equal(a->counts, b->counts, sizeof(a->counts));
}

static void test_bucket_bounds(void **state)
{
    (void)state;
    uint64_t rng = 7;

    /* Exhaustively up to 2^20, then around every power of two and at random. */
    for (uint64_t v = 0; v <= PB_HIST_MAX_TRACKABLE;) {
        uint64_t lo = pb_hist_lowest_equivalent(v), hi = pb_hist_highest_equivalent(v);
        assert_true(lo <= v && v <= hi);
        assert_int_equal(pb_hist_bucket_index(lo), pb_hist_bucket_index(v));
        assert_int_equal(pb_hist_bucket_index(hi), pb_hist_bucket_index(v));
        if (hi < PB_HIST_MAX_TRACKABLE)
            assert_int_equal(pb_hist_bucket_index(hi + 1), pb_hist_bucket_index(v) + 1);
        if (v < 2 * PB_HIST_SUB)
            assert_true(lo == v && hi == v);
        else if ((hi - lo + 1) * 100 > lo) /* width within 1% of the lower bound */
            fail_msg("bucket [%lu, %lu] of %lu too wide", (unsigned long)lo, (unsigned long)hi,
                     (unsigned long)v);

        uint64_t next = v + 1;
        if (v >= (1u << 20) && pb_splitmix64(&rng) % 4 == 0)
            next = v + 1 + pb_splitmix64(&rng) % (v / 8);
        else if (v >= (1u << 20)) /* 2^k - 1, 2^k or 2^k + 1 for the next power 2^k */
            next = (UINT64_C(1) << (64 - __builtin_clzll(v))) - 1 + pb_splitmix64(&rng) % 3;
        v = next > v ? next : v + 1;
    }
    assert_int_equal(pb_hist_bucket_index(PB_HIST_MAX_TRACKABLE), PB_HIST_BUCKETS - 1);
    assert_int_equal(pb_hist_bucket_index(0), 0);
}

static void check_percentiles(enum dist d, uint64_t seed)
{
    uint64_t *values = malloc(NVALUES * sizeof(*values));
    assert_non_null(values);
    struct pb_hist *h = hist_new();
    uint64_t rng = seed;
    unsigned __int128 sum = 0;

    for (size_t i = 0; i < NVALUES; i++) {
        values[i] = draw(d, &rng);
        sum += values[i];
        pb_hist_record(h, values[i]);
    }
    qsort(values, NVALUES, sizeof(*values), cmp_u64);

    assert_int_equal(pb_hist_count(h), NVALUES);
    assert_int_equal(pb_hist_min(h), values[0]);
    assert_int_equal(pb_hist_max(h), values[NVALUES - 1]);
    double mean = (double)sum / NVALUES;
    assert_true(fabs(pb_hist_mean(h) - mean) <= 1e-9 * mean);

    for (size_t k = 0; k < sizeof(pct_ppm) / sizeof(pct_ppm[0]); k++) {
        uint64_t truth = values[expected_rank(pct_ppm[k], NVALUES) - 1];
        uint64_t got = UINT64_MAX;
        assert_int_equal(pb_hist_percentile(h, (double)pct_ppm[k] / 1e4, &got), 0);
        uint64_t err = got > truth ? got - truth : truth - got;
        if (err * 100 > truth)
            fail_msg("%s seed %lu p%g: histogram %lu, exact %lu", dist_names[d],
                     (unsigned long)seed, (double)pct_ppm[k] / 1e4, (unsigned long)got,
                     (unsigned long)truth);
        if (truth < 2 * PB_HIST_SUB || pct_ppm[k] == 0 || pct_ppm[k] == 1000000)
            assert_int_equal(got, truth);
    }
    pb_hist_free(h);
    free(values);
}

static void test_percentiles(void **state)
{
    (void)state;
    for (unsigned d = 0; d < NR_DISTS; d++) {
        for (uint64_t seed = 1; seed <= 3; seed++)
            check_percentiles((enum dist)d, seed);
    }
}

/* Every rank of a small set, against the exact sort. */
static void test_percentile_every_rank(void **state)
{
    (void)state;
    enum { N = 997 };
    uint64_t values[N], rng = 99;
    struct pb_hist *h = hist_new();
    for (size_t i = 0; i < N; i++) {
        values[i] = draw(DIST_LOG_UNIFORM, &rng);
        pb_hist_record(h, values[i]);
    }
    qsort(values, N, sizeof(values[0]), cmp_u64);
    for (uint64_t ppm = 0; ppm <= 1000000; ppm += 250) {
        uint64_t truth = values[expected_rank(ppm, N) - 1], got;
        assert_int_equal(pb_hist_percentile(h, (double)ppm / 1e4, &got), 0);
        uint64_t err = got > truth ? got - truth : truth - got;
        assert_true(err * 100 <= truth);
    }
    pb_hist_free(h);
}

static void test_merge(void **state)
{
    (void)state;
    struct pb_hist *a = hist_new(), *b = hist_new(), *all = hist_new(), *empty = hist_new();
    uint64_t rng = 3;

    for (size_t i = 0; i < 50000; i++) {
        uint64_t v = draw(DIST_LOG_UNIFORM, &rng);
        pb_hist_record(a, v);
        pb_hist_record(all, v);
    }
    for (size_t i = 0; i < 30000; i++) {
        uint64_t v = draw(DIST_BIMODAL, &rng);
        pb_hist_record(b, v);
        pb_hist_record(all, v);
    }
    pb_hist_record(b, UINT64_C(1) << 45); /* an overflow, and the max */
    pb_hist_record(all, UINT64_C(1) << 45);
    pb_hist_record(b, 0); /* the min */
    pb_hist_record(all, 0);

    pb_hist_merge(a, b);
    assert_hist_equal(a, all);
    for (size_t k = 0; k < sizeof(pct_ppm) / sizeof(pct_ppm[0]); k++) {
        uint64_t x, y;
        assert_int_equal(pb_hist_percentile(a, (double)pct_ppm[k] / 1e4, &x), 0);
        assert_int_equal(pb_hist_percentile(all, (double)pct_ppm[k] / 1e4, &y), 0);
        assert_int_equal(x, y);
    }

    /* Empty is the identity on both sides. */
    pb_hist_merge(a, empty);
    assert_hist_equal(a, all);
    pb_hist_merge(empty, all);
    assert_hist_equal(empty, all);

    /* Merging into itself doubles every count. */
    pb_hist_merge(b, b);
    assert_int_equal(pb_hist_count(b), 2 * 30002);
    assert_int_equal(pb_hist_overflow(b), 2);
    assert_int_equal(pb_hist_min(b), 0);
    assert_int_equal(pb_hist_max(b), UINT64_C(1) << 45);

    pb_hist_free(a);
    pb_hist_free(b);
    pb_hist_free(all);
    pb_hist_free(empty);
}

static void test_record_n(void **state)
{
    (void)state;
    struct pb_hist *a = hist_new(), *b = hist_new();
    static const uint64_t v[] = {
        0,         1, 255, 256, 1000, 123456789, PB_HIST_MAX_TRACKABLE, PB_HIST_MAX_TRACKABLE + 1,
        UINT64_MAX};
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        pb_hist_record_n(a, v[i], i + 1);
        for (size_t j = 0; j <= i; j++)
            pb_hist_record(b, v[i]);
    }
    assert_hist_equal(a, b);

    pb_hist_reset(a);
    pb_hist_record_n(a, 77, 0);
    assert_int_equal(pb_hist_count(a), 0);
    assert_int_equal(pb_hist_min(a), 0);
    assert_int_equal(pb_hist_max(a), 0);
    pb_hist_free(a);
    pb_hist_free(b);
}

static void test_overflow(void **state)
{
    (void)state;
    struct pb_hist *h = hist_new();
    for (int i = 0; i < 10; i++)
        pb_hist_record(h, 200);
    pb_hist_record(h, PB_HIST_MAX_TRACKABLE); /* the last bucket, not an overflow */
    pb_hist_record(h, PB_HIST_MAX_TRACKABLE + 1);
    pb_hist_record(h, UINT64_C(1) << 41);
    pb_hist_record(h, UINT64_MAX);

    assert_int_equal(pb_hist_count(h), 14);
    assert_int_equal(pb_hist_overflow(h), 3);
    assert_int_equal(pb_hist_min(h), 200);
    assert_int_equal(pb_hist_max(h), UINT64_MAX);
    double mean = ((double)10 * 200 + (double)PB_HIST_MAX_TRACKABLE +
                   (double)(PB_HIST_MAX_TRACKABLE + 1) + 0x1.0p41 + 0x1.0p64) /
                  14;
    assert_true(fabs(pb_hist_mean(h) - mean) <= 1e-12 * mean);

    uint64_t got;
    assert_int_equal(pb_hist_percentile(h, 50, &got), 0);
    assert_int_equal(got, 200);
    /* Rank ceil(10.5) = 11: the last bucket, whose midpoint is within 1% of its value. */
    assert_int_equal(pb_hist_percentile(h, 10.5 / 14 * 100, &got), 0);
    assert_true(got <= PB_HIST_MAX_TRACKABLE && got * 1.01 >= (double)PB_HIST_MAX_TRACKABLE);
    /* Ranks 12 and 13 overflowed: reported as the max. */
    assert_int_equal(pb_hist_percentile(h, 11.5 / 14 * 100, &got), 0);
    assert_int_equal(got, UINT64_MAX);
    assert_int_equal(pb_hist_percentile(h, 100, &got), 0);
    assert_int_equal(got, UINT64_MAX);

    /* The iterator ends with the overflow bucket. */
    struct pb_hist_iter it;
    struct pb_hist_bucket bk, last = {0, 0, 0};
    uint64_t n = 0;
    pb_hist_iter_init(&it, h);
    while (pb_hist_iter_next(&it, &bk)) {
        n += bk.count;
        last = bk;
    }
    assert_int_equal(n, 14);
    assert_int_equal(last.lo, PB_HIST_MAX_TRACKABLE + 1);
    assert_int_equal(last.hi, UINT64_MAX);
    assert_int_equal(last.count, 3);
    assert_false(pb_hist_iter_next(&it, &bk));
    pb_hist_free(h);
}

static void test_empty(void **state)
{
    (void)state;
    struct pb_hist *h = hist_new();
    assert_int_equal(pb_hist_count(h), 0);
    assert_int_equal(pb_hist_overflow(h), 0);
    assert_int_equal(pb_hist_min(h), 0);
    assert_int_equal(pb_hist_max(h), 0);
    assert_true(pb_hist_mean(h) == 0.0);
    for (size_t k = 0; k < sizeof(pct_ppm) / sizeof(pct_ppm[0]); k++) {
        uint64_t got = 42;
        assert_int_equal(pb_hist_percentile(h, (double)pct_ppm[k] / 1e4, &got), 0);
        assert_int_equal(got, 0);
    }
    struct pb_hist_iter it;
    struct pb_hist_bucket bk;
    pb_hist_iter_init(&it, h);
    assert_false(pb_hist_iter_next(&it, &bk));

    /* Reset makes a used histogram empty again. */
    pb_hist_record(h, 5);
    pb_hist_record(h, UINT64_MAX);
    pb_hist_reset(h);
    assert_int_equal(pb_hist_count(h), 0);
    assert_int_equal(pb_hist_min(h), 0);
    assert_int_equal(pb_hist_max(h), 0);
    pb_hist_iter_init(&it, h);
    assert_false(pb_hist_iter_next(&it, &bk));
    pb_hist_free(h);
}

static void test_bad_percentile(void **state)
{
    (void)state;
    struct pb_hist *h = hist_new();
    pb_hist_record(h, 10);
    static const double bad[] = {-0.000001, -1, 100.000001, 1e9, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t got = 42;
        assert_int_equal(pb_hist_percentile(h, bad[i], &got), -EINVAL);
        assert_int_equal(got, 42);
    }
    pb_hist_free(h);
}

/* The iterator covers every count once, in order, and rebuilds the same histogram. */
static void test_iterator(void **state)
{
    (void)state;
    struct pb_hist *h = hist_new(), *rebuilt = hist_new();
    uint64_t rng = 11;
    for (size_t i = 0; i < 100000; i++)
        pb_hist_record(h, draw(i % 2 ? DIST_LOG_UNIFORM : DIST_SMALL, &rng));

    struct pb_hist_iter it;
    struct pb_hist_bucket bk;
    uint64_t n = 0, buckets = 0, prev_hi = 0;
    pb_hist_iter_init(&it, h);
    while (pb_hist_iter_next(&it, &bk)) {
        assert_true(bk.lo <= bk.hi);
        assert_true(bk.count > 0);
        if (buckets)
            assert_true(bk.lo > prev_hi);
        assert_int_equal(pb_hist_lowest_equivalent(bk.hi), bk.lo);
        assert_int_equal(pb_hist_highest_equivalent(bk.lo), bk.hi);
        prev_hi = bk.hi;
        n += bk.count;
        buckets++;
        pb_hist_record_n(rebuilt, bk.lo, bk.count);
    }
    assert_int_equal(n, pb_hist_count(h));
    assert_true(buckets > 2 * PB_HIST_SUB); /* the small values alone fill 256 */
    assert_memory_equal(rebuilt->counts, h->counts, sizeof(h->counts));
    pb_hist_free(h);
    pb_hist_free(rebuilt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bucket_bounds),
        cmocka_unit_test(test_percentiles),
        cmocka_unit_test(test_percentile_every_rank),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_record_n),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_bad_percentile),
        cmocka_unit_test(test_iterator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
