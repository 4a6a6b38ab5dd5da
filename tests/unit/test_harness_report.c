/*
 * test_harness_report.c: run results -> results document (bench/report.h): the counters are
 * computed from what was measured, the run sections carry it, sweeps get their speed-up and the
 * parallel ceiling's, and what is written reads back.
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
#include <unistd.h>

#include <cmocka.h>

#include "bench/report.h"

static struct pb_topology topo;

static int setup(void **state)
{
    char err[256];
    (void)state;
    return pb_topology_load("pack:2 [numa(memory=1GB)] core:1 pu:1", &topo, err, sizeof(err));
}

static int teardown(void **state)
{
    (void)state;
    pb_topology_free(&topo);
    return 0;
}

/* A result as a 2-second run would give: calls of 1000 ns, some of 5000 ns. */
static void fake_result(struct pb_run_result *r, uint64_t pages, unsigned threads)
{
    memset(r, 0, sizeof(*r));
    r->completed = r->valid = true;
    snprintf(r->validator, sizeof(r->validator), "ok");
    r->threads = threads;
    r->lock_kind = PB_LOCK_TICKET;
    r->measure_ns = 2000000000ull;
    r->pages = pages;
    r->extents = pages / 512;
    r->calls = 100;
    r->continuations = 10;
    r->invocations = 110;
    r->cpu_ns = 100 * 900;
    r->call_h = pb_hist_alloc();
    r->invocation_h = pb_hist_alloc();
    r->decrease_h = pb_hist_alloc();
    r->lookup_h = pb_hist_alloc();
    r->build_h = pb_hist_alloc();
    for (int i = 0; i < 90; i++)
        pb_hist_record(r->call_h, 1000);
    for (int i = 0; i < 10; i++)
        pb_hist_record(r->call_h, 5000);
    for (int i = 0; i < 110; i++)
        pb_hist_record(r->invocation_h, 900);
    r->nr_lock_classes = 3;
    r->nr_locks = 3;
    snprintf(r->locks[0].name, sizeof(r->locks[0].name), "heap");
    r->locks[0].st = (struct pb_lock_stats){.acquisitions = pages,
                                            .contended = pages / 4,
                                            .wait_ns_total = pages * 10,
                                            .wait_ns_max = 500,
                                            .hold_ns_total = pages * 20,
                                            .hold_ns_max = 900};
    snprintf(r->locks[1].name, sizeof(r->locks[1].name), "domain.page_alloc");
    r->locks[1].st = (struct pb_lock_stats){.acquisitions = pages, .wait_ns_total = 0};
    snprintf(r->locks[2].name, sizeof(r->locks[2].name), "p2m");
    r->locks[2].st = (struct pb_lock_stats){.acquisitions = 100};
    r->scrub.on_alloc = pages / 2;
    r->scrub_backlog_max = 77;
    r->nr_samples = 3;
    r->t_ms = malloc(3 * sizeof(uint64_t));
    r->ts_pages = malloc(3 * sizeof(uint64_t));
    r->ts_backlog = malloc(3 * sizeof(uint64_t));
    for (int i = 0; i < 3; i++) {
        r->t_ms[i] = 100 * (uint64_t)(i + 1);
        r->ts_pages[i] = pages / 4;
        r->ts_backlog[i] = (uint64_t)i;
    }
    r->nr_thr = threads;
    r->thr = calloc(threads, sizeof(*r->thr));
    for (unsigned i = 0; i < threads; i++)
        r->thr[i] = (struct pb_run_thread){.index = i,
                                           .vcpu = i,
                                           .node = i,
                                           .pu = 0,
                                           .pages = pages / threads,
                                           .calls = 100 / threads};
}

static struct pb_report_setup report_setup(void)
{
    static char *argv[] = {"popbench", "run", "x"};
    return (struct pb_report_setup){
        .topo = &topo,
        .git_commit = "abc",
        .build_type = "Release",
        .cflags = "-O2",
        .argc = 3,
        .argv = argv,
        .jemalloc_active = true,
        .jemalloc_version = "5.3.0",
        .hwloc_version = "2.9.0",
        .urcu_version = "0.13.2",
        .sqlite_version = "3.40.1",
        .seed = 4,
        .placement = "compact",
    };
}

/* |a - b| <= eps */
#define assert_near(a, b, eps) assert_true(fabs((double)(a) - (double)(b)) <= (eps))

