/*
 * reader.c: positions, messages, mappings and typed values of a workload document.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pb.h"
#include "workloads/reader.h"

/* ---------------------------------------------------------------------------------------------
 * Messages
 */

void wl_msg_append(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    size_t used;

    if (!err || !errlen)
        return;
    used = strnlen(err, errlen);
    if (used + 1 >= errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
}

int wl_fail_at(char *err, size_t errlen, const char *file, struct pb_wl_pos pos, const char *fmt,
               ...)
{
    char what[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    pb_errf(err, errlen, "%s:%" PRIu32 ":%" PRIu32 ": %s", file, pos.line, pos.col, what);
    return -EINVAL;
}

int wl_oom(char *err, size_t errlen, const char *file)
{
    pb_errf(err, errlen, "%s: out of memory", file);
    return -ENOMEM;
}

void wl_sanitize(const char *s, size_t len, char *out, size_t outlen)
{
    const size_t shown = 40;
    size_t i, o = 0;

    for (i = 0; i < len && i < shown && o + 1 < outlen; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
    }
    if (i < len)
        for (int k = 0; k < 3 && o + 1 < outlen; k++)
            out[o++] = '.';
    out[o] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Nodes
 */

struct pb_wl_pos wl_pos_of(const yaml_node_t *n)
{
    return (struct pb_wl_pos){(uint32_t)n->start_mark.line + 1, (uint32_t)n->start_mark.column + 1};
}

yaml_node_t *wl_node_at(struct wl_parser *p, int index)
{
    yaml_node_t *n = yaml_document_get_node(&p->doc, index);

    PB_BUG_ON(!n); /* libyaml only hands out indexes of its own nodes */
    return n;
}

const char *wl_sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < PB_ARRAY_SIZE(nulls); i++)
        if (strcmp(wl_sval(n), nulls[i]) == 0)
            return true;
    return false;
}

bool wl_is_text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && !is_null(n) &&
           strlen(wl_sval(n)) == n->data.scalar.length;
}

static bool is_plain_text(const yaml_node_t *n)
{
    return wl_is_text(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

bool wl_text_is(const yaml_node_t *n, const char *s)
{
    return wl_is_text(n) && strcmp(wl_sval(n), s) == 0;
}

struct wl_str wl_describe(const yaml_node_t *n)
{
    struct wl_str d;
    char v[64];

    switch (n->type) {
    case YAML_SEQUENCE_NODE:
        snprintf(d.s, sizeof(d.s), "a list");
        break;
    case YAML_MAPPING_NODE:
        snprintf(d.s, sizeof(d.s), "a mapping");
        break;
    case YAML_SCALAR_NODE:
        if (is_null(n)) {
            snprintf(d.s, sizeof(d.s), "empty");
            break;
        }
        wl_sanitize(wl_sval(n), n->data.scalar.length, v, sizeof(v));
        if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            snprintf(d.s, sizeof(d.s), "'%s'", v);
        else
            snprintf(d.s, sizeof(d.s), "the quoted string '%s'", v);
        break;
    default:
        snprintf(d.s, sizeof(d.s), "nothing");
        break;
    }
    return d;
}

struct wl_str wl_where(const char *path)
{
    struct wl_str w;

    if (path[0])
        snprintf(w.s, sizeof(w.s), "in '%s'", path);
    else
        snprintf(w.s, sizeof(w.s), "at the top level");
    return w;
}

struct wl_str wl_key(const char *path, const char *key)
{
    struct wl_str k;

    snprintf(k.s, sizeof(k.s), "%s%s%s", path, path[0] ? "." : "", key);
    return k;
}

void wl_join(const char *const *words, size_t n, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++)
        wl_msg_append(buf, len, "%s%s", i ? ", " : "", words[i]);
}

/* ---------------------------------------------------------------------------------------------
 * Mappings
 */

int wl_map_fields(struct wl_parser *p, yaml_node_t *n, const char *path, const char *const *keys,
                  size_t nkeys, yaml_node_t **vals, yaml_node_t **keynodes)
{
    char list[400], shown[64];

    for (size_t i = 0; i < nkeys; i++)
        vals[i] = keynodes[i] = NULL;
    if (n->type != YAML_MAPPING_NODE) {
        if (!path[0])
            return WL_FAIL(p, n, "the file holds %s (expected a mapping of workload keys)",
                           wl_describe(n).s);
        return WL_FAIL(p, n, "'%s' is %s (expected a mapping)", path, wl_describe(n).s);
    }
    wl_join(keys, nkeys, list, sizeof(list));
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = wl_node_at(p, pair->key);
        size_t i;

        if (!wl_is_text(k))
            return WL_FAIL(p, k, "%s as a key %s (expected one of: %s)", wl_describe(k).s,
                           wl_where(path).s, list);
        for (i = 0; i < nkeys; i++)
            if (strcmp(wl_sval(k), keys[i]) == 0)
                break;
        wl_sanitize(wl_sval(k), k->data.scalar.length, shown, sizeof(shown));
        if (i == nkeys)
            return WL_FAIL(p, k, "unknown key '%s' %s (expected one of: %s)", shown,
                           wl_where(path).s, list);
        if (vals[i])
            return WL_FAIL(p, k,
                           "duplicate key '%s' %s, first given at %" PRIu32 ":%" PRIu32
                           " (expected each key once)",
                           shown, wl_where(path).s, wl_pos_of(keynodes[i]).line,
                           wl_pos_of(keynodes[i]).col);
        vals[i] = wl_node_at(p, pair->value);
        keynodes[i] = k;
    }
    return 0;
}

