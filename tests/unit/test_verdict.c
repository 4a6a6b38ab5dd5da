/*
 * test_verdict.c: the intervals, the verdicts and the stopping rule of results/verdict.h, on
 * synthetic samples of known spread (seeded, so every run of the test sees the same numbers),
 * and a run's verdicts read back from a results document.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/prng.h"
#include "results/stats.h"
#include "results/verdict.h"
#include "tests/unit/results_fixture.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A standard normal draw (Box-Muller). */
static double normal(struct pb_rng *rng)
{
    double u = pb_rng_double(rng), v = pb_rng_double(rng);
    return sqrt(-2 * log(u > 0 ? u : 1e-300)) * cos(2 * M_PI * v);
}

static void test_t_quantiles(void **state)
{
    (void)state;
    /* Student's t table, two-sided 95% */
    assert_near(pb_t_quantile(0.975, 1), 12.7062, 1e-3);
    assert_near(pb_t_quantile(0.975, 2), 4.3027, 1e-3);
    assert_near(pb_t_quantile(0.975, 4), 2.7764, 1e-3);
    assert_near(pb_t_quantile(0.975, 9), 2.2622, 1e-3);
    assert_near(pb_t_quantile(0.975, 30), 2.0423, 1e-3);
    assert_near(pb_t_quantile(0.975, 1e6), 1.9600, 1e-3);
    assert_near(pb_t_quantile(0.025, 4), -2.7764, 1e-3);
    assert_near(pb_t_quantile(0.5, 7), 0, 1e-9);
    assert_near(pb_t_cdf(2.7764, 4), 0.975, 1e-4);
    assert_true(isnan(pb_t_quantile(1, 4)));
    assert_true(isnan(pb_t_quantile(0.9, 0)));
    const double v[] = {2, 4, 4, 4, 5, 5, 7, 9};
    assert_near(pb_mean(v, N(v)), 5, 1e-12);
    assert_near(pb_stddev(v, N(v)), sqrt(32.0 / 7), 1e-12);
    assert_near(pb_cv(v, N(v)), sqrt(32.0 / 7) / 5, 1e-12);
    assert_true(isnan(pb_cv(v, 1)));
}

static void test_verdicts(void **state)
{
    (void)state;
    const double a[] = {100, 103, 98, 101, 99, 102, 100, 97};
    struct pb_ratio_interval iv;
    double b[N(a)];

    /* identical samples: no difference, exactly */
    assert_int_equal(pb_interval_paired(a, a, N(a), 0.95, &iv), 0);
    assert_int_equal(iv.method, PB_INTERVAL_PAIRED_T);
    assert_near(iv.lo, 1, 1e-12);
    assert_near(iv.hi, 1, 1e-12);
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_HIGHER, 0.03), PB_VERDICT_NO_DIFFERENCE);
    assert_near(pb_interval_half_width(&iv), 0, 1e-12);

    /* a copy shifted down 10%, with 1% noise of its own: worse for a throughput, better for a
     * latency */
    for (size_t i = 0; i < N(a); i++)
        b[i] = a[i] * 0.9 * (1 + 0.01 * ((double)(i % 3) - 1));
    assert_int_equal(pb_interval_paired(a, b, N(a), 0.95, &iv), 0);
    assert_true(iv.lo < 0.9 && iv.hi > 0.9 && iv.hi < 0.97);
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_HIGHER, 0.03), PB_VERDICT_WORSE);
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_LOWER, 0.03), PB_VERDICT_BETTER);
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_INFO, 0.03), PB_VERDICT_INCONCLUSIVE);
    /* ... and no difference for whom 15% does not matter */
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_HIGHER, 0.15), PB_VERDICT_NO_DIFFERENCE);

    /* straddling a bound: inconclusive, whichever */
    struct pb_ratio_interval s = {
        .ratio = 1.02, .lo = 1.0, .hi = 1.04, .n = 5, .method = PB_INTERVAL_PAIRED_T};
    assert_int_equal(pb_verdict_decide(&s, PB_METRIC_HIGHER, 0.03), PB_VERDICT_INCONCLUSIVE);
    s = (struct pb_ratio_interval){
        .ratio = 1.0, .lo = 0.9, .hi = 1.1, .n = 5, .method = PB_INTERVAL_PAIRED_T};
    assert_int_equal(pb_verdict_decide(&s, PB_METRIC_LOWER, 0.03), PB_VERDICT_INCONCLUSIVE);
    s = (struct pb_ratio_interval){
        .ratio = 1.1, .lo = 1.05, .hi = 1.15, .n = 5, .method = PB_INTERVAL_PAIRED_T};
    assert_int_equal(pb_verdict_decide(&s, PB_METRIC_HIGHER, 0.03), PB_VERDICT_BETTER);

    /* no interval: one round, or a value that is not positive */
    assert_int_equal(pb_interval_paired(a, b, 1, 0.95, &iv), 0);
    assert_int_equal(iv.method, PB_INTERVAL_NONE);
    assert_near(iv.ratio, b[0] / a[0], 1e-12);
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_HIGHER, 0.03), PB_VERDICT_INCONCLUSIVE);
    assert_true(isinf(pb_interval_half_width(&iv)));
    const double zero[] = {0, 1, 2};
    assert_int_equal(pb_interval_paired(zero, zero, 3, 0.95, &iv), -EDOM);

    /* pb_interval_for: equal constants (no lock waits on either side) are no difference */
    const double none[] = {0, 0, 0};
    assert_int_equal(
        pb_interval_for("lock_wait_ns_per_page", none, 3, none, 3, false, 0.95, 1, &iv), 0);
    assert_int_equal(iv.method, PB_INTERVAL_EQUAL);
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_LOWER, 0.03), PB_VERDICT_NO_DIFFERENCE);
    /* unpaired: Welch on logs; a tail percentile: the bootstrap */
    assert_int_equal(pb_interval_for("pages_per_second", a, N(a), b, N(b), false, 0.95, 1, &iv), 0);
    assert_int_equal(iv.method, PB_INTERVAL_WELCH_T);
    assert_int_equal(pb_verdict_decide(&iv, PB_METRIC_HIGHER, 0.03), PB_VERDICT_WORSE);
    assert_int_equal(pb_interval_for("call_p99_ns", a, N(a), b, N(b), false, 0.95, 1, &iv), 0);
    assert_int_equal(iv.method, PB_INTERVAL_BOOTSTRAP);
    assert_int_equal(pb_interval_for("call_p99_ns", a, N(a), b, N(b), true, 0.95, 1, &iv), 0);
    assert_int_equal(iv.method, PB_INTERVAL_PAIRED_T);
    assert_int_equal(pb_interval_for("x", a, 3, b, 4, true, 0.95, 1, &iv), -EINVAL);
    assert_string_equal(pb_verdict_name(PB_VERDICT_NO_DIFFERENCE), "no difference");
}

