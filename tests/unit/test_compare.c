/*
 * test_compare: the statistics (Mann-Whitney p-values against scipy's, the bootstrap, the
 * change point) and compare's verdicts on synthetic results files (test_results tests the
 * reader they are loaded with).
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
#include <jansson.h>

#include "cli/cli.h"
#include "results/compare.h"
#include "results/stats.h"
#include "tests/unit/results_fixture.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Mann-Whitney against scipy 1.10.1 ----------------------------------------------------- */

static void test_mwu_exact_small(void **state)
{
    (void)state;
    /* scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method='exact')
       -> statistic=3.0, pvalue=0.030303030303030304 */
    const double a[] = {1.1, 2.3, 3.5, 4.2, 5.0}, b[] = {3.9, 4.4, 5.6, 6.1, 7.3, 8.0};
    struct pb_mwu r;
    assert_int_equal(pb_mwu_test(a, N(a), b, N(b), &r), 0);
    assert_true(r.exact);
    assert_near(r.u, 3.0, 1e-12);
    assert_near(r.p, 0.030303030303030304, 1e-12);

    /* mannwhitneyu([3,1,2], [6,5,4,7], method='exact') -> statistic=0.0, pvalue=0.05714285714285714
     */
    const double c[] = {3, 1, 2}, d[] = {6, 5, 4, 7};
    assert_int_equal(pb_mwu_test(c, N(c), d, N(d), &r), 0);
    assert_near(r.u, 0.0, 1e-12);
    assert_near(r.p, 0.05714285714285714, 1e-12);

    /* mannwhitneyu(range(1,9), range(9,17), method='exact') -> pvalue=0.0001554001554001554 */
    const double e[] = {1, 2, 3, 4, 5, 6, 7, 8}, f[] = {9, 10, 11, 12, 13, 14, 15, 16};
    assert_int_equal(pb_mwu_test(e, N(e), f, N(f), &r), 0);
    assert_near(r.p, 0.0001554001554001554, 1e-15);
    /* the order of the samples changes U, not p */
    assert_int_equal(pb_mwu_test(f, N(f), e, N(e), &r), 0);
    assert_near(r.u, 64.0, 1e-12);
    assert_near(r.p, 0.0001554001554001554, 1e-15);
}

static void test_mwu_exact_medium(void **state)
{
    (void)state;
    /* a = [0.5*i + 0.01*(i%3) for i in range(12)], b = [0.5*i + 2.13 for i in range(15)]
       mannwhitneyu(a, b, method='exact') -> statistic=28.0, pvalue=0.001739429562824367 */
    double a[12], b[15];
    for (int i = 0; i < 12; i++)
        a[i] = 0.5 * i + 0.01 * (i % 3);
    for (int i = 0; i < 15; i++)
        b[i] = 0.5 * i + 2.13;
    struct pb_mwu r;
    assert_int_equal(pb_mwu_test(a, 12, b, 15, &r), 0);
    assert_true(r.exact);
    assert_near(r.u, 28.0, 1e-12);
    assert_near(r.p, 0.001739429562824367, 1e-12);
}

static void test_mwu_asymptotic(void **state)
{
    (void)state;
    /* ties: mannwhitneyu([1,2,2,3,4,4,4,5,6,7], [3,4,5,5,6,7,8,8,9,9,10],
       method='asymptotic') -> statistic=18.0, pvalue=0.009678556569449437 */
    const double a[] = {1, 2, 2, 3, 4, 4, 4, 5, 6, 7}, b[] = {3, 4, 5, 5, 6, 7, 8, 8, 9, 9, 10};
    struct pb_mwu r;
    assert_int_equal(pb_mwu_test(a, N(a), b, N(b), &r), 0);
    assert_false(r.exact);
    assert_near(r.u, 18.0, 1e-12);
    assert_near(r.p, 0.009678556569449437, 1e-12);

    /* 56 distinct values, beyond the exact limit:
       a = [(i*37%101)/10.0 for i in range(30)], b = [(i*53%97)/10.0 + 1.05 for i in range(26)]
       mannwhitneyu(a, b, method='asymptotic') -> statistic=350.0, pvalue=0.5163786607165066 */
    double c[30], d[26];
    for (int i = 0; i < 30; i++)
        c[i] = (i * 37 % 101) / 10.0;
    for (int i = 0; i < 26; i++)
        d[i] = (i * 53 % 97) / 10.0 + 1.05;
    assert_int_equal(pb_mwu_test(c, 30, d, 26, &r), 0);
    assert_false(r.exact);
    assert_near(r.u, 350.0, 1e-12);
    assert_near(r.p, 0.5163786607165066, 1e-12);
}

