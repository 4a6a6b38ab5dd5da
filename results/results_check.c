/*
 * results_check.c: the format's fields, the check that both the reader and the writers run (so
 * that nothing writes a file the reader would refuse), and the reader.
 *
 * The check indexes every entry by its identity (name, repetition_index) in a hash, so that
 * unique identities and the sections' entries are found in time linear in the file.
 */
#include "results/results_internal.h"

#include "core/pb.h"
#include "results/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ============================================================================================
 * The format's fields
 * ========================================================================================== */

/* Google Benchmark's keys first, then popbench's, in the order they are written. */
const struct pb_field_rule pb_results_context_rules[] = {
    {"date", FT_STRING, true},
    {"host_name", FT_STRING, true},
    {"executable", FT_STRING, true},
    {"num_cpus", FT_UINT, true},
    {"mhz_per_cpu", FT_UINT, false},
    {"cpu_scaling_enabled", FT_BOOL, false},
    {"caches", FT_ARRAY, false},
    {"load_avg", FT_ARRAY, false},
    {"library_build_type", FT_STRING, false},
    {"popbench_results_version", FT_UINT, true},
    {"popbench_version", FT_STRING, true},
    {"git_commit", FT_STRING, true},
    {"build_type", FT_STRING, true},
    {"compiler", FT_STRING, true},
    {"cflags", FT_STRING, false},
    {"kernel", FT_STRING, true},
    {"cpu_model", FT_STRING, false},
    {"governor", FT_STRING, false},
    {"libraries", FT_OBJECT, false},
    {"topology_real", FT_STRING, false},
    {"topology_virtual", FT_STRING, false},
    {"oversubscribed", FT_BOOL, false},
    {"backing", FT_STRING, false},
    {"jemalloc_active", FT_BOOL, false},
    {"seed", FT_UINT, false},
    {"partial", FT_BOOL, true},
    {"command_line", FT_STRING, false},
    {"calibration", FT_OBJECT, false},
    {"metrics", FT_OBJECT, false},
};
const size_t pb_results_ncontext_rules = PB_ARRAY_SIZE(pb_results_context_rules);

/* The fixed fields of an entry, in the order they are written (Google Benchmark's). */
const struct pb_field_rule pb_results_bench_rules[] = {
    {"name", FT_STRING, true},           {"run_name", FT_STRING, true},
    {"run_type", FT_STRING, true},       {"repetitions", FT_UINT, true},
    {"repetition_index", FT_UINT, true}, {"threads", FT_UINT, true},
    {"family_index", FT_UINT, true},     {"per_family_instance_index", FT_UINT, true},
    {"iterations", FT_UINT, true},       {"real_time", FT_NUMBER, true},
    {"cpu_time", FT_NUMBER, true},       {"time_unit", FT_STRING, true},
    {"workload", FT_STRING, true},       {"variant", FT_STRING, true},
    {"lock_kind", FT_STRING, false},
};
const size_t pb_results_nbench_rules = PB_ARRAY_SIZE(pb_results_bench_rules);

/* context.calibration: what `popbench calibrate` measured of this machine's verdicts. */
const struct pb_field_rule pb_results_calibration_rules[PB_RESULTS_NCALIBRATION_FIELDS] = {
    {"aa_runs", FT_UINT, true},
    {"aa_verdicts", FT_UINT, true},
    {"aa_false_alarms", FT_UINT, true},
    {"aa_false_alarm_rate", FT_NUMBER, true},
    {"effect_ns", FT_UINT, true},
    {"effect_runs", FT_UINT, true},
    {"effect_verdicts", FT_UINT, true},
    {"effect_detected", FT_UINT, true},
    {"effect_detection_rate", FT_NUMBER, true},
    {"precision_target", FT_NUMBER, true},
    {"date", FT_STRING, true},
};

const char *const pb_results_lock_fields[PB_RESULTS_NLOCK_FIELDS] = {
    "acquisitions", "contended", "wait_ns_total", "wait_ns_max", "hold_ns_total", "hold_ns_max"};