static double counter(const struct pb_results_bench *b, const char *name)
{
    double v = NAN;
    assert_int_equal(pb_results_bench_counter(b, name, &v), 0);
    return v;
}

static void test_counters_and_sections(void **state)
{
    (void)state;
    struct pb_report rep;
    struct pb_report_setup s = report_setup();
    struct pb_run_result r;
    char path[] = "/tmp/pb-report-XXXXXX", err[PB_RESULTS_ERR_LEN];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pb_report_init(&rep, &s), 0);
    fake_result(&r, 1000000, 2);
    struct pb_report_id id = {.workload = "numa-local",
                              .variant = "xen",
                              .threads = 2,
                              .repetition = 0,
                              .repetitions = 1};
    assert_int_equal(pb_report_add(&rep, &id, &r), 0);
    assert_int_equal(pb_report_finish(&rep, false), 0);
    assert_int_equal(pb_results_write_json(rep.doc, path, err, sizeof(err)), 0);

    struct pb_results *doc;
    assert_int_equal(pb_results_load(path, &doc, err, sizeof(err)), 0);
    assert_false(pb_results_is_partial(doc));
    assert_int_equal(pb_results_bench_count(doc), 1);
    const struct pb_results_bench *b = pb_results_bench_at(doc, 0);
    assert_string_equal(pb_results_bench_name(b), "numa-local/xen/threads:2");
    assert_string_equal(pb_results_bench_lock_kind(b), "ticket");
    assert_int_equal(pb_results_bench_iterations(b), 100);
    /* 1M pages in 2 s; calls mean (90 x 1000 + 10 x 5000) / 100; CPU 900 ns per call. */
    assert_float_equal(counter(b, "pages_per_second"), 500000.0, 1e-6);
    assert_float_equal(pb_results_bench_real_time(b), 1400.0, 1e-6);
    assert_float_equal(pb_results_bench_cpu_time(b), 900.0, 1e-6);
    assert_float_equal(counter(b, "call_p50_ns"), 1000.0, 8);
    assert_float_equal(counter(b, "call_p99_ns"), 5000.0, 40);
    assert_float_equal(counter(b, "call_max_ns"), 5000.0, 0);
    assert_float_equal(counter(b, "invocation_p50_ns"), 900.0, 8);
    /* Locks: heap + page_alloc + p2m acquisitions per page; heap waited most. */
    assert_float_equal(counter(b, "lock_acq_per_page"), (2e6 + 100) / 1e6, 1e-9);
    assert_float_equal(counter(b, "lock_wait_ns_per_page"), 10.0, 1e-9);
    assert_float_equal(counter(b, "lock_contended_pct"), 25.0, 1e-9);
    assert_string_equal(pb_results_bench_string(b, "lock_hottest"), "heap");
    assert_float_equal(counter(b, "scrub_pages_per_page"), 0.5, 1e-9);
    assert_float_equal(counter(b, "continuations_per_call"), 0.1, 1e-9);
    assert_float_equal(counter(b, "scrub_backlog_max_pages"), 77, 0);
    assert_int_equal(pb_results_bench_counter(b, "speedup", &(double){0}), -ENOENT);

    const json_t *run = pb_results_bench_run_json(b);
    assert_non_null(run);
    assert_string_equal(json_string_value(json_object_get(run, "validator")), "ok");
    const json_t *h = json_object_get(json_object_get(run, "histograms"), "call_ns");
    assert_int_equal(json_integer_value(json_object_get(h, "count")), 100);
    assert_null(json_object_get(json_object_get(run, "histograms"), "decrease_ns")); /* empty */
    assert_int_equal(json_array_size(json_object_get(run, "locks")), 3);
    assert_int_equal(json_array_size(json_object_get(run, "threads")), 2);
    const json_t *ts = json_object_get(run, "timeseries");
    assert_int_equal(json_integer_value(json_object_get(ts, "interval_ms")), 100);
    assert_int_equal(json_array_size(json_object_get(ts, "pages")), 3);
    assert_int_equal(json_array_size(json_object_get(ts, "scrub_backlog")), 3);

    const char *v = pb_results_context_string(doc, "topology_virtual");
    assert_non_null(v);
    assert_non_null(strstr(v, "pack:2"));
    assert_non_null(pb_results_context_string(doc, "topology_real"));
    assert_string_equal(pb_results_context_string(doc, "backing"), "none");
    bool active = false;
    assert_int_equal(pb_results_context_bool(doc, "jemalloc_active", &active), 0);
    assert_true(active);

    pb_results_free(doc);
    pb_run_result_free(&r);
    pb_report_free(&rep);
    unlink(path);
}

