/*
 * test_results.c: the results document: build, write, read back; the reader's checks and the
 * fields it requires (those the schema requires); the files older popbench wrote; the
 * per-metric view; the metric table. test_results_write.c tests the writers,
 * test_results_schema.sh the written files against the schema.
 *
 * `test_results --write-samples DIR` writes DIR/A.json and DIR/B.json for the compare.py and
 * schema tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "results/results.h"
#include "tests/unit/results_fixture.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PB_RESULTS_TEST_DATA
#error "PB_RESULTS_TEST_DATA: the fixtures directory, from tests/results.cmake"
#endif
#ifndef PB_RESULTS_SCHEMA
#error "PB_RESULTS_SCHEMA: results/schema-v1.json, from tests/results.cmake"
#endif

static json_t *load_schema(void)
{
    json_error_t jerr;
    json_t *schema = json_load_file(PB_RESULTS_SCHEMA, JSON_REJECT_DUPLICATES, &jerr);
    if (!schema)
        fail_msg("%s: %d: %s", PB_RESULTS_SCHEMA, jerr.line, jerr.text);
    return schema;
}

/* ============================================================================================
 * Build, write, read back
 * ========================================================================================== */

static void test_roundtrip(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *p1 = fx_path(dir, "r.json"), *p2 = fx_path(dir, "again.json");
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = fx_sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p1, err, sizeof(err)), 0);
    struct pb_results *back = fx_load_ok(p1);
    assert_true(pb_results_equal(doc, back));

    /* The reader's view: entries, identity, counters, context, sections. */
    assert_int_equal(pb_results_bench_count(back), 9);
    const struct pb_results_bench *b = pb_results_bench_at(back, 4);
    assert_string_equal(pb_results_bench_name(b), "bootstorm/xen/threads:2");
    assert_string_equal(pb_results_bench_workload(b), "bootstorm");
    assert_string_equal(pb_results_bench_variant(b), "xen");
    assert_string_equal(pb_results_bench_lock_kind(b), "ticket");
    assert_int_equal(pb_results_bench_threads(b), 2);
    assert_int_equal(pb_results_bench_repetition_index(b), 1);
    assert_int_equal(pb_results_bench_repetitions(b), 3);
    assert_int_equal(pb_results_bench_iterations(b), 1001);
    assert_true(pb_results_bench_real_time(b) == 813.5);
    assert_true(pb_results_bench_cpu_time(b) == 801.1);
    double v;
    assert_int_equal(pb_results_bench_counter(b, "pages_per_second", &v), 0);
    assert_true(v == 1.2e6 + 1);
    assert_int_equal(pb_results_bench_counter(b, "call_p999_ns", &v), 0);
    assert_true(v == 0.1);
    assert_int_equal(pb_results_bench_counter(b, "lock_wait_ns_per_page", &v), 0);
    assert_true(v == 1e-300);
    assert_int_equal(pb_results_bench_counter(b, "zeta_custom", &v), 0);
    assert_true(v == 123456789.123456789);
    assert_int_equal(pb_results_bench_counter(b, "pages_populated", &v), 0);
    assert_true(v == 123456789012345.0);
    assert_int_equal(pb_results_bench_counter(b, "iterations", &v), 0);
    assert_true(v == 1001);
    assert_int_equal(pb_results_bench_counter(b, "call_p9999_ns", &v), -ENOENT);
    assert_int_equal(pb_results_bench_counter(b, "lock_hottest", &v), -EINVAL);
    assert_string_equal(pb_results_bench_string(b, "lock_hottest"), "heap.node0");
    assert_ptr_equal(pb_results_find_bench(back, "bootstorm/xen/threads:2", 1), b);
    assert_null(pb_results_find_bench(back, "bootstorm/xen/threads:2", 3));
    assert_null(pb_results_find_bench(back, "bootstorm/xen/threads:4", 0));

    /* Read back, the metrics come in report order: the table's first, then others by name. */
    const struct pb_results_group *g = pb_results_find_group(back, "bootstorm/xen/threads:2");
    assert_int_equal(g->nrep, 3);
    assert_string_equal(g->metric[0].name, "pages_per_second");
    assert_string_equal(g->metric[g->nmetric - 1].name, "zeta_custom");
    assert_true(g->metric[0].val[1] == 1.2e6 + 1);

    assert_string_equal(pb_results_context_string(back, "git_commit"), "abc123def456");
    assert_string_equal(pb_results_context_string(back, "command_line"),
                        "popbench run --workload bootstorm");
    assert_int_equal(pb_results_context_number(back, "popbench_results_version", &v), 0);
    assert_true(v == PB_RESULTS_VERSION);
    bool flag;
    assert_int_equal(pb_results_context_bool(back, "jemalloc_active", &flag), 0);
    assert_true(flag);
    assert_int_equal(pb_results_context_bool(back, "git_commit", &flag), -EINVAL);
    assert_int_equal(pb_results_context_bool(back, "no_such_key", &flag), -ENOENT);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(pb_results_context_json(back), "libraries"), "hwloc")),
                        "2.9.0");

    const json_t *run = pb_results_bench_run_json(b);
    assert_non_null(run);
    assert_int_equal(json_integer_value(json_object_get(run, "repetition_index")), 1);
    const json_t *h = json_object_get(json_object_get(run, "histograms"), "call_ns");
    assert_int_equal(json_integer_value(json_object_get(h, "count")), 14);
    assert_int_equal(json_array_size(json_object_get(h, "buckets")), 3);
    assert_string_equal(json_string_value(json_object_get(run, "validator")), "ok");

    /* Writing what was read gives the same bytes: key order does not depend on history. */
    assert_int_equal(pb_results_write_json(back, p2, err, sizeof(err)), 0);
    char *t1 = fx_slurp(p1), *t2 = fx_slurp(p2);
    assert_string_equal(t1, t2);
    /* Google Benchmark's context keys come first, and its entry keys in its order; the metric
     * table ends the context. */
    const char *entries = strstr(t1, "\"benchmarks\"");
    assert_true(strstr(t1, "\"date\"") < strstr(t1, "\"popbench_results_version\""));
    assert_true(strstr(t1, "\"command_line\"") < strstr(t1, "\"metrics\""));
    assert_true(strstr(t1, "\"metrics\"") < entries);
    assert_true(strstr(entries, "\"name\"") < strstr(entries, "\"run_name\""));
    assert_true(strstr(entries, "\"run_name\"") < strstr(entries, "\"iterations\""));

    free(t1);
    free(t2);
    pb_results_free(doc);
    pb_results_free(back);
    free(p1);
    free(p2);
    fx_rmtree(dir);
}