int wl_missing(struct wl_parser *p, yaml_node_t *map, const char *path, const char *key,
               const char *expected)
{
    return WL_FAIL(p, map, "missing key '%s' %s (expected %s)", key, wl_where(path).s, expected);
}

int wl_conflict(struct wl_parser *p, yaml_node_t *k1, yaml_node_t *k2, const char *path,
                const char *expected)
{
    yaml_node_t *first = k1, *second = k2;

    if (k2->start_mark.index < k1->start_mark.index) {
        first = k2;
        second = k1;
    }
    return WL_FAIL(p, second, "key '%s' %s conflicts with '%s' (expected %s)", wl_sval(second),
                   wl_where(path).s, wl_sval(first), expected);
}

/* ---------------------------------------------------------------------------------------------
 * Typed values
 */

static bool parse_uint(const yaml_node_t *n, uint64_t *out)
{
    const char *s;

    if (!is_plain_text(n))
        return false;
    s = wl_sval(n);
    return wl_parse_digits(&s, out) && *s == '\0';
}

int wl_get_uint(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
                uint64_t *out)
{
    uint64_t v;

    if (!parse_uint(n, &v) || v < min || v > max)
        return WL_FAIL(p, n, "'%s' is %s (expected an integer from %" PRIu64 " to %" PRIu64 ")",
                       path, wl_describe(n).s, min, max);
    *out = v;
    return 0;
}

int wl_get_unsigned(struct wl_parser *p, yaml_node_t *n, const char *path, unsigned min,
                    unsigned max, unsigned *out)
{
    uint64_t v = 0;
    int rc = wl_get_uint(p, n, path, min, max, &v);

    if (!rc)
        *out = (unsigned)v;
    return rc;
}

static bool parse_double(const yaml_node_t *n, double *out)
{
    const char *s;
    char *end;
    bool digit = false;
    double v;

    if (!is_plain_text(n))
        return false;
    for (s = wl_sval(n); *s; s++) {
        if (isdigit((unsigned char)*s))
            digit = true;
        else if (!strchr(".eE+-", *s))
            return false;
    }
    if (!digit)
        return false;
    errno = 0;
    v = strtod(wl_sval(n), &end);
    if (*end || errno || !isfinite(v))
        return false;
    *out = v;
    return true;
}

int wl_get_number(struct wl_parser *p, yaml_node_t *n, const char *path, double lo, bool lo_open,
                  double hi, double *out)
{
    double v;

    if (!parse_double(n, &v) || v < lo || (lo_open && v == lo) || v > hi) {
        if (lo_open)
            return WL_FAIL(p, n, "'%s' is %s (expected a number above %.15g and at most %.15g)",
                           path, wl_describe(n).s, lo, hi);
        return WL_FAIL(p, n, "'%s' is %s (expected a number from %.15g to %.15g)", path,
                       wl_describe(n).s, lo, hi);
    }
    *out = v;
    return 0;
}

int wl_get_choice(struct wl_parser *p, yaml_node_t *n, const char *path, const char *const *names,
                  size_t count, unsigned *out)
{
    char list[200];

    for (size_t i = 0; i < count; i++) {
        if (wl_text_is(n, names[i])) {
            *out = (unsigned)i;
            return 0;
        }
    }
    wl_join(names, count, list, sizeof(list));
    return WL_FAIL(p, n, "'%s' is %s (expected one of: %s)", path, wl_describe(n).s, list);
}

