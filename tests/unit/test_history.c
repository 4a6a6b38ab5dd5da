/*
 * test_history: importing is idempotent and all-or-nothing, a newer schema, a corrupt or locked
 * database and files the reader refuses are refused with what is wrong named, and the change
 * points of a synthetic series with steps are found at the commits that made them.
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
#include <sqlite3.h>

#include "cli/cli.h"
#include "results/history.h"
#include "tests/unit/results_fixture.h"

#define NCOMMITS 10

struct hist_state {
    char *dir, *db;
    char *file[NCOMMITS]; /* one run per commit c00..c09, a day apart */
};

/* Commit i's run: pages/s drops 20% from commit c06 on (when step), 3 repetitions. */
static void write_series(struct hist_state *s, bool step)
{
    for (int i = 0; i < NCOMMITS; i++) {
        char name[32], commit[16], date[40];
        snprintf(name, sizeof(name), "run%02d.json", i);
        snprintf(commit, sizeof(commit), "c%02d", i);
        snprintf(date, sizeof(date), "2026-11-%02dT06:00:00+00:00", i + 1);
        struct fx_ctx c;
        fx_ctx_default(&c);
        c.commit = commit;
        c.date = date;
        struct fx_bench b[] = {fx_bench_default("boot", "xen", 2),
                               fx_bench_default("boot", "pernode", 2)};
        b[0].reps = b[1].reps = 3;
        if (step && i >= 6)
            b[1].pps *= 0.8;
        free(s->file[i]);
        s->file[i] = fx_path(s->dir, name);
        assert_int_equal(fx_write(s->file[i], &c, b, 2, 100 + (uint64_t)i), 0);
    }
}

static int setup(void **state)
{
    struct hist_state *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = fx_tmpdir()))
        return -1;
    s->db = fx_path(s->dir, "history.sqlite");
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct hist_state *s = *state;
    for (int i = 0; i < NCOMMITS; i++)
        free(s->file[i]);
    free(s->db);
    fx_rmtree(s->dir);
    free(s);
    return 0;
}