static void test_partial_roundtrip(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *p = fx_path(dir, "p.json");
    struct pb_results *doc = fx_sample_doc(1.0, false, true);
    assert_false(pb_results_is_partial(doc));
    for (int i = 0; i < 2; i++) {
        bool partial = i == 0;
        assert_int_equal(pb_results_set_partial(doc, partial), 0);
        assert_int_equal(pb_results_is_partial(doc), partial);
        assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
        char *text = fx_slurp(p);
        assert_non_null(strstr(text, partial ? "\"partial\": true" : "\"partial\": false"));
        free(text);
        struct pb_results *back = fx_load_ok(p);
        assert_int_equal(pb_results_is_partial(back), partial);
        bool flag = !partial;
        assert_int_equal(pb_results_context_bool(back, "partial", &flag), 0);
        assert_int_equal(flag, partial);
        assert_true(pb_results_equal(doc, back));
        pb_results_free(back);
    }
    pb_results_free(doc);
    free(p);
    fx_rmtree(dir);
}

static void test_family_indices(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    struct pb_results_bench *b[5] = {
        fx_add(doc, "boot", "xen", 1, 0, 2, 1.0), fx_add(doc, "boot", "xen", 2, 0, 2, 1.0),
        fx_add(doc, "boot", "xen", 1, 1, 2, 1.0), fx_add(doc, "boot", "pernode", 4, 0, 1, 1.0),
        fx_add(doc, "boot", "xen", 8, 0, 1, 1.0),
    };
    static const long want[5][2] = {{0, 0}, {0, 1}, {0, 0}, {1, 0}, {0, 2}};
    for (int i = 0; i < 5; i++) {
        const json_t *e = pb_results_bench_json(b[i]);
        assert_int_equal(json_integer_value(json_object_get(e, "family_index")), want[i][0]);
        assert_int_equal(json_integer_value(json_object_get(e, "per_family_instance_index")),
                         want[i][1]);
        assert_string_equal(json_string_value(json_object_get(e, "run_type")), "iteration");
        assert_string_equal(json_string_value(json_object_get(e, "time_unit")), "ns");
        assert_string_equal(json_string_value(json_object_get(e, "run_name")),
                            pb_results_bench_name(b[i]));
    }
    pb_results_free(doc);
}

/* ============================================================================================
 * The reader
 * ========================================================================================== */

/* Every field the schema requires, the reader requires too, and names it when it is missing. */
static void test_reader_requires_what_schema_requires(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *p = fx_path(dir, "s.json"), *q = fx_path(dir, "cut.json");
    json_t *schema = load_schema();
    struct pb_results *doc = fx_sample_doc(1.0, true, true);
    const struct pb_results_calibration cal = {
        10, 40, 1, 0.025, 50, 10, 40, 38, 0.95, 0.03, "2026-12-01T06:00:00+00:00"};
    assert_int_equal(pb_results_set_calibration(doc, &cal), 0);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    json_t *j = fx_load_json(p);
    const json_t *defs = json_object_get(schema, "$defs");
    static const struct {
        const char *def;    /* the schema's $defs entry, NULL for the root */
        const char *prefix; /* where the reader finds it */
    } where[] = {
        {NULL, ""},
        {"context", "context."},
        {"benchmark", "benchmarks[0]."},
        {"run", "popbench.runs[0]."},
        {"histogram", "popbench.runs[0].histograms.call_ns."},
        {"lock", "popbench.runs[0].locks[0]."},
        {"thread", "popbench.runs[0].threads[0]."},
        {"metric", "context.metrics.pages_per_second."},
        {"calibration", "context.calibration."},
    };
    size_t checked = 0;
    for (size_t w = 0; w < sizeof(where) / sizeof(where[0]); w++) {
        const json_t *s = where[w].def ? json_object_get(defs, where[w].def) : schema;
        assert_non_null(s);
        size_t i;
        const json_t *req;
        json_array_foreach(json_object_get(s, "required"), i, req)
        {
            const char *key = json_string_value(req);
            json_t *cut = json_deep_copy(j);
            json_t *obj = cut;
            const char *pre = where[w].prefix;
            if (!strcmp(pre, "context."))
                obj = json_object_get(cut, "context");
            else if (!strcmp(pre, "context.calibration."))
                obj = json_object_get(json_object_get(cut, "context"), "calibration");
            else if (!strcmp(pre, "context.metrics.pages_per_second."))
                obj = json_object_get(json_object_get(json_object_get(cut, "context"), "metrics"),
                                      "pages_per_second");
            else if (!strcmp(pre, "benchmarks[0]."))
                obj = json_array_get(json_object_get(cut, "benchmarks"), 0);
            else if (*pre) {
                json_t *run =
                    json_array_get(json_object_get(json_object_get(cut, "popbench"), "runs"), 0);
                obj = run;
                if (strstr(pre, "histograms"))
                    obj = json_object_get(json_object_get(run, "histograms"), "call_ns");
                else if (strstr(pre, "locks"))
                    obj = json_array_get(json_object_get(run, "locks"), 0);
                else if (strstr(pre, "threads"))
                    obj = json_array_get(json_object_get(run, "threads"), 0);
            }
            assert_non_null(json_object_get(obj, key));
            assert_int_equal(json_object_del(obj, key), 0);
            fx_dump_json(cut, q);
            json_decref(cut);
            char want[200];
            snprintf(want, sizeof(want), "missing required field '%s%s'", pre, key);
            const char *err = fx_load_fails(q, -EINVAL);
            if (!strstr(err, want))
                fail_msg("dropping %s%s: got \"%s\"", pre, key, err);
            checked++;
        }
    }
    assert_true(checked > 40);
    json_decref(j);
    json_decref(schema);
    pb_results_free(doc);
    free(p);
    free(q);
    fx_rmtree(dir);
}