const char *const pb_results_thread_fields[PB_RESULTS_NTHREAD_FIELDS] = {"index", "vcpu",  "node",
                                                                         "pu",    "pages", "calls"};
const char *const pb_results_scrub_fields[PB_RESULTS_NSCRUB_FIELDS] = {"on_alloc", "background",
                                                                       "domain_build", "aborts"};

bool pb_results_is_fixed_field(const char *name)
{
    return pb_results_find_rule(pb_results_bench_rules, pb_results_nbench_rules, name) != NULL;
}

const struct pb_field_rule *pb_results_find_rule(const struct pb_field_rule *rules, size_t n,
                                                 const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].key, key) == 0)
            return &rules[i];
    return NULL;
}

bool pb_results_valid_backing(const char *v)
{
    return strcmp(v, "real") == 0 || strcmp(v, "none") == 0 || strcmp(v, "aliased") == 0 ||
           strcmp(v, "mixed") == 0;
}

bool pb_results_is_uint(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0;
    /* JSON does not tell 2 from 2.0; other writers may not either. */
    double d = json_real_value(v);
    return json_is_real(v) && d >= 0 && d < 9.2e18 && d == floor(d);
}

const char *pb_results_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

uint64_t pb_results_uint(const json_t *obj, const char *key)
{
    /* Checked on load and set by the builder: a non-negative integral number. */
    return (uint64_t)json_number_value(json_object_get(obj, key));
}

const char *pb_results_key(char *buf, size_t sz, const char *name, uint64_t repetition_index,
                           char **heap)
{
    *heap = NULL;
    int n = snprintf(buf, sz, "%llu:%s", (unsigned long long)repetition_index, name);
    if (n >= 0 && (size_t)n < sz)
        return buf;
    if (asprintf(heap, "%llu:%s", (unsigned long long)repetition_index, name) < 0) {
        *heap = NULL;
        return NULL;
    }
    return *heap;
}

/* ============================================================================================
 * The check: everything the reader relies on, with the field named
 * ========================================================================================== */

struct check {
    const char *what; /* "results file 'x.json'" */
    char *err;
    size_t errsz;
};

static int missing(struct check *c, const char *field)
{
    pb_errf(c->err, c->errsz, "%s: missing required field '%s'", c->what, field);
    return -EINVAL;
}

static int wrong(struct check *c, const char *field, const char *expected)
{
    pb_errf(c->err, c->errsz, "%s: field '%s' must be %s", c->what, field, expected);
    return -EINVAL;
}

static bool type_ok(const json_t *v, enum pb_field_type t)
{
    switch (t) {
    case FT_STRING:
        return json_is_string(v);
    case FT_UINT:
        return pb_results_is_uint(v);
    case FT_NUMBER:
        return json_is_number(v);
    case FT_BOOL:
        return json_is_boolean(v);
    case FT_ARRAY:
        return json_is_array(v);
    case FT_OBJECT:
        return json_is_object(v);
    }
    PB_BUG_ON(1);
}

static const char *type_name(enum pb_field_type t)
{
    static const char *const names[] = {
        [FT_STRING] = "a string", [FT_UINT] = "a non-negative integer",
        [FT_NUMBER] = "a number", [FT_BOOL] = "true or false",
        [FT_ARRAY] = "an array",  [FT_OBJECT] = "an object",
    };
    return names[t];
}

/* A field's path ("benchmarks[2].threads") into buf; a path too long for it is cut short. */
__attribute__((format(printf, 3, 4))) static const char *path_of(char *buf, size_t sz,
                                                                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sz, fmt, ap);
    va_end(ap);
    return buf;
}

/* "prefix.key" into buf. */
static const char *field(char *buf, size_t sz, const char *prefix, const char *key)
{
    return path_of(buf, sz, "%s.%s", prefix, key);
}

