/*
 * results.c: the results document: building it, its accessors, and the check that both the
 * reader and the writers run, so that nothing writes a file the reader would refuse.
 */
#include "results/results_internal.h"

#include "core/pb.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>

#ifndef POPBENCH_VERSION_STRING
#define POPBENCH_VERSION_STRING "unknown"
#endif

/* ============================================================================================
 * The format's fields
 * ========================================================================================== */

enum field_type { FT_STRING, FT_UINT, FT_NUMBER, FT_BOOL, FT_ARRAY, FT_OBJECT };

struct field_rule {
    const char *key;
    enum field_type type;
    bool required;
};

/* Google Benchmark's keys first, then popbench's, in the order they are written. */
static const struct field_rule context_rules[] = {
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
};

static const struct field_rule bench_rules[] = {
    {"name", FT_STRING, true},           {"run_name", FT_STRING, true},
    {"run_type", FT_STRING, true},       {"repetitions", FT_UINT, true},
    {"repetition_index", FT_UINT, true}, {"threads", FT_UINT, true},
    {"family_index", FT_UINT, true},     {"per_family_instance_index", FT_UINT, true},
    {"iterations", FT_UINT, true},       {"real_time", FT_NUMBER, true},
    {"cpu_time", FT_NUMBER, true},       {"time_unit", FT_STRING, true},
    {"workload", FT_STRING, true},       {"variant", FT_STRING, true},
    {"lock_kind", FT_STRING, false},
};

const char *const pb_results_bench_fixed[] = {
    "name",
    "run_name",
    "run_type",
    "repetitions",
    "repetition_index",
    "threads",
    "family_index",
    "per_family_instance_index",
    "iterations",
    "real_time",
    "cpu_time",
    "time_unit",
    "workload",
    "variant",
    "lock_kind",
};
const size_t pb_results_bench_nfixed = PB_ARRAY_SIZE(pb_results_bench_fixed);

const char *const pb_results_known_counters[] = {
    "pages_per_second",
    "gib_per_second",
    "extents_per_second",
    "calls_per_second",
    "call_p50_ns",
    "call_p90_ns",
    "call_p99_ns",
    "call_p999_ns",
    "call_p9999_ns",
    "call_max_ns",
    "invocation_p50_ns",
    "invocation_p90_ns",
    "invocation_p99_ns",
    "invocation_p999_ns",
    "invocation_p9999_ns",
    "invocation_max_ns",
    "lock_acq_per_page",
    "lock_wait_ns_per_page",
    "lock_contended_pct",
    "lock_hottest",
    "scrub_pages_per_page",
    "scrub_backlog_max_pages",
    "continuations_per_call",
    "pages_populated",
    "extents",
    "calls",
    "continuations",
    "instructions",
};
const size_t pb_results_nknown_counters = PB_ARRAY_SIZE(pb_results_known_counters);

static const char *const run_order[] = {
    "name",       "repetition_index", "histograms", "locks",
    "timeseries", "threads",          "scrub",      "validator",
};
static const char *const histogram_order[] = {"call_ns", "invocation_ns", "p2m_lookup_ns"};
static const char *const timeseries_order[] = {"interval_ms", "t_ms", "pages", "scrub_backlog"};
static const char *const lock_fields[] = {"acquisitions", "contended",     "wait_ns_total",
                                          "wait_ns_max",  "hold_ns_total", "hold_ns_max"};
static const char *const thread_fields[] = {"index", "vcpu", "node", "pu", "pages", "calls"};
static const char *const scrub_fields[] = {"on_alloc", "background", "domain_build", "aborts"};

bool pb_results_is_fixed_field(const char *name)
{
    for (size_t i = 0; i < pb_results_bench_nfixed; i++)
        if (strcmp(name, pb_results_bench_fixed[i]) == 0)
            return true;
    return false;
}

int pb_results_known_counter_rank(const char *name)
{
    for (size_t i = 0; i < pb_results_nknown_counters; i++)
        if (strcmp(name, pb_results_known_counters[i]) == 0)
            return (int)i;
    return -1;
}

static const struct field_rule *find_rule(const struct field_rule *rules, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].key, key) == 0)
            return &rules[i];
    return NULL;
}