static void test_sweep_speedup_and_partial(void **state)
{
    (void)state;
    struct pb_report rep;
    struct pb_report_setup s = report_setup();
    struct pb_run_result r;

    assert_int_equal(pb_report_init(&rep, &s), 0);
    /* threads 1, 2, 4 at 1M, 1.6M, 2M pages: speed-up 1, 1.6, 2; efficiency 1, 0.8, 0.5. */
    const unsigned t[3] = {1, 2, 4};
    const uint64_t pages[3] = {1000000, 1600000, 2000000};
    for (int i = 0; i < 3; i++) {
        fake_result(&r, pages[i], t[i]);
        struct pb_report_id id = {.workload = "w",
                                  .variant = "pernode",
                                  .threads = t[i],
                                  .repetition = 0,
                                  .repetitions = 1};
        assert_int_equal(pb_report_add(&rep, &id, &r), 0);
        pb_run_result_free(&r);
    }
    /* Another workload without a sweep gets no speed-up. */
    fake_result(&r, 5, 1);
    struct pb_report_id other = {
        .workload = "v", .variant = "pernode", .threads = 1, .repetition = 0, .repetitions = 1};
    assert_int_equal(pb_report_add(&rep, &other, &r), 0);
    pb_run_result_free(&r);
    assert_int_equal(pb_report_finish(&rep, true), 0);
    assert_true(pb_results_is_partial(rep.doc));
    const double want_speedup[3] = {1.0, 1.6, 2.0}, want_eff[3] = {1.0, 0.8, 0.5};
    for (int i = 0; i < 3; i++) {
        const struct pb_results_bench *b = pb_results_bench_at(rep.doc, (size_t)i);
        assert_float_equal(counter(b, "speedup"), want_speedup[i], 1e-9);
        assert_float_equal(counter(b, "scaling_efficiency"), want_eff[i], 1e-9);
    }
    double x;
    assert_int_equal(pb_results_bench_counter(pb_results_bench_at(rep.doc, 3), "speedup", &x),
                     -ENOENT);
    pb_report_free(&rep);
}

/*
 * The noise and the rounds: a probe whose source could not be read leaves its counter out and
 * says "unavailable" in the run section, never 0; a probe that could read says what it read.
 */
static void test_noise_and_rounds(void **state)
{
    (void)state;
    struct pb_report rep;
    struct pb_report_setup s = report_setup();
    struct pb_run_result r;
    assert_int_equal(pb_report_init(&rep, &s), 0);
    for (unsigned k = 0; k < 2; k++) {
        fake_result(&r, 1000000, 2);
        pb_noise_init(&r.noise);
        r.rounds = 2;
        r.round_ns = malloc(2 * sizeof(uint64_t));
        r.round_ns[0] = r.round_ns[1] = r.measure_ns / 2;
        r.floor_ns = 500000000;
        r.floor_met = true;
        if (k) {
            /* steal read: 7% of 1000 jiffies; a sample off the pinned PU */
            struct pb_noise_snapshot a = {.stat_ok = true, .steal = 10, .total = 100};
            struct pb_noise_snapshot b = {.stat_ok = true, .steal = 80, .total = 1100};
            pb_noise_add_interval(&r.noise, &a, &b);
            r.noise.cpu_samples = 20;
            r.noise.migrations = 1;
        }
        pb_noise_judge(&r.noise);
        struct pb_report_id id = {.workload = "storm",
                                  .variant = k ? "xen.2" : "xen",
                                  .threads = 2,
                                  .repetition = 0,
                                  .repetitions = 1,
                                  .inject_alloc_delay_ns = k ? 500 : 0};
        assert_int_equal(pb_report_add(&rep, &id, &r), 0);
        pb_run_result_free(&r);
    }
    assert_int_equal(pb_report_finish(&rep, false), 0);

    const struct pb_results_bench *b = pb_results_find_bench(rep.doc, "storm/xen/threads:2", 0);
    double v;
    assert_int_equal(pb_results_bench_counter(b, "noise_steal_pct", &v), -ENOENT);
    assert_int_equal(pb_results_bench_counter(b, "noise_migrations", &v), -ENOENT);
    assert_int_equal(pb_results_bench_counter(b, "noise_cpu_mhz_min", &v), -ENOENT);
    assert_int_equal(pb_results_bench_counter(b, "inject_alloc_delay_ns", &v), -ENOENT);
    assert_near(counter(b, "disturbed"), 0, 0);
    assert_near(counter(b, "rounds"), 2, 0);
    const json_t *run = pb_results_bench_run_json(b);
    const json_t *noise = json_object_get(run, "noise");
    assert_string_equal(json_string_value(json_object_get(noise, "steal_pct")), "unavailable");
    assert_string_equal(json_string_value(json_object_get(noise, "migrations")), "unavailable");
    assert_string_equal(json_string_value(json_object_get(noise, "cpu_mhz")), "unavailable");
    const json_t *m = json_object_get(run, "measure");
    assert_int_equal(json_integer_value(json_object_get(m, "rounds")), 2);
    assert_int_equal(json_array_size(json_object_get(m, "round_ns")), 2);
    assert_true(json_is_true(json_object_get(m, "floor_met")));

    b = pb_results_find_bench(rep.doc, "storm/xen.2/threads:2", 0);
    assert_near(counter(b, "noise_steal_pct"), 7.0, 1e-9);
    assert_near(counter(b, "noise_migrations"), 1, 0);
    assert_near(counter(b, "disturbed"), 1, 0);
    assert_near(counter(b, "inject_alloc_delay_ns"), 500, 0);
    noise = json_object_get(pb_results_bench_run_json(b), "noise");
    assert_near(json_number_value(json_object_get(noise, "steal_pct")), 7.0, 1e-9);
    assert_non_null(strstr(json_string_value(json_object_get(noise, "disturbed_by")), "steal"));

    /* A run that learns its repetition count as it goes says it on every entry. */
    assert_int_equal(pb_report_set_repetitions(&rep, "storm", 3), 0);
    assert_int_equal(pb_results_bench_repetitions(b), 3);
    pb_report_free(&rep);
}