/* The fixtures: a minimal valid file loads; the broken ones do not. */
static void test_fixtures(void **state)
{
    (void)state;
    const char *min = PB_RESULTS_TEST_DATA "/v1-minimal.json";
    struct pb_results *doc = fx_load_ok(min);
    assert_int_equal(pb_results_bench_count(doc), 1);
    const struct pb_results_bench *b = pb_results_bench_at(doc, 0);
    assert_string_equal(pb_results_bench_name(b), "bootstorm/xen/threads:2");
    assert_null(pb_results_bench_lock_kind(b));
    assert_null(pb_results_bench_run_json(b));
    assert_false(pb_results_is_partial(doc));
    /* Integral reals are integers to JSON Schema, and so to the reader. */
    assert_int_equal(pb_results_bench_threads(b), 2);
    assert_int_equal(pb_results_bench_iterations(b), 1234);
    pb_results_free(doc);

    const char *unknown = PB_RESULTS_TEST_DATA "/unknown-version.json";
    char want[600];
    snprintf(want, sizeof(want),
             "results file '%s': unsupported results version 2 (this popbench reads version 1)",
             unknown);
    assert_string_equal(fx_load_fails(unknown, -EINVAL), want);

    const char *no_iter = PB_RESULTS_TEST_DATA "/missing-iterations.json";
    snprintf(want, sizeof(want),
             "results file '%s': missing required field 'benchmarks[1].iterations'", no_iter);
    assert_string_equal(fx_load_fails(no_iter, -EINVAL), want);

    /* pages_per_second is a counter like the others: an entry without a rate loads. */
    doc = fx_load_ok(PB_RESULTS_TEST_DATA "/no-pages-per-second.json");
    const struct pb_results_group *g = pb_results_group_at(doc, 0);
    assert_int_equal(pb_results_group_count(doc), 1);
    const struct pb_results_metric *pps = pb_results_group_metric(g, "pages_per_second");
    assert_non_null(pps);
    assert_true(pps->val[0] == 1200000);
    assert_true(isnan(pps->val[1]));
    pb_results_free(doc);

    const char *no_ver = PB_RESULTS_TEST_DATA "/no-version.json";
    snprintf(want, sizeof(want),
             "results file '%s': missing required field 'context.popbench_results_version'",
             no_ver);
    assert_string_equal(fx_load_fails(no_ver, -EINVAL), want);

    const char *bad_name = PB_RESULTS_TEST_DATA "/name-mismatch.json";
    assert_non_null(strstr(fx_load_fails(bad_name, -EINVAL),
                           "field 'benchmarks[0].name' must be \"bootstorm/xen/threads:4\""));
}

/*
 * Every results file popbench 0.1.0 wrote still loads (tests/data/results/written): a run, an
 * interrupted one, a thread sweep, node claims, both gate baselines; its Google Benchmark JSON
 * (popbench-micro) is refused with the field that makes it not a popbench file.
 */
static void test_written_files_load(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t groups, entries;
        bool partial;
        const char *metric; /* one every entry has */
    } files[] = {
        {"run-bootstorm.json", 2, 4, false, "pages_per_second"},
        {"run-partial.json", 2, 2, true, "lock_acq_per_page"},
        {"run-sweep.json", 2, 2, false, "speedup"},
        {"run-node-claims.json", 1, 1, false, "locality"},
        {"ci-gate.json", 3, 6, false, "continuations_per_call"},
        {"ci-instr.json", 15, 15, false, "instructions"},
    };
    char path[512];
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        snprintf(path, sizeof(path), "%s/written/%s", PB_RESULTS_TEST_DATA, files[f].file);
        struct pb_results *doc = fx_load_ok(path);
        assert_int_equal(pb_results_bench_count(doc), files[f].entries);
        assert_int_equal(pb_results_group_count(doc), files[f].groups);
        assert_int_equal(pb_results_is_partial(doc), files[f].partial);
        for (size_t i = 0; i < pb_results_group_count(doc); i++) {
            const struct pb_results_group *g = pb_results_group_at(doc, i);
            const struct pb_results_metric *m = pb_results_group_metric(g, files[f].metric);
            if (!m)
                fail_msg("%s: %s lacks %s", path, g->name, files[f].metric);
            for (size_t r = 0; r < g->nrep; r++)
                assert_true(isfinite(m->val[r]));
        }
        pb_results_free(doc);
    }
    snprintf(path, sizeof(path), "%s/written/micro-gbench.json", PB_RESULTS_TEST_DATA);
    assert_non_null(strstr(fx_load_fails(path, -EINVAL),
                           "missing required field 'context.popbench_results_version'"));
}