static void test_mwu_edges(void **state)
{
    (void)state;
    struct pb_mwu r = {.p = -1};
    const double same[] = {5, 5, 5}, nan[] = {1, NAN};
    assert_int_equal(pb_mwu_test(same, 3, same, 3, &r), 0);
    assert_near(r.p, 1.0, 0); /* all tied: indistinguishable */
    assert_int_equal(pb_mwu_test(same, 0, same, 3, &r), -EINVAL);
    assert_int_equal(pb_mwu_test(same, 3, nan, 2, &r), -EINVAL);
    assert_int_equal(pb_mwu_test(NULL, 3, same, 3, &r), -EINVAL);
    assert_near(pb_mwu_min_p(3, 3), 0.1, 1e-12);
    assert_near(pb_mwu_min_p(4, 4), 2.0 / 70, 1e-12);
    assert_near(pb_mwu_min_p(8, 8), 0.0001554001554001554, 1e-15);
}

static void test_median_geomean(void **state)
{
    (void)state;
    const double odd[] = {3, 1, 2}, even[] = {4, 1, 3, 2}, g[] = {2, 8}, bad[] = {2, -1};
    assert_near(pb_median(odd, 3), 2, 0);
    assert_near(pb_median(even, 4), 2.5, 0);
    assert_true(isnan(pb_median(odd, 0)));
    assert_near(pb_geomean(g, 2), 4, 1e-12);
    assert_true(isnan(pb_geomean(bad, 2)));
}

static void test_bootstrap(void **state)
{
    (void)state;
    double a[8], b[8];
    for (int i = 0; i < 8; i++) {
        a[i] = 100 + i;         /* median 103.5 */
        b[i] = 1.2 * (100 + i); /* median 124.2 */
    }
    double lo, hi, lo2, hi2;
    assert_int_equal(pb_bootstrap_ratio_ci(a, 8, b, 8, 2000, 0.95, 42, &lo, &hi), 0);
    assert_true(lo <= 1.2 && 1.2 <= hi);
    assert_true(lo > 1.1 && hi < 1.3);
    /* seeded: the same interval again */
    assert_int_equal(pb_bootstrap_ratio_ci(a, 8, b, 8, 2000, 0.95, 42, &lo2, &hi2), 0);
    assert_near(lo, lo2, 0);
    assert_near(hi, hi2, 0);
    /* identical samples: the interval holds 1 */
    assert_int_equal(pb_bootstrap_ratio_ci(a, 8, a, 8, 2000, 0.95, 1, &lo, &hi), 0);
    assert_true(lo <= 1 && 1 <= hi);
    assert_int_equal(pb_bootstrap_ratio_ci(a, 8, b, 8, 0, 0.95, 1, &lo, &hi), -EINVAL);
    assert_int_equal(pb_bootstrap_ratio_ci(a, 8, b, 8, 100, 1.0, 1, &lo, &hi), -EINVAL);
    const double zero[] = {0, 0, 0};
    assert_int_equal(pb_bootstrap_ratio_ci(zero, 3, b, 8, 100, 0.95, 1, &lo, &hi), -EDOM);
}

static void test_changepoint(void **state)
{
    (void)state;
    /* a 20% step after the sixth point, 1% wobble */
    double x[10];
    for (int i = 0; i < 10; i++)
        x[i] = (i < 6 ? 100 : 80) * (1 + 0.01 * ((i * 7) % 3 - 1));
    struct pb_changepoint cp;
    assert_int_equal(pb_changepoint_find(x, 10, 2, 999, 1, &cp), 0);
    assert_int_equal(cp.index, 6);
    /* only 2 of the C(10,4) = 210 orders separate the levels this well: p near 0.01 */
    assert_true(cp.p < 0.05);
    assert_near(cp.mean_before, 100, 1);
    assert_near(cp.mean_after, 80, 1);

    /* no step: the best split is not significant */
    double flat[12];
    for (int i = 0; i < 12; i++)
        flat[i] = 100 + ((i * 5) % 7) - 3;
    assert_int_equal(pb_changepoint_find(flat, 12, 2, 999, 1, &cp), 0);
    assert_true(cp.p > 0.05);

    /* noiseless step: infinite t, still found */
    const double step[] = {5, 5, 5, 9, 9, 9};
    assert_int_equal(pb_changepoint_find(step, 6, 1, 199, 1, &cp), 0);
    assert_int_equal(cp.index, 3);
    assert_true(isinf(cp.t));

    assert_int_equal(pb_changepoint_find(x, 3, 2, 99, 1, &cp), -EINVAL);
    assert_int_equal(pb_changepoint_find(x, 10, 0, 99, 1, &cp), -EINVAL);
}

