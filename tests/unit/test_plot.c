/*
 * test_plot: `plot` draws every figure as a valid SVG and PNG, from a results file written before
 * results carried their metric table, from one that carries it, from a thread sweep with the
 * parallel ceiling (the scaling figure), and from a history database, where it marks the change
 * points. Skipped when /usr/bin/python3 lacks matplotlib.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "results/history.h"
#include "tests/unit/results_fixture.h"

#ifndef PB_TEST_DATA_DIR
#error "PB_TEST_DATA_DIR must name tests/data/compare"
#endif

static bool have_matplotlib(void)
{
    return system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;
}

static int setup(void **state)
{
    char *dir = fx_tmpdir();
    *state = dir;
    return dir ? 0 : -1;
}

static int teardown(void **state)
{
    fx_rmtree(*state);
    return 0;
}

/* dir/name.svg starts like SVG and dir/name.png carries the PNG signature. */
static void assert_figure(const char *dir, const char *name)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    char path[1024];
    unsigned char head[64] = {0};
    snprintf(path, sizeof(path), "%s/%s.svg", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s was not written", path);
    size_t n = fread(head, 1, sizeof(head) - 1, f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_true(n > 5 && size > 1000);
    assert_true(strncmp((char *)head, "<?xml", 5) == 0 || strncmp((char *)head, "<svg", 4) == 0);

    snprintf(path, sizeof(path), "%s/%s.png", dir, name);
    f = fopen(path, "rb");
    if (!f)
        fail_msg("%s was not written", path);
    n = fread(head, 1, sizeof(head), f);
    fclose(f);
    assert_true(n >= 8);
    assert_memory_equal(head, png_sig, 8);
}

static void test_plot_results(void **state)
{
    if (!have_matplotlib())
        skip();
    char *out = fx_path(*state, "plots");
    char *argv[] = {"plot", "--out", out, PB_TEST_DATA_DIR "/small-run.json", NULL};
    assert_int_equal(pb_cmd_plot(4, argv), 0);
    assert_figure(out, "small-run-bootstorm-throughput");
    assert_figure(out, "small-run-bootstorm-latency");
    assert_figure(out, "small-run-bootstorm-lockwait");
    assert_figure(out, "small-run-bootstorm-scrub");

    /* A file of today carries its metric table (context.metrics): the plot takes it there. */
    struct fx_ctx c;
    fx_ctx_default(&c);
    struct fx_bench b[] = {fx_bench_default("boot", "xen", 1), fx_bench_default("boot", "xen", 2)};
    char *fresh = fx_path(*state, "fresh.json");
    assert_int_equal(fx_write(fresh, &c, b, 2, 1), 0);
    char *again[] = {"plot", "--out", out, fresh, NULL};
    assert_int_equal(pb_cmd_plot(4, again), 0);
    assert_figure(out, "fresh-boot-throughput");
    assert_figure(out, "fresh-boot-latency");
    free(fresh);

    /* A sweep of 1 and 2 threads with the parallel ceiling beside it: the scaling figure. */
    struct pb_results *doc;
    char err[PB_RESULTS_ERR_LEN];
    assert_int_equal(pb_results_create(&doc), 0);
    fx_fill_context(doc, false);
    const double ceiling[2] = {1.9, 1.7}, speedup[2][2] = {{1.8, 1.6}, {1.2, 1.1}};
    static const char *const variants[2] = {"pernode", "xen"};
    for (unsigned v = 0; v < 2; v++)
        for (unsigned rep = 0; rep < 2; rep++)
            for (unsigned t = 1; t <= 2; t++) {
                struct pb_results_bench *b = fx_add(doc, "sw", variants[v], t, rep, 2, 1.0);
                double s = t == 1 ? 1.0 : speedup[v][rep], c = t == 1 ? 1.0 : ceiling[rep];
                assert_int_equal(pb_results_bench_set_counter(b, "pages_per_second", 1e6 * s), 0);
                assert_int_equal(pb_results_bench_set_counter(b, "speedup", s), 0);
                assert_int_equal(pb_results_bench_set_counter(b, "ceiling_speedup", c), 0);
                assert_int_equal(pb_results_bench_set_counter(b, "ceiling_efficiency", s / c), 0);
            }
    char *sweep = fx_path(*state, "sweep.json");
    assert_int_equal(pb_results_write_json(doc, sweep, err, sizeof(err)), 0);
    pb_results_free(doc);
    char *third[] = {"plot", "--out", out, sweep, NULL};
    assert_int_equal(pb_cmd_plot(4, third), 0);
    assert_figure(out, "sweep-sw-scaling");
    assert_figure(out, "sweep-sw-throughput");
    free(sweep);
    free(out);
}

static void test_plot_history(void **state)
{
    if (!have_matplotlib())
        skip();
    const char *dir = *state;
    char *db = fx_path(dir, "h.sqlite");
    struct pb_history *h;
    char err[512];
    assert_int_equal(pb_history_open(db, true, &h, err, sizeof(err)), 0);
    for (int i = 0; i < 10; i++) {
        char name[32], commit[16], date[40];
        snprintf(name, sizeof(name), "r%d.json", i);
        snprintf(commit, sizeof(commit), "commit%d", i);
        snprintf(date, sizeof(date), "2026-10-%02dT12:00:00Z", i + 1);
        struct fx_ctx c;
        fx_ctx_default(&c);
        c.commit = commit;
        c.date = date;
        struct fx_bench b = fx_bench_default("boot", "pernode", 2);
        b.reps = 3;
        b.pps *= i < 6 ? 1 : 1.3; /* a change between commit5 and commit6 */
        char *p = fx_path(dir, name);
        assert_int_equal(fx_write(p, &c, &b, 1, (uint64_t)i), 0);
        const char *one[] = {p};
        struct pb_import_stats st;
        assert_int_equal(pb_history_import(h, one, 1, &st, err, sizeof(err)), 0);
        free(p);
    }
    pb_history_close(h);
    char *out = fx_path(dir, "plots");
    char *argv[] = {"plot", "--out", out, "--history", db, "--metric", "pages_per_second", NULL};
    char *said;
    assert_int_equal(fx_run_captured(pb_cmd_plot, 7, argv, &said), 0);
    assert_figure(out, "history-pages_per_second");
    assert_non_null(strstr(said, "history-pages_per_second: 1 change point marked: "
                                 "boot/pernode/threads:2 at commit5..commit6"));
    free(said);
    free(out);
    free(db);
}

static void test_plot_bad_input(void **state)
{
    const char *dir = *state;
    char *missing = fx_path(dir, "missing.json");
    char *notjson = fx_path(dir, "x.json");
    FILE *f = fopen(notjson, "w");
    assert_non_null(f);
    fputs("[1, 2]", f);
    fclose(f);
    char *a1[] = {"plot", NULL};
    char *a2[] = {"plot", missing, NULL};
    char *a3[] = {"plot", "--history", notjson, NULL};
    char *a4[] = {"plot", "--metric", "m", notjson, NULL};
    assert_int_equal(pb_cmd_plot(1, a1), 2);
    assert_int_equal(pb_cmd_plot(2, a2), 2);
    assert_int_equal(pb_cmd_plot(3, a3), 2);
    assert_int_equal(pb_cmd_plot(4, a4), 2);
    if (have_matplotlib()) {
        char *a5[] = {"plot", "--out", (char *)dir, notjson, NULL};
        assert_int_equal(pb_cmd_plot(4, a5), 2); /* the script rejects it */
    }
    free(missing);
    free(notjson);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_plot_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plot_history, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plot_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