static int check_rules(struct check *c, const json_t *obj, const char *prefix,
                       const struct pb_field_rule *rules, size_t n)
{
    char f[256];
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, rules[i].key);
        if (!v && rules[i].required)
            return missing(c, field(f, sizeof(f), prefix, rules[i].key));
        if (v && !type_ok(v, rules[i].type))
            return wrong(c, field(f, sizeof(f), prefix, rules[i].key), type_name(rules[i].type));
    }
    return 0;
}

/* Every listed key present as a non-negative integer. */
static int check_uints(struct check *c, const json_t *obj, const char *prefix,
                       const char *const *keys, size_t n)
{
    char f[256];
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, keys[i]);
        if (!v)
            return missing(c, field(f, sizeof(f), prefix, keys[i]));
        if (!pb_results_is_uint(v))
            return wrong(c, field(f, sizeof(f), prefix, keys[i]), type_name(FT_UINT));
    }
    return 0;
}

static int out_of_memory(struct check *c)
{
    pb_errf(c->err, c->errsz, "%s: out of memory", c->what);
    return -ENOMEM;
}

/* Adds the identity (name, repetition_index) of o, at position pos, to index; one already
 * there is an error naming o (at path p) and what had it first. */
static int index_add(struct check *c, json_t *index, const json_t *o, size_t pos, const char *p,
                     const char *earlier)
{
    char buf[256], *heap, expect[96];
    const char *k = pb_results_key(buf, sizeof(buf), pb_results_str(o, "name"),
                                   pb_results_uint(o, "repetition_index"), &heap);
    int rc = 0;
    if (!k)
        rc = out_of_memory(c);
    else if (json_object_get(index, k)) {
        snprintf(expect, sizeof(expect), "unique (%s has its name and repetition_index)", earlier);
        rc = wrong(c, p, expect);
    } else if (json_object_set_new(index, k, json_integer((json_int_t)pos))) {
        rc = out_of_memory(c);
    }
    free(heap);
    return rc;
}

/* A fraction in [0, 1] of an object's checked number field. */
static bool fraction(const json_t *o, const char *key)
{
    double v = json_number_value(json_object_get(o, key));
    return v >= 0 && v <= 1;
}

static int check_calibration(struct check *c, const json_t *cal)
{
    const char *p = "context.calibration";
    int rc = check_rules(c, cal, p, pb_results_calibration_rules, PB_RESULTS_NCALIBRATION_FIELDS);
    if (rc)
        return rc;
    if (!fraction(cal, "aa_false_alarm_rate"))
        return wrong(c, "context.calibration.aa_false_alarm_rate", "a fraction from 0 to 1");
    if (!fraction(cal, "effect_detection_rate"))
        return wrong(c, "context.calibration.effect_detection_rate", "a fraction from 0 to 1");
    if (pb_results_uint(cal, "aa_false_alarms") > pb_results_uint(cal, "aa_verdicts"))
        return wrong(c, "context.calibration.aa_false_alarms", "at most aa_verdicts");
    if (pb_results_uint(cal, "effect_detected") > pb_results_uint(cal, "effect_verdicts"))
        return wrong(c, "context.calibration.effect_detected", "at most effect_verdicts");
    if (!(json_number_value(json_object_get(cal, "precision_target")) > 0))
        return wrong(c, "context.calibration.precision_target", "above 0");
    return 0;
}