static void test_import_idempotent(void **state)
{
    struct hist_state *s = *state;
    write_series(s, false);
    struct pb_history *h;
    char err[512];
    assert_int_equal(pb_history_open(s->db, true, &h, err, sizeof(err)), 0);
    struct pb_import_stats st;
    assert_int_equal(pb_history_import(h, (const char *const *)s->file, 3, &st, err, sizeof(err)),
                     0);
    assert_int_equal(st.files_new, 3);
    assert_int_equal(st.runs_new, 3 * 2 * 3);
    long files, runs, metrics;
    assert_int_equal(pb_history_counts(h, &files, &runs, &metrics), 0);
    assert_int_equal(files, 3);
    assert_int_equal(runs, 18);
    assert_true(metrics > runs);

    /* again: nothing changes */
    assert_int_equal(pb_history_import(h, (const char *const *)s->file, 3, &st, err, sizeof(err)),
                     0);
    assert_int_equal(st.files_new, 0);
    assert_int_equal(st.files_seen, 3);
    long files2, runs2, metrics2;
    assert_int_equal(pb_history_counts(h, &files2, &runs2, &metrics2), 0);
    assert_int_equal(files2, files);
    assert_int_equal(runs2, runs);
    assert_int_equal(metrics2, metrics);

    /* other bytes, same keys (commit, machine, benchmark, repetition): no new runs */
    struct fx_ctx c;
    fx_ctx_default(&c);
    c.commit = "c00";
    c.date = "2026-11-01T06:00:00+00:00";
    struct fx_bench b = fx_bench_default("boot", "xen", 2);
    b.reps = 3;
    char *again = fx_path(s->dir, "again.json");
    assert_int_equal(fx_write(again, &c, &b, 1, 999), 0);
    const char *one[] = {again};
    assert_int_equal(pb_history_import(h, one, 1, &st, err, sizeof(err)), 0);
    assert_int_equal(st.runs_new, 0);
    assert_int_equal(st.runs_seen, 3);
    assert_int_equal(pb_history_counts(h, &files2, &runs2, &metrics2), 0);
    assert_int_equal(runs2, runs);
    assert_int_equal(metrics2, metrics);

    /* one bad file among good ones: nothing is imported */
    char *bad = fx_path(s->dir, "bad.json");
    FILE *f = fopen(bad, "w");
    assert_non_null(f);
    fputs("{}", f);
    fclose(f);
    const char *mixed[] = {s->file[3], s->file[4], bad};
    assert_int_equal(pb_history_import(h, mixed, 3, &st, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad.json"));
    assert_int_equal(pb_history_counts(h, &files2, &runs2, &metrics2), 0);
    assert_int_equal(runs2, runs);
    pb_history_close(h);

    /* the command does the same */
    char *argv[] = {"history", "import", "--db", s->db, s->file[0], s->file[1], NULL};
    char *out;
    assert_int_equal(fx_run_captured(pb_cmd_history, 6, argv, &out), 0);
    assert_non_null(strstr(out, "0 new runs"));
    free(out);
    char *list[] = {"history", "list", "--db", s->db, NULL};
    assert_int_equal(fx_run_captured(pb_cmd_history, 4, list, &out), 0);
    assert_non_null(strstr(out, "4 files, 18 runs"));
    free(out);
    free(again);
    free(bad);
}

static void test_change_point_found(void **state)
{
    struct hist_state *s = *state;
    write_series(s, true);
    /* imported out of order: the run dates order the series, not the import */
    const char *order[NCOMMITS];
    for (int i = 0; i < NCOMMITS; i++)
        order[i] = s->file[(i * 7) % NCOMMITS];
    struct pb_history *h;
    char err[512];
    struct pb_import_stats st;
    assert_int_equal(pb_history_open(s->db, true, &h, err, sizeof(err)), 0);
    assert_int_equal(pb_history_import(h, order, NCOMMITS, &st, err, sizeof(err)), 0);

    struct pb_trend_opts o;
    pb_trend_opts_default(&o);
    struct pb_trend *t;
    size_t n;
    assert_int_equal(pb_history_trend(h, "pages_per_second", NULL, &o, &t, &n), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(t[i].npoint, NCOMMITS);
        assert_string_equal(t[i].point[0].commit, "c00");
        assert_string_equal(t[i].point[NCOMMITS - 1].commit, "c09");
        assert_int_equal(t[i].point[0].nrep, 3);
        assert_true(t[i].tested);
        if (strcmp(t[i].bench, "boot/pernode/threads:2") == 0) {
            assert_int_equal(t[i].nchange, 1);
            assert_true(t[i].change[0].counts);
            assert_string_equal(t[i].point[t[i].change[0].cp.index].commit, "c06");
            assert_near(t[i].change[0].shift, -0.2, 0.02);
        } else {
            assert_string_equal(t[i].bench, "boot/xen/threads:2");
            assert_int_equal(t[i].nchange, 0); /* xen did not move */
        }
    }
    pb_trends_free(t, n);

    /* one benchmark only; an unknown metric has no series */
    assert_int_equal(pb_history_trend(h, "pages_per_second", "boot/xen/threads:2", &o, &t, &n), 0);
    assert_int_equal(n, 1);
    pb_trends_free(t, n);
    assert_int_equal(pb_history_trend(h, "no_such_metric", NULL, &o, &t, &n), 0);
    assert_int_equal(n, 0);
    pb_history_close(h);

    char *argv[] = {"history", "trend",       "pages_per_second",       "--db",
                    s->db,     "--benchmark", "boot/pernode/threads:2", NULL};
    char *out;
    assert_int_equal(fx_run_captured(pb_cmd_history, 7, argv, &out), 0);
    assert_non_null(strstr(out, "CHANGE POINT at commit c06 (commits c05..c06"));
    free(out);
    char *none[] = {"history", "trend", "no_such_metric", "--db", s->db, NULL};
    assert_int_equal(pb_cmd_history(5, none), 2);
}

static void test_newer_schema_refused(void **state)
{
    struct hist_state *s = *state;
    struct pb_history *h;
    char err[512];
    assert_int_equal(pb_history_open(s->db, true, &h, err, sizeof(err)), 0);
    pb_history_close(h);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(s->db, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "UPDATE meta SET value='2' WHERE key='schema_version'", 0, 0, 0),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(pb_history_open(s->db, true, &h, err, sizeof(err)), -EPROTONOSUPPORT);
    assert_non_null(strstr(err, "newer"));
    char *argv[] = {"history", "list", "--db", s->db, NULL};
    assert_int_equal(pb_cmd_history(4, argv), 2);
}

static void test_bad_input(void **state)
{
    struct hist_state *s = *state;
    char *missing = fx_path(s->dir, "missing.sqlite");
    char *a1[] = {"history", NULL};
    char *a2[] = {"history", "frobnicate", NULL};
    char *a3[] = {"history", "import", "--db", s->db, NULL};
    char *a4[] = {"history", "trend", "--db", s->db, NULL};
    char *a5[] = {"history", "list", "--db", missing, NULL};
    char *a6[] = {"history", "list", "--db", s->db, "--benchmark", "x", NULL};
    char *a7[] = {"history", "trend", "m", "--db", s->db, "--alpha", "x", NULL};
    char *a8[] = {"history", "import", "--db", s->db, missing, NULL};
    assert_int_equal(pb_cmd_history(1, a1), 2);
    assert_int_equal(pb_cmd_history(2, a2), 2);
    assert_int_equal(pb_cmd_history(4, a3), 2);
    assert_int_equal(pb_cmd_history(4, a4), 2);
    assert_int_equal(pb_cmd_history(4, a5), 2);
    assert_int_equal(pb_cmd_history(6, a6), 2);
    assert_int_equal(pb_cmd_history(7, a7), 2);
    assert_int_equal(pb_cmd_history(5, a8), 2);
    free(missing);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_import_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_point_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