/*
 * Rounds of two variants: a drift common to both (the machine) and noise of their own of
 * relative spread sigma; b is a times ratio. v[0] = a, v[1] = b.
 */
static void draw_round(struct pb_rng *rng, double drift, double sigma, double ratio, double *a,
                       double *b)
{
    double common = exp(drift * normal(rng));
    *a = 1e6 * common * exp(sigma * normal(rng));
    *b = 1e6 * ratio * common * exp(sigma * normal(rng));
}

/* Runs the stopping rule round by round; the rounds it took, *why, *hw the last half-width. */
static unsigned run_rule(const struct pb_stop_rule *rule, uint64_t seed, double drift, double sigma,
                         uint64_t round_ns, enum pb_stop *why, double *hw)
{
    struct pb_rng rng;
    double *a = calloc(rule->max_reps, sizeof(double)), *b = calloc(rule->max_reps, sizeof(double));
    const double *v[2] = {a, b};
    unsigned n = 0;
    pb_rng_seed(&rng, seed);
    assert_non_null(a);
    assert_non_null(b);
    *why = PB_STOP_NO;
    while (*why == PB_STOP_NO) {
        assert_true(n < rule->max_reps);
        draw_round(&rng, drift, sigma, 1.0, &a[n], &b[n]);
        n++;
        *hw = pb_worst_half_width(v, 2, 0, n, PB_VERDICT_CONF);
        *why = pb_stop_decide(rule, n, *hw, n * round_ns, round_ns);
    }
    free(a);
    free(b);
    return n;
}