/* Keys of the document: short snake_case words. */
static bool valid_key(const char *key)
{
    if (!key || !*key || strlen(key) > 64)
        return false;
    for (const char *p = key; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* Workload and variant names become parts of "workload/variant/threads:N". */
static bool valid_name_part(const char *s)
{
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++)
        if (*p == '/' || (unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static bool fits_int64(uint64_t v)
{
    return v <= (uint64_t)INT64_MAX;
}

/* ============================================================================================
 * The document
 * ========================================================================================== */

static struct pb_results *doc_wrap(json_t *root)
{
    struct pb_results *doc = calloc(1, sizeof(*doc));
    if (!doc)
        return NULL;
    doc->root = root;
    doc->context = json_object_get(root, "context");
    doc->benchmarks = json_object_get(root, "benchmarks");
    doc->runs = json_object_get(json_object_get(root, "popbench"), "runs");
    return doc;
}

static int doc_append_handle(struct pb_results *doc, json_t *entry, json_t *run)
{
    if (doc->nbenches == doc->cap) {
        size_t cap = doc->cap ? doc->cap * 2 : 16;
        struct pb_results_bench **b = realloc(doc->benches, cap * sizeof(*b));
        if (!b)
            return -ENOMEM;
        doc->benches = b;
        doc->cap = cap;
    }
    struct pb_results_bench *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->doc = doc;
    h->entry = entry;
    h->run = run;
    doc->benches[doc->nbenches++] = h;
    return 0;
}

int pb_results_create(struct pb_results **out)
{
    if (!out)
        return -EINVAL;
    json_t *root =
        json_pack("{s:{s:i, s:s, s:b}, s:[], s:{s:[]}}", "context", "popbench_results_version",
                  PB_RESULTS_VERSION, "popbench_version", POPBENCH_VERSION_STRING, "partial", 0,
                  "benchmarks", "popbench", "runs");
    if (!root)
        return -ENOMEM;
    struct pb_results *doc = doc_wrap(root);
    if (!doc) {
        json_decref(root);
        return -ENOMEM;
    }
    *out = doc;
    return 0;
}

void pb_results_free(struct pb_results *doc)
{
    if (!doc)
        return;
    for (size_t i = 0; i < doc->nbenches; i++)
        free(doc->benches[i]);
    free(doc->benches);
    json_decref(doc->root);
    free(doc);
}

bool pb_results_equal(const struct pb_results *a, const struct pb_results *b)
{
    return a && b && json_equal(a->root, b->root);
}

/* ============================================================================================
 * Context
 * ========================================================================================== */

/* May key take a value of type t? Keys the format does not define take anything. */
static bool context_key_takes(const char *key, enum field_type t)
{
    if (!valid_key(key) || strcmp(key, "popbench_results_version") == 0)
        return false;
    const struct field_rule *r = find_rule(context_rules, PB_ARRAY_SIZE(context_rules), key);
    return !r || r->type == t || (r->type == FT_NUMBER && t == FT_UINT);
}

static int context_set_new(struct pb_results *doc, const char *key, json_t *value)
{
    if (!value)
        return -ENOMEM;
    return json_object_set_new(doc->context, key, value) ? -ENOMEM : 0;
}

static bool valid_backing(const char *v)
{
    return strcmp(v, "real") == 0 || strcmp(v, "none") == 0 || strcmp(v, "mixed") == 0;
}

int pb_results_context_set_string(struct pb_results *doc, const char *key, const char *value)
{
    if (!doc || !value || !context_key_takes(key, FT_STRING))
        return -EINVAL;
    if (strcmp(key, "backing") == 0 && !valid_backing(value))
        return -EINVAL;
    return context_set_new(doc, key, json_string(value));
}

int pb_results_context_set_int(struct pb_results *doc, const char *key, int64_t value)
{
    if (!doc || !context_key_takes(key, FT_UINT))
        return -EINVAL;
    const struct field_rule *r = find_rule(context_rules, PB_ARRAY_SIZE(context_rules), key);
    if (r && r->type == FT_UINT && value < 0)
        return -EINVAL;
    return context_set_new(doc, key, json_integer(value));
}

int pb_results_context_set_number(struct pb_results *doc, const char *key, double value)
{
    if (!doc || !isfinite(value) || !context_key_takes(key, FT_NUMBER))
        return -EINVAL;
    return context_set_new(doc, key, json_real(value));
}

int pb_results_context_set_bool(struct pb_results *doc, const char *key, bool value)
{
    if (!doc || !context_key_takes(key, FT_BOOL))
        return -EINVAL;
    return context_set_new(doc, key, json_boolean(value));
}

/* The object under key in parent, made on first use; NULL when out of memory. */
static json_t *object_member(json_t *parent, const char *key)
{
    json_t *o = json_object_get(parent, key);
    if (!o && ((o = json_object()) == NULL || json_object_set_new(parent, key, o)))
        return NULL;
    return o;
}

int pb_results_set_library_version(struct pb_results *doc, const char *name, const char *version)
{
    if (!doc || !valid_key(name) || !version || !*version)
        return -EINVAL;
    json_t *libs = object_member(doc->context, "libraries");
    json_t *v = libs ? json_string(version) : NULL;
    if (!v || json_object_set_new(libs, name, v))
        return -ENOMEM;
    return 0;
}

int pb_results_context_set_option(struct pb_results *doc, const char *workload, const char *name,
                                  int64_t value)
{
    if (!doc || !valid_key(name) || (workload && !valid_name_part(workload)))
        return -EINVAL;
    json_t *o = workload ? object_member(object_member(doc->context, "workload_options"), workload)
                         : object_member(doc->context, "options");
    json_t *v = json_integer(value);
    if (!o || !v || json_object_set_new(o, name, v))
        return -ENOMEM;
    return 0;
}

int pb_results_set_build_info(struct pb_results *doc, const char *git_commit,
                              const char *build_type, const char *cflags)
{
    if (!doc || !git_commit || !*git_commit || !build_type || !*build_type)
        return -EINVAL;
    json_t *g = json_string(git_commit), *b = json_string(build_type);
    json_t *c = cflags ? json_string(cflags) : NULL;
    if (!g || !b || (cflags && !c)) {
        json_decref(g);
        json_decref(b);
        json_decref(c);
        return -EINVAL; /* not UTF-8, or no memory */
    }
    int rc = context_set_new(doc, "git_commit", g);
    rc = rc ? rc : context_set_new(doc, "build_type", b);
    if (c)
        rc = rc ? rc : context_set_new(doc, "cflags", c);
    return rc;
}

/* Whether an argument reads back the same through a POSIX shell without quotes. */
static bool shell_plain(const char *s)
{
    if (!*s)
        return false;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%", *p))
            return false;
    return true;
}

int pb_results_set_command_line(struct pb_results *doc, int argc, char *const argv[])
{
    if (!doc || argc < 0 || (argc > 0 && !argv))
        return -EINVAL;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -ENOMEM;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i] ? argv[i] : "";
        if (i)
            fputc(' ', f);
        if (shell_plain(a)) {
            fputs(a, f);
            continue;
        }
        fputc('\'', f);
        for (const char *p = a; *p; p++) {
            if (*p == '\'')
                fputs("'\\''", f);
            else
                fputc(*p, f);
        }
        fputc('\'', f);
    }
    if (fclose(f)) {
        free(buf);
        return -ENOMEM;
    }
    json_t *v = json_string(buf);
    free(buf);
    if (!v)
        return -EINVAL; /* not UTF-8 */
    return context_set_new(doc, "command_line", v);
}

int pb_results_set_partial(struct pb_results *doc, bool partial)
{
    if (!doc)
        return -EINVAL;
    return json_object_set_new(doc->context, "partial", json_boolean(partial)) ? -ENOMEM : 0;
}

bool pb_results_is_partial(const struct pb_results *doc)
{
    return doc && json_is_true(json_object_get(doc->context, "partial"));
}

const char *pb_results_context_string(const struct pb_results *doc, const char *key)
{
    if (!doc || !key)
        return NULL;
    return json_string_value(json_object_get(doc->context, key));
}

int pb_results_context_number(const struct pb_results *doc, const char *key, double *value)
{
    if (!doc || !key || !value)
        return -EINVAL;
    json_t *v = json_object_get(doc->context, key);
    if (!v)
        return -ENOENT;
    if (!json_is_number(v))
        return -EINVAL;
    *value = json_number_value(v);
    return 0;
}

int pb_results_context_bool(const struct pb_results *doc, const char *key, bool *value)
{
    if (!doc || !key || !value)
        return -EINVAL;
    json_t *v = json_object_get(doc->context, key);
    if (!v)
        return -ENOENT;
    if (!json_is_boolean(v))
        return -EINVAL;
    *value = json_is_true(v);
    return 0;
}

const json_t *pb_results_context_json(const struct pb_results *doc)
{
    return doc ? doc->context : NULL;
}

/* ============================================================================================
 * Benchmark entries
 * ========================================================================================== */

static const char *entry_str(const json_t *entry, const char *key)
{
    return json_string_value(json_object_get(entry, key));
}

static uint64_t entry_uint(const json_t *entry, const char *key)
{
    /* Checked on load and set by the builder: a non-negative integral number. */
    return (uint64_t)json_number_value(json_object_get(entry, key));
}

const struct pb_results_bench *pb_results_find_bench(const struct pb_results *doc, const char *name,
                                                     unsigned repetition_index)
{
    if (!doc || !name)
        return NULL;
    for (size_t i = 0; i < doc->nbenches; i++) {
        const json_t *e = doc->benches[i]->entry;
        if (strcmp(entry_str(e, "name"), name) == 0 &&
            entry_uint(e, "repetition_index") == repetition_index)
            return doc->benches[i];
    }
    return NULL;
}

/* Google Benchmark's family (workload/variant) and instance (thread count) numbering. */
static void bench_family(const struct pb_results *doc, const char *workload, const char *variant,
                         const char *name, uint64_t *family, uint64_t *instance)
{
    bool have_family = false, have_instance = false;
    uint64_t next_family = 0, next_instance = 0;
    for (size_t i = 0; i < doc->nbenches; i++) {
        const json_t *e = doc->benches[i]->entry;
        uint64_t f = entry_uint(e, "family_index"), in = entry_uint(e, "per_family_instance_index");
        if (f + 1 > next_family)
            next_family = f + 1;
        if (strcmp(entry_str(e, "workload"), workload) || strcmp(entry_str(e, "variant"), variant))
            continue;
        have_family = true;
        *family = f;
        if (in + 1 > next_instance)
            next_instance = in + 1;
        if (strcmp(entry_str(e, "name"), name) == 0) {
            have_instance = true;
            *instance = in;
        }
    }
    if (!have_family)
        *family = next_family;
    if (!have_instance)
        *instance = next_instance;
}

int pb_results_add_bench(struct pb_results *doc, const struct pb_results_bench_spec *spec,
                         struct pb_results_bench **out)
{
    if (!doc || !spec || !out || !valid_name_part(spec->workload) ||
        !valid_name_part(spec->variant) || (spec->lock_kind && !*spec->lock_kind) ||
        spec->threads == 0 || spec->repetitions == 0 ||
        spec->repetition_index >= spec->repetitions || !fits_int64(spec->iterations) ||
        !isfinite(spec->real_time_ns) || spec->real_time_ns < 0 || !isfinite(spec->cpu_time_ns) ||
        spec->cpu_time_ns < 0)
        return -EINVAL;

    char *name;
    if (asprintf(&name, "%s/%s/threads:%u", spec->workload, spec->variant, spec->threads) < 0)
        return -ENOMEM;
    if (pb_results_find_bench(doc, name, spec->repetition_index)) {
        free(name);
        return -EEXIST;
    }
    uint64_t family = 0, instance = 0;
    bench_family(doc, spec->workload, spec->variant, name, &family, &instance);

    json_t *e = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:s, s:s, s:s}",
                          "name", name, "run_name", name, "run_type", "iteration", "repetitions",
                          (json_int_t)spec->repetitions, "repetition_index",
                          (json_int_t)spec->repetition_index, "threads", (json_int_t)spec->threads,
                          "family_index", (json_int_t)family, "per_family_instance_index",
                          (json_int_t)instance, "iterations", (json_int_t)spec->iterations,
                          "real_time", spec->real_time_ns, "cpu_time", spec->cpu_time_ns,
                          "time_unit", "ns", "workload", spec->workload, "variant", spec->variant);
    free(name);
    if (!e)
        return -EINVAL; /* names that are not UTF-8, or no memory */
    if (spec->lock_kind && json_object_set_new(e, "lock_kind", json_string(spec->lock_kind))) {
        json_decref(e);
        return -EINVAL;
    }
    int rc = doc_append_handle(doc, e, NULL);
    if (rc) {
        json_decref(e);
        return rc;
    }
    if (json_array_append_new(doc->benchmarks, e)) {
        free(doc->benches[--doc->nbenches]);
        return -ENOMEM;
    }
    *out = doc->benches[doc->nbenches - 1];
    return 0;
}

