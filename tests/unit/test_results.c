/*
 * test_results.c: the results document: build, write, read back; the schema; atomic writes;
 * CSV and table; the reader's errors.
 *
 * `test_results --write-samples DIR` writes DIR/A.json and DIR/B.json for the compare.py test
 * (test_results_compare.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "results/results.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PB_RESULTS_TEST_DATA
#error "PB_RESULTS_TEST_DATA: the fixtures directory, from tests/results.cmake"
#endif
#ifndef PB_RESULTS_SCHEMA
#error "PB_RESULTS_SCHEMA: results/schema-v1.json, from tests/results.cmake"
#endif

/* ============================================================================================
 * Helpers
 * ========================================================================================== */

static char *tmp_dir(void)
{
    const char *base = getenv("TMPDIR");
    char *dir;
    assert_true(asprintf(&dir, "%s/pb-results-XXXXXX", base && *base ? base : "/tmp") > 0);
    assert_non_null(mkdtemp(dir));
    /* Traversable by all: the unwritable-directory test runs a child as another user. */
    assert_int_equal(chmod(dir, 0755), 0);
    return dir;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

static char *path_in(const char *dir, const char *name)
{
    char *p;
    assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n = getdelim(&buf, &cap, '\0', f);
    fclose(f);
    assert_true(n >= 0);
    return buf;
}

/* Names in dir, sorted, joined by spaces. */
static char *dir_listing(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    assert_true(n >= 0);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    bool first = true;
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
            fprintf(f, "%s%s", first ? "" : " ", names[i]->d_name);
            first = false;
        }
        free(names[i]);
    }
    free(names);
    fclose(f);
    return out;
}

static char *capture(int (*print)(const struct pb_results *, FILE *), const struct pb_results *d)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(print(d, f), 0);
    fclose(f);
    return buf;
}

/* ============================================================================================
 * A document with every section, deterministic apart from the environment
 * ========================================================================================== */

static struct pb_results_bench *add(struct pb_results *doc, const char *workload,
                                    const char *variant, unsigned threads, unsigned rep,
                                    unsigned reps, double speed)
{
    struct pb_results_bench_spec spec = {
        .workload = workload,
        .variant = variant,
        .lock_kind = "ticket",
        .threads = threads,
        .repetition_index = rep,
        .repetitions = reps,
        .iterations = 1000 + rep,
        .real_time_ns = (812.5 + rep) / speed,
        .cpu_time_ns = (800.1 + rep) / speed,
    };
    struct pb_results_bench *b = NULL;
    assert_int_equal(pb_results_add_bench(doc, &spec, &b), 0);
    assert_non_null(b);
    return b;
}

/* speed scales the throughput figures: A and B of the compare.py test differ by it. */
static void fill_bench(struct pb_results_bench *b, double speed, unsigned rep, bool sections)
{
    assert_int_equal(pb_results_bench_set_counter(b, "pages_per_second", speed * (1.2e6 + rep)), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "gib_per_second", speed * 4.5), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "call_p50_ns", 100.0 * (rep + 1)), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "call_p99_ns", 1500.25), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "call_p999_ns", 0.1), 0); /* not exact */
    assert_int_equal(pb_results_bench_set_counter(b, "lock_contended_pct", 12.5), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "lock_wait_ns_per_page", 1e-300), 0);
    assert_int_equal(pb_results_bench_set_string(b, "lock_hottest", "heap.node0"), 0);
    assert_int_equal(pb_results_bench_set_count(b, "pages_populated", 123456789012345ull), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "zeta_custom", 123456789.123456789), 0);
    if (!sections)
        return;
    const struct pb_results_bucket buckets[] = {{0, 64, 3}, {64, 128, 10}, {256, 512, 1}};
    assert_int_equal(pb_results_bench_set_histogram(b, "call_ns", buckets, 3), 0);
    assert_int_equal(pb_results_bench_set_histogram(b, "p2m_lookup_ns", NULL, 0), 0);
    const struct pb_results_lock lock = {"heap.node0", 100, 7, 5000, 900, 20000, 300};
    assert_int_equal(pb_results_bench_add_lock(b, &lock), 0);
    const uint64_t t[] = {100, 200, 300}, pages[] = {10, 20, 30}, backlog[] = {5, 0, 0};
    assert_int_equal(pb_results_bench_set_timeseries(b, 100, t, 3), 0);
    assert_int_equal(pb_results_bench_add_series(b, "pages", pages, 3), 0);
    assert_int_equal(pb_results_bench_add_series(b, "scrub_backlog", backlog, 3), 0);
    const struct pb_results_thread th0 = {0, 0, 0, 0, 500, 50}, th1 = {1, 1, 0, 1, 700, 60};
    assert_int_equal(pb_results_bench_add_thread(b, &th0), 0);
    assert_int_equal(pb_results_bench_add_thread(b, &th1), 0);
    const struct pb_results_scrub scrub = {100, 200, 0, 3};
    assert_int_equal(pb_results_bench_set_scrub(b, &scrub), 0);
    assert_int_equal(pb_results_bench_set_validator(b, "ok"), 0);
}