/* ---- compare ----------------------------------------------------------------------------- */

struct dir_state {
    char *dir;
};

static int setup_dir(void **state)
{
    struct dir_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = fx_tmpdir()))
        return -1;
    *state = s;
    return 0;
}

static int teardown_dir(void **state)
{
    struct dir_state *s = *state;
    fx_rmtree(s->dir);
    free(s);
    return 0;
}

static struct pb_results *write_and_load(const char *dir, const char *name, const struct fx_ctx *c,
                                         const struct fx_bench *b, size_t n, uint64_t seed)
{
    char *p = fx_path(dir, name);
    assert_int_equal(fx_write(p, c, b, n, seed), 0);
    struct pb_results *rf;
    char err[PB_RESULTS_ERR_LEN];
    if (pb_results_load(p, &rf, err, sizeof(err)))
        fail_msg("%s", err);
    free(p);
    return rf;
}

static void test_compare_finds_regression(void **state)
{
    struct dir_state *s = *state;
    struct fx_ctx c;
    fx_ctx_default(&c);
    struct fx_bench a = fx_bench_default("boot", "xen", 2), b = a;
    b.pps *= 0.8; /* 20% fewer pages per second */
    b.p99 *= 1.2; /* 20% slower tail */
    struct pb_results *fa = write_and_load(s->dir, "a.json", &c, &a, 1, 1);
    struct pb_results *fb = write_and_load(s->dir, "b.json", &c, &b, 1, 2);
    struct pb_cmp_opts o;
    pb_cmp_opts_default(&o);
    struct pb_cmp_result r;
    assert_int_equal(pb_compare_files(fa, fb, &o, &r), 0);
    assert_null(r.env_mismatch);

    const struct pb_cmp_row *pps = pb_cmp_find(&r, "boot/xen/threads:2", "pages_per_second");
    assert_non_null(pps);
    assert_int_equal(pps->verdict, PB_VERDICT_WORSE);
    assert_true(pps->exact);
    assert_true(pps->p < 0.001);
    assert_near(pps->ratio, 0.8, 0.02);

    const struct pb_cmp_row *p99 = pb_cmp_find(&r, "boot/xen/threads:2", "call_p99_ns");
    assert_non_null(p99);
    assert_true(p99->has_ci);
    assert_true(p99->ci_lo > 1.05);
    assert_true(p99->ci_lo <= 1.2 + 0.03 && p99->ci_hi >= 1.2 - 0.03);
    assert_int_equal(p99->verdict, PB_VERDICT_WORSE);

    /* p50 did not move: its interval lies inside +-3% */
    const struct pb_cmp_row *p50 = pb_cmp_find(&r, "boot/xen/threads:2", "call_p50_ns");
    assert_int_equal(p50->verdict, PB_VERDICT_NO_DIFFERENCE);
    assert_int_equal(p50->method, PB_INTERVAL_WELCH_T);
    assert_true(p50->ci_lo >= 0.97 && p50->ci_hi <= 1.03);
    /* only the headline metrics unless asked for all */
    assert_null(pb_cmp_find(&r, "boot/xen/threads:2", "lock_acq_per_page"));
    /* counts are not compared */
    assert_null(pb_cmp_find(&r, "boot/xen/threads:2", "pages_populated"));
    assert_int_equal(r.ngeomean, 1);
    assert_near(r.geomean, 0.8, 0.02);

    /* and the other way round it is better */
    struct pb_cmp_result back;
    assert_int_equal(pb_compare_files(fb, fa, &o, &back), 0);
    assert_int_equal(pb_cmp_find(&back, "boot/xen/threads:2", "pages_per_second")->verdict,
                     PB_VERDICT_BETTER);
    assert_int_equal(pb_cmp_find(&back, "boot/xen/threads:2", "call_p99_ns")->verdict,
                     PB_VERDICT_BETTER);
    pb_cmp_result_free(&back);
    pb_cmp_result_free(&r);
    pb_results_free(fa);
    pb_results_free(fb);
}