static bool counter_name_ok(const char *name)
{
    return valid_key(name) && !pb_results_is_fixed_field(name) && strcmp(name, "lock_hottest");
}

int pb_results_bench_set_counter(struct pb_results_bench *b, const char *name, double value)
{
    if (!b || !counter_name_ok(name) || !isfinite(value))
        return -EINVAL;
    json_t *v = json_real(value);
    return !v || json_object_set_new(b->entry, name, v) ? -ENOMEM : 0;
}

int pb_results_bench_set_count(struct pb_results_bench *b, const char *name, uint64_t value)
{
    if (!b || !counter_name_ok(name) || !fits_int64(value))
        return -EINVAL;
    json_t *v = json_integer((json_int_t)value);
    return !v || json_object_set_new(b->entry, name, v) ? -ENOMEM : 0;
}

int pb_results_bench_set_string(struct pb_results_bench *b, const char *name, const char *value)
{
    if (!b || !name || strcmp(name, "lock_hottest") || !value || !*value)
        return -EINVAL;
    json_t *v = json_string(value);
    if (!v)
        return -EINVAL; /* not UTF-8 */
    return json_object_set_new(b->entry, name, v) ? -ENOMEM : 0;
}

/* ============================================================================================
 * Popbench run sections
 * ========================================================================================== */

