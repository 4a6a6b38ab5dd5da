/*
 * results.c: building the results document: the document, its context, its benchmark entries
 * and their run sections. results_check.c holds the format's fields and the reader,
 * results_view.c what reads a document, results_write.c the writers.
 */
#include "results/results_internal.h"

#include "core/pb.h"
#include "results/metrics.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef POPBENCH_VERSION_STRING
#define POPBENCH_VERSION_STRING "unknown"
#endif

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

struct pb_results *pb_results_wrap(json_t *root)
{
    struct pb_results *doc = calloc(1, sizeof(*doc));
    if (!doc)
        return NULL;
    if (!(doc->index = json_object())) {
        free(doc);
        return NULL;
    }
    doc->root = root;
    doc->context = json_object_get(root, "context");
    doc->benchmarks = json_object_get(root, "benchmarks");
    doc->runs = json_object_get(json_object_get(root, "popbench"), "runs");
    return doc;
}

int pb_results_append_handle(struct pb_results *doc, json_t *entry, json_t *run)
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
    pb_results_changed(doc);
    return 0;
}

void pb_results_changed(struct pb_results *doc)
{
    pb_results_view_free(doc->view);
    doc->view = NULL;
}

int pb_results_create(struct pb_results **out)
{
    if (!out)
        return -EINVAL;
    json_t *root =
        json_pack("{s:{s:i, s:s, s:b, s:o}, s:[], s:{s:[]}}", "context", "popbench_results_version",
                  PB_RESULTS_VERSION, "popbench_version", POPBENCH_VERSION_STRING, "partial", 0,
                  "metrics", pb_metric_table_json(), "benchmarks", "popbench", "runs");
    if (!root)
        return -ENOMEM;
    struct pb_results *doc = pb_results_wrap(root);
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
    pb_results_view_free(doc->view);
    for (size_t i = 0; i < doc->nbenches; i++)
        free(doc->benches[i]);
    free(doc->benches);
    json_decref(doc->index);
    json_decref(doc->root);
    free(doc->path);
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
static bool context_key_takes(const char *key, enum pb_field_type t)
{
    if (!valid_key(key) || strcmp(key, "popbench_results_version") == 0)
        return false;
    const struct pb_field_rule *r =
        pb_results_find_rule(pb_results_context_rules, pb_results_ncontext_rules, key);
    return !r || r->type == t || (r->type == FT_NUMBER && t == FT_UINT);
}

static int context_set_new(struct pb_results *doc, const char *key, json_t *value)
{
    if (!value)
        return -ENOMEM;
    return json_object_set_new(doc->context, key, value) ? -ENOMEM : 0;
}

int pb_results_context_set_string(struct pb_results *doc, const char *key, const char *value)
{
    if (!doc || !value || !context_key_takes(key, FT_STRING))
        return -EINVAL;
    if (strcmp(key, "backing") == 0 && !pb_results_valid_backing(value))
        return -EINVAL;
    return context_set_new(doc, key, json_string(value));
}

int pb_results_context_set_int(struct pb_results *doc, const char *key, int64_t value)
{
    if (!doc || !context_key_takes(key, FT_UINT))
        return -EINVAL;
    const struct pb_field_rule *r =
        pb_results_find_rule(pb_results_context_rules, pb_results_ncontext_rules, key);
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

int pb_results_context_set_json(struct pb_results *doc, const char *key, json_t *value)
{
    if (!doc || !value || !valid_key(key) ||
        pb_results_find_rule(pb_results_context_rules, pb_results_ncontext_rules, key)) {
        json_decref(value);
        return -EINVAL;
    }
    return context_set_new(doc, key, value);
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

int pb_results_set_calibration(struct pb_results *doc, const struct pb_results_calibration *c)
{
    if (!doc || !c || !c->date || !*c->date || c->aa_false_alarms > c->aa_verdicts ||
        c->effect_detected > c->effect_verdicts || !(c->aa_false_alarm_rate >= 0) ||
        !(c->aa_false_alarm_rate <= 1) || !(c->effect_detection_rate >= 0) ||
        !(c->effect_detection_rate <= 1) || !(c->precision_target > 0) ||
        !isfinite(c->precision_target) || !fits_int64(c->aa_runs) || !fits_int64(c->aa_verdicts) ||
        !fits_int64(c->effect_ns) || !fits_int64(c->effect_runs) || !fits_int64(c->effect_verdicts))
        return -EINVAL;
    /* In the order of pb_results_calibration_rules. */
    json_t *o = json_pack(
        "{s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:f, s:f, s:s}", "aa_runs",
        (json_int_t)c->aa_runs, "aa_verdicts", (json_int_t)c->aa_verdicts, "aa_false_alarms",
        (json_int_t)c->aa_false_alarms, "aa_false_alarm_rate", c->aa_false_alarm_rate, "effect_ns",
        (json_int_t)c->effect_ns, "effect_runs", (json_int_t)c->effect_runs, "effect_verdicts",
        (json_int_t)c->effect_verdicts, "effect_detected", (json_int_t)c->effect_detected,
        "effect_detection_rate", c->effect_detection_rate, "precision_target", c->precision_target,
        "date", c->date);
    if (!o)
        return -EINVAL; /* a date that is not UTF-8, or no memory */
    return context_set_new(doc, "calibration", o);
}

int pb_results_set_calibration_detail(struct pb_results *doc, const char *key, json_t *value)
{
    json_t *c = doc ? json_object_get(doc->context, "calibration") : NULL;
    int rc =
        !doc || !value || !valid_key(key) ? -EINVAL
        : !json_is_object(c)              ? -ENOENT
        : pb_results_find_rule(pb_results_calibration_rules, PB_RESULTS_NCALIBRATION_FIELDS, key)
            ? -EEXIST
            : 0;
    if (rc) {
        json_decref(value);
        return rc;
    }
    return json_object_set_new(c, key, value) ? -ENOMEM : 0;
}

int pb_results_get_calibration(const struct pb_results *doc, struct pb_results_calibration *out)
{
    const json_t *c = doc && out ? json_object_get(doc->context, "calibration") : NULL;
    if (!c)
        return doc && out ? -ENOENT : -EINVAL;
    if (!json_is_object(c)) /* a document built here with a key the reader would refuse */
        return -EINVAL;
    for (size_t i = 0; i < PB_RESULTS_NCALIBRATION_FIELDS; i++) {
        const struct pb_field_rule *r = &pb_results_calibration_rules[i];
        const json_t *v = json_object_get(c, r->key);
        if (r->type == FT_STRING ? !json_is_string(v)
            : r->type == FT_UINT ? !pb_results_is_uint(v)
                                 : !json_is_number(v))
            return -EINVAL;
    }
    *out = (struct pb_results_calibration){
        .aa_runs = pb_results_uint(c, "aa_runs"),
        .aa_verdicts = pb_results_uint(c, "aa_verdicts"),
        .aa_false_alarms = pb_results_uint(c, "aa_false_alarms"),
        .aa_false_alarm_rate = json_number_value(json_object_get(c, "aa_false_alarm_rate")),
        .effect_ns = pb_results_uint(c, "effect_ns"),
        .effect_runs = pb_results_uint(c, "effect_runs"),
        .effect_verdicts = pb_results_uint(c, "effect_verdicts"),
        .effect_detected = pb_results_uint(c, "effect_detected"),
        .effect_detection_rate = json_number_value(json_object_get(c, "effect_detection_rate")),
        .precision_target = json_number_value(json_object_get(c, "precision_target")),
        .date = pb_results_str(c, "date"),
    };
    return 0;
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

int pb_results_number(const json_t *obj, const char *key, double *value)
{
    json_t *v = key && value ? json_object_get(obj, key) : NULL;
    if (!v)
        return key && value ? -ENOENT : -EINVAL;
    if (!json_is_number(v))
        return -EINVAL;
    *value = json_number_value(v);
    return 0;
}

int pb_results_context_number(const struct pb_results *doc, const char *key, double *value)
{
    return doc ? pb_results_number(doc->context, key, value) : -EINVAL;
}

int pb_results_context_bool(const struct pb_results *doc, const char *key, bool *value)
{
    json_t *v = doc && key && value ? json_object_get(doc->context, key) : NULL;
    if (!v)
        return doc && key && value ? -ENOENT : -EINVAL;
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

const struct pb_results_bench *pb_results_find_bench(const struct pb_results *doc, const char *name,
                                                     unsigned repetition_index)
{
    char buf[256], *heap;
    const char *k =
        doc && name ? pb_results_key(buf, sizeof(buf), name, repetition_index, &heap) : NULL;
    const json_t *pos = k ? json_object_get(doc->index, k) : NULL;
    if (k)
        free(heap);
    return pos ? doc->benches[json_integer_value(pos)] : NULL;
}

/* Google Benchmark's family (workload/variant) and instance (thread count) numbering. */
static void bench_family(const struct pb_results *doc, const char *workload, const char *variant,
                         const char *name, uint64_t *family, uint64_t *instance)
{
    bool have_family = false, have_instance = false;
    uint64_t next_family = 0, next_instance = 0;
    for (size_t i = 0; i < doc->nbenches; i++) {
        const json_t *e = doc->benches[i]->entry;
        uint64_t f = pb_results_uint(e, "family_index"),
                 in = pb_results_uint(e, "per_family_instance_index");
        if (f + 1 > next_family)
            next_family = f + 1;
        if (strcmp(pb_results_str(e, "workload"), workload) ||
            strcmp(pb_results_str(e, "variant"), variant))
            continue;
        have_family = true;
        *family = f;
        if (in + 1 > next_instance)
            next_instance = in + 1;
        if (strcmp(pb_results_str(e, "name"), name) == 0) {
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
    char buf[256], *heap;
    const char *k =
        pb_results_key(buf, sizeof(buf), pb_results_str(e, "name"), spec->repetition_index, &heap);
    int rc = k ? pb_results_append_handle(doc, e, NULL) : -ENOMEM;
    if (rc == 0 && json_object_set_new(doc->index, k, json_integer((json_int_t)doc->nbenches - 1)))
        rc = -ENOMEM;
    else if (rc == 0 && json_array_append_new(doc->benchmarks, json_incref(e)))
        rc = -ENOMEM;
    if (rc && k) {
        json_object_del(doc->index, k);
        if (doc->nbenches && doc->benches[doc->nbenches - 1]->entry == e)
            free(doc->benches[--doc->nbenches]);
    }
    if (k)
        free(heap);
    json_decref(e);
    if (rc)
        return rc;
    *out = doc->benches[doc->nbenches - 1];
    return 0;
}

int pb_results_bench_set_repetitions(struct pb_results_bench *b, unsigned repetitions)
{
    if (!b || repetitions == 0 ||
        pb_results_uint(b->entry, "repetition_index") >= (uint64_t)repetitions)
        return -EINVAL;
    if (json_object_set_new(b->entry, "repetitions", json_integer((json_int_t)repetitions)))
        return -ENOMEM;
    pb_results_changed(b->doc);
    return 0;
}

static bool counter_name_ok(const char *name)
{
    return valid_key(name) && !pb_results_is_fixed_field(name) && !pb_metric_is_text(name);
}

int pb_results_bench_set_counter(struct pb_results_bench *b, const char *name, double value)
{
    if (!b || !counter_name_ok(name) || !isfinite(value))
        return -EINVAL;
    json_t *v = json_real(value);
    pb_results_changed(b->doc);
    return !v || json_object_set_new(b->entry, name, v) ? -ENOMEM : 0;
}

int pb_results_bench_set_count(struct pb_results_bench *b, const char *name, uint64_t value)
{
    if (!b || !counter_name_ok(name) || !fits_int64(value))
        return -EINVAL;
    json_t *v = json_integer((json_int_t)value);
    pb_results_changed(b->doc);
    return !v || json_object_set_new(b->entry, name, v) ? -ENOMEM : 0;
}

int pb_results_bench_set_string(struct pb_results_bench *b, const char *name, const char *value)
{
    if (!b || !pb_metric_is_text(name) || !value || !*value)
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

int pb_results_bench_set_run_json(struct pb_results_bench *b, const char *key, json_t *value)
{
    static const char *const format[] = {"name",  "repetition_index", "histograms",
                                         "locks", "timeseries",       "threads",
                                         "scrub", "validator"};
    bool ok = b && value && valid_key(key);
    for (size_t i = 0; ok && i < PB_ARRAY_SIZE(format); i++)
        ok = strcmp(key, format[i]) != 0;
    if (!ok) {
        json_decref(value);
        return -EINVAL;
    }
    return run_set(b, key, value);
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
        if (strcmp(pb_results_str(have, "name"), l->name) == 0)
            return -EEXIST;
    }
    json_t *o = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name", l->name, pb_results_lock_fields[0],
        (json_int_t)l->acquisitions, pb_results_lock_fields[1], (json_int_t)l->contended,
        pb_results_lock_fields[2], (json_int_t)l->wait_ns_total, pb_results_lock_fields[3],
        (json_int_t)l->wait_ns_max, pb_results_lock_fields[4], (json_int_t)l->hold_ns_total,
        pb_results_lock_fields[5], (json_int_t)l->hold_ns_max);
    if (!o)
        return -EINVAL; /* not UTF-8, or no memory */
    if (l->hold_untimed && json_object_set_new(o, "hold_timed", json_false())) {
        json_decref(o);
        return -ENOMEM;
    }
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
        if (pb_results_uint(have, "index") == t->index)
            return -EEXIST;
    }
    json_t *o =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", pb_results_thread_fields[0],
                  (json_int_t)t->index, pb_results_thread_fields[1], (json_int_t)t->vcpu,
                  pb_results_thread_fields[2], (json_int_t)t->node, pb_results_thread_fields[3],
                  (json_int_t)t->pu, pb_results_thread_fields[4], (json_int_t)t->pages,
                  pb_results_thread_fields[5], (json_int_t)t->calls);
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
    return run_set(
        b, "scrub",
        json_pack("{s:I, s:I, s:I, s:I}", pb_results_scrub_fields[0], (json_int_t)s->on_alloc,
                  pb_results_scrub_fields[1], (json_int_t)s->background, pb_results_scrub_fields[2],
                  (json_int_t)s->domain_build, pb_results_scrub_fields[3], (json_int_t)s->aborts));
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