static int check_context(struct check *c, const json_t *ctx)
{
    char f[256];
    const json_t *v;
    size_t i;
    int rc = check_rules(c, ctx, "context", pb_results_context_rules, pb_results_ncontext_rules);
    if (rc)
        return rc;
    json_array_foreach(json_object_get(ctx, "load_avg"), i, v)
    {
        if (!json_is_number(v)) {
            path_of(f, sizeof(f), "context.load_avg[%zu]", i);
            return wrong(c, f, type_name(FT_NUMBER));
        }
    }
    json_array_foreach(json_object_get(ctx, "caches"), i, v)
    {
        static const struct pb_field_rule cache_rules[] = {{"type", FT_STRING, true},
                                                           {"level", FT_UINT, true},
                                                           {"size", FT_UINT, true},
                                                           {"num_sharing", FT_UINT, true}};
        path_of(f, sizeof(f), "context.caches[%zu]", i);
        if (!json_is_object(v))
            return wrong(c, f, type_name(FT_OBJECT));
        rc = check_rules(c, v, f, cache_rules, PB_ARRAY_SIZE(cache_rules));
        if (rc)
            return rc;
    }
    const char *key;
    json_object_foreach((json_t *)json_object_get(ctx, "libraries"), key, v)
    {
        if (!json_is_string(v))
            return wrong(c, field(f, sizeof(f), "context.libraries", key), type_name(FT_STRING));
    }
    if (json_array_size(json_object_get(ctx, "load_avg")) > 3)
        return wrong(c, "context.load_avg", "at most 3 numbers");
    const char *lbt = json_string_value(json_object_get(ctx, "library_build_type"));
    if (lbt && strcmp(lbt, "release") && strcmp(lbt, "debug"))
        return wrong(c, "context.library_build_type", "\"release\" or \"debug\"");
    const char *backing = json_string_value(json_object_get(ctx, "backing"));
    if (backing && !pb_results_valid_backing(backing))
        return wrong(c, "context.backing", "\"real\", \"none\", \"aliased\" or \"mixed\"");
    const json_t *cal = json_object_get(ctx, "calibration");
    if (cal && (rc = check_calibration(c, cal)))
        return rc;
    static const struct pb_field_rule metric_rules[] = {
        {"rank", FT_UINT, true},   {"unit", FT_STRING, true}, {"direction", FT_STRING, true},
        {"tier", FT_STRING, true}, {"tail", FT_BOOL, true},   {"percentile", FT_NUMBER, false},
    };
    json_object_foreach((json_t *)json_object_get(ctx, "metrics"), key, v)
    {
        field(f, sizeof(f), "context.metrics", key);
        if (!json_is_object(v))
            return wrong(c, f, type_name(FT_OBJECT));
        rc = check_rules(c, v, f, metric_rules, PB_ARRAY_SIZE(metric_rules));
        if (rc)
            return rc;
    }
    return 0;
}

static int check_bench(struct check *c, const json_t *e, size_t idx, json_t *index)
{
    char p[64], f[256];
    path_of(p, sizeof(p), "benchmarks[%zu]", idx);
    if (!json_is_object(e))
        return wrong(c, p, type_name(FT_OBJECT));
    int rc = check_rules(c, e, p, pb_results_bench_rules, pb_results_nbench_rules);
    if (rc)
        return rc;
    /* The counters: numbers, but for the table's strings (lock_hottest). The fixed fields
     * have their types from the rules; asking only of other types keeps this quick. */
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v)
    {
        if (json_is_number(v) ? !pb_metric_is_text(key) : pb_results_is_fixed_field(key))
            continue;
        bool str = pb_metric_is_text(key);
        if (str ? !json_is_string(v) : !json_is_number(v))
            return wrong(c, field(f, sizeof(f), p, key), type_name(str ? FT_STRING : FT_NUMBER));
    }
    if (strcmp(pb_results_str(e, "run_type"), "iteration"))
        return wrong(c, field(f, sizeof(f), p, "run_type"), "\"iteration\"");
    if (strcmp(pb_results_str(e, "time_unit"), "ns"))
        return wrong(c, field(f, sizeof(f), p, "time_unit"), "\"ns\"");
    if (json_number_value(json_object_get(e, "real_time")) < 0)
        return wrong(c, field(f, sizeof(f), p, "real_time"), "at least 0");
    if (json_number_value(json_object_get(e, "cpu_time")) < 0)
        return wrong(c, field(f, sizeof(f), p, "cpu_time"), "at least 0");
    uint64_t reps = pb_results_uint(e, "repetitions"), threads = pb_results_uint(e, "threads");
    if (reps == 0)
        return wrong(c, field(f, sizeof(f), p, "repetitions"), "at least 1");
    if (threads == 0)
        return wrong(c, field(f, sizeof(f), p, "threads"), "at least 1");
    if (pb_results_uint(e, "repetition_index") >= reps)
        return wrong(c, field(f, sizeof(f), p, "repetition_index"), "below repetitions");
    char *name;
    if (asprintf(&name, "%s/%s/threads:%llu", pb_results_str(e, "workload"),
                 pb_results_str(e, "variant"), (unsigned long long)threads) < 0)
        return -ENOMEM;
    bool name_ok = strcmp(name, pb_results_str(e, "name")) == 0;
    char expect[300];
    snprintf(expect, sizeof(expect), "\"%s\" (workload/variant/threads:N)", name);
    free(name);
    if (!name_ok)
        return wrong(c, field(f, sizeof(f), p, "name"), expect);
    if (strcmp(pb_results_str(e, "run_name"), pb_results_str(e, "name")))
        return wrong(c, field(f, sizeof(f), p, "run_name"), "the same as name");
    return index_add(c, index, e, idx, p, "an earlier entry");
}