static json_t *bench_run(struct pb_results_bench *b)
{
    if (b->run)
        return b->run;
    json_t *run = json_object();
    if (json_object_set(run, "name", json_object_get(b->entry, "name")) ||
        json_object_set(run, "repetition_index", json_object_get(b->entry, "repetition_index"))) {
        json_decref(run);
        return NULL;
    }
    if (json_array_append_new(b->doc->runs, run))
        return NULL;
    b->run = run;
    return run;
}

/* run.<section>, made on first use. */
static json_t *run_section(struct pb_results_bench *b, const char *section, bool array)
{
    json_t *run = bench_run(b);
    if (!run)
        return NULL;
    json_t *s = json_object_get(run, section);
    if (s)
        return s;
    s = array ? json_array() : json_object();
    if (!s || json_object_set_new(run, section, s))
        return NULL;
    return s;
}

static int run_set(struct pb_results_bench *b, const char *key, json_t *value)
{
    json_t *run = value ? bench_run(b) : NULL;
    if (!run || json_object_set_new(run, key, value)) {
        json_decref(value);
        return -ENOMEM;
    }
    return 0;
}

int pb_results_bench_set_histogram(struct pb_results_bench *b, const char *name,
                                   const struct pb_results_bucket *buckets, size_t n)
{
    if (!b || !valid_key(name) || (n && !buckets))
        return -EINVAL;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pb_results_bucket *k = &buckets[i];
        if (k->lo >= k->hi || !fits_int64(k->hi) || !fits_int64(k->count) ||
            (i && k->lo < buckets[i - 1].hi) || k->count > (uint64_t)INT64_MAX - total)
            return -EINVAL;
        total += k->count;
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *t = json_pack("[I, I, I]", (json_int_t)buckets[i].lo, (json_int_t)buckets[i].hi,
                              (json_int_t)buckets[i].count);
        if (!t || json_array_append_new(arr, t)) {
            json_decref(arr);
            arr = NULL;
        }
    }
    json_t *h = json_object();
    if (json_object_set_new(h, "count", json_integer((json_int_t)total)) ||
        json_object_set_new(h, "buckets", arr)) {
        json_decref(h);
        return -ENOMEM;
    }
    json_t *hs = run_section(b, "histograms", false);
    return json_object_set_new(hs, name, h) ? -ENOMEM : 0;
}