/* The checks a schema cannot state. */
static void test_reader_cross_checks(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *p = fx_path(dir, "s.json"), *q = fx_path(dir, "bad.json");
    struct pb_results *doc = fx_sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    json_t *j = fx_load_json(p);

    json_t *bad = json_deep_copy(j);
    json_t *benches = json_object_get(bad, "benchmarks");
    json_array_append(benches, json_array_get(benches, 0));
    fx_dump_json(bad, q);
    assert_non_null(strstr(fx_load_fails(q, -EINVAL), "field 'benchmarks[9]' must be unique"));
    json_decref(bad);

    bad = json_deep_copy(j);
    json_t *run0 = json_array_get(json_object_get(json_object_get(bad, "popbench"), "runs"), 0);
    json_object_set_new(run0, "repetition_index", json_integer(7));
    fx_dump_json(bad, q);
    assert_non_null(
        strstr(fx_load_fails(q, -EINVAL), "field 'popbench.runs[0]' must be the section"));
    json_decref(bad);

    bad = json_deep_copy(j);
    run0 = json_array_get(json_object_get(json_object_get(bad, "popbench"), "runs"), 0);
    json_object_set_new(json_object_get(json_object_get(run0, "histograms"), "call_ns"), "count",
                        json_integer(15));
    fx_dump_json(bad, q);
    assert_non_null(strstr(fx_load_fails(q, -EINVAL),
                           "field 'popbench.runs[0].histograms.call_ns.count' must be the sum"));
    json_decref(bad);

    bad = json_deep_copy(j);
    run0 = json_array_get(json_object_get(json_object_get(bad, "popbench"), "runs"), 0);
    json_array_remove(json_object_get(json_object_get(run0, "timeseries"), "pages"), 0);
    fx_dump_json(bad, q);
    assert_non_null(strstr(fx_load_fails(q, -EINVAL),
                           "field 'popbench.runs[0].timeseries.pages' must be an array as long"));
    json_decref(bad);

    bad = json_deep_copy(j);
    json_object_set_new(json_array_get(json_object_get(bad, "benchmarks"), 2), "repetition_index",
                        json_integer(3));
    fx_dump_json(bad, q);
    assert_non_null(strstr(fx_load_fails(q, -EINVAL),
                           "field 'benchmarks[2].repetition_index' must be below repetitions"));
    json_decref(bad);

    bad = json_deep_copy(j);
    json_object_set_new(json_array_get(json_object_get(bad, "benchmarks"), 0), "some_counter",
                        json_string("fast"));
    fx_dump_json(bad, q);
    assert_non_null(
        strstr(fx_load_fails(q, -EINVAL), "field 'benchmarks[0].some_counter' must be a number"));
    json_decref(bad);

    /* Google Benchmark's aggregates (mean, median, ...) are not repetitions. */
    bad = json_deep_copy(j);
    json_object_set_new(json_array_get(json_object_get(bad, "benchmarks"), 1), "run_type",
                        json_string("aggregate"));
    fx_dump_json(bad, q);
    assert_non_null(
        strstr(fx_load_fails(q, -EINVAL), "field 'benchmarks[1].run_type' must be \"iteration\""));
    json_decref(bad);

    /* Not JSON, not there. */
    FILE *f = fopen(q, "w");
    fputs("{\"context\": {\n  \"date\": }", f);
    fclose(f);
    assert_non_null(strstr(fx_load_fails(q, -EINVAL), "line 2 column"));
    char *gone = fx_path(dir, "absent.json");
    assert_non_null(strstr(fx_load_fails(gone, -ENOENT), "(expected a readable results file)"));
    free(gone);

    /* What breaks the format, each refused with the field named. */
    static const struct {
        const char *key, *value, *message;
    } breaks[] = {
        {"threads", "\"two\"", "field 'benchmarks[1].threads' must be a non-negative integer"},
        {"repetition_index", "-1",
         "field 'benchmarks[1].repetition_index' must be a non-negative integer"},
        {"workload", "\"elsewhere\"", "field 'benchmarks[1].name' must be \"elsewhere/"},
        {"pages_per_second", "{\"value\": 1}",
         "field 'benchmarks[1].pages_per_second' must be a number"},
        {"call_p99_ns", "[1, 2]", "field 'benchmarks[1].call_p99_ns' must be a number"},
        {"iterations", "1.5", "field 'benchmarks[1].iterations' must be a non-negative integer"},
        {"iterations", NULL, "missing required field 'benchmarks[1].iterations'"},
        {"name", NULL, "missing required field 'benchmarks[1].name'"},
    };
    for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
        bad = json_deep_copy(j);
        json_t *e = json_array_get(json_object_get(bad, "benchmarks"), 1);
        if (breaks[i].value)
            json_object_set_new(e, breaks[i].key,
                                json_loads(breaks[i].value, JSON_DECODE_ANY, NULL));
        else
            json_object_del(e, breaks[i].key);
        fx_dump_json(bad, q);
        const char *msg = fx_load_fails(q, -EINVAL);
        if (!strstr(msg, breaks[i].message))
            fail_msg("%s = %s: got \"%s\"", breaks[i].key, breaks[i].value, msg);
        json_decref(bad);
    }
    bad = json_deep_copy(j);
    json_object_del(json_object_get(bad, "context"), "git_commit");
    fx_dump_json(bad, q);
    assert_non_null(
        strstr(fx_load_fails(q, -EINVAL), "missing required field 'context.git_commit'"));
    json_decref(bad);

    /* Not a regular file: refused, named, without waiting on a FIFO. */
    assert_non_null(
        strstr(fx_load_fails(dir, -EISDIR), "is a directory (expected a results file)"));
    char *fifo = fx_path(dir, "fifo.json");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_non_null(strstr(fx_load_fails(fifo, -EINVAL), "is a FIFO (expected a results file)"));
    unlink(fifo);
    free(fifo);
    assert_non_null(
        strstr(fx_load_fails("/dev/null", -EINVAL), ": is a character device (expected"));

    json_decref(j);
    pb_results_free(doc);
    free(p);
    free(q);
    fx_rmtree(dir);
}