static int check_histogram(struct check *c, const json_t *h, const char *p)
{
    char f[300];
    if (!json_is_object(h))
        return wrong(c, p, type_name(FT_OBJECT));
    static const struct pb_field_rule rules[] = {{"count", FT_UINT, true},
                                                 {"buckets", FT_ARRAY, true}};
    int rc = check_rules(c, h, p, rules, PB_ARRAY_SIZE(rules));
    if (rc)
        return rc;
    double sum = 0, prev_hi = 0;
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(h, "buckets"), i, b)
    {
        path_of(f, sizeof(f), "%s.buckets[%zu]", p, i);
        if (json_array_size(b) != 3 || !pb_results_is_uint(json_array_get(b, 0)) ||
            !pb_results_is_uint(json_array_get(b, 1)) || !pb_results_is_uint(json_array_get(b, 2)))
            return wrong(c, f, "a triple [lo, hi, count] of non-negative integers");
        double lo = json_number_value(json_array_get(b, 0));
        double hi = json_number_value(json_array_get(b, 1));
        if (lo >= hi || (i && lo < prev_hi))
            return wrong(c, f, "a bucket above the one before it, with lo < hi");
        prev_hi = hi;
        sum += json_number_value(json_array_get(b, 2));
    }
    if (sum != json_number_value(json_object_get(h, "count")))
        return wrong(c, field(f, sizeof(f), p, "count"), "the sum of the bucket counts");
    return 0;
}

static int check_objects(struct check *c, const json_t *arr, const char *p, const char *name_key,
                         const char *const *keys, size_t n)
{
    char f[300];
    size_t i;
    const json_t *o;
    json_array_foreach(arr, i, o)
    {
        path_of(f, sizeof(f), "%s[%zu]", p, i);
        if (!json_is_object(o))
            return wrong(c, f, type_name(FT_OBJECT));
        if (name_key) {
            const struct pb_field_rule r = {name_key, FT_STRING, true};
            int rc = check_rules(c, o, f, &r, 1);
            if (rc)
                return rc;
        }
        int rc = check_uints(c, o, f, keys, n);
        if (rc)
            return rc;
    }
    return 0;
}