int pb_results_bench_add_lock(struct pb_results_bench *b, const struct pb_results_lock *l)
{
    if (!b || !l || !l->name || !*l->name || l->contended > l->acquisitions ||
        l->wait_ns_max > l->wait_ns_total || l->hold_ns_max > l->hold_ns_total ||
        !fits_int64(l->acquisitions) || !fits_int64(l->wait_ns_total) ||
        !fits_int64(l->hold_ns_total))
        return -EINVAL;
    json_t *locks = b->run ? json_object_get(b->run, "locks") : NULL;
    size_t i;
    json_t *have;
    json_array_foreach(locks, i, have)
    {
        if (strcmp(entry_str(have, "name"), l->name) == 0)
            return -EEXIST;
    }
    json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name", l->name, lock_fields[0],
                          (json_int_t)l->acquisitions, lock_fields[1], (json_int_t)l->contended,
                          lock_fields[2], (json_int_t)l->wait_ns_total, lock_fields[3],
                          (json_int_t)l->wait_ns_max, lock_fields[4], (json_int_t)l->hold_ns_total,
                          lock_fields[5], (json_int_t)l->hold_ns_max);
    if (!o)
        return -EINVAL; /* not UTF-8, or no memory */
    locks = run_section(b, "locks", true);
    if (!locks || json_array_append_new(locks, o)) {
        if (!locks)
            json_decref(o);
        return -ENOMEM;
    }
    return 0;
}

static json_t *uint_array(const uint64_t *v, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        if (json_array_append_new(arr, json_integer((json_int_t)v[i]))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int pb_results_bench_set_timeseries(struct pb_results_bench *b, uint32_t interval_ms,
                                    const uint64_t *t_ms, size_t n)
{
    if (!b || interval_ms == 0 || (n && !t_ms))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!fits_int64(t_ms[i]) || (i && t_ms[i] <= t_ms[i - 1]))
            return -EINVAL;
    json_t *ts = json_object();
    if (json_object_set_new(ts, "interval_ms", json_integer(interval_ms)) ||
        json_object_set_new(ts, "t_ms", uint_array(t_ms, n))) {
        json_decref(ts);
        return -ENOMEM;
    }
    return run_set(b, "timeseries", ts);
}

int pb_results_bench_add_series(struct pb_results_bench *b, const char *name,
                                const uint64_t *values, size_t n)
{
    if (!b || !valid_key(name) || !strcmp(name, "interval_ms") || !strcmp(name, "t_ms") ||
        (n && !values) || !b->run)
        return -EINVAL;
    json_t *ts = json_object_get(b->run, "timeseries");
    if (!ts || json_array_size(json_object_get(ts, "t_ms")) != n)
        return -EINVAL;
    if (json_object_get(ts, name))
        return -EEXIST;
    for (size_t i = 0; i < n; i++)
        if (!fits_int64(values[i]))
            return -EINVAL;
    json_t *arr = uint_array(values, n);
    if (!arr || json_object_set_new(ts, name, arr))
        return -ENOMEM;
    return 0;
}

int pb_results_bench_add_thread(struct pb_results_bench *b, const struct pb_results_thread *t)
{
    if (!b || !t || !fits_int64(t->pages) || !fits_int64(t->calls))
        return -EINVAL;
    json_t *threads = b->run ? json_object_get(b->run, "threads") : NULL;
    size_t i;
    json_t *have;
    json_array_foreach(threads, i, have)
    {
        if (entry_uint(have, "index") == t->index)
            return -EEXIST;
    }
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", thread_fields[0], (json_int_t)t->index,
                  thread_fields[1], (json_int_t)t->vcpu, thread_fields[2], (json_int_t)t->node,
                  thread_fields[3], (json_int_t)t->pu, thread_fields[4], (json_int_t)t->pages,
                  thread_fields[5], (json_int_t)t->calls);
    threads = o ? run_section(b, "threads", true) : NULL;
    if (!threads || json_array_append_new(threads, o)) {
        if (!threads)
            json_decref(o);
        return -ENOMEM;
    }
    return 0;
}

int pb_results_bench_set_scrub(struct pb_results_bench *b, const struct pb_results_scrub *s)
{
    if (!b || !s || !fits_int64(s->on_alloc) || !fits_int64(s->background) ||
        !fits_int64(s->domain_build) || !fits_int64(s->aborts))
        return -EINVAL;
    return run_set(b, "scrub",
                   json_pack("{s:I, s:I, s:I, s:I}", scrub_fields[0], (json_int_t)s->on_alloc,
                             scrub_fields[1], (json_int_t)s->background, scrub_fields[2],
                             (json_int_t)s->domain_build, scrub_fields[3], (json_int_t)s->aborts));
}

int pb_results_bench_set_validator(struct pb_results_bench *b, const char *verdict)
{
    if (!b || !verdict || !*verdict)
        return -EINVAL;
    json_t *v = json_string(verdict);
    if (!v)
        return -EINVAL; /* not UTF-8 */
    return run_set(b, "validator", v);
}

/* ============================================================================================
 * Reading a document
 * ========================================================================================== */

size_t pb_results_bench_count(const struct pb_results *doc)
{
    return doc ? doc->nbenches : 0;
}

const struct pb_results_bench *pb_results_bench_at(const struct pb_results *doc, size_t i)
{
    return doc && i < doc->nbenches ? doc->benches[i] : NULL;
}

const char *pb_results_bench_name(const struct pb_results_bench *b)
{
    return entry_str(b->entry, "name");
}

const char *pb_results_bench_workload(const struct pb_results_bench *b)
{
    return entry_str(b->entry, "workload");
}

const char *pb_results_bench_variant(const struct pb_results_bench *b)
{
    return entry_str(b->entry, "variant");
}

const char *pb_results_bench_lock_kind(const struct pb_results_bench *b)
{
    return entry_str(b->entry, "lock_kind");
}