static void test_compare_identical_is_no_difference(void **state)
{
    struct dir_state *s = *state;
    struct fx_ctx c;
    fx_ctx_default(&c);
    struct fx_bench b[] = {fx_bench_default("boot", "xen", 1), fx_bench_default("boot", "xen", 2),
                           fx_bench_default("boot", "pernode", 2)};
    struct pb_results *fa = write_and_load(s->dir, "a.json", &c, b, 3, 7);
    struct pb_results *fb = write_and_load(s->dir, "b.json", &c, b, 3, 7);
    struct pb_cmp_opts o;
    pb_cmp_opts_default(&o);
    o.all = true;
    struct pb_cmp_result r;
    assert_int_equal(pb_compare_files(fa, fb, &o, &r), 0);
    assert_true(r.nrow >= 3 * 7);
    for (size_t i = 0; i < r.nrow; i++) {
        assert_int_equal(r.row[i].verdict, PB_VERDICT_NO_DIFFERENCE);
        assert_near(r.row[i].ratio, 1.0, 1e-12);
    }
    assert_near(r.geomean, 1.0, 1e-12);
    assert_null(r.only_a);
    assert_null(r.only_b);
    pb_cmp_result_free(&r);

    /* same distribution, other noise: still no verdict */
    struct pb_results *fc = write_and_load(s->dir, "c.json", &c, b, 3, 8);
    assert_int_equal(pb_compare_files(fa, fc, &o, &r), 0);
    for (size_t i = 0; i < r.nrow; i++)
        assert_int_equal(r.row[i].verdict, PB_VERDICT_NO_DIFFERENCE);
    pb_cmp_result_free(&r);
    pb_results_free(fa);
    pb_results_free(fb);
    pb_results_free(fc);
}

static void test_compare_too_few_or_straddling(void **state)
{
    struct dir_state *s = *state;
    struct fx_ctx c;
    fx_ctx_default(&c);
    struct fx_bench a = fx_bench_default("boot", "xen", 2), b = a;
    a.reps = b.reps = 1;
    b.pps *= 0.5; /* even a halving is no verdict from one repetition: there is no interval */
    b.p99 *= 2;
    struct pb_results *fa = write_and_load(s->dir, "a.json", &c, &a, 1, 1);
    struct pb_results *fb = write_and_load(s->dir, "b.json", &c, &b, 1, 2);
    struct pb_cmp_opts o;
    pb_cmp_opts_default(&o);
    struct pb_cmp_result r;
    assert_int_equal(pb_compare_files(fa, fb, &o, &r), 0);
    assert_true(r.nrow > 0);
    for (size_t i = 0; i < r.nrow; i++) {
        assert_int_equal(r.row[i].verdict, PB_VERDICT_INCONCLUSIVE);
        assert_false(r.row[i].has_ci);
    }
    assert_near(pb_cmp_find(&r, "boot/xen/threads:2", "pages_per_second")->ratio, 0.5, 0.02);
    pb_cmp_result_free(&r);
    pb_results_free(fb);

    /* 3 against 3: the interval of a halving is narrow and lies wholly below 0.97 */
    a.reps = b.reps = 3;
    pb_results_free(fa);
    fa = write_and_load(s->dir, "a3.json", &c, &a, 1, 1);
    fb = write_and_load(s->dir, "b3.json", &c, &b, 1, 2);
    assert_int_equal(pb_compare_files(fa, fb, &o, &r), 0);
    assert_int_equal(pb_cmp_find(&r, "boot/xen/threads:2", "pages_per_second")->verdict,
                     PB_VERDICT_WORSE);
    pb_cmp_result_free(&r);
    pb_results_free(fa);
    pb_results_free(fb);

    /* a 3% shift under 5% noise, 3 against 3: the interval straddles 0.97 */
    a.noise = b.noise = 0.05;
    b.pps = a.pps * 0.97;
    fa = write_and_load(s->dir, "a4.json", &c, &a, 1, 1);
    fb = write_and_load(s->dir, "b4.json", &c, &b, 1, 2);
    assert_int_equal(pb_compare_files(fa, fb, &o, &r), 0);
    const struct pb_cmp_row *pps = pb_cmp_find(&r, "boot/xen/threads:2", "pages_per_second");
    assert_true(pps->has_ci && pps->ci_lo < 0.97 && pps->ci_hi > 0.97);
    assert_int_equal(pps->verdict, PB_VERDICT_INCONCLUSIVE);
    pb_cmp_result_free(&r);
    pb_results_free(fa);
    pb_results_free(fb);
}