static int check_run(struct check *c, const json_t *run, size_t idx, const json_t *entries,
                     json_t *seen)
{
    char p[64], f[300];
    path_of(p, sizeof(p), "popbench.runs[%zu]", idx);
    if (!json_is_object(run))
        return wrong(c, p, type_name(FT_OBJECT));
    static const struct pb_field_rule rules[] = {
        {"name", FT_STRING, true},        {"repetition_index", FT_UINT, true},
        {"histograms", FT_OBJECT, false}, {"locks", FT_ARRAY, false},
        {"timeseries", FT_OBJECT, false}, {"threads", FT_ARRAY, false},
        {"scrub", FT_OBJECT, false},      {"validator", FT_STRING, false},
    };
    int rc = check_rules(c, run, p, rules, PB_ARRAY_SIZE(rules));
    if (rc)
        return rc;

    size_t i;
    char buf[256], *heap;
    const char *k = pb_results_key(buf, sizeof(buf), pb_results_str(run, "name"),
                                   pb_results_uint(run, "repetition_index"), &heap);
    bool found = k && json_object_get(entries, k);
    free(heap);
    if (!k)
        return out_of_memory(c);
    if (!found)
        return wrong(c, p,
                     "the section of a benchmark entry (no entry has its name and "
                     "repetition_index)");
    rc = index_add(c, seen, run, idx, p, "an earlier run");
    if (rc)
        return rc;

    const char *key;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(run, "histograms"), key, v)
    {
        path_of(f, sizeof(f), "%s.histograms.%s", p, key);
        rc = check_histogram(c, v, f);
        if (rc)
            return rc;
    }
    rc = check_objects(c, json_object_get(run, "locks"), field(f, sizeof(f), p, "locks"), "name",
                       pb_results_lock_fields, PB_RESULTS_NLOCK_FIELDS);
    if (rc)
        return rc;
    rc = check_objects(c, json_object_get(run, "threads"), field(f, sizeof(f), p, "threads"), NULL,
                       pb_results_thread_fields, PB_RESULTS_NTHREAD_FIELDS);
    if (rc)
        return rc;
    const json_t *scrub = json_object_get(run, "scrub");
    if (scrub) {
        rc = check_uints(c, scrub, field(f, sizeof(f), p, "scrub"), pb_results_scrub_fields,
                         PB_RESULTS_NSCRUB_FIELDS);
        if (rc)
            return rc;
    }
    const json_t *ts = json_object_get(run, "timeseries");
    if (ts) {
        char tp[100];
        static const struct pb_field_rule ts_rules[] = {{"interval_ms", FT_UINT, true},
                                                        {"t_ms", FT_ARRAY, true}};
        rc = check_rules(c, ts, field(tp, sizeof(tp), p, "timeseries"), ts_rules,
                         PB_ARRAY_SIZE(ts_rules));
        if (rc)
            return rc;
        size_t n = json_array_size(json_object_get(ts, "t_ms"));
        json_object_foreach((json_t *)ts, key, v)
        {
            if (strcmp(key, "interval_ms") == 0)
                continue;
            field(f, sizeof(f), tp, key);
            if (!json_is_array(v) || json_array_size(v) != n)
                return wrong(c, f, "an array as long as t_ms");
            bool times = strcmp(key, "t_ms") == 0;
            const json_t *x;
            json_array_foreach(v, i, x)
            {
                if (times ? !pb_results_is_uint(x) : !json_is_number(x))
                    return wrong(
                        c, f, times ? "an array of non-negative integers" : "an array of numbers");
            }
        }
    }
    return 0;
}