unsigned pb_results_bench_threads(const struct pb_results_bench *b)
{
    return (unsigned)entry_uint(b->entry, "threads");
}

unsigned pb_results_bench_repetition_index(const struct pb_results_bench *b)
{
    return (unsigned)entry_uint(b->entry, "repetition_index");
}

unsigned pb_results_bench_repetitions(const struct pb_results_bench *b)
{
    return (unsigned)entry_uint(b->entry, "repetitions");
}

uint64_t pb_results_bench_iterations(const struct pb_results_bench *b)
{
    return entry_uint(b->entry, "iterations");
}

double pb_results_bench_real_time(const struct pb_results_bench *b)
{
    return json_number_value(json_object_get(b->entry, "real_time"));
}

double pb_results_bench_cpu_time(const struct pb_results_bench *b)
{
    return json_number_value(json_object_get(b->entry, "cpu_time"));
}

int pb_results_bench_counter(const struct pb_results_bench *b, const char *name, double *value)
{
    if (!b || !name || !value)
        return -EINVAL;
    json_t *v = json_object_get(b->entry, name);
    if (!v)
        return -ENOENT;
    if (!json_is_number(v))
        return -EINVAL;
    *value = json_number_value(v);
    return 0;
}

const char *pb_results_bench_string(const struct pb_results_bench *b, const char *name)
{
    return b && name ? entry_str(b->entry, name) : NULL;
}

size_t pb_results_bench_counter_names(const struct pb_results_bench *b, const char **names,
                                      size_t max)
{
    size_t n = 0;
    const char *key;
    json_t *v;
    if (!b || (max && !names))
        return 0;
    json_object_foreach(b->entry, key, v)
    {
        if (pb_results_is_fixed_field(key))
            continue;
        if (n < max)
            names[n] = key;
        n++;
    }
    return n;
}

const json_t *pb_results_bench_json(const struct pb_results_bench *b)
{
    return b ? b->entry : NULL;
}

const json_t *pb_results_bench_run_json(const struct pb_results_bench *b)
{
    return b ? b->run : NULL;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum pb_results_direction pb_results_metric_direction(const char *name)
{
    static const char *const informational[] = {
        "pages_populated",
        "extents",
        "calls",
        "continuations",
        "iterations",
        "repetitions",
        "repetition_index",
        "threads",
        "family_index",
        "per_family_instance_index",
        "locality_domains",
    };
    if (!name)
        return PB_RESULTS_INFORMATIONAL;
    if (ends_with(name, "_per_second") || strcmp(name, "speedup") == 0 ||
        strcmp(name, "scaling_efficiency") == 0 || strcmp(name, "locality") == 0 ||
        strcmp(name, "locality_min") == 0)
        return PB_RESULTS_HIGHER_IS_BETTER;
    for (size_t i = 0; i < PB_ARRAY_SIZE(informational); i++)
        if (strcmp(name, informational[i]) == 0)
            return PB_RESULTS_INFORMATIONAL;
    return PB_RESULTS_LOWER_IS_BETTER;
}

int pb_results_load(const char *path, struct pb_results **out, char *err, size_t errsz)
{
    pb_errf(err, errsz, "no error");
    if (!path || !out) {
        pb_errf(err, errsz, "pb_results_load: no path or no output");
        return -EINVAL;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        pb_errf(err, errsz, "cannot open results file '%s': %s", path, strerror(e));
        return -e;
    }
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!root) {
        pb_errf(err, errsz, "results file '%s': line %d column %d: %s", path, jerr.line,
                jerr.column, jerr.text);
        return -EINVAL;
    }
    char what[PB_RESULTS_ERR_LEN];
    snprintf(what, sizeof(what), "results file '%s'", path);
    int rc = pb_results_check(root, what, err, errsz);
    struct pb_results *doc = rc ? NULL : doc_wrap(root);
    if (rc || !doc) {
        json_decref(root);
        return rc ? rc : -ENOMEM;
    }
    size_t i, j;
    json_t *e, *run;
    json_array_foreach(doc->benchmarks, i, e)
    {
        json_t *mine = NULL;
        json_array_foreach(doc->runs, j, run)
        {
            if (strcmp(entry_str(run, "name"), entry_str(e, "name")) == 0 &&
                entry_uint(run, "repetition_index") == entry_uint(e, "repetition_index"))
                mine = run;
        }
        rc = doc_append_handle(doc, e, mine);
        if (rc) {
            pb_results_free(doc);
            pb_errf(err, errsz, "results file '%s': out of memory", path);
            return rc;
        }
    }
    *out = doc;
    return 0;
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

static bool is_uint(const json_t *v)
{
    if (json_is_integer(v))
        return json_integer_value(v) >= 0;
    /* JSON does not tell 2 from 2.0; other writers may not either. */
    double d = json_real_value(v);
    return json_is_real(v) && d >= 0 && d < 9.2e18 && d == floor(d);
}

static bool type_ok(const json_t *v, enum field_type t)
{
    switch (t) {
    case FT_STRING:
        return json_is_string(v);
    case FT_UINT:
        return is_uint(v);
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

static const char *type_name(enum field_type t)
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
                       const struct field_rule *rules, size_t n)
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
        if (!is_uint(v))
            return wrong(c, field(f, sizeof(f), prefix, keys[i]), type_name(FT_UINT));
    }
    return 0;
}

