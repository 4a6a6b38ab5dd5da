/*
 * test_changepoint: E-divisive finds every planted shift of a series at its place (0, 1 and 3
 * shifts), and in pure noise reports a change no more often than its significance level says.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/prng.h"
#include "results/changepoint.h"

#include <math.h>

/* A standard normal deviate (Box-Muller). */
static double gauss(struct pb_rng *rng)
{
    double u = pb_rng_double(rng), v = pb_rng_double(rng);
    return sqrt(-2 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

/* n points of noise (sd 1) around `level`, with each level[k] holding from start[k] on. */
static void series(double *x, size_t n, const size_t *start, const double *level, size_t nlevel,
                   uint64_t seed)
{
    struct pb_rng rng;
    pb_rng_seed(&rng, seed);
    for (size_t i = 0; i < n; i++) {
        double base = 100;
        for (size_t k = 0; k < nlevel; k++)
            if (i >= start[k])
                base = level[k];
        x[i] = base + gauss(&rng);
    }
}

static void find(const double *x, size_t n, struct pb_cp **cp, size_t *ncp)
{
    struct pb_cp_opts o;
    pb_cp_opts_default(&o);
    assert_int_equal(pb_changepoints_find(x, n, &o, cp, ncp), 0);
}

/* The found change points are exactly the planted ones, each at its point or next to it. */
static void assert_found(const struct pb_cp *cp, size_t ncp, const size_t *want, size_t nwant)
{
    if (ncp != nwant) {
        for (size_t i = 0; i < ncp; i++)
            fprintf(stderr, "found at %zu (p=%g)\n", cp[i].index, cp[i].p);
    }
    assert_int_equal(ncp, nwant);
    for (size_t i = 0; i < nwant; i++) {
        size_t d = cp[i].index > want[i] ? cp[i].index - want[i] : want[i] - cp[i].index;
        if (d > 1)
            fprintf(stderr, "change %zu found at %zu, planted at %zu\n", i, cp[i].index, want[i]);
        assert_true(d <= 1);
        assert_true(cp[i].p < 0.05);
        if (i)
            assert_true(cp[i].index > cp[i - 1].index);
    }
}

static void test_no_shift(void **state)
{
    (void)state;
    double x[60];
    series(x, 60, NULL, NULL, 0, 7);
    struct pb_cp *cp;
    size_t ncp;
    find(x, 60, &cp, &ncp);
    assert_int_equal(ncp, 0);
    assert_null(cp);

    /* A constant series: every split is as good as any permutation's. */
    for (size_t i = 0; i < 60; i++)
        x[i] = 5;
    find(x, 60, &cp, &ncp);
    assert_int_equal(ncp, 0);
}

static void test_one_shift(void **state)
{
    (void)state;
    double x[60];
    const size_t start[] = {35}, want[] = {35};
    const double level[] = {104};
    series(x, 60, start, level, 1, 11);
    struct pb_cp *cp;
    size_t ncp;
    find(x, 60, &cp, &ncp);
    assert_found(cp, ncp, want, 1);
    /* The means either side are the levels, within the noise. */
    assert_true(fabs(cp[0].mean_before - 100) < 0.6);
    assert_true(fabs(cp[0].mean_after - 104) < 0.8);
    assert_int_equal(cp[0].order, 0);
    free(cp);
}

static void test_three_shifts(void **state)
{
    (void)state;
    double x[120];
    /* up, back down, and up further: no two neighbouring segments share a level */
    const size_t start[] = {30, 55, 90}, want[] = {30, 55, 90};
    const double level[] = {105, 101, 108};
    series(x, 120, start, level, 3, 23);
    struct pb_cp *cp;
    size_t ncp;
    find(x, 120, &cp, &ncp);
    assert_found(cp, ncp, want, 3);
    for (size_t i = 0; i < 3; i++) {
        double before = i ? level[i - 1] : 100;
        assert_true(fabs(cp[i].mean_before - before) < 1);
        assert_true(fabs(cp[i].mean_after - level[i]) < 1);
    }
    free(cp);
}

/*
 * Pure noise, many series: the share with any change reported stays within what the
 * significance level allows. With alpha 0.05 over 200 series the count of false alarms is
 * binomial (mean 10, sd 3.1); more than 19 would happen with probability below 0.001 if the
 * test held its level, so more means it does not.
 */
static void test_noise_false_positive_rate(void **state)
{
    (void)state;
    enum { NSERIES = 200, N = 40 };
    struct pb_cp_opts o;
    pb_cp_opts_default(&o);
    o.permutations = 99;
    size_t alarms = 0;
    for (uint64_t s = 0; s < NSERIES; s++) {
        double x[N];
        series(x, N, NULL, NULL, 0, 1000 + s);
        o.seed = 5000 + s;
        struct pb_cp *cp;
        size_t ncp;
        assert_int_equal(pb_changepoints_find(x, N, &o, &cp, &ncp), 0);
        alarms += ncp > 0;
        free(cp);
    }
    printf("false alarms: %zu of %d noise series at alpha %.2f (expected about %.0f)\n", alarms,
           NSERIES, o.alpha, o.alpha * NSERIES);
    assert_true(alarms <= 19);
}

static void test_bad_input(void **state)
{
    (void)state;
    struct pb_cp_opts o;
    pb_cp_opts_default(&o);
    double x[6] = {1, 2, NAN, 4, 5, 6};
    struct pb_cp *cp;
    size_t ncp;
    assert_int_equal(pb_changepoints_find(x, 6, &o, &cp, &ncp), -EINVAL);
    o.alpha = 0;
    x[2] = 3;
    assert_int_equal(pb_changepoints_find(x, 6, &o, &cp, &ncp), -EINVAL);
    /* Too short to split: none, not an error. */
    pb_cp_opts_default(&o);
    assert_int_equal(pb_changepoints_find(x, 3, &o, &cp, &ncp), 0);
    assert_int_equal(ncp, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_shift),     cmocka_unit_test(test_one_shift),
        cmocka_unit_test(test_three_shifts), cmocka_unit_test(test_noise_false_positive_rate),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