/* The per-metric view: groups by name, repetitions ascending, metrics in report order. */
static void test_view(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    /* Repetitions out of order, another benchmark between them, a value one lacks. */
    struct pb_results_bench *b2 = fx_add(doc, "boot", "xen", 2, 2, 3, 1.0);
    struct pb_results_bench *o = fx_add(doc, "boot", "pernode", 2, 0, 1, 1.0);
    struct pb_results_bench *b0 = fx_add(doc, "boot", "xen", 2, 0, 3, 1.0);
    assert_int_equal(pb_results_bench_set_counter(b2, "pages_per_second", 3), 0);
    assert_int_equal(pb_results_bench_set_counter(b0, "pages_per_second", 1), 0);
    assert_int_equal(pb_results_bench_set_counter(b0, "zeta_custom", 7), 0);
    assert_int_equal(pb_results_bench_set_counter(b2, "alpha_custom", 8), 0);
    assert_int_equal(pb_results_bench_set_counter(b0, "call_p50_ns", 5), 0);
    assert_int_equal(pb_results_bench_set_string(b0, "lock_hottest", "heap"), 0);
    assert_int_equal(pb_results_bench_set_counter(o, "pages_per_second", 9), 0);

    assert_int_equal(pb_results_group_count(doc), 2);
    const struct pb_results_group *g = pb_results_group_at(doc, 0);
    assert_string_equal(g->name, "boot/xen/threads:2");
    assert_string_equal(g->workload, "boot");
    assert_string_equal(g->variant, "xen");
    assert_int_equal(g->threads, 2);
    assert_int_equal(g->nrep, 2);
    assert_int_equal(g->rep_index[0], 0);
    assert_int_equal(g->rep_index[1], 2);
    assert_ptr_equal(g->rep[0], b0);
    assert_ptr_equal(pb_results_find_group(doc, "boot/pernode/threads:2"),
                     pb_results_group_at(doc, 1));
    assert_ptr_equal(pb_results_find_variant(doc, "boot", "xen", 2), g);
    assert_null(pb_results_find_variant(doc, "boot", "xen", 4));
    assert_null(pb_results_find_group(doc, "nothing"));

    /* The table's metrics in its order (fixed fields that measure included), then others by
     * name; the identity and the strings are not metrics. */
    static const char *const want[] = {"pages_per_second", "real_time",  "cpu_time",
                                       "call_p50_ns",      "iterations", "alpha_custom",
                                       "zeta_custom"};
    assert_int_equal(g->nmetric, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < g->nmetric; i++) {
        assert_string_equal(g->metric[i].name, want[i]);
        assert_ptr_equal(pb_results_group_metric(g, want[i]), &g->metric[i]);
    }
    assert_null(pb_results_group_metric(g, "threads"));
    assert_null(pb_results_group_metric(g, "lock_hottest"));
    const struct pb_results_metric *z = pb_results_group_metric(g, "zeta_custom");
    assert_true(z->val[0] == 7 && isnan(z->val[1]));
    double v[2];
    assert_int_equal(pb_results_metric_values(g, z, v), 1);
    assert_true(v[0] == 7);
    const struct pb_results_metric *pps = pb_results_group_metric(g, "pages_per_second");
    assert_int_equal(pb_results_metric_values(g, pps, v), 2);
    assert_true(v[0] == 1 && v[1] == 3);

    /* A change drops the view; the next read sees it. */
    assert_int_equal(pb_results_bench_set_counter(b2, "zeta_custom", 6), 0);
    g = pb_results_find_group(doc, "boot/xen/threads:2");
    assert_true(pb_results_group_metric(g, "zeta_custom")->val[1] == 6);
    pb_results_free(doc);
}

/* ============================================================================================
 * The builder's arguments, the environment, the metric table
 * ========================================================================================== */