static void test_compare_env_mismatch(void **state)
{
    struct dir_state *s = *state;
    struct fx_ctx ca, cb;
    fx_ctx_default(&ca);
    fx_ctx_default(&cb);
    cb.cpu_model = "Other CPU 3.0GHz";
    cb.num_cpus = 64;
    struct fx_bench b = fx_bench_default("boot", "xen", 2);
    struct pb_results *fa = write_and_load(s->dir, "a.json", &ca, &b, 1, 1);
    struct pb_results *fb = write_and_load(s->dir, "b.json", &cb, &b, 1, 1);
    struct pb_cmp_opts o;
    pb_cmp_opts_default(&o);
    struct pb_cmp_result r;
    assert_int_equal(pb_compare_files(fa, fb, &o, &r), 0);
    assert_non_null(r.env_mismatch);
    assert_non_null(strstr(r.env_mismatch[0], "cpu_model"));
    assert_non_null(strstr(r.env_mismatch[0], "Other CPU 3.0GHz"));
    assert_non_null(strstr(r.env_mismatch[1], "num_cpus"));
    assert_null(r.env_mismatch[2]);
    pb_cmp_result_free(&r);
    pb_results_free(fa);
    pb_results_free(fb);

    /* the report leads with it */
    char *pa = fx_path(s->dir, "a.json"), *pb = fx_path(s->dir, "b.json"), *out = NULL;
    char *argv[] = {"compare", pa, pb, NULL};
    assert_int_equal(fx_run_captured(pb_cmd_compare, 3, argv, &out), 0);
    assert_non_null(out);
    char *warn = strstr(out, "ENVIRONMENT DIFFERS"), *table = strstr(out, "benchmark");
    assert_non_null(warn);
    assert_true(table && warn < table);
    free(out);
    free(pa);
    free(pb);
}

static void test_compare_variants(void **state)
{
    struct dir_state *s = *state;
    struct fx_ctx c;
    fx_ctx_default(&c);
    struct fx_bench b[] = {fx_bench_default("boot", "xen", 1), fx_bench_default("boot", "xen", 2),
                           fx_bench_default("boot", "pernode", 1),
                           fx_bench_default("boot", "pernode", 2),
                           fx_bench_default("boot", "pernode", 4)};
    b[3].pps *= 1.5;
    struct pb_results *f = write_and_load(s->dir, "v.json", &c, b, N(b), 3);
    struct pb_cmp_opts o;
    pb_cmp_opts_default(&o);
    struct pb_cmp_result r;
    assert_int_equal(pb_compare_variants(f, "xen", "pernode", &o, &r), 0);
    assert_int_equal(pb_cmp_find(&r, "boot/threads:2", "pages_per_second")->verdict,
                     PB_VERDICT_BETTER);
    assert_int_equal(pb_cmp_find(&r, "boot/threads:1", "pages_per_second")->verdict,
                     PB_VERDICT_NO_DIFFERENCE);
    /* variants of one file pair their repetitions: a paired interval */
    assert_true(r.paired);
    assert_int_equal(pb_cmp_find(&r, "boot/threads:2", "pages_per_second")->method,
                     PB_INTERVAL_PAIRED_T);
    assert_null(r.only_a);
    assert_non_null(r.only_b);
    assert_string_equal(r.only_b[0], "boot/pernode/threads:4");
    assert_int_equal(r.ngeomean, 2);
    pb_cmp_result_free(&r);
    assert_int_equal(pb_compare_variants(f, "nosuch", "pernode", &o, &r), -ENOENT);
    assert_int_equal(pb_compare_variants(f, "xen", "xen", &o, &r), -EINVAL);
    pb_results_free(f);
}