/* A pernode sweep of 1 and 2 threads, two repetitions, with the ceiling beside it. */
static void test_ceiling_speedup_and_efficiency(void **state)
{
    (void)state;
    struct pb_report rep;
    struct pb_report_setup s = report_setup();
    struct pb_run_result r;

    assert_int_equal(pb_report_init(&rep, &s), 0);
    /* pernode: 1M pages at 1 thread, 1.5M and 1.8M at 2 (repetitions 0 and 1). */
    const uint64_t pages[2][2] = {{1000000, 1500000}, {1000000, 1800000}};
    /* The ceiling: 1.0 -> 2.0 (rep 0) and 1.0 -> 1.8 (rep 1) steps per second. */
    const double ceiling[2][2] = {{100.0, 200.0}, {100.0, 180.0}};
    for (unsigned rp = 0; rp < 2; rp++)
        for (unsigned k = 0; k < 2; k++) {
            unsigned threads = k + 1;
            struct pb_report_id id = {.workload = "w",
                                      .variant = "pernode",
                                      .threads = threads,
                                      .repetition = rp,
                                      .repetitions = 2};
            fake_result(&r, pages[rp][k], threads);
            assert_int_equal(pb_report_add(&rep, &id, &r), 0);
            pb_run_result_free(&r);
            struct pb_ceiling_result c = {.completed = true,
                                          .threads = threads,
                                          .steps_per_second = ceiling[rp][k],
                                          .buffer_bytes = 8u << 20};
            id.variant = "ceiling";
            assert_int_equal(pb_report_add_ceiling(&rep, &id, &c), 0);
        }
    /* A single-threaded workload beside it has no ceiling. */
    fake_result(&r, 5, 1);
    struct pb_report_id other = {
        .workload = "v", .variant = "pernode", .threads = 1, .repetition = 0, .repetitions = 1};
    assert_int_equal(pb_report_add(&rep, &other, &r), 0);
    pb_run_result_free(&r);
    assert_int_equal(pb_report_finish(&rep, false), 0);

    /* Entries in order: rep 0 t1, rep 0 t2, rep 1 t1, rep 1 t2. */
    const double want_speedup[4] = {1.0, 1.5, 1.0, 1.8}, want_ceiling[4] = {1.0, 2.0, 1.0, 1.8};
    for (size_t i = 0; i < 4; i++) {
        const struct pb_results_bench *b = pb_results_bench_at(rep.doc, i);
        assert_float_equal(counter(b, "speedup"), want_speedup[i], 1e-9);
        assert_float_equal(counter(b, "ceiling_speedup"), want_ceiling[i], 1e-9);
        assert_float_equal(counter(b, "ceiling_efficiency"), want_speedup[i] / want_ceiling[i],
                           1e-9);
        assert_float_equal(counter(b, "ceiling_base_threads"), 1, 0);
        assert_float_equal(counter(b, "ceiling_steps_per_second"), ceiling[i / 2][i % 2], 1e-9);
        /* The spread over the repetitions at this thread count. */
        double lo = i % 2 ? 1.8 : 1.0, hi = i % 2 ? 2.0 : 1.0;
        assert_float_equal(counter(b, "ceiling_speedup_min"), lo, 1e-9);
        assert_float_equal(counter(b, "ceiling_speedup_max"), hi, 1e-9);
    }
    double x;
    const struct pb_results_bench *single = pb_results_bench_at(rep.doc, 4);
    assert_int_equal(pb_results_bench_counter(single, "ceiling_speedup", &x), -ENOENT);
    assert_int_equal(pb_results_bench_counter(single, "ceiling_efficiency", &x), -ENOENT);
    const char *what = pb_results_context_string(rep.doc, "ceiling_reference");
    assert_non_null(what);
    assert_non_null(strstr(what, "8192 KiB"));

    /* A 2-thread run alone (no sweep): the ceiling's speed-up against 1 thread, no efficiency. */
    struct pb_report rep2;
    assert_int_equal(pb_report_init(&rep2, &s), 0);
    fake_result(&r, 1000000, 2);
    struct pb_report_id two = {
        .workload = "w", .variant = "xen", .threads = 2, .repetition = 0, .repetitions = 1};
    assert_int_equal(pb_report_add(&rep2, &two, &r), 0);
    pb_run_result_free(&r);
    for (unsigned threads = 1; threads <= 2; threads++) {
        struct pb_ceiling_result c = {
            .completed = true, .threads = threads, .steps_per_second = 10.0 * (threads + 2)};
        two.threads = threads;
        assert_int_equal(pb_report_add_ceiling(&rep2, &two, &c), 0);
    }
    assert_int_equal(pb_report_finish(&rep2, false), 0);
    const struct pb_results_bench *b = pb_results_bench_at(rep2.doc, 0);
    assert_float_equal(counter(b, "ceiling_speedup"), 40.0 / 30.0, 1e-9);
    assert_int_equal(pb_results_bench_counter(b, "ceiling_efficiency", &x), -ENOENT);
    pb_report_free(&rep2);
    pb_report_free(&rep);
}