static void test_bad_arguments_change_nothing(void **state)
{
    (void)state;
    struct pb_results *doc = fx_sample_doc(1.0, false, false),
                      *same = fx_sample_doc(1.0, false, false);
    assert_true(pb_results_equal(doc, same));
    struct pb_results_bench *b =
        (struct pb_results_bench *)pb_results_find_bench(doc, "bootstorm/xen/threads:1", 0);
    assert_non_null(b);

    assert_int_equal(pb_results_context_set_string(doc, "num_cpus", "2"), -EINVAL);
    assert_int_equal(pb_results_context_set_int(doc, "num_cpus", -1), -EINVAL);
    assert_int_equal(pb_results_context_set_int(doc, "popbench_results_version", 2), -EINVAL);
    assert_int_equal(pb_results_context_set_bool(doc, "date", true), -EINVAL);
    assert_int_equal(pb_results_context_set_number(doc, "seed", 1.5), -EINVAL);
    assert_int_equal(pb_results_context_set_number(doc, "x", NAN), -EINVAL);
    assert_int_equal(pb_results_context_set_string(doc, "backing", "tape"), -EINVAL);
    assert_int_equal(pb_results_context_set_string(doc, "Bad Key", "x"), -EINVAL);
    assert_int_equal(pb_results_context_set_string(doc, "", "x"), -EINVAL);
    assert_int_equal(pb_results_context_set_string(doc, "x", NULL), -EINVAL);
    assert_int_equal(pb_results_set_library_version(doc, "hwloc", ""), -EINVAL);
    assert_int_equal(pb_results_set_build_info(doc, "", "Release", NULL), -EINVAL);
    assert_int_equal(pb_results_set_command_line(doc, 1, NULL), -EINVAL);

    struct pb_results_bench *nb = NULL;
    struct pb_results_bench_spec spec = {"bootstorm", "xen", NULL, 1, 0, 3, 10, 1, 1};
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EEXIST); /* already there */
    spec.threads = 0;
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EINVAL);
    spec.threads = 4;
    spec.repetition_index = 3;
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EINVAL);
    spec.repetition_index = 0;
    spec.workload = "boot/storm";
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EINVAL);
    spec.workload = "bootstorm";
    spec.real_time_ns = -1;
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EINVAL);
    spec.real_time_ns = INFINITY;
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EINVAL);
    spec.real_time_ns = 1;
    spec.lock_kind = "";
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EINVAL);
    spec.lock_kind = NULL;
    spec.iterations = UINT64_MAX;
    assert_int_equal(pb_results_add_bench(doc, &spec, &nb), -EINVAL);
    assert_null(nb);

    assert_int_equal(pb_results_bench_set_counter(b, "call_p50_ns", NAN), -EINVAL);
    assert_int_equal(pb_results_bench_set_counter(b, "threads", 3), -EINVAL);
    assert_int_equal(pb_results_bench_set_counter(b, "lock_hottest", 3), -EINVAL);
    assert_int_equal(pb_results_bench_set_counter(b, "Pages", 3), -EINVAL);
    assert_int_equal(pb_results_bench_set_count(b, "calls", UINT64_MAX), -EINVAL);
    assert_int_equal(pb_results_bench_set_string(b, "label", "x"), -EINVAL);
    assert_int_equal(pb_results_bench_set_string(b, "lock_hottest", ""), -EINVAL);

    /* Sections: bad arguments must not even create the bench's run section. */
    const struct pb_results_bucket empty_bucket[] = {{5, 5, 1}};
    const struct pb_results_bucket overlap[] = {{0, 10, 1}, {5, 20, 1}};
    assert_int_equal(pb_results_bench_set_histogram(b, "call_ns", empty_bucket, 1), -EINVAL);
    assert_int_equal(pb_results_bench_set_histogram(b, "call_ns", overlap, 2), -EINVAL);
    assert_int_equal(pb_results_bench_set_histogram(b, "call_ns", NULL, 1), -EINVAL);
    assert_int_equal(pb_results_bench_set_histogram(b, "Call", overlap, 1), -EINVAL);
    struct pb_results_lock lock = {"heap", 1, 2, 0, 0, 0, 0, false};
    assert_int_equal(pb_results_bench_add_lock(b, &lock), -EINVAL);
    lock.contended = 0;
    lock.wait_ns_max = 1;
    assert_int_equal(pb_results_bench_add_lock(b, &lock), -EINVAL);
    lock.wait_ns_max = 0;
    lock.name = "";
    assert_int_equal(pb_results_bench_add_lock(b, &lock), -EINVAL);
    const uint64_t t[] = {1, 1}, v[] = {1, 2};
    assert_int_equal(pb_results_bench_set_timeseries(b, 100, t, 2), -EINVAL);
    assert_int_equal(pb_results_bench_set_timeseries(b, 0, v, 2), -EINVAL);
    assert_int_equal(pb_results_bench_add_series(b, "pages", v, 2), -EINVAL); /* no timeseries */
    const struct pb_results_thread th = {0, 0, 0, 0, UINT64_MAX, 0};
    assert_int_equal(pb_results_bench_add_thread(b, &th), -EINVAL);
    const struct pb_results_scrub sc = {UINT64_MAX, 0, 0, 0};
    assert_int_equal(pb_results_bench_set_scrub(b, &sc), -EINVAL);
    assert_int_equal(pb_results_bench_set_validator(b, ""), -EINVAL);
    assert_true(pb_results_equal(doc, same));
    assert_null(pb_results_bench_run_json(b));

    /* With a section there, duplicates and mismatched series are refused too. */
    lock.name = "heap";
    assert_int_equal(pb_results_bench_add_lock(b, &lock), 0);
    assert_int_equal(pb_results_bench_set_timeseries(b, 100, v, 2), 0);
    assert_int_equal(pb_results_bench_add_thread(
                         b, &(struct pb_results_thread){.index = 3, .pages = 1, .calls = 1}),
                     0);
    char *before = json_dumps(pb_results_bench_run_json(b), JSON_SORT_KEYS);
    assert_int_equal(pb_results_bench_add_lock(b, &lock), -EEXIST);
    assert_int_equal(pb_results_bench_add_series(b, "pages", v, 1), -EINVAL);
    assert_int_equal(pb_results_bench_add_series(b, "t_ms", v, 2), -EINVAL);
    assert_int_equal(pb_results_bench_add_thread(b, &(struct pb_results_thread){.index = 3}),
                     -EEXIST);
    char *after = json_dumps(pb_results_bench_run_json(b), JSON_SORT_KEYS);
    assert_string_equal(before, after);
    free(before);
    free(after);

    pb_results_free(doc);
    pb_results_free(same);
}