static void test_compare_cli(void **state)
{
    struct dir_state *s = *state;
    struct fx_ctx c;
    fx_ctx_default(&c);
    struct fx_bench a = fx_bench_default("boot", "xen", 2), b = a;
    b.pps *= 0.8;
    char *pa = fx_path(s->dir, "a.json"), *pb = fx_path(s->dir, "b.json");
    assert_int_equal(fx_write(pa, &c, &a, 1, 1), 0);
    assert_int_equal(fx_write(pb, &c, &b, 1, 2), 0);

    /* JSON output parses and carries the verdict */
    char *out = NULL;
    char *argv_json[] = {"compare", "--format", "json", "--min-effect", "10%", pa, pb, NULL};
    assert_int_equal(fx_run_captured(pb_cmd_compare, 7, argv_json, &out), 0);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    assert_non_null(doc);
    json_t *cmp = json_array_get(json_object_get(doc, "comparisons"), 0);
    assert_near(json_real_value(json_object_get(cmp, "min_effect")), 0.1, 1e-12);
    json_t *row = json_array_get(json_object_get(cmp, "rows"), 0);
    assert_string_equal(json_string_value(json_object_get(row, "metric")), "pages_per_second");
    assert_string_equal(json_string_value(json_object_get(row, "verdict")), "worse");
    json_decref(doc);
    free(out);

    char *argv_md[] = {"compare", "--format=markdown", pa, pb, NULL};
    assert_int_equal(fx_run_captured(pb_cmd_compare, 4, argv_md, &out), 0);
    assert_non_null(strstr(out, "| pages_per_second"));
    free(out);

    /* the table: headline metrics only, then one summary line per benchmark */
    char *argv_tab[] = {"compare", pa, pb, NULL};
    assert_int_equal(fx_run_captured(pb_cmd_compare, 3, argv_tab, &out), 0);
    assert_null(strstr(out, "lock_acq_per_page"));
    char *sum = strstr(out, "Summary per benchmark:\n  boot/xen/threads:2: pages/s 0.");
    assert_non_null(sum);
    assert_non_null(strstr(sum, "worse;"));
    assert_null(strstr(strchr(sum + strlen("Summary per benchmark:\n"), '\n') + 1, "boot/"));
    free(out);
    char *argv_all[] = {"compare", "--all", pa, pb, NULL};
    assert_int_equal(fx_run_captured(pb_cmd_compare, 4, argv_all, &out), 0);
    assert_non_null(strstr(out, "lock_acq_per_page"));
    free(out);

    /* bad input: exit 2 */
    char *missing = fx_path(s->dir, "missing.json");
    char *bad1[] = {"compare", pa, NULL};
    char *bad2[] = {"compare", "--format", "yaml", pa, pb, NULL};
    char *bad3[] = {"compare", "--min-effect", "lots", pa, pb, NULL};
    char *bad4[] = {"compare", pa, missing, NULL};
    char *bad5[] = {"compare", "--variants", "xen", pa, NULL};
    char *bad6[] = {"compare", "--alpha", "0", pa, pb, NULL};
    char *bad7[] = {"compare", "--no-such-flag", pa, pb, NULL};
    char *bad8[] = {"compare", "--variants", "xen,nosuch", pa, NULL};
    assert_int_equal(pb_cmd_compare(2, bad1), 2);
    assert_int_equal(pb_cmd_compare(5, bad2), 2);
    assert_int_equal(pb_cmd_compare(5, bad3), 2);
    assert_int_equal(pb_cmd_compare(3, bad4), 2);
    assert_int_equal(pb_cmd_compare(4, bad5), 2);
    assert_int_equal(pb_cmd_compare(5, bad6), 2);
    assert_int_equal(pb_cmd_compare(4, bad7), 2);
    assert_int_equal(pb_cmd_compare(4, bad8), 2);
    char *help[] = {"compare", "--help", NULL};
    assert_int_equal(fx_run_captured(pb_cmd_compare, 2, help, &out), 0);
    assert_non_null(strstr(out, "usage: popbench compare"));
    free(out);
    free(missing);
    free(pa);
    free(pb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mwu_exact_small),
        cmocka_unit_test(test_mwu_exact_medium),
        cmocka_unit_test(test_mwu_asymptotic),
        cmocka_unit_test(test_mwu_edges),
        cmocka_unit_test(test_median_geomean),
        cmocka_unit_test(test_bootstrap),
        cmocka_unit_test(test_changepoint),
        cmocka_unit_test_setup_teardown(test_compare_finds_regression, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_compare_identical_is_no_difference, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_compare_too_few_or_straddling, setup_dir,
                                        teardown_dir),
        cmocka_unit_test_setup_teardown(test_compare_env_mismatch, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_compare_variants, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_compare_cli, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