int pb_results_check(const json_t *root, const char *what, json_t **index, char *err, size_t errsz)
{
    struct check c = {what, err, errsz};
    if (index)
        *index = NULL;
    if (!json_is_object(root)) {
        pb_errf(err, errsz, "%s: not a results document (expected a JSON object)", what);
        return -EINVAL;
    }
    const json_t *ctx = json_object_get(root, "context");
    if (!ctx)
        return missing(&c, "context");
    if (!json_is_object(ctx))
        return wrong(&c, "context", type_name(FT_OBJECT));
    /* The version first: another version may have other fields. */
    const json_t *ver = json_object_get(ctx, "popbench_results_version");
    if (!ver)
        return missing(&c, "context.popbench_results_version");
    if (!pb_results_is_uint(ver))
        return wrong(&c, "context.popbench_results_version", type_name(FT_UINT));
    if (json_number_value(ver) != PB_RESULTS_VERSION) {
        pb_errf(err, errsz, "%s: unsupported results version %.0f (this popbench reads version %d)",
                what, json_number_value(ver), PB_RESULTS_VERSION);
        return -EINVAL;
    }
    int rc = check_context(&c, ctx);
    if (rc)
        return rc;

    const json_t *benchmarks = json_object_get(root, "benchmarks");
    if (!benchmarks)
        return missing(&c, "benchmarks");
    if (!json_is_array(benchmarks))
        return wrong(&c, "benchmarks", type_name(FT_ARRAY));
    const json_t *pop = json_object_get(root, "popbench");
    const json_t *runs = json_object_get(pop, "runs");
    json_t *entries = json_object(), *seen = json_object();
    rc = entries && seen ? 0 : out_of_memory(&c);
    size_t i;
    const json_t *e;
    json_array_foreach(benchmarks, i, e)
    {
        if (rc == 0)
            rc = check_bench(&c, e, i, entries);
    }
    if (rc == 0 && !pop)
        rc = missing(&c, "popbench");
    else if (rc == 0 && !json_is_object(pop))
        rc = wrong(&c, "popbench", type_name(FT_OBJECT));
    else if (rc == 0 && !runs)
        rc = missing(&c, "popbench.runs");
    else if (rc == 0 && !json_is_array(runs))
        rc = wrong(&c, "popbench.runs", type_name(FT_ARRAY));
    json_array_foreach(runs, i, e)
    {
        if (rc == 0)
            rc = check_run(&c, e, i, entries, seen);
    }
    json_decref(seen);
    if (rc == 0 && index)
        *index = entries;
    else
        json_decref(entries);
    return rc;
}

/* ============================================================================================
 * The reader
 * ========================================================================================== */

int pb_results_load(const char *path, struct pb_results **out, char *err, size_t errsz)
{
    pb_errf(err, errsz, "no error");
    if (!path || !out) {
        pb_errf(err, errsz, "pb_results_load: no path or no output");
        return -EINVAL;
    }
    *out = NULL;
    char *text;
    size_t len;
    int rc = pb_file_read(path, "results file", &text, &len, err, errsz);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *index = NULL;
    free(text);
    if (!root) {
        pb_errf(err, errsz, "results file '%s': line %d column %d: %s", path, jerr.line,
                jerr.column, jerr.text);
        return -EINVAL;
    }
    char what[PB_RESULTS_ERR_LEN];
    snprintf(what, sizeof(what), "results file '%s'", path);
    rc = pb_results_check(root, what, &index, err, errsz);
    if (rc) {
        json_decref(root);
        return rc;
    }
    struct pb_results *doc = pb_results_wrap(root);
    if (!doc) {
        json_decref(root);
        json_decref(index);
        pb_errf(err, errsz, "%s: out of memory", what);
        return -ENOMEM;
    }
    /* The check has made the index: an entry's identity to its position. */
    json_decref(doc->index);
    doc->index = index;
    doc->path = strdup(path);
    rc = doc->path ? 0 : -ENOMEM;
    size_t i;
    json_t *e;
    json_array_foreach(doc->benchmarks, i, e)
    {
        rc = rc ? rc : pb_results_append_handle(doc, e, NULL);
    }
    json_array_foreach(doc->runs, i, e)
    {
        char buf[256], *heap;
        const char *k = rc ? NULL
                           : pb_results_key(buf, sizeof(buf), pb_results_str(e, "name"),
                                            pb_results_uint(e, "repetition_index"), &heap);
        if (!rc && !k)
            rc = -ENOMEM;
        if (!rc)
            doc->benches[json_integer_value(json_object_get(doc->index, k))]->run = e;
        if (k)
            free(heap);
    }
    rc = rc ? rc : pb_results_make_view(doc);
    if (rc) {
        pb_results_free(doc);
        pb_errf(err, errsz, "%s: out of memory", what);
        return rc;
    }
    *out = doc;
    return 0;
}