static void test_fill_environment(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    assert_int_equal(pb_results_fill_environment(doc), 0);
    const json_t *ctx = pb_results_context_json(doc);

    const char *date = pb_results_context_string(doc, "date");
    assert_non_null(date);
    /* 2026-11-26T06:00:00+00:00 */
    assert_int_equal(strlen(date), 25);
    assert_true(date[4] == '-' && date[10] == 'T' && date[13] == ':' && date[22] == ':');
    assert_true(date[19] == '+' || date[19] == '-');

    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    assert_string_equal(pb_results_context_string(doc, "host_name"), host);
    double v;
    assert_int_equal(pb_results_context_number(doc, "num_cpus", &v), 0);
    assert_true(v == (double)sysconf(_SC_NPROCESSORS_ONLN));
    assert_true(json_is_integer(json_object_get(ctx, "mhz_per_cpu")));
    assert_int_equal(json_array_size(json_object_get(ctx, "load_avg")), 3);
    assert_true(json_is_array(json_object_get(ctx, "caches")));
    const char *exe = pb_results_context_string(doc, "executable");
    assert_non_null(exe);
    assert_non_null(strstr(exe, "test_results"));

    const char *compiler = pb_results_context_string(doc, "compiler");
    assert_true(!strncmp(compiler, "GNU ", 4) || !strncmp(compiler, "Clang ", 6));
    const char *kernel = pb_results_context_string(doc, "kernel");
    assert_true(!strncmp(kernel, "Linux ", 6));
    assert_non_null(pb_results_context_string(doc, "cpu_model"));

    char gov[64] = "unknown";
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "r");
    if (f) {
        if (fscanf(f, "%63s", gov) != 1)
            strcpy(gov, "unknown");
        fclose(f);
    }
    assert_string_equal(pb_results_context_string(doc, "governor"), gov);
    bool scaling;
    assert_int_equal(pb_results_context_bool(doc, "cpu_scaling_enabled", &scaling), 0);
    assert_int_equal(scaling, strcmp(gov, "unknown") && strcmp(gov, "performance"));

    const json_t *libs = json_object_get(ctx, "libraries");
    assert_string_equal(json_string_value(json_object_get(libs, "jansson")), JANSSON_VERSION);
    assert_non_null(json_string_value(json_object_get(libs, "glibc")));
    pb_results_free(doc);
}

static void test_command_line_quoting(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    char *argv[] = {"popbench", "run", "--topology=pack:2 pu:4", "it's", ""};
    assert_int_equal(pb_results_set_command_line(doc, 5, argv), 0);
    assert_string_equal(pb_results_context_string(doc, "command_line"),
                        "popbench run '--topology=pack:2 pu:4' 'it'\\''s' ''");
    pb_results_free(doc);
}

static void test_metric_table(void **state)
{
    (void)state;
    assert_int_equal(pb_metric_direction("pages_per_second"), PB_METRIC_HIGHER);
    assert_int_equal(pb_metric_direction("gib_per_second"), PB_METRIC_HIGHER);
    assert_int_equal(pb_metric_direction("call_p99_ns"), PB_METRIC_LOWER);
    assert_int_equal(pb_metric_direction("lock_contended_pct"), PB_METRIC_LOWER);
    assert_int_equal(pb_metric_direction("instructions"), PB_METRIC_LOWER);
    assert_int_equal(pb_metric_direction("real_time"), PB_METRIC_LOWER);
    assert_int_equal(pb_metric_direction("pages_populated"), PB_METRIC_INFO);
    assert_int_equal(pb_metric_direction("locality"), PB_METRIC_HIGHER);
    assert_int_equal(pb_metric_direction("locality_min"), PB_METRIC_HIGHER);
    assert_int_equal(pb_metric_direction("locality_domains"), PB_METRIC_INFO);
    assert_int_equal(pb_metric_direction("iterations"), PB_METRIC_INFO);
    assert_int_equal(pb_metric_direction("continuations"), PB_METRIC_INFO);
    assert_int_equal(pb_metric_direction("continuations_per_call"), PB_METRIC_LOWER);
    /* Names the table lacks: rates are higher-is-better, the rest lower. */
    assert_int_equal(pb_metric_direction("widgets_per_second"), PB_METRIC_HIGHER);
    assert_int_equal(pb_metric_direction("zeta_custom"), PB_METRIC_LOWER);
    assert_null(pb_metric_find("zeta_custom"));
    assert_int_equal(pb_metric_rank("zeta_custom"), PB_NMETRICS);

    assert_int_equal(pb_metric_tier("lock_acq_per_page"), PB_TIER_DETERMINISTIC);
    assert_int_equal(pb_metric_tier("calls"), PB_TIER_DETERMINISTIC);
    assert_int_equal(pb_metric_tier("call_p99_ns"), PB_TIER_WALLCLOCK);
    assert_int_equal(pb_metric_tier("heap_splits"), PB_TIER_UNGATED);
    assert_true(pb_metric_is_tail("call_p99_ns"));
    assert_true(pb_metric_is_tail("invocation_max_ns"));
    assert_true(pb_metric_is_tail("p2m_lookup_p999_ns"));
    assert_false(pb_metric_is_tail("call_p90_ns"));
    assert_false(pb_metric_is_tail("lock_wait_ns_per_page"));
    assert_true(pb_metric_is_text("lock_hottest"));
    assert_false(pb_metric_is_text("pages_per_second"));

    /* Every row: found by its name at its place, a known unit; a latency's six rows are
     * consecutive (bench/report.c fills them in a loop); the terminal table's columns are
     * 1, 2, ... once each. */
    unsigned columns = 0;
    for (size_t i = 0; i < PB_NMETRICS; i++) {
        const struct pb_metric *m = &pb_metrics[i];
        assert_ptr_equal(pb_metric_find(m->name), m);
        assert_int_equal(pb_metric_rank(m->name), i);
        assert_true(*m->unit);
        if (m->percentile == 50) {
            static const double next[] = {90, 99, 99.9, 99.99, 100};
            assert_true(i + 5 < PB_NMETRICS);
            for (size_t k = 0; k < 5; k++)
                assert_true(pb_metrics[i + 1 + k].percentile == next[k]);
        }
        if (m->column) {
            assert_non_null(m->title);
            columns |= 1u << m->column;
        }
    }
    assert_int_equal(columns, 0x1ffe); /* columns 1 to 12 */

    /* The copy in the results' context. */
    json_t *t = pb_metric_table_json();
    assert_int_equal(json_object_size(t), PB_NMETRICS);
    json_t *row = json_object_get(t, "call_p999_ns");
    assert_string_equal(json_string_value(json_object_get(row, "unit")), "ns");
    assert_string_equal(json_string_value(json_object_get(row, "direction")), "lower");
    assert_string_equal(json_string_value(json_object_get(row, "tier")), "ungated");
    assert_true(json_is_true(json_object_get(row, "tail")));
    assert_true(json_real_value(json_object_get(row, "percentile")) == 99.9);
    assert_int_equal(json_integer_value(json_object_get(row, "rank")), PB_M_call_p999_ns);
    assert_null(json_object_get(json_object_get(t, "pages_per_second"), "percentile"));
    json_decref(t);
}