/* real_env: what this machine reports; otherwise fixed values, for documents built twice. */
static void fill_context(struct pb_results *doc, bool real_env)
{
    if (real_env) {
        assert_int_equal(pb_results_fill_environment(doc), 0);
    } else {
        assert_int_equal(pb_results_context_set_string(doc, "date", "2026-11-26T06:00:00+00:00"),
                         0);
        assert_int_equal(pb_results_context_set_string(doc, "host_name", "h"), 0);
        assert_int_equal(pb_results_context_set_string(doc, "executable", "/bin/popbench"), 0);
        assert_int_equal(pb_results_context_set_int(doc, "num_cpus", 2), 0);
        assert_int_equal(pb_results_context_set_string(doc, "compiler", "GNU 12.2.0"), 0);
        assert_int_equal(pb_results_context_set_string(doc, "kernel", "Linux 6.1"), 0);
    }
    assert_int_equal(pb_results_set_build_info(doc, "abc123def456", "RelWithDebInfo", "-O2 -g"), 0);
    assert_int_equal(pb_results_set_library_version(doc, "hwloc", "2.9.0"), 0);
    assert_int_equal(pb_results_context_set_string(doc, "topology_real", "pack:1 core:2 pu:1"), 0);
    assert_int_equal(pb_results_context_set_string(doc, "backing", "real"), 0);
    assert_int_equal(pb_results_context_set_bool(doc, "oversubscribed", false), 0);
    assert_int_equal(pb_results_context_set_bool(doc, "jemalloc_active", true), 0);
    assert_int_equal(pb_results_context_set_int(doc, "seed", 1), 0);
    char *argv[] = {"popbench", "run", "--workload", "bootstorm"};
    assert_int_equal(pb_results_set_command_line(doc, 4, argv), 0);
}

/*
 * bootstorm/xen/threads:{1,2} and bootstorm/pernode/threads:2, three repetitions each; speed
 * scales throughput up and time per call down.
 */
static struct pb_results *sample_doc(double speed, bool sections, bool real_env)
{
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    fill_context(doc, real_env);
    static const struct {
        const char *variant;
        unsigned threads;
    } cases[] = {{"xen", 1}, {"xen", 2}, {"pernode", 2}};
    for (size_t c = 0; c < 3; c++)
        for (unsigned rep = 0; rep < 3; rep++)
            fill_bench(add(doc, "bootstorm", cases[c].variant, cases[c].threads, rep, 3, speed),
                       speed, rep, sections);
    return doc;
}

static struct pb_results *load_ok(const char *path)
{
    struct pb_results *doc = NULL;
    char err[PB_RESULTS_ERR_LEN];
    int rc = pb_results_load(path, &doc, err, sizeof(err));
    if (rc)
        fail_msg("load %s: %d %s", path, rc, err);
    return doc;
}

/* Loads a file expected to be refused; returns the message (static buffer). */
static const char *load_fails(const char *path, int expect_rc)
{
    static char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = NULL;
    assert_int_equal(pb_results_load(path, &doc, err, sizeof(err)), expect_rc);
    assert_null(doc);
    assert_non_null(strstr(err, path));
    return err;
}

/* ============================================================================================
 * A JSON Schema check for the keywords schema-v1.json uses; any other keyword fails loudly,
 * so the schema cannot grow a rule this check would silently skip.
 * ========================================================================================== */

static bool schema_type_ok(const char *type, const json_t *v)
{
    if (!strcmp(type, "object"))
        return json_is_object(v);
    if (!strcmp(type, "array"))
        return json_is_array(v);
    if (!strcmp(type, "string"))
        return json_is_string(v);
    if (!strcmp(type, "boolean"))
        return json_is_boolean(v);
    if (!strcmp(type, "null"))
        return json_is_null(v);
    if (!strcmp(type, "number"))
        return json_is_number(v);
    if (!strcmp(type, "integer"))
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    fail_msg("schema: unknown type %s", type);
    return false;
}