/* A size or a duration: how to read one, what one looks like, in what unit it is counted. */
struct quantity {
    int (*parse)(const char *s, uint64_t *v, char *err, size_t errlen);
    const char *example; /* "a size such as 512MiB" */
    const char *noun;    /* "size" */
    uint64_t unit;       /* values are whole units of this many, and counted in them */
    struct wl_str (*print)(uint64_t v);
};

static const struct quantity sizes = {pb_parse_size, "a size such as 512MiB", "size", WL_PAGE_BYTES,
                                      wl_pages_str};
static const struct quantity durations = {pb_parse_duration, "a duration such as 500ms", "duration",
                                          1, wl_ns_str};

static int get_quantity(struct wl_parser *p, yaml_node_t *n, const char *path,
                        const struct quantity *q, uint64_t min, uint64_t max, uint64_t *out)
{
    char why[160];
    uint64_t v;

    if (!wl_is_text(n))
        return WL_FAIL(p, n, "'%s' is %s (expected %s)", path, wl_describe(n).s, q->example);
    if (q->parse(wl_sval(n), &v, why, sizeof(why)))
        return WL_FAIL(p, n, "'%s' is %s: %s", path, wl_describe(n).s, why);
    if (v % q->unit)
        return WL_FAIL(p, n, "'%s' is %s (expected a multiple of 4KiB, the frame size)", path,
                       wl_describe(n).s);
    if (v / q->unit < min || v / q->unit > max)
        return WL_FAIL(p, n, "'%s' is %s (expected a %s from %s to %s)", path, wl_describe(n).s,
                       q->noun, q->print(min).s, q->print(max).s);
    *out = v / q->unit;
    return 0;
}

int wl_get_pages(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min_pages,
                 uint64_t max_pages, uint64_t *out)
{
    return get_quantity(p, n, path, &sizes, min_pages, max_pages, out);
}

int wl_get_duration(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min,
                    uint64_t max, uint64_t *out)
{
    return get_quantity(p, n, path, &durations, min, max, out);
}

int wl_get_phase(struct wl_parser *p, yaml_node_t *n, const char *path, bool measure,
                 struct pb_wl_phase *ph)
{
    const char *expected = measure ? "a duration such as 3s or 500ms, an operation count such "
                                     "as 10000ops, or until-built"
                                   : "a duration such as 1s or 500ms, or an operation count "
                                     "such as 10000ops";
    const uint64_t min = measure ? 1 : 0,
                   max_ns = measure ? PB_WL_MAX_MEASURE_NS : PB_WL_MAX_WARMUP_NS;
    const char *s, *end;
    size_t len;
    uint64_t v;
    char why[160];

    if (!wl_is_text(n))
        return WL_FAIL(p, n, "'%s' is %s (expected %s)", path, wl_describe(n).s, expected);
    s = wl_sval(n);
    len = strlen(s);
    if (measure && strcmp(s, "until-built") == 0) {
        *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_UNTIL_BUILT};
        return 0;
    }
    if (len > 3 && strcmp(s + len - 3, "ops") == 0 && isdigit((unsigned char)s[0])) {
        bool fits;

        end = s;
        fits = wl_parse_digits(&end, &v);
        while (isdigit((unsigned char)*end))
            end++; /* past an overflowing count, reported as out of range below */
        while (*end == ' ')
            end++;
        if (end != s + len - 3)
            return WL_FAIL(p, n, "'%s' is %s (expected %s)", path, wl_describe(n).s, expected);
        if (!fits || v < min || v > WL_MAX_OPS)
            return WL_FAIL(p, n, "'%s' is %s (expected from %" PRIu64 " to %" PRIu64 " ops)", path,
                           wl_describe(n).s, min, WL_MAX_OPS);
        *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_OPS, .ops = v};
        return 0;
    }
    if (pb_parse_duration(s, &v, why, sizeof(why)))
        return WL_FAIL(p, n, "'%s' is %s (expected %s)", path, wl_describe(n).s, expected);
    if (v < min || v > max_ns)
        return WL_FAIL(p, n, "'%s' is %s (expected a duration from %s to %s)", path,
                       wl_describe(n).s, wl_ns_str(min).s, wl_ns_str(max_ns).s);
    *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = v};
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Names
 */

bool wl_valid_name(const char *s)
{
    if (!*s || *s == '.' || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
            return false;
    return true;
}

char *wl_file_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    size_t len;

    base = base ? base + 1 : path;
    len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".yaml") == 0)
        len -= 5;
    return strndup(base, len);
}