/* context.calibration's details (what popbench calibrate adds) sit beside the fields the gate
 * reads, never in their place, and survive a write and a read. */
static void test_calibration_details(void **state)
{
    (void)state;
    char *dir = fx_tmpdir(), *p = fx_path(dir, "cal.json");
    struct pb_results *doc = fx_sample_doc(1.0, true, true), *back;
    assert_int_equal(pb_results_set_calibration_detail(doc, "variant", json_string("xen")),
                     -ENOENT);
    const struct pb_results_calibration cal = {
        10, 40, 1, 0.025, 50, 10, 40, 38, 0.95, 0.03, "2026-12-01T06:00:00+00:00"};
    assert_int_equal(pb_results_set_calibration(doc, &cal), 0);
    assert_int_equal(pb_results_set_calibration_detail(doc, "aa_runs", json_integer(99)), -EEXIST);
    assert_int_equal(pb_results_set_calibration_detail(doc, "Bad-Key", json_true()), -EINVAL);
    assert_int_equal(pb_results_set_calibration_detail(doc, "variant", NULL), -EINVAL);
    assert_int_equal(pb_results_set_calibration_detail(doc, "variant", json_string("xen")), 0);
    assert_int_equal(
        pb_results_set_calibration_detail(doc, "workloads", json_pack("{s:{s:i}}", "w", "n", 1)),
        0);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    back = fx_load_ok(p);
    struct pb_results_calibration got;
    assert_int_equal(pb_results_get_calibration(back, &got), 0);
    assert_int_equal(got.aa_runs, 10);
    assert_int_equal(got.effect_detected, 38);
    assert_string_equal(got.date, cal.date);
    const json_t *c = json_object_get(pb_results_context_json(back), "calibration");
    assert_string_equal(json_string_value(json_object_get(c, "variant")), "xen");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(c, "workloads"), "w"), "n")),
                     1);
    pb_results_free(back);
    pb_results_free(doc);
    free(p);
    fx_rmtree(dir);
}

/* ============================================================================================
 * Samples for compare.py and the schema test, and main
 * ========================================================================================== */

static int write_samples(const char *dir)
{
    char *a = fx_path(dir, "A.json"), *b = fx_path(dir, "B.json");
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *da = fx_sample_doc(1.0, true, true), *db = fx_sample_doc(1.25, true, true);
    /* B carries a calibration, as `popbench calibrate` writes it. */
    const struct pb_results_calibration cal = {
        10, 40, 1, 0.025, 50, 10, 40, 38, 0.95, 0.03, "2026-12-01T06:00:00+00:00"};
    int rc = pb_results_set_calibration(db, &cal);
    rc = rc ? rc : pb_results_set_calibration_detail(db, "variant", json_string("xen"));
    rc = rc ? rc : pb_results_set_calibration_detail(db, "effect_share", json_null());
    rc = rc ? rc : pb_results_write_json(da, a, err, sizeof(err));
    if (!rc)
        rc = pb_results_write_json(db, b, err, sizeof(err));
    if (rc)
        fprintf(stderr, "%s\n", err);
    pb_results_free(da);
    pb_results_free(db);
    free(a);
    free(b);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-samples") == 0)
        return write_samples(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_partial_roundtrip),
        cmocka_unit_test(test_family_indices),
        cmocka_unit_test(test_reader_requires_what_schema_requires),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_written_files_load),
        cmocka_unit_test(test_reader_cross_checks),
        cmocka_unit_test(test_view),
        cmocka_unit_test(test_bad_arguments_change_nothing),
        cmocka_unit_test(test_fill_environment),
        cmocka_unit_test(test_command_line_quoting),
        cmocka_unit_test(test_metric_table),
        cmocka_unit_test(test_calibration_details),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