static bool schema_check(const json_t *root, const json_t *s, const json_t *v, const char *at,
                         char *why, size_t whysz)
{
    const char *kw;
    const json_t *arg;
    json_object_foreach((json_t *)s, kw, arg)
    {
        char sub[512];
        if (!strcmp(kw, "$schema") || !strcmp(kw, "title") || !strcmp(kw, "description") ||
            !strcmp(kw, "$defs") || !strcmp(kw, "format") || !strcmp(kw, "$comment"))
            continue;
        if (!strcmp(kw, "$ref")) {
            const char *ref = json_string_value(arg);
            assert_non_null(ref);
            assert_true(strncmp(ref, "#/$defs/", 8) == 0);
            const json_t *target = json_object_get(json_object_get(root, "$defs"), ref + 8);
            assert_non_null(target);
            if (!schema_check(root, target, v, at, why, whysz))
                return false;
        } else if (!strcmp(kw, "type")) {
            assert_true(json_is_string(arg));
            if (!schema_type_ok(json_string_value(arg), v)) {
                snprintf(why, whysz, "%s: not %s", at, json_string_value(arg));
                return false;
            }
        } else if (!strcmp(kw, "required")) {
            size_t i;
            const json_t *k;
            json_array_foreach(arg, i, k)
            {
                if (json_is_object(v) && !json_object_get(v, json_string_value(k))) {
                    snprintf(why, whysz, "%s: missing %s", at, json_string_value(k));
                    return false;
                }
            }
        } else if (!strcmp(kw, "properties") || !strcmp(kw, "additionalProperties")) {
            if (!json_is_object(v))
                continue;
            const json_t *props = json_object_get(s, "properties");
            const json_t *extra = json_object_get(s, "additionalProperties");
            const char *key;
            const json_t *x;
            json_object_foreach((json_t *)v, key, x)
            {
                const json_t *ps = json_object_get(props, key);
                bool is_prop = ps != NULL;
                if (!strcmp(kw, "properties") ? !is_prop : is_prop)
                    continue;
                if (!ps && json_is_false(extra)) {
                    snprintf(why, whysz, "%s: unexpected %s", at, key);
                    return false;
                }
                if (!ps && !json_is_object(extra))
                    continue;
                snprintf(sub, sizeof(sub), "%s.%s", at, key);
                if (!schema_check(root, ps ? ps : extra, x, sub, why, whysz))
                    return false;
            }
        } else if (!strcmp(kw, "items")) {
            size_t i;
            const json_t *x;
            json_array_foreach(v, i, x)
            {
                snprintf(sub, sizeof(sub), "%s[%zu]", at, i);
                if (!schema_check(root, arg, x, sub, why, whysz))
                    return false;
            }
        } else if (!strcmp(kw, "minItems") || !strcmp(kw, "maxItems")) {
            if (!json_is_array(v))
                continue;
            size_t n = json_array_size(v), lim = (size_t)json_integer_value(arg);
            if (kw[1] == 'i' ? n < lim : n > lim) {
                snprintf(why, whysz, "%s: %zu items", at, n);
                return false;
            }
        } else if (!strcmp(kw, "minimum")) {
            if (json_is_number(v) && json_number_value(v) < json_number_value(arg)) {
                snprintf(why, whysz, "%s: below minimum", at);
                return false;
            }
        } else if (!strcmp(kw, "const")) {
            if (!json_equal(v, arg)) {
                snprintf(why, whysz, "%s: not the constant", at);
                return false;
            }
        } else if (!strcmp(kw, "enum")) {
            bool found = false;
            size_t i;
            const json_t *x;
            json_array_foreach(arg, i, x) found |= json_equal(v, x);
            if (!found) {
                snprintf(why, whysz, "%s: not in enum", at);
                return false;
            }
        } else {
            fail_msg("schema keyword %s is not supported by this check", kw);
        }
    }
    return true;
}

static json_t *load_schema(void)
{
    json_error_t jerr;
    json_t *schema = json_load_file(PB_RESULTS_SCHEMA, JSON_REJECT_DUPLICATES, &jerr);
    if (!schema)
        fail_msg("%s: %d: %s", PB_RESULTS_SCHEMA, jerr.line, jerr.text);
    return schema;
}

static bool schema_valid(const json_t *schema, const json_t *doc, char *why, size_t whysz)
{
    snprintf(why, whysz, "valid");
    return schema_check(schema, schema, doc, "$", why, whysz);
}

static json_t *load_json(const char *path)
{
    json_error_t jerr;
    json_t *j = json_load_file(path, 0, &jerr);
    if (!j)
        fail_msg("%s: %s", path, jerr.text);
    return j;
}

static void dump_json(const json_t *j, const char *path)
{
    assert_int_equal(json_dump_file(j, path, JSON_INDENT(1)), 0);
}

/* ============================================================================================
 * Build, write, read back
 * ========================================================================================== */