static int check_context(struct check *c, const json_t *ctx)
{
    char f[256];
    const json_t *v;
    size_t i;
    int rc = check_rules(c, ctx, "context", context_rules, PB_ARRAY_SIZE(context_rules));
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
        static const struct field_rule cache_rules[] = {{"type", FT_STRING, true},
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
    if (backing && !valid_backing(backing))
        return wrong(c, "context.backing", "\"real\", \"none\" or \"mixed\"");
    return 0;
}

static int check_bench(struct check *c, const json_t *e, size_t idx)
{
    char p[64], f[256];
    path_of(p, sizeof(p), "benchmarks[%zu]", idx);
    if (!json_is_object(e))
        return wrong(c, p, type_name(FT_OBJECT));
    int rc = check_rules(c, e, p, bench_rules, PB_ARRAY_SIZE(bench_rules));
    if (rc)
        return rc;
    const json_t *pps = json_object_get(e, "pages_per_second");
    if (!pps)
        return missing(c, field(f, sizeof(f), p, "pages_per_second"));
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)e, key, v)
    {
        if (pb_results_is_fixed_field(key))
            continue;
        bool str = strcmp(key, "lock_hottest") == 0;
        if (str ? !json_is_string(v) : !json_is_number(v))
            return wrong(c, field(f, sizeof(f), p, key), type_name(str ? FT_STRING : FT_NUMBER));
    }
    if (strcmp(entry_str(e, "run_type"), "iteration"))
        return wrong(c, field(f, sizeof(f), p, "run_type"), "\"iteration\"");
    if (strcmp(entry_str(e, "time_unit"), "ns"))
        return wrong(c, field(f, sizeof(f), p, "time_unit"), "\"ns\"");
    if (json_number_value(json_object_get(e, "real_time")) < 0)
        return wrong(c, field(f, sizeof(f), p, "real_time"), "at least 0");
    if (json_number_value(json_object_get(e, "cpu_time")) < 0)
        return wrong(c, field(f, sizeof(f), p, "cpu_time"), "at least 0");
    uint64_t reps = entry_uint(e, "repetitions"), threads = entry_uint(e, "threads");
    if (reps == 0)
        return wrong(c, field(f, sizeof(f), p, "repetitions"), "at least 1");
    if (threads == 0)
        return wrong(c, field(f, sizeof(f), p, "threads"), "at least 1");
    if (entry_uint(e, "repetition_index") >= reps)
        return wrong(c, field(f, sizeof(f), p, "repetition_index"), "below repetitions");
    char *name;
    if (asprintf(&name, "%s/%s/threads:%llu", entry_str(e, "workload"), entry_str(e, "variant"),
                 (unsigned long long)threads) < 0)
        return -ENOMEM;
    bool name_ok = strcmp(name, entry_str(e, "name")) == 0;
    char expect[300];
    snprintf(expect, sizeof(expect), "\"%s\" (workload/variant/threads:N)", name);
    free(name);
    if (!name_ok)
        return wrong(c, field(f, sizeof(f), p, "name"), expect);
    if (strcmp(entry_str(e, "run_name"), entry_str(e, "name")))
        return wrong(c, field(f, sizeof(f), p, "run_name"), "the same as name");
    return 0;
}

static int check_histogram(struct check *c, const json_t *h, const char *p)
{
    char f[300];
    if (!json_is_object(h))
        return wrong(c, p, type_name(FT_OBJECT));
    static const struct field_rule rules[] = {{"count", FT_UINT, true},
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
        if (json_array_size(b) != 3 || !is_uint(json_array_get(b, 0)) ||
            !is_uint(json_array_get(b, 1)) || !is_uint(json_array_get(b, 2)))
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
            const struct field_rule r = {name_key, FT_STRING, true};
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

static int check_run(struct check *c, const json_t *run, size_t idx, const json_t *benchmarks)
{
    char p[64], f[300];
    path_of(p, sizeof(p), "popbench.runs[%zu]", idx);
    if (!json_is_object(run))
        return wrong(c, p, type_name(FT_OBJECT));
    static const struct field_rule rules[] = {
        {"name", FT_STRING, true},        {"repetition_index", FT_UINT, true},
        {"histograms", FT_OBJECT, false}, {"locks", FT_ARRAY, false},
        {"timeseries", FT_OBJECT, false}, {"threads", FT_ARRAY, false},
        {"scrub", FT_OBJECT, false},      {"validator", FT_STRING, false},
    };
    int rc = check_rules(c, run, p, rules, PB_ARRAY_SIZE(rules));
    if (rc)
        return rc;

    size_t i;
    const json_t *e;
    bool found = false;
    json_array_foreach(benchmarks, i, e)
    {
        found |= strcmp(entry_str(e, "name"), entry_str(run, "name")) == 0 &&
                 entry_uint(e, "repetition_index") == entry_uint(run, "repetition_index");
    }
    if (!found)
        return wrong(c, p,
                     "the section of a benchmark entry (no entry has its name and "
                     "repetition_index)");

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
                       lock_fields, PB_ARRAY_SIZE(lock_fields));
    if (rc)
        return rc;
    rc = check_objects(c, json_object_get(run, "threads"), field(f, sizeof(f), p, "threads"), NULL,
                       thread_fields, PB_ARRAY_SIZE(thread_fields));
    if (rc)
        return rc;
    const json_t *scrub = json_object_get(run, "scrub");
    if (scrub) {
        rc = check_uints(c, scrub, field(f, sizeof(f), p, "scrub"), scrub_fields,
                         PB_ARRAY_SIZE(scrub_fields));
        if (rc)
            return rc;
    }
    const json_t *ts = json_object_get(run, "timeseries");
    if (ts) {
        char tp[100];
        static const struct field_rule ts_rules[] = {{"interval_ms", FT_UINT, true},
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
                if (times ? !is_uint(x) : !json_is_number(x))
                    return wrong(
                        c, f, times ? "an array of non-negative integers" : "an array of numbers");
            }
        }
    }
    return 0;
}