/* Locks whose holds are not timed (pcp's caches) say so in the run section, not with a 0. */
static void test_untimed_holds_are_flagged(void **state)
{
    (void)state;
    struct pb_report rep;
    struct pb_report_setup s = report_setup();
    struct pb_run_result r;

    assert_int_equal(pb_report_init(&rep, &s), 0);
    fake_result(&r, 1000, 1);
    r.nr_locks = 4;
    snprintf(r.locks[3].name, sizeof(r.locks[3].name), "pcp");
    r.locks[3].st = (struct pb_lock_stats){.acquisitions = 10,
                                           .contended = 1,
                                           .wait_ns_total = 30,
                                           .wait_ns_max = 30,
                                           .hold_untimed = true};
    r.locks[0].st.hold_untimed = true; /* the heap class sums the pcp locks too */
    struct pb_report_id id = {
        .workload = "w", .variant = "pcp", .threads = 1, .repetition = 0, .repetitions = 1};
    assert_int_equal(pb_report_add(&rep, &id, &r), 0);
    pb_run_result_free(&r);
    const json_t *locks =
        json_object_get(pb_results_bench_run_json(pb_results_bench_at(rep.doc, 0)), "locks");
    assert_int_equal(json_array_size(locks), 4);
    const bool untimed[4] = {true, false, false, true};
    for (size_t i = 0; i < 4; i++) {
        const json_t *flag = json_object_get(json_array_get(locks, i), "hold_timed");
        if (untimed[i])
            assert_true(json_is_false(flag));
        else
            assert_null(flag);
    }
    pb_report_free(&rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counters_and_sections),
        cmocka_unit_test(test_sweep_speedup_and_partial),
        cmocka_unit_test(test_noise_and_rounds),
        cmocka_unit_test(test_ceiling_speedup_and_efficiency),
        cmocka_unit_test(test_untimed_holds_are_flagged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