static void test_stopping_rule(void **state)
{
    (void)state;
    struct pb_stop_rule rule = {
        .precision = 0.03, .min_reps = 3, .max_reps = 1000, .budget_ns = UINT64_MAX};
    enum pb_stop why;
    double hw;

    /*
     * 5% noise per variant: the log ratio spreads by 5% * sqrt(2) = 7.1%, and the half-width
     * t * 7.1% / sqrt(n) reaches 3% near n = (2.0 * 7.1 / 3)^2 = 22. Over seeds it stops at the
     * target, never before it is met, and near that count.
     */
    unsigned total = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        unsigned n = run_rule(&rule, seed, 0, 0.05, 1, &why, &hw);
        assert_int_equal(why, PB_STOP_TARGET);
        assert_true(hw <= 0.03);
        assert_true(n >= 8 && n <= 60);
        total += n;
    }
    assert_true(total / 20 >= 15 && total / 20 <= 32);

    /* A drift common to both variants (30% from round to round) does not delay it: the ratio
     * is taken per round. */
    unsigned drifted = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        drifted += run_rule(&rule, seed, 0.30, 0.05, 1, &why, &hw);
        assert_int_equal(why, PB_STOP_TARGET);
    }
    assert_int_equal(drifted, total); /* the same draws, the same rounds */

    /* Little noise: never fewer than the minimum. */
    assert_int_equal(run_rule(&rule, 3, 0, 0.001, 1, &why, &hw), 3);
    assert_int_equal(why, PB_STOP_TARGET);

    /* Too noisy for the budget: 10 s rounds, 35 s budget: after 3 rounds (30 s) a fourth
     * would overrun. */
    rule.budget_ns = 35;
    assert_int_equal(run_rule(&rule, 5, 0, 0.5, 10, &why, &hw), 3);
    assert_int_equal(why, PB_STOP_BUDGET);
    assert_true(hw > 0.03);
    /* The minimum runs whatever the budget. */
    rule.budget_ns = 5;
    assert_int_equal(run_rule(&rule, 5, 0, 0.5, 10, &why, &hw), 3);
    assert_int_equal(why, PB_STOP_BUDGET);
    /* No budget, a maximum. */
    rule.budget_ns = UINT64_MAX;
    rule.max_reps = 7;
    assert_int_equal(run_rule(&rule, 5, 0, 0.5, 10, &why, &hw), 7);
    assert_int_equal(why, PB_STOP_MAX_REPS);

    /* One variant alone: how precisely its own level is known. */
    const double one[] = {100, 100, 100};
    const double *v[1] = {one};
    assert_near(pb_worst_half_width(v, 1, 0, 3, 0.95), 0, 1e-12);
    const double bad[] = {100, 0, 100};
    const double *w[2] = {one, bad};
    assert_true(isinf(pb_worst_half_width(w, 2, 0, 3, 0.95)));
    enum pb_stop s;
    assert_int_equal(pb_stop_parse("target met", &s), 0);
    assert_int_equal(s, PB_STOP_TARGET);
    assert_int_equal(pb_stop_parse("soon", &s), -EINVAL);
}

/* A run's results: two variants of one workload, three rounds, the copy 10% slower. */
static void test_run_verdicts(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    static const double pps[3] = {1.00e6, 1.02e6, 0.98e6};
    for (unsigned r = 0; r < 3; r++)
        for (int k = 0; k < 2; k++) {
            struct pb_results_bench *b = fx_add(doc, "storm", k ? "xen.2" : "xen", 4, r, 3, 1.0);
            assert_int_equal(
                pb_results_bench_set_counter(b, "pages_per_second", pps[r] * (k ? 0.9 : 1)), 0);
            assert_int_equal(pb_results_bench_set_counter(b, "call_p50_ns", 1000), 0);
            assert_int_equal(pb_results_bench_set_count(b, "measure_ns", 600000000), 0);
            assert_int_equal(pb_results_bench_set_count(b, "rounds", 30), 0);
            /* the noise: one repetition of the copy disturbed; no steal figure (unavailable) */
            assert_int_equal(pb_results_bench_set_count(b, "disturbed", k && r == 1), 0);
        }
    json_t *prec = json_pack("{s:{s:i, s:f, s:s}}", "storm", "repetitions", 3, "half_width", 0.02,
                             "stop", "target met");
    assert_int_equal(pb_results_context_set_json(doc, "precision", prec), 0);
    assert_int_equal(pb_results_context_set_string(doc, "reference", "xen"), 0);

    struct pb_run_verdicts rv;
    assert_int_equal(pb_run_verdicts(doc, &rv), 0);
    assert_int_equal(rv.n, 1);
    const struct pb_workload_verdict *w = &rv.w[0];
    assert_string_equal(w->workload, "storm");
    assert_string_equal(w->reference, "xen");
    assert_string_equal(w->stop, "target met");
    assert_int_equal(w->nvariants, 2);
    assert_string_equal(w->v[0].variant, "xen");
    assert_string_equal(w->v[1].variant, "xen.2");
    assert_near(w->v[1].iv.ratio, 0.9, 1e-9);
    assert_int_equal(w->v[1].verdict, PB_VERDICT_WORSE);
    assert_near(w->v[1].iv.lo, 0.9, 1e-9); /* every round exactly 0.9: a point */
    assert_int_equal(w->v[1].disturbed, 1);
    assert_true(isnan(w->v[1].steal_max_pct));
    assert_near(w->measure_ns, 6e8, 1);
    assert_near(w->rounds, 30, 0);
    assert_near(w->v[0].pps, 1e6, 1);
    assert_near(w->v[0].headline[PB_H_call_p50_ns], 1000, 0);
    assert_true(isnan(w->v[0].headline[PB_H_scrub_backlog_max_pages]));
    pb_run_verdicts_free(&rv);

    /* the reference given is another: its ratio is the inverse */
    assert_int_equal(pb_results_context_set_string(doc, "reference", "xen.2"), 0);
    assert_int_equal(pb_run_verdicts(doc, &rv), 0);
    assert_string_equal(rv.w[0].v[0].variant, "xen.2");
    assert_near(rv.w[0].v[1].iv.ratio, 1 / 0.9, 1e-9);
    assert_int_equal(rv.w[0].v[1].verdict, PB_VERDICT_BETTER);
    pb_run_verdicts_free(&rv);
    pb_results_free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_t_quantiles),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_stopping_rule),
        cmocka_unit_test(test_run_verdicts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