int pb_results_check(const json_t *root, const char *what, char *err, size_t errsz)
{
    struct check c = {what, err, errsz};
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
    if (!is_uint(ver))
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
    size_t i, j;
    const json_t *e, *o;
    json_array_foreach(benchmarks, i, e)
    {
        rc = check_bench(&c, e, i);
        if (rc)
            return rc;
        json_array_foreach(benchmarks, j, o)
        {
            if (j >= i)
                break;
            if (strcmp(entry_str(e, "name"), entry_str(o, "name")) == 0 &&
                entry_uint(e, "repetition_index") == entry_uint(o, "repetition_index")) {
                char f[64];
                path_of(f, sizeof(f), "benchmarks[%zu]", i);
                return wrong(&c, f, "unique (an earlier entry has its name and repetition_index)");
            }
        }
    }

    const json_t *pop = json_object_get(root, "popbench");
    if (!pop)
        return missing(&c, "popbench");
    if (!json_is_object(pop))
        return wrong(&c, "popbench", type_name(FT_OBJECT));
    const json_t *runs = json_object_get(pop, "runs");
    if (!runs)
        return missing(&c, "popbench.runs");
    if (!json_is_array(runs))
        return wrong(&c, "popbench.runs", type_name(FT_ARRAY));
    json_array_foreach(runs, i, e)
    {
        rc = check_run(&c, e, i, benchmarks);
        if (rc)
            return rc;
        json_array_foreach(runs, j, o)
        {
            if (j >= i)
                break;
            if (strcmp(entry_str(e, "name"), entry_str(o, "name")) == 0 &&
                entry_uint(e, "repetition_index") == entry_uint(o, "repetition_index")) {
                char f[64];
                path_of(f, sizeof(f), "popbench.runs[%zu]", i);
                return wrong(&c, f, "unique (an earlier run has its name and repetition_index)");
            }
        }
    }
    return 0;
}

/* ============================================================================================
 * Key order for writing: the format's order, then whatever else in insertion order
 * ========================================================================================== */

static int put_ordered(json_t *out, const json_t *in, const char *const *order, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(in, order[i]);
        if (v && json_object_set(out, order[i], v))
            return -ENOMEM;
    }
    return 0;
}

static json_t *ordered(const json_t *in, const char *const *o1, size_t n1, const char *const *o2,
                       size_t n2)
{
    json_t *out = json_object();
    if (!out || put_ordered(out, in, o1, n1) || put_ordered(out, in, o2, n2))
        goto fail;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)in, key, v)
    {
        if (!json_object_get(out, key) && json_object_set(out, key, v))
            goto fail;
    }
    return out;
fail:
    json_decref(out);
    return NULL;
}

static json_t *ordered_run(const json_t *run)
{
    json_t *out = ordered(run, run_order, PB_ARRAY_SIZE(run_order), NULL, 0);
    const json_t *h = json_object_get(run, "histograms");
    const json_t *ts = json_object_get(run, "timeseries");
    if (out && h &&
        json_object_set_new(out, "histograms",
                            ordered(h, histogram_order, PB_ARRAY_SIZE(histogram_order), NULL, 0)))
        goto fail;
    if (out && ts &&
        json_object_set_new(
            out, "timeseries",
            ordered(ts, timeseries_order, PB_ARRAY_SIZE(timeseries_order), NULL, 0)))
        goto fail;
    return out;
fail:
    json_decref(out);
    return NULL;
}

json_t *pb_results_ordered_root(const struct pb_results *doc)
{
    const char *ctx_order[PB_ARRAY_SIZE(context_rules)];
    for (size_t i = 0; i < PB_ARRAY_SIZE(context_rules); i++)
        ctx_order[i] = context_rules[i].key;
    json_t *root = json_object(), *benches = json_array(), *runs = json_array();
    json_t *pop = json_object();
    /* set_new takes the reference even when it fails: nothing leaks on the way out. */
    if (json_object_set_new(root, "context",
                            ordered(doc->context, ctx_order, PB_ARRAY_SIZE(ctx_order), NULL, 0)) ||
        json_object_set(root, "benchmarks", benches) || json_object_set(pop, "runs", runs) ||
        json_object_set(root, "popbench", pop)) {
        json_decref(benches);
        json_decref(runs);
        json_decref(pop);
        goto fail;
    }
    json_decref(benches);
    json_decref(runs);
    json_decref(pop);
    size_t i;
    json_t *v;
    json_array_foreach(doc->benchmarks, i, v)
    {
        if (json_array_append_new(benches,
                                  ordered(v, pb_results_bench_fixed, pb_results_bench_nfixed,
                                          pb_results_known_counters, pb_results_nknown_counters)))
            goto fail;
    }
    json_array_foreach(doc->runs, i, v)
    {
        if (json_array_append_new(runs, ordered_run(v)))
            goto fail;
    }
    return root;
fail:
    json_decref(root);
    return NULL;
}
