/*
 * test_lockprof: the lock figures as Xen's xenlockprof prints them (results/lockprof.h): each
 * lock's count and held time, block count and blocked time, the totals, and B against A by the
 * medians over repetitions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "results/lockprof.h"
#include "tests/unit/results_fixture.h"

/* What a print function wrote to a memory stream. */
static char *printed(const struct pb_results *a, const struct pb_results *b, int want_rc)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    int rc = b ? pb_lockprof_compare(a, b, f) : pb_lockprof_print(a, f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(rc, want_rc);
    return text;
}

/* w/xen/threads:1 with `reps` repetitions, each with the heap and p2m locks scaled by k[r];
 * w/pernode/threads:1 without a lock section. */
static struct pb_results *doc_with_locks(unsigned reps, const double *k)
{
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    fx_fill_context(doc, false);
    for (unsigned r = 0; r < reps; r++) {
        struct pb_results_bench *b = fx_add(doc, "w", "xen", 1, r, reps, 1.0);
        assert_int_equal(pb_results_bench_set_count(b, "measure_ns", 2000000000), 0);
        const struct pb_results_lock heap = {"heap",
                                             (uint64_t)(1234567 * k[r]),
                                             (uint64_t)(89 * k[r]),
                                             (uint64_t)(1500000000 * k[r]),
                                             1000,
                                             (uint64_t)(250000000 * k[r]),
                                             1000,
                                             false};
        const struct pb_results_lock p2m = {"p2m", 10, 0, 0, 0, 5000, 700, false};
        assert_int_equal(pb_results_bench_add_lock(b, &heap), 0);
        assert_int_equal(pb_results_bench_add_lock(b, &p2m), 0);
        fx_add(doc, "w", "pernode", 1, r, reps, 1.0);
    }
    return doc;
}

static void test_print(void **state)
{
    (void)state;
    const double one = 1;
    struct pb_results *doc = doc_with_locks(1, &one);
    char *text = printed(doc, NULL, 0);
    /* xenlockprof's "%-50s: lock:%12"PRId64"(%20.9fs), block:%12"PRId64"(%20.9fs)" lines */
    const char *want =
        "w/xen/threads:1 repetition 0:\n"
        "heap                                              : lock:     1234567(         "
        "0.250000000s), block:          89(         1.500000000s)\n"
        "p2m                                               : lock:          10(         "
        "0.000005000s), block:           0(         0.000000000s)\n"
        "total profiling time:          2.000000000s\n"
        "total locked time:             0.250005000s\n"
        "total blocked time:            1.500000000s\n"
        "\n"
        "w/pernode/threads:1 repetition 0: no lock figures\n";
    assert_string_equal(text, want);
    free(text);
    pb_results_free(doc);
}

static void test_compare(void **state)
{
    (void)state;
    const double ka[] = {1, 3, 2}, kb[] = {4, 4, 4};
    struct pb_results *a = doc_with_locks(3, ka), *b = doc_with_locks(3, kb);
    char *text = printed(a, b, 0);
    /* medians: A's heap figures are twice the base ones, B's four times */
    assert_non_null(strstr(text, "w/xen/threads:1, median of 3 repetitions (A) and 3 (B):\n"));
    assert_non_null(strstr(text, "  heap, A                                           : lock:  "
                                 "   2469134(         0.500000000s), block:         178(  "
                                 "       3.000000000s)\n"));
    assert_non_null(strstr(text, "  heap, B                                           : lock:  "
                                 "   4938268(         1.000000000s), block:         356(  "
                                 "       6.000000000s)\n"));
    assert_non_null(strstr(text, "  B/A                                               : lock "
                                 "2.000, held 2.000, block 2.000, blocked 2.000\n"));
    assert_non_null(strstr(text, "w/pernode/threads:1, median of 3 repetitions (A) and 3 (B):\n"
                                 "  no lock figures\n"));
    free(text);

    /* Nothing in common: -ENOENT, nothing printed. */
    struct pb_results *other;
    assert_int_equal(pb_results_create(&other), 0);
    fx_fill_context(other, false);
    fx_add(other, "elsewhere", "xen", 1, 0, 1, 1.0);
    text = printed(a, other, -ENOENT);
    assert_string_equal(text, "");
    free(text);
    pb_results_free(other);
    pb_results_free(a);
    pb_results_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_print),
        cmocka_unit_test(test_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