static void test_roundtrip(void **state)
{
    (void)state;
    char *dir = tmp_dir(), *p1 = path_in(dir, "r.json"), *p2 = path_in(dir, "again.json");
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p1, err, sizeof(err)), 0);
    struct pb_results *back = load_ok(p1);
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

    const char *names[16];
    size_t n = pb_results_bench_counter_names(b, names, 16);
    assert_int_equal(n, 10);
    assert_string_equal(names[0], "pages_per_second");
    assert_string_equal(names[9], "zeta_custom");
    assert_int_equal(pb_results_bench_counter_names(b, names, 2), 10); /* the total */

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
    char *t1 = slurp(p1), *t2 = slurp(p2);
    assert_string_equal(t1, t2);
    /* Google Benchmark's context keys come first, and its entry keys in its order. */
    assert_true(strstr(t1, "\"date\"") < strstr(t1, "\"popbench_results_version\""));
    assert_true(strstr(t1, "\"name\"") < strstr(t1, "\"run_name\""));
    assert_true(strstr(t1, "\"run_name\"") < strstr(t1, "\"iterations\""));

    free(t1);
    free(t2);
    pb_results_free(doc);
    pb_results_free(back);
    free(p1);
    free(p2);
    rm_tree(dir);
}

static void test_partial_roundtrip(void **state)
{
    (void)state;
    char *dir = tmp_dir(), *p = path_in(dir, "p.json");
    struct pb_results *doc = sample_doc(1.0, false, true);
    assert_false(pb_results_is_partial(doc));
    for (int i = 0; i < 2; i++) {
        bool partial = i == 0;
        assert_int_equal(pb_results_set_partial(doc, partial), 0);
        assert_int_equal(pb_results_is_partial(doc), partial);
        assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
        char *text = slurp(p);
        assert_non_null(strstr(text, partial ? "\"partial\": true" : "\"partial\": false"));
        free(text);
        struct pb_results *back = load_ok(p);
        assert_int_equal(pb_results_is_partial(back), partial);
        bool flag = !partial;
        assert_int_equal(pb_results_context_bool(back, "partial", &flag), 0);
        assert_int_equal(flag, partial);
        assert_true(pb_results_equal(doc, back));
        pb_results_free(back);
    }
    pb_results_free(doc);
    free(p);
    rm_tree(dir);
}

static void test_family_indices(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    struct pb_results_bench *b[5] = {
        add(doc, "boot", "xen", 1, 0, 2, 1.0), add(doc, "boot", "xen", 2, 0, 2, 1.0),
        add(doc, "boot", "xen", 1, 1, 2, 1.0), add(doc, "boot", "pernode", 4, 0, 1, 1.0),
        add(doc, "boot", "xen", 8, 0, 1, 1.0),
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
 * The schema
 * ========================================================================================== */

static void test_written_json_matches_schema(void **state)
{
    (void)state;
    char *dir = tmp_dir(), *p = path_in(dir, "s.json"), *q = path_in(dir, "bad.json");
    char why[600];
    json_t *schema = load_schema();
    struct pb_results *doc = sample_doc(1.0, true, true);
    assert_int_equal(pb_results_set_partial(doc, true), 0);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    json_t *j = load_json(p);
    if (!schema_valid(schema, j, why, sizeof(why)))
        fail_msg("written file does not match the schema: %s", why);

    /* The check can fail: a missing required field, a wrong type, a string counter. */
    json_t *bad = json_deep_copy(j);
    json_object_del(json_object_get(bad, "context"), "git_commit");
    assert_false(schema_valid(schema, bad, why, sizeof(why)));
    assert_string_equal(why, "$.context: missing git_commit");
    json_decref(bad);
    bad = json_deep_copy(j);
    json_object_set_new(json_array_get(json_object_get(bad, "benchmarks"), 0), "threads",
                        json_string("2"));
    assert_false(schema_valid(schema, bad, why, sizeof(why)));
    json_decref(bad);
    bad = json_deep_copy(j);
    json_object_set_new(json_array_get(json_object_get(bad, "benchmarks"), 0), "some_counter",
                        json_string("fast"));
    assert_false(schema_valid(schema, bad, why, sizeof(why)));
    assert_string_equal(why, "$.benchmarks[0].some_counter: not number");
    /* ... and the reader refuses the same file. */
    dump_json(bad, q);
    assert_non_null(strstr(load_fails(q, -EINVAL), "'benchmarks[0].some_counter'"));
    json_decref(bad);

    json_decref(j);
    json_decref(schema);
    pb_results_free(doc);
    free(p);
    free(q);
    rm_tree(dir);
}

/* Every field the schema requires, the reader requires too, and names it when it is missing. */
static void test_reader_requires_what_schema_requires(void **state)
{
    (void)state;
    char *dir = tmp_dir(), *p = path_in(dir, "s.json"), *q = path_in(dir, "cut.json");
    json_t *schema = load_schema();
    struct pb_results *doc = sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    json_t *j = load_json(p);
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
            dump_json(cut, q);
            json_decref(cut);
            char want[200];
            snprintf(want, sizeof(want), "missing required field '%s%s'", pre, key);
            const char *err = load_fails(q, -EINVAL);
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
    rm_tree(dir);
}

/* The fixtures: a minimal valid file matches the schema and loads; the broken ones do not. */
static void test_fixtures(void **state)
{
    (void)state;
    char why[600];
    json_t *schema = load_schema();
    const char *min = PB_RESULTS_TEST_DATA "/v1-minimal.json";
    json_t *j = load_json(min);
    if (!schema_valid(schema, j, why, sizeof(why)))
        fail_msg("%s: %s", min, why);
    json_decref(j);
    struct pb_results *doc = load_ok(min);
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
    assert_string_equal(load_fails(unknown, -EINVAL), want);

    const char *no_pps = PB_RESULTS_TEST_DATA "/missing-pages-per-second.json";
    snprintf(want, sizeof(want),
             "results file '%s': missing required field 'benchmarks[1].pages_per_second'", no_pps);
    assert_string_equal(load_fails(no_pps, -EINVAL), want);

    const char *no_ver = PB_RESULTS_TEST_DATA "/no-version.json";
    snprintf(want, sizeof(want),
             "results file '%s': missing required field 'context.popbench_results_version'",
             no_ver);
    assert_string_equal(load_fails(no_ver, -EINVAL), want);

    const char *bad_name = PB_RESULTS_TEST_DATA "/name-mismatch.json";
    assert_non_null(strstr(load_fails(bad_name, -EINVAL),
                           "field 'benchmarks[0].name' must be \"bootstorm/xen/threads:4\""));
    json_decref(schema);
}

/* The checks a schema cannot state. */
static void test_reader_cross_checks(void **state)
{
    (void)state;
    char *dir = tmp_dir(), *p = path_in(dir, "s.json"), *q = path_in(dir, "bad.json");
    struct pb_results *doc = sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    json_t *j = load_json(p);

    json_t *bad = json_deep_copy(j);
    json_t *benches = json_object_get(bad, "benchmarks");
    json_array_append(benches, json_array_get(benches, 0));
    dump_json(bad, q);
    assert_non_null(strstr(load_fails(q, -EINVAL), "field 'benchmarks[9]' must be unique"));
    json_decref(bad);

    bad = json_deep_copy(j);
    json_t *run0 = json_array_get(json_object_get(json_object_get(bad, "popbench"), "runs"), 0);
    json_object_set_new(run0, "repetition_index", json_integer(7));
    dump_json(bad, q);
    assert_non_null(strstr(load_fails(q, -EINVAL), "field 'popbench.runs[0]' must be the section"));
    json_decref(bad);

    bad = json_deep_copy(j);
    run0 = json_array_get(json_object_get(json_object_get(bad, "popbench"), "runs"), 0);
    json_object_set_new(json_object_get(json_object_get(run0, "histograms"), "call_ns"), "count",
                        json_integer(15));
    dump_json(bad, q);
    assert_non_null(strstr(load_fails(q, -EINVAL),
                           "field 'popbench.runs[0].histograms.call_ns.count' must be the sum"));
    json_decref(bad);

    bad = json_deep_copy(j);
    run0 = json_array_get(json_object_get(json_object_get(bad, "popbench"), "runs"), 0);
    json_array_remove(json_object_get(json_object_get(run0, "timeseries"), "pages"), 0);
    dump_json(bad, q);
    assert_non_null(strstr(load_fails(q, -EINVAL),
                           "field 'popbench.runs[0].timeseries.pages' must be an array as long"));
    json_decref(bad);

    bad = json_deep_copy(j);
    json_object_set_new(json_array_get(json_object_get(bad, "benchmarks"), 2), "repetition_index",
                        json_integer(3));
    dump_json(bad, q);
    assert_non_null(strstr(load_fails(q, -EINVAL),
                           "field 'benchmarks[2].repetition_index' must be below repetitions"));
    json_decref(bad);

    /* Not JSON, not there. */
    FILE *f = fopen(q, "w");
    fputs("{\"context\": {\n  \"date\": }", f);
    fclose(f);
    assert_non_null(strstr(load_fails(q, -EINVAL), "line 2 column"));
    char *gone = path_in(dir, "absent.json");
    assert_non_null(strstr(load_fails(gone, -ENOENT), "cannot open results file"));
    free(gone);

    json_decref(j);
    pb_results_free(doc);
    free(p);
    free(q);
    rm_tree(dir);
}

/* ============================================================================================
 * Atomic writes
 * ========================================================================================== */

static void test_atomic_write_unwritable_dir(void **state)
{
    (void)state;
    char *dir = tmp_dir(), *sub = path_in(dir, "ro"), *p;
    assert_int_equal(mkdir(sub, 0755), 0);
    p = path_in(sub, "results.json");
    struct pb_results *doc = sample_doc(1.0, false, true);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    char *old = slurp(p);
    assert_int_equal(pb_results_set_partial(doc, true), 0); /* the new content differs */

    /* Root writes anywhere: the writer runs as nobody in a child instead. */
    if (geteuid() != 0)
        assert_int_equal(chmod(sub, 0555), 0);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        if (geteuid() == 0 && (setgid(65534) || setuid(65534)))
            _exit(77);
        if (access(sub, W_OK) == 0 || access(sub, X_OK) != 0)
            _exit(77);
        char err[PB_RESULTS_ERR_LEN] = "";
        int rc = pb_results_write_json(doc, p, err, sizeof(err));
        if (write(pfd[1], &rc, sizeof(rc)) != sizeof(rc) ||
            write(pfd[1], err, sizeof(err)) != sizeof(err))
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    int rc = 0;
    char err[PB_RESULTS_ERR_LEN] = "";
    ssize_t got = read(pfd[0], &rc, sizeof(rc));
    got += read(pfd[0], err, sizeof(err));
    close(pfd[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    chmod(sub, 0755);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77) {
        free(old);
        pb_results_free(doc);
        free(p);
        free(sub);
        rm_tree(dir);
        skip(); /* no way to make a directory unwritable here */
    }
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(got, (ssize_t)(sizeof(rc) + sizeof(err)));
    assert_int_equal(rc, -EACCES);
    char want[600];
    snprintf(want, sizeof(want), "cannot write results to '%s': creating a temporary file", p);
    assert_non_null(strstr(err, want));
    char *now = slurp(p);
    assert_string_equal(now, old);
    char *ls = dir_listing(sub);
    assert_string_equal(ls, "results.json");

    free(ls);
    free(now);
    free(old);
    pb_results_free(doc);
    free(p);
    free(sub);
    rm_tree(dir);
}

/* A write that fails halfway (the file-size limit) leaves the old file whole. */
static void test_atomic_write_fails_midway(void **state)
{
    (void)state;
    char *dir = tmp_dir(), *p = path_in(dir, "results.json");
    struct pb_results *doc = sample_doc(1.0, true, true);
    assert_int_equal(pb_results_write_json(doc, p, NULL, 0), 0);
    char *old = slurp(p);
    assert_true(strlen(old) > 4096);
    assert_int_equal(pb_results_set_partial(doc, true), 0);

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        struct rlimit lim = {4096, 4096};
        signal(SIGXFSZ, SIG_IGN);
        if (setrlimit(RLIMIT_FSIZE, &lim))
            _exit(77);
        char err[PB_RESULTS_ERR_LEN] = "";
        int rc = pb_results_write_json(doc, p, err, sizeof(err));
        if (write(pfd[1], &rc, sizeof(rc)) != sizeof(rc) ||
            write(pfd[1], err, sizeof(err)) != sizeof(err))
            _exit(1);
        _exit(0);
    }
    close(pfd[1]);
    int rc = 0, status;
    char err[PB_RESULTS_ERR_LEN] = "";
    ssize_t got = read(pfd[0], &rc, sizeof(rc));
    got += read(pfd[0], err, sizeof(err));
    close(pfd[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(got, (ssize_t)(sizeof(rc) + sizeof(err)));
    assert_int_equal(rc, -EFBIG);
    char want[600];
    snprintf(want, sizeof(want), "cannot write results to '%s': writing the temporary file", p);
    assert_non_null(strstr(err, want));
    char *now = slurp(p);
    assert_string_equal(now, old);
    char *ls = dir_listing(dir);
    assert_string_equal(ls, "results.json");

    free(ls);
    free(now);
    free(old);
    pb_results_free(doc);
    free(p);
    rm_tree(dir);
}

static void test_atomic_write_failures_leave_nothing(void **state)
{
    (void)state;
    char *dir = tmp_dir(), err[PB_RESULTS_ERR_LEN];
    struct pb_results *doc = sample_doc(1.0, false, true);

    /* The rename fails (a directory is in the way): the temporary file goes. */
    char *target = path_in(dir, "target");
    assert_int_equal(mkdir(target, 0755), 0);
    assert_int_equal(pb_results_write_json(doc, target, err, sizeof(err)), -EISDIR);
    assert_non_null(strstr(err, target));
    assert_non_null(strstr(err, "renaming"));
    char *ls = dir_listing(dir);
    assert_string_equal(ls, "target");
    free(ls);
    assert_int_equal(pb_results_write_csv(doc, target, err, sizeof(err)), -EISDIR);
    ls = dir_listing(dir);
    assert_string_equal(ls, "target");
    free(ls);

    /* No such directory. */
    char *nowhere = path_in(dir, "nope/r.json");
    assert_int_equal(pb_results_write_json(doc, nowhere, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, nowhere));

    /* A document without its environment is refused, not written unreadable. */
    struct pb_results *bare;
    assert_int_equal(pb_results_create(&bare), 0);
    char *p = path_in(dir, "bare.json");
    assert_int_equal(pb_results_write_json(bare, p, err, sizeof(err)), -EINVAL);
    char want[600];
    snprintf(want, sizeof(want),
             "cannot write results to '%s': missing required field 'context.date'", p);
    assert_string_equal(err, want);
    assert_int_equal(access(p, F_OK), -1);
    /* ... nor one whose entry lacks pages_per_second. */
    fill_context(bare, false);
    add(bare, "w", "v", 1, 0, 1, 1.0);
    assert_int_equal(pb_results_write_json(bare, p, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'benchmarks[0].pages_per_second'"));
    ls = dir_listing(dir);
    assert_string_equal(ls, "target");
    free(ls);

    /* Replacing: the new content, the old mode, nothing left beside it. */
    char *r = path_in(dir, "r.json");
    assert_int_equal(pb_results_write_json(doc, r, err, sizeof(err)), 0);
    struct stat st;
    assert_int_equal(stat(r, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(chmod(r, 0600), 0);
    assert_int_equal(pb_results_set_partial(doc, true), 0);
    assert_int_equal(pb_results_write_json(doc, r, err, sizeof(err)), 0);
    assert_int_equal(stat(r, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    struct pb_results *back = load_ok(r);
    assert_true(pb_results_is_partial(back));
    pb_results_free(back);
    ls = dir_listing(dir);
    assert_string_equal(ls, "r.json target");
    free(ls);

    free(r);
    free(p);
    pb_results_free(bare);
    free(nowhere);
    free(target);
    pb_results_free(doc);
    rm_tree(dir);
}

/* ============================================================================================
 * CSV and the table
 * ========================================================================================== */

static void test_csv(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    struct pb_results_bench_spec spec = {"boot", "xen", NULL, 2, 0, 1, 10, 0.1, 2.0};
    struct pb_results_bench *a, *b;
    assert_int_equal(pb_results_add_bench(doc, &spec, &a), 0);
    spec.variant = "pernode";
    spec.lock_kind = "ticket";
    assert_int_equal(pb_results_add_bench(doc, &spec, &b), 0);
    /* Counters set in an odd order, unknown ones among them. */
    assert_int_equal(pb_results_bench_set_counter(a, "zeta", 1), 0);
    assert_int_equal(pb_results_bench_set_counter(a, "call_p99_ns", 250.5), 0);
    assert_int_equal(pb_results_bench_set_counter(a, "pages_per_second", 1e6), 0);
    assert_int_equal(pb_results_bench_set_string(a, "lock_hottest", "heap, \"node0\""), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "pages_per_second", 2.5e6), 0);
    assert_int_equal(pb_results_bench_set_count(b, "calls", 42), 0);
    assert_int_equal(pb_results_bench_set_counter(b, "alpha", 0.3), 0);

    char *csv = capture(pb_results_print_csv, doc);
    assert_string_equal(
        csv, "name,workload,variant,lock_kind,threads,repetition_index,repetitions,iterations,"
             "real_time,cpu_time,time_unit,pages_per_second,call_p99_ns,lock_hottest,calls,"
             "alpha,zeta\n"
             "boot/xen/threads:2,boot,xen,,2,0,1,10,0.1,2,ns,1000000,250.5,"
             "\"heap, \"\"node0\"\"\",,,1\n"
             "boot/pernode/threads:2,boot,pernode,ticket,2,0,1,10,0.1,2,ns,2500000,,,42,0.3,\n");

    char *dir = tmp_dir(), *p = path_in(dir, "r.csv");
    assert_int_equal(pb_results_write_csv(doc, p, NULL, 0), 0);
    char *file = slurp(p);
    assert_string_equal(file, csv);
    free(file);
    free(csv);

    /* No entries: the header of the fixed columns alone. */
    struct pb_results *empty;
    assert_int_equal(pb_results_create(&empty), 0);
    csv = capture(pb_results_print_csv, empty);
    assert_string_equal(csv, "name,workload,variant,lock_kind,threads,repetition_index,"
                             "repetitions,iterations,real_time,cpu_time,time_unit\n");
    free(csv);
    pb_results_free(empty);
    free(p);
    rm_tree(dir);
    pb_results_free(doc);
}

static void test_table(void **state)
{
    (void)state;
    struct pb_results *doc;
    assert_int_equal(pb_results_create(&doc), 0);
    static const double pps[3] = {1e6, 3e6, 2e6}, p50[3] = {300, 100, 200};
    static const char *const hot[3] = {"heap.node1", "heap.global", "heap.global"};
    for (unsigned r = 0; r < 3; r++) {
        struct pb_results_bench *b = add(doc, "bootstorm", "xen", 2, r, 3, 1.0);
        assert_int_equal(pb_results_bench_set_counter(b, "pages_per_second", pps[r]), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "call_p50_ns", p50[r]), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "call_p99_ns", 1500), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "call_p999_ns", 2.5e6 * (r + 1)), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "lock_contended_pct", 10.0 * r), 0);
        assert_int_equal(pb_results_bench_set_counter(b, "lock_wait_ns_per_page", 40 + r), 0);
        assert_int_equal(pb_results_bench_set_string(b, "lock_hottest", hot[r]), 0);
        /* Another group between the repetitions: grouping is by name, not adjacency. */
        if (r == 0) {
            struct pb_results_bench *o = add(doc, "bootstorm", "pernode", 16, 0, 2, 1.0);
            assert_int_equal(pb_results_bench_set_counter(o, "pages_per_second", 4.56e9), 0);
        }
    }
    assert_int_equal(pb_results_set_partial(doc, true), 0);
    char *t = capture(pb_results_print_table, doc);
    assert_string_equal(
        t, "partial run: only the repetitions that finished\n"
           "workload   variant  threads  reps  pages/s  call p50     p99   p99.9  hottest lock  "
           "contended  wait/page\n"
           "bootstorm  xen            2     3    2.00M     200ns  1.50us  5.00ms  heap.global   "
           "    10.0%     41.0ns\n"
           "bootstorm  pernode       16   1/2    4.56G         -       -       -  -             "
           "        -          -\n");
    free(t);
    pb_results_free(doc);

    assert_int_equal(pb_results_create(&doc), 0);
    t = capture(pb_results_print_table, doc);
    assert_string_equal(t, "no benchmarks\n");
    free(t);
    pb_results_free(doc);
}

static void test_human_numbers(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *rate, *ns;
    } cases[] = {
        {0, "0", "0ns"},
        {5.5, "5.50", "5.50ns"},
        {812, "812", "812ns"},
        {999.4, "999", "999ns"},
        {999.6, "1.00k", "1.00us"},
        {1234, "1.23k", "1.23us"},
        {45.6e6, "45.6M", "45.6ms"},
        {7e9, "7.00G", "7.00s"},
        {3.6e12, "3.60T", "3600s"},
        {-2500, "-2.50k", "-2.50us"},
        {NAN, "-", "-"},
    };
    char buf[PB_RESULTS_FMT_LEN];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_string_equal(pb_results_fmt_rate(cases[i].v, buf), cases[i].rate);
        assert_string_equal(pb_results_fmt_ns(cases[i].v, buf), cases[i].ns);
    }
}

/* ============================================================================================
 * The builder's arguments and the environment
 * ========================================================================================== */

static void test_bad_arguments_change_nothing(void **state)
{
    (void)state;
    struct pb_results *doc = sample_doc(1.0, false, false), *same = sample_doc(1.0, false, false);
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
    struct pb_results_lock lock = {"heap", 1, 2, 0, 0, 0, 0};
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

static void test_metric_direction(void **state)
{
    (void)state;
    assert_int_equal(pb_results_metric_direction("pages_per_second"), PB_RESULTS_HIGHER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("gib_per_second"), PB_RESULTS_HIGHER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("call_p99_ns"), PB_RESULTS_LOWER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("lock_contended_pct"), PB_RESULTS_LOWER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("instructions"), PB_RESULTS_LOWER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("real_time"), PB_RESULTS_LOWER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("pages_populated"), PB_RESULTS_INFORMATIONAL);
    assert_int_equal(pb_results_metric_direction("locality"), PB_RESULTS_HIGHER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("locality_min"), PB_RESULTS_HIGHER_IS_BETTER);
    assert_int_equal(pb_results_metric_direction("locality_domains"), PB_RESULTS_INFORMATIONAL);
    assert_int_equal(pb_results_metric_direction("iterations"), PB_RESULTS_INFORMATIONAL);
    assert_int_equal(pb_results_metric_direction("continuations"), PB_RESULTS_INFORMATIONAL);
    assert_int_equal(pb_results_metric_direction("continuations_per_call"),
                     PB_RESULTS_LOWER_IS_BETTER);
}

/* ============================================================================================
 * Samples for compare.py, and main
 * ========================================================================================== */

static int write_samples(const char *dir)
{
    char *a = path_in(dir, "A.json"), *b = path_in(dir, "B.json");
    char err[PB_RESULTS_ERR_LEN];
    struct pb_results *da = sample_doc(1.0, true, true), *db = sample_doc(1.25, true, true);
    int rc = pb_results_write_json(da, a, err, sizeof(err));
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
        cmocka_unit_test(test_written_json_matches_schema),
        cmocka_unit_test(test_reader_requires_what_schema_requires),
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_reader_cross_checks),
        cmocka_unit_test(test_atomic_write_unwritable_dir),
        cmocka_unit_test(test_atomic_write_fails_midway),
        cmocka_unit_test(test_atomic_write_failures_leave_nothing),
        cmocka_unit_test(test_csv),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_human_numbers),
        cmocka_unit_test(test_bad_arguments_change_nothing),
        cmocka_unit_test(test_fill_environment),
        cmocka_unit_test(test_command_line_quoting),
        cmocka_unit_test(test_metric_direction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
