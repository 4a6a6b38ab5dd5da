/*
 * workload.c: loads workload files (workloads/FORMAT.md) with libyaml's document API.
 *
 * The loader walks the document by the schema, never generically, so aliases that make a node
 * its own child cannot send it round in circles. Every message carries the start mark of the node
 * at fault; the first error stops the load.
 */
#include "workloads/workload.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "core/pb.h"

const unsigned pb_wl_orders[PB_WL_NR_ORDERS] = {0, 9, 18};

#define PAGE_BYTES           (UINT64_C(1) << PB_WL_PAGE_SHIFT)
#define MiB_PAGES            (UINT64_C(1) << (20 - PB_WL_PAGE_SHIFT))
#define MAX_PAGES            (UINT64_C(1) << (44 - PB_WL_PAGE_SHIFT)) /* 16 TiB */
#define MAX_EXTENTS_PER_CALL (1u << 20)
#define MAX_OPS              (UINT64_C(1) << 40)
#define NS_PER_S             UINT64_C(1000000000)
#define MAX_DESCRIPTION      200
#define DEFAULT_WARMUP_NS    NS_PER_S
#define DEFAULT_MEASURE_NS   (5 * NS_PER_S)

#define PB_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---------------------------------------------------------------------------------------------
 * Messages
 */

static void PB_PRINTF(3, 4) msg_append(char *err, size_t errlen, const char *fmt, ...)
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

static int PB_PRINTF(5, 6)
    fail_at(char *err, size_t errlen, const char *file, struct pb_wl_pos pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!err || !errlen)
        return -EINVAL;
    n = snprintf(err, errlen, "%s:%" PRIu32 ":%" PRIu32 ": ", file, pos.line, pos.col);
    if (n < 0 || (size_t)n >= errlen)
        return -EINVAL;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Copies at most 40 bytes of untrusted text for a message, unprintable bytes as '?'. */
static void sanitize(const char *s, size_t len, char *out, size_t outlen)
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
 * Sizes and durations
 */

struct unit {
    const char *name;
    uint64_t scale;
};

static const struct unit size_units[] = {
    {"B", 1},
    {"KiB", UINT64_C(1) << 10},
    {"MiB", UINT64_C(1) << 20},
    {"GiB", UINT64_C(1) << 30},
    {"TiB", UINT64_C(1) << 40},
    {"pages", PAGE_BYTES},
};
#define SIZE_UNITS "B, KiB, MiB, GiB, TiB, pages"

static const struct unit duration_units[] = {
    {"ns", 1},       {"us", 1000},         {"ms", 1000000},
    {"s", NS_PER_S}, {"m", 60 * NS_PER_S}, {"h", 3600 * NS_PER_S},
};
#define DURATION_UNITS "ns, us, ms, s, m, h"

/* "<digits>[ ]*<unit>", the unit one of `units`. */
static int parse_with_unit(const char *s, const struct unit *units, size_t nunits,
                           const char *unit_list, const char *example, const char *finer,
                           uint64_t *out, char *err, size_t errlen)
{
    uint64_t v = 0;
    const char *p = s;
    char shown[64];

    if (!s || !out) {
        pb_errf(err, errlen, "no value (expected an integer and a unit, e.g. %s)", example);
        return -EINVAL;
    }
    if (*p == '\0') {
        pb_errf(err, errlen, "empty (expected an integer and a unit, e.g. %s)", example);
        return -EINVAL;
    }
    if (*p == '-' || *p == '+') {
        pb_errf(err, errlen, "a sign (expected an unsigned integer and a unit, e.g. %s)", example);
        return -EINVAL;
    }
    if (!isdigit((unsigned char)*p)) {
        pb_errf(err, errlen, "no number (expected an integer and a unit, e.g. %s)", example);
        return -EINVAL;
    }
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) {
            pb_errf(err, errlen, "too large (expected at most %" PRIu64 "%s)", UINT64_MAX,
                    units[0].name);
            return -EINVAL;
        }
        v = v * 10 + d;
    }
    if (*p == '.' || *p == ',') {
        pb_errf(err, errlen, "a fraction (expected an integer: use a smaller unit, e.g. %s)",
                finer);
        return -EINVAL;
    }
    while (*p == ' ')
        p++;
    if (*p == '\0') {
        pb_errf(err, errlen, "no unit (expected one of: %s)", unit_list);
        return -EINVAL;
    }
    for (size_t i = 0; i < nunits; i++) {
        if (strcmp(p, units[i].name) != 0)
            continue;
        if (v > UINT64_MAX / units[i].scale) {
            pb_errf(err, errlen, "too large (expected at most %" PRIu64 "%s)", UINT64_MAX,
                    units[0].name);
            return -EINVAL;
        }
        *out = v * units[i].scale;
        return 0;
    }
    sanitize(p, strlen(p), shown, sizeof(shown));
    pb_errf(err, errlen, "unknown unit '%s' (expected one of: %s)", shown, unit_list);
    return -EINVAL;
}

int pb_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
    return parse_with_unit(s, size_units, PB_ARRAY_SIZE(size_units), SIZE_UNITS, "512MiB",
                           "1536MiB for 1.5GiB", bytes, err, errlen);
}

int pb_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen)
{
    return parse_with_unit(s, duration_units, PB_ARRAY_SIZE(duration_units), DURATION_UNITS,
                           "500ms", "1500ms for 1.5s", ns, err, errlen);
}

static int format_with_unit(uint64_t v, const struct unit *units, size_t nunits, const char *zero,
                            char *buf, size_t len)
{
    int n;

    if (!buf || !len)
        return -EINVAL;
    if (v == 0) {
        n = snprintf(buf, len, "%s", zero);
    } else {
        size_t best = 0;
        for (size_t i = 0; i < nunits; i++)
            if (v % units[i].scale == 0)
                best = i; /* units ascend: the last that divides is the largest */
        n = snprintf(buf, len, "%" PRIu64 "%s", v / units[best].scale, units[best].name);
    }
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return -EINVAL;
    }
    return 0;
}

int pb_format_size(uint64_t bytes, char *buf, size_t len)
{
    /* "pages" is for input only: output stays in bytes. */
    return format_with_unit(bytes, size_units, PB_ARRAY_SIZE(size_units) - 1, "0B", buf, len);
}

int pb_format_duration(uint64_t ns, char *buf, size_t len)
{
    return format_with_unit(ns, duration_units, PB_ARRAY_SIZE(duration_units), "0s", buf, len);
}

struct sizestr {
    char s[32];
};

static struct sizestr pages_str(uint64_t pages)
{
    struct sizestr r;
    pb_format_size(pages << PB_WL_PAGE_SHIFT, r.s, sizeof(r.s));
    return r;
}

static struct sizestr ns_str(uint64_t ns)
{
    struct sizestr r;
    pb_format_duration(ns, r.s, sizeof(r.s));
    return r;
}

/* ---------------------------------------------------------------------------------------------
 * The document walker
 */

/* Files being loaded, outermost first: a suite that names one of them closes a cycle. */
struct wl_chain {
    char *real[PB_WL_MAX_NESTING + 2];
    unsigned depth;
};

struct wl_parser {
    const char *file; /* as given: messages name it so */
    yaml_document_t doc;
    char *err;
    size_t errlen;
    struct wl_chain *chain;
};

/* What is printed for a node in "'path' is <what>". */
struct desc {
    char s[96];
};

static struct pb_wl_pos pos_of(const yaml_node_t *n)
{
    return (struct pb_wl_pos){(uint32_t)n->start_mark.line + 1, (uint32_t)n->start_mark.column + 1};
}

#define FAIL(p, node, ...) fail_at((p)->err, (p)->errlen, (p)->file, pos_of(node), __VA_ARGS__)

static yaml_node_t *node_at(struct wl_parser *p, int index)
{
    yaml_node_t *n = yaml_document_get_node(&p->doc, index);

    PB_BUG_ON(!n); /* libyaml only hands out indexes of its own nodes */
    return n;
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    for (size_t i = 0; i < PB_ARRAY_SIZE(nulls); i++)
        if (strcmp(sval(n), nulls[i]) == 0)
            return true;
    return false;
}

/* A scalar with text, no embedded NUL: what every typed getter starts from. */
static bool is_text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && !is_null(n) && strlen(sval(n)) == n->data.scalar.length;
}

static bool is_plain_text(const yaml_node_t *n)
{
    return is_text(n) && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool text_is(const yaml_node_t *n, const char *s)
{
    return is_text(n) && strcmp(sval(n), s) == 0;
}

static struct desc describe(const yaml_node_t *n)
{
    struct desc d;
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
        sanitize(sval(n), n->data.scalar.length, v, sizeof(v));
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

struct where {
    char s[96];
};

static struct where where(const char *path)
{
    struct where w;

    if (path[0])
        snprintf(w.s, sizeof(w.s), "in '%s'", path);
    else
        snprintf(w.s, sizeof(w.s), "at the top level");
    return w;
}

static void join_keys(const char *const *keys, size_t nkeys, char *buf, size_t len)
{
    buf[0] = '\0';
    for (size_t i = 0; i < nkeys; i++)
        msg_append(buf, len, "%s%s", i ? ", " : "", keys[i]);
}

/*
 * Checks that `n` is a mapping whose keys are all in `keys`, each at most once, and hands back
 * each key's value (NULL when absent) and key node.
 */
static int map_fields(struct wl_parser *p, yaml_node_t *n, const char *path,
                      const char *const *keys, size_t nkeys, yaml_node_t **vals,
                      yaml_node_t **keynodes)
{
    char list[400], shown[64];

    for (size_t i = 0; i < nkeys; i++)
        vals[i] = keynodes[i] = NULL;
    if (n->type != YAML_MAPPING_NODE) {
        if (!path[0])
            return FAIL(p, n, "the file holds %s (expected a mapping of workload keys)",
                        describe(n).s);
        return FAIL(p, n, "'%s' is %s (expected a mapping)", path, describe(n).s);
    }
    join_keys(keys, nkeys, list, sizeof(list));
    for (yaml_node_pair_t *pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = node_at(p, pair->key);
        size_t i;

        if (!is_text(k))
            return FAIL(p, k, "%s as a key %s (expected one of: %s)", describe(k).s, where(path).s,
                        list);
        for (i = 0; i < nkeys; i++)
            if (strcmp(sval(k), keys[i]) == 0)
                break;
        sanitize(sval(k), k->data.scalar.length, shown, sizeof(shown));
        if (i == nkeys)
            return FAIL(p, k, "unknown key '%s' %s (expected one of: %s)", shown, where(path).s,
                        list);
        if (vals[i])
            return FAIL(p, k,
                        "duplicate key '%s' %s, first given at %" PRIu32 ":%" PRIu32
                        " (expected each key once)",
                        shown, where(path).s, pos_of(keynodes[i]).line, pos_of(keynodes[i]).col);
        vals[i] = node_at(p, pair->value);
        keynodes[i] = k;
    }
    return 0;
}

static int missing(struct wl_parser *p, yaml_node_t *map, const char *path, const char *key,
                   const char *expected)
{
    return FAIL(p, map, "missing key '%s' %s (expected %s)", key, where(path).s, expected);
}

/* Two keys that exclude each other: the message points at the later one. */
static int conflict(struct wl_parser *p, yaml_node_t *k1, yaml_node_t *k2, const char *path,
                    const char *expected)
{
    yaml_node_t *first = k1, *second = k2;

    if (k2->start_mark.index < k1->start_mark.index) {
        first = k2;
        second = k1;
    }
    return FAIL(p, second, "key '%s' %s conflicts with '%s' (expected %s)", sval(second),
                where(path).s, sval(first), expected);
}

static bool parse_uint(const yaml_node_t *n, uint64_t *out)
{
    const char *s;
    uint64_t v = 0;

    if (!is_plain_text(n))
        return false;
    s = sval(n);
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned d;
        if (!isdigit((unsigned char)*s))
            return false;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static int get_uint(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min,
                    uint64_t max, uint64_t *out)
{
    uint64_t v;

    if (!parse_uint(n, &v) || v < min || v > max)
        return FAIL(p, n, "'%s' is %s (expected an integer from %" PRIu64 " to %" PRIu64 ")", path,
                    describe(n).s, min, max);
    *out = v;
    return 0;
}

static int get_unsigned(struct wl_parser *p, yaml_node_t *n, const char *path, unsigned min,
                        unsigned max, unsigned *out)
{
    uint64_t v;
    int rc = get_uint(p, n, path, min, max, &v);

    if (!rc)
        *out = (unsigned)v;
    return rc;
}

/* A plain decimal number; no hex, inf or nan. */
static bool parse_double(const yaml_node_t *n, double *out)
{
    const char *s;
    char *end;
    bool digit = false;
    double v;

    if (!is_plain_text(n))
        return false;
    for (s = sval(n); *s; s++) {
        if (isdigit((unsigned char)*s))
            digit = true;
        else if (!strchr(".eE+-", *s))
            return false;
    }
    if (!digit)
        return false;
    errno = 0;
    v = strtod(sval(n), &end);
    if (*end || errno || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static int get_number(struct wl_parser *p, yaml_node_t *n, const char *path, double lo,
                      bool lo_open, double hi, double *out)
{
    double v;

    if (!parse_double(n, &v) || v < lo || (lo_open && v == lo) || v > hi) {
        if (lo_open)
            return FAIL(p, n, "'%s' is %s (expected a number above %.15g and at most %.15g)", path,
                        describe(n).s, lo, hi);
        return FAIL(p, n, "'%s' is %s (expected a number from %.15g to %.15g)", path, describe(n).s,
                    lo, hi);
    }
    *out = v;
    return 0;
}

static int get_choice(struct wl_parser *p, yaml_node_t *n, const char *path,
                      const char *const *names, size_t count, unsigned *out)
{
    char list[200];

    for (size_t i = 0; i < count; i++) {
        if (text_is(n, names[i])) {
            *out = (unsigned)i;
            return 0;
        }
    }
    join_keys(names, count, list, sizeof(list));
    return FAIL(p, n, "'%s' is %s (expected one of: %s)", path, describe(n).s, list);
}

static int get_pages(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min_pages,
                     uint64_t max_pages, uint64_t *out)
{
    char why[160];
    uint64_t bytes;

    if (!is_text(n))
        return FAIL(p, n, "'%s' is %s (expected a size such as 512MiB)", path, describe(n).s);
    if (pb_parse_size(sval(n), &bytes, why, sizeof(why)))
        return FAIL(p, n, "'%s' is %s: %s", path, describe(n).s, why);
    if (bytes % PAGE_BYTES)
        return FAIL(p, n, "'%s' is %s (expected a multiple of 4KiB, the frame size)", path,
                    describe(n).s);
    if (bytes / PAGE_BYTES < min_pages || bytes / PAGE_BYTES > max_pages)
        return FAIL(p, n, "'%s' is %s (expected a size from %s to %s)", path, describe(n).s,
                    pages_str(min_pages).s, pages_str(max_pages).s);
    *out = bytes / PAGE_BYTES;
    return 0;
}

static int get_duration(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min,
                        uint64_t max, uint64_t *out)
{
    char why[160];
    uint64_t ns;

    if (!is_text(n))
        return FAIL(p, n, "'%s' is %s (expected a duration such as 500ms)", path, describe(n).s);
    if (pb_parse_duration(sval(n), &ns, why, sizeof(why)))
        return FAIL(p, n, "'%s' is %s: %s", path, describe(n).s, why);
    if (ns < min || ns > max)
        return FAIL(p, n, "'%s' is %s (expected a duration from %s to %s)", path, describe(n).s,
                    ns_str(min).s, ns_str(max).s);
    *out = ns;
    return 0;
}

static bool valid_name(const char *s)
{
    if (!*s || *s == '.' || strlen(s) > 64)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
            return false;
    return true;
}

/* "dir/name.yaml" → "name". */
static char *file_stem(const char *path)
{
    const char *base = strrchr(path, '/');
    size_t len;

    base = base ? base + 1 : path;
    len = strlen(base);
    if (len > 5 && strcmp(base + len - 5, ".yaml") == 0)
        len -= 5;
    return strndup(base, len);
}

/* ---------------------------------------------------------------------------------------------
 * Sections of a workload
 */

static const unsigned order_limit[] = {
    [PB_WL_PRIV_DOMU] = 9,
    [PB_WL_PRIV_CONTROL] = 18,
    [PB_WL_PRIV_HARDWARE] = 12,
};
static const char *const privilege_names[] = {"domu", "control", "hardware"};
static const char *const start_names[] = {"build", "running"};
static const char *const claim_mode_names[] = {"host", "nodes"};
static const char *const backing_names[] = {"auto", "real", "none"};
static const char *const dma_zone_names[] = {"xen", "off"};
static const char *const scrub_names[] = {"on-alloc", "background", "none"};
static const char *const heap_names[] = {"fresh", "fragmented", "dirty"};
static const char *const order_keys[] = {"0", "9", "18"};

static int parse_machine(struct wl_parser *p, yaml_node_t *n, struct pb_wl_machine *m)
{
    static const char *const keys[] = {"from", "nodes", "memory_per_node", "backing", "dma_zone"};
    enum { FROM, NODES, MEMORY, BACKING, DMA_ZONE };
    yaml_node_t *v[5], *k[5];
    static const char *const from_names[] = {"topology"};
    const char *either = "either from: topology or nodes and memory_per_node";
    unsigned idx;
    int rc;

    m->from_topology = true;
    m->backing = PB_WL_BACKING_AUTO;
    if (!n)
        return 0;
    m->pos = pos_of(n);
    if ((rc = map_fields(p, n, "machine", keys, 5, v, k)))
        return rc;
    if (v[FROM]) {
        if ((rc = get_choice(p, v[FROM], "machine.from", from_names, 1, &idx)))
            return rc;
        if (v[NODES])
            return conflict(p, k[FROM], k[NODES], "machine", either);
        if (v[MEMORY])
            return conflict(p, k[FROM], k[MEMORY], "machine", either);
    } else {
        m->from_topology = false;
        if (!v[NODES])
            return missing(p, n, "machine", "nodes", "the number of NUMA nodes, or from: topology");
        if (!v[MEMORY])
            return missing(p, n, "machine", "memory_per_node", "a size such as 4GiB");
        if ((rc = get_unsigned(p, v[NODES], "machine.nodes", 1, PB_WL_MAX_NODES, &m->nodes)))
            return rc;
        if ((rc = get_pages(p, v[MEMORY], "machine.memory_per_node", MiB_PAGES, MAX_PAGES,
                            &m->pages_per_node)))
            return rc;
    }
    if (v[BACKING]) {
        if ((rc = get_choice(p, v[BACKING], "machine.backing", backing_names, 3, &idx)))
            return rc;
        m->backing = (enum pb_wl_backing)idx;
    }
    if (v[DMA_ZONE]) {
        if ((rc = get_choice(p, v[DMA_ZONE], "machine.dma_zone", dma_zone_names, 2, &idx)))
            return rc;
        m->dma_zone_off = idx == 1;
    }
    return 0;
}

static int parse_affinity(struct wl_parser *p, yaml_node_t *n, const char *path,
                          struct pb_wl_domain_group *g)
{
    char item[96];
    int rc;

    if (text_is(n, "all")) {
        g->affinity = PB_WL_AFFINITY_ALL;
        return 0;
    }
    if (n->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it;
        unsigned i = 0;

        if (n->data.sequence.items.start == n->data.sequence.items.top)
            return FAIL(p, n, "'%s' is an empty list (expected at least one node)", path);
        g->affinity = PB_WL_AFFINITY_NODES;
        for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
            yaml_node_t *e = node_at(p, *it);
            unsigned node;

            snprintf(item, sizeof(item), "%s[%u]", path, i);
            if ((rc = get_unsigned(p, e, item, 0, PB_WL_MAX_NODES - 1, &node)))
                return rc;
            if (g->node_mask & (UINT64_C(1) << node))
                return FAIL(p, e,
                            "'%s' is '%u', already listed at %" PRIu32 ":%" PRIu32
                            " (expected each node once)",
                            item, node, g->node_pos[node].line, g->node_pos[node].col);
            g->node_mask |= UINT64_C(1) << node;
            g->node_pos[node] = pos_of(e);
        }
        return 0;
    }
    if (n->type == YAML_MAPPING_NODE) {
        static const char *const keys[] = {"vnuma"};
        yaml_node_t *v[1], *k[1];

        if ((rc = map_fields(p, n, path, keys, 1, v, k)))
            return rc;
        if (!v[0])
            return missing(p, n, path, "vnuma", "the number of virtual NUMA nodes");
        snprintf(item, sizeof(item), "%s.vnuma", path);
        if ((rc = get_unsigned(p, v[0], item, 1, PB_WL_MAX_NODES, &g->vnuma_nodes)))
            return rc;
        if (g->memory_pages < g->vnuma_nodes)
            return FAIL(p, v[0], "'%s' is %s (expected at most one vnode per page of memory)", item,
                        describe(v[0]).s);
        g->affinity = PB_WL_AFFINITY_VNUMA;
        return 0;
    }
    return FAIL(p, n, "'%s' is %s (expected all, a list of nodes such as [0, 1], or vnuma: N)",
                path, describe(n).s);
}

/* What the cross-checks need from the parse: the nodes to point at. */
struct wl_marks {
    yaml_node_t *builders, *orders, *extents, *privilege[PB_WL_MAX_GROUPS];
    yaml_node_t *balloon_order, *balloon_ratio, *balloon_depth, *measure;
};

static int parse_group(struct wl_parser *p, yaml_node_t *n, unsigned index,
                       struct pb_wl_domain_group *g, struct wl_marks *marks)
{
    static const char *const keys[] = {"count",      "memory",   "max_memory", "claim",
                                       "claim_mode", "affinity", "privilege",  "start"};
    enum { COUNT, MEMORY, MAX, CLAIM, CLAIM_MODE, AFFINITY, PRIV, START, NKEYS };
    yaml_node_t *v[NKEYS], *k[NKEYS];
    char path[48], item[64];
    unsigned idx = 0;
    int rc;

    snprintf(path, sizeof(path), "domains[%u]", index);
    g->pos = pos_of(n);
    if ((rc = map_fields(p, n, path, keys, NKEYS, v, k)))
        return rc;
    g->count = 1;
    if (v[COUNT]) {
        snprintf(item, sizeof(item), "%s.count", path);
        if ((rc = get_unsigned(p, v[COUNT], item, 1, PB_WL_MAX_DOMAINS, &g->count)))
            return rc;
    }
    if (!v[MEMORY])
        return missing(p, n, path, "memory", "a size such as 512MiB");
    snprintf(item, sizeof(item), "%s.memory", path);
    if ((rc = get_pages(p, v[MEMORY], item, 1, MAX_PAGES, &g->memory_pages)))
        return rc;
    g->memory_pos = pos_of(v[MEMORY]);
    g->max_pages = g->memory_pages;
    if (v[MAX]) {
        snprintf(item, sizeof(item), "%s.max_memory", path);
        if ((rc = get_pages(p, v[MAX], item, 1, MAX_PAGES, &g->max_pages)))
            return rc;
        if (g->max_pages < g->memory_pages)
            return FAIL(p, v[MAX], "'%s' is %s (expected at least memory, %s)", item,
                        describe(v[MAX]).s, pages_str(g->memory_pages).s);
    }
    g->start = PB_WL_START_BUILD;
    if (v[START]) {
        snprintf(item, sizeof(item), "%s.start", path);
        if ((rc = get_choice(p, v[START], item, start_names, 2, &idx)))
            return rc;
        g->start = (enum pb_wl_start)idx;
    }
    if (v[CLAIM] && !text_is(v[CLAIM], "none")) {
        snprintf(item, sizeof(item), "%s.claim", path);
        if (!is_text(v[CLAIM]))
            return FAIL(p, v[CLAIM], "'%s' is %s (expected a size such as 512MiB, or none)", item,
                        describe(v[CLAIM]).s);
        if ((rc = get_pages(p, v[CLAIM], item, 1, MAX_PAGES, &g->claim_pages)))
            return rc;
        g->claim_pos = pos_of(v[CLAIM]);
        if (g->claim_pages > g->max_pages)
            return FAIL(p, v[CLAIM], "'%s' is %s, more than max_memory (expected at most %s)", item,
                        describe(v[CLAIM]).s, pages_str(g->max_pages).s);
        if (g->start == PB_WL_START_RUNNING && g->claim_pages <= g->memory_pages)
            return FAIL(p, v[CLAIM],
                        "'%s' is %s, no more than the running domain has (expected more "
                        "than memory, %s: a claim counts the pages already held)",
                        item, describe(v[CLAIM]).s, pages_str(g->memory_pages).s);
    }
    g->privilege = PB_WL_PRIV_DOMU;
    if (v[PRIV]) {
        snprintf(item, sizeof(item), "%s.privilege", path);
        if ((rc = get_choice(p, v[PRIV], item, privilege_names, 3, &idx)))
            return rc;
        g->privilege = (enum pb_wl_privilege)idx;
    }
    marks->privilege[index] = v[PRIV];
    g->affinity = PB_WL_AFFINITY_ALL;
    if (v[AFFINITY]) {
        snprintf(item, sizeof(item), "%s.affinity", path);
        if ((rc = parse_affinity(p, v[AFFINITY], item, g)))
            return rc;
    }
    g->claim_mode = PB_WL_CLAIM_HOST;
    if (v[CLAIM_MODE]) {
        snprintf(item, sizeof(item), "%s.claim_mode", path);
        if (!g->claim_pages)
            return FAIL(p, k[CLAIM_MODE],
                        "key 'claim_mode' in '%s' has no effect: the group has no claim "
                        "(expected it only with a claim)",
                        path);
        if ((rc = get_choice(p, v[CLAIM_MODE], item, claim_mode_names, 2, &idx)))
            return rc;
        g->claim_mode = (enum pb_wl_claim_mode)idx;
        if (g->claim_mode == PB_WL_CLAIM_NODES && g->affinity == PB_WL_AFFINITY_ALL)
            return FAIL(p, v[CLAIM_MODE],
                        "'%s' is 'nodes' but the group's affinity is all, no nodes of its own "
                        "(expected host, or an affinity that is a list of nodes or vnuma: N)",
                        item);
    }
    return 0;
}

static int parse_domains(struct wl_parser *p, yaml_node_t *n, struct pb_workload *wl,
                         struct wl_marks *marks)
{
    yaml_node_item_t *it;
    size_t count;
    unsigned i = 0, hardware = 0;
    int rc;

    if (n->type != YAML_SEQUENCE_NODE)
        return FAIL(p, n, "'domains' is %s (expected a list of domain groups)", describe(n).s);
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0 || count > PB_WL_MAX_GROUPS)
        return FAIL(p, n, "'domains' has %zu groups (expected 1 to %d)", count, PB_WL_MAX_GROUPS);
    wl->domains_pos = pos_of(n);
    wl->groups = calloc(count, sizeof(*wl->groups));
    if (!wl->groups) {
        pb_errf(p->err, p->errlen, "%s: out of memory", p->file);
        return -ENOMEM;
    }
    for (it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++, i++) {
        struct pb_wl_domain_group *g = &wl->groups[i];
        yaml_node_t *e = node_at(p, *it);

        wl->nr_groups = i + 1;
        if ((rc = parse_group(p, e, i, g, marks)))
            return rc;
        if (wl->nr_domains + g->count > PB_WL_MAX_DOMAINS)
            return FAIL(p, e, "'domains[%u]' brings the domains to %u (expected at most %d)", i,
                        wl->nr_domains + g->count, PB_WL_MAX_DOMAINS);
        wl->nr_domains += g->count;
        if (g->privilege == PB_WL_PRIV_HARDWARE) {
            hardware += g->count;
            if (hardware > 1)
                return FAIL(p, marks->privilege[i],
                            "'domains[%u].privilege' is 'hardware', making %u hardware domains "
                            "(expected at most one)",
                            i, hardware);
        }
    }
    return 0;
}

static int parse_builders(struct wl_parser *p, yaml_node_t *n, struct pb_wl_builders *b)
{
    static const char *const keys[] = {"threads_per_domain", "pool"};
    yaml_node_t *v[2], *k[2];
    const char *either = "either threads_per_domain or pool";
    int rc;

    b->kind = PB_WL_BUILDERS_PER_DOMAIN;
    b->threads = 1;
    if (!n)
        return 0;
    if ((rc = map_fields(p, n, "builders", keys, 2, v, k)))
        return rc;
    if (v[0] && v[1])
        return conflict(p, k[0], k[1], "builders", either);
    if (v[0])
        return get_unsigned(p, v[0], "builders.threads_per_domain", 1, 64, &b->threads);
    if (v[1]) {
        b->kind = PB_WL_BUILDERS_POOL;
        return get_unsigned(p, v[1], "builders.pool", 1, 1024, &b->threads);
    }
    return missing(p, n, "builders", "threads_per_domain", either);
}

static int parse_orders(struct wl_parser *p, yaml_node_t *n, struct pb_wl_orders *o)
{
    yaml_node_t *v[PB_WL_NR_ORDERS], *k[PB_WL_NR_ORDERS];
    char item[32];
    bool any = false;
    int rc;

    o->mode = PB_WL_ORDERS_MEMINIT;
    if (!n)
        return 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (text_is(n, "meminit"))
            return 0;
        return FAIL(p, n,
                    "'orders' is %s (expected meminit or a mapping of weights for orders 0, 9 "
                    "and 18)",
                    describe(n).s);
    }
    if ((rc = map_fields(p, n, "orders", order_keys, PB_WL_NR_ORDERS, v, k)))
        return rc;
    o->mode = PB_WL_ORDERS_MIX;
    for (int i = 0; i < PB_WL_NR_ORDERS; i++) {
        if (!v[i])
            continue;
        snprintf(item, sizeof(item), "orders.%s", order_keys[i]);
        if ((rc = get_number(p, v[i], item, 0, false, 1e6, &o->weight[i])))
            return rc;
        o->weight_pos[i] = pos_of(v[i]);
        any |= o->weight[i] > 0;
    }
    if (!any)
        return FAIL(p, n,
                    "'orders' has no weight above 0 (expected at least one order to "
                    "allocate)");
    return 0;
}

static int parse_extents(struct wl_parser *p, yaml_node_t *n, struct pb_wl_orders *o)
{
    static const unsigned defaults[PB_WL_NR_ORDERS] = {512, 64, 1};
    yaml_node_t *v[PB_WL_NR_ORDERS], *k[PB_WL_NR_ORDERS];
    char item[40];
    int rc;

    for (int i = 0; i < PB_WL_NR_ORDERS; i++)
        o->extents_per_call[i] = defaults[i];
    if (!n)
        return 0;
    if ((rc = map_fields(p, n, "extents_per_call", order_keys, PB_WL_NR_ORDERS, v, k)))
        return rc;
    for (int i = 0; i < PB_WL_NR_ORDERS; i++) {
        if (!v[i])
            continue;
        snprintf(item, sizeof(item), "extents_per_call.%s", order_keys[i]);
        if ((rc = get_unsigned(p, v[i], item, 1, MAX_EXTENTS_PER_CALL, &o->extents_per_call[i])))
            return rc;
    }
    return 0;
}

static int parse_preemption(struct wl_parser *p, yaml_node_t *n, struct pb_wl_preemption *pr)
{
    static const char *const keys[] = {"timeslice", "every", "probability"};
    const char *one = "one of timeslice, every or probability";
    yaml_node_t *v[3], *k[3];
    int rc, given = 0, which = -1;

    pr->kind = PB_WL_PREEMPT_NONE;
    if (!n)
        return 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (text_is(n, "none"))
            return 0;
        return FAIL(p, n,
                    "'preemption' is %s (expected none, or a mapping with timeslice, every or "
                    "probability)",
                    describe(n).s);
    }
    if ((rc = map_fields(p, n, "preemption", keys, 3, v, k)))
        return rc;
    for (int i = 0; i < 3; i++) {
        if (!v[i])
            continue;
        if (given++)
            return conflict(p, k[which], k[i], "preemption", one);
        which = i;
    }
    switch (which) {
    case 0:
        pr->kind = PB_WL_PREEMPT_TIMESLICE;
        return get_duration(p, v[0], "preemption.timeslice", 1000, NS_PER_S, &pr->timeslice_ns);
    case 1:
        pr->kind = PB_WL_PREEMPT_EVERY;
        return get_unsigned(p, v[1], "preemption.every", 1, MAX_EXTENTS_PER_CALL,
                            &pr->every_extents);
    case 2:
        pr->kind = PB_WL_PREEMPT_PROBABILITY;
        return get_number(p, v[2], "preemption.probability", 0, true, 1, &pr->probability);
    default:
        return missing(p, n, "preemption", "timeslice", one);
    }
}

static int parse_balloon(struct wl_parser *p, yaml_node_t *n, struct pb_wl_balloon *b,
                         struct wl_marks *marks)
{
    static const char *const keys[] = {"pages_per_second", "ratio", "threads", "order",
                                       "extents_per_call", "depth", "free"};
    enum { RATE, RATIO, THREADS, ORDER, EXTENTS, DEPTH, FREE, NKEYS };
    static const char *const free_names[] = {"clean", "dirty"};
    const char *either = "either pages_per_second or ratio";
    yaml_node_t *v[NKEYS], *k[NKEYS];
    unsigned idx;
    int rc;

    if ((rc = map_fields(p, n, "churn.balloon", keys, NKEYS, v, k)))
        return rc;
    if (v[RATE] && v[RATIO])
        return conflict(p, k[RATE], k[RATIO], "churn.balloon", either);
    if (v[RATE]) {
        b->pacing = PB_WL_BALLOON_RATE;
        if ((rc = get_uint(p, v[RATE], "churn.balloon.pages_per_second", 0, UINT64_C(1) << 40,
                           &b->pages_per_second)))
            return rc;
        b->threads = 1;
        if (v[THREADS] &&
            (rc = get_unsigned(p, v[THREADS], "churn.balloon.threads", 1, 256, &b->threads)))
            return rc;
    } else if (v[RATIO]) {
        b->pacing = PB_WL_BALLOON_RATIO;
        if ((rc = get_number(p, v[RATIO], "churn.balloon.ratio", 0, true, 1000, &b->ratio)))
            return rc;
        if (v[THREADS])
            return conflict(p, k[RATIO], k[THREADS], "churn.balloon",
                            "threads only with pages_per_second: with ratio the builders "
                            "balloon");
        marks->balloon_ratio = v[RATIO];
    } else {
        return missing(p, n, "churn.balloon", "pages_per_second", either);
    }
    b->order = 0;
    if (v[ORDER]) {
        if ((rc =
                 get_choice(p, v[ORDER], "churn.balloon.order", order_keys, PB_WL_NR_ORDERS, &idx)))
            return rc;
        b->order = pb_wl_orders[idx];
        marks->balloon_order = v[ORDER];
    }
    b->extents_per_call = b->order == 0 ? 512 : 1;
    if (v[EXTENTS] && (rc = get_unsigned(p, v[EXTENTS], "churn.balloon.extents_per_call", 1,
                                         MAX_EXTENTS_PER_CALL, &b->extents_per_call)))
        return rc;
    b->depth = 0.25;
    if (v[DEPTH]) {
        if ((rc = get_number(p, v[DEPTH], "churn.balloon.depth", 0, true, 1, &b->depth)))
            return rc;
        marks->balloon_depth = v[DEPTH];
    }
    b->free_dirty = false;
    if (v[FREE]) {
        if ((rc = get_choice(p, v[FREE], "churn.balloon.free", free_names, 2, &idx)))
            return rc;
        b->free_dirty = idx == 1;
    }
    return 0;
}

static int parse_churn(struct wl_parser *p, yaml_node_t *n, struct pb_wl_churn *c,
                       struct wl_marks *marks)
{
    static const char *const keys[] = {"balloon", "recreate_per_second"};
    yaml_node_t *v[2], *k[2];
    int rc;

    if (!n)
        return 0;
    if ((rc = map_fields(p, n, "churn", keys, 2, v, k)))
        return rc;
    if (v[0] && (rc = parse_balloon(p, v[0], &c->balloon, marks)))
        return rc;
    if (v[1] && (rc = get_number(p, v[1], "churn.recreate_per_second", 0, false, 1e6,
                                 &c->recreate_per_second)))
        return rc;
    return 0;
}

static int parse_readers(struct wl_parser *p, yaml_node_t *n, struct pb_wl_p2m_readers *r)
{
    static const char *const keys[] = {"threads", "lookups_per_second"};
    yaml_node_t *v[2], *k[2];
    int rc;

    if (!n)
        return 0;
    if ((rc = map_fields(p, n, "p2m_readers", keys, 2, v, k)))
        return rc;
    if (!v[0])
        return missing(p, n, "p2m_readers", "threads", "the number of reader threads");
    if ((rc = get_unsigned(p, v[0], "p2m_readers.threads", 0, 256, &r->threads)))
        return rc;
    if (v[1] && (rc = get_uint(p, v[1], "p2m_readers.lookups_per_second", 0, UINT64_C(1) << 40,
                               &r->lookups_per_second)))
        return rc;
    return 0;
}

static int parse_scrub(struct wl_parser *p, yaml_node_t *n, struct pb_wl_scrub *s)
{
    static const char *const keys[] = {"mode", "workers_per_node"};
    yaml_node_t *v[2], *k[2];
    unsigned idx;
    int rc;

    s->mode = PB_WL_SCRUB_ON_ALLOC;
    if (!n)
        return 0;
    if ((rc = map_fields(p, n, "scrub", keys, 2, v, k)))
        return rc;
    if (v[0]) {
        if ((rc = get_choice(p, v[0], "scrub.mode", scrub_names, 3, &idx)))
            return rc;
        s->mode = (enum pb_wl_scrub_mode)idx;
    }
    if (s->mode != PB_WL_SCRUB_BACKGROUND) {
        if (v[1])
            return FAIL(p, k[1],
                        "key 'workers_per_node' in 'scrub' with mode %s (expected it only "
                        "with mode: background)",
                        scrub_names[s->mode]);
        return 0;
    }
    s->workers_per_node = 1;
    if (v[1])
        return get_unsigned(p, v[1], "scrub.workers_per_node", 1, 64, &s->workers_per_node);
    return 0;
}

static int parse_heap(struct wl_parser *p, yaml_node_t *n, struct pb_wl_heap *h, uint64_t seed)
{
    static const char *const keys[] = {"state", "ageing_passes", "dirty_fraction", "seed"};
    enum { STATE, PASSES, FRACTION, SEED };
    yaml_node_t *v[4], *k[4];
    unsigned idx;
    int rc;

    h->state = PB_WL_HEAP_FRESH;
    if (!n)
        return 0;
    if ((rc = map_fields(p, n, "heap", keys, 4, v, k)))
        return rc;
    if (v[STATE]) {
        if ((rc = get_choice(p, v[STATE], "heap.state", heap_names, 3, &idx)))
            return rc;
        h->state = (enum pb_wl_heap_state)idx;
    }
    if (v[PASSES] && h->state != PB_WL_HEAP_FRAGMENTED)
        return FAIL(p, k[PASSES],
                    "key 'ageing_passes' in 'heap' with state %s (expected it only with "
                    "state: fragmented)",
                    heap_names[h->state]);
    if (v[FRACTION] && h->state != PB_WL_HEAP_DIRTY)
        return FAIL(p, k[FRACTION],
                    "key 'dirty_fraction' in 'heap' with state %s (expected it only with "
                    "state: dirty)",
                    heap_names[h->state]);
    if (v[SEED] && h->state == PB_WL_HEAP_FRESH)
        return FAIL(p, k[SEED],
                    "key 'seed' in 'heap' with state fresh (expected it only with state: "
                    "fragmented or dirty)");
    if (h->state == PB_WL_HEAP_FRESH)
        return 0;
    h->seed = seed;
    if (v[SEED] && (rc = get_uint(p, v[SEED], "heap.seed", 0, UINT64_MAX, &h->seed)))
        return rc;
    if (h->state == PB_WL_HEAP_FRAGMENTED) {
        h->ageing_passes = 4;
        if (v[PASSES])
            return get_unsigned(p, v[PASSES], "heap.ageing_passes", 1, 64, &h->ageing_passes);
        return 0;
    }
    h->dirty_fraction = 0.5;
    if (v[FRACTION])
        return get_number(p, v[FRACTION], "heap.dirty_fraction", 0, true, 1, &h->dirty_fraction);
    return 0;
}

/* A duration, "<N>ops" or (measure only) until-built. */
static int get_phase(struct wl_parser *p, yaml_node_t *n, const char *path, bool measure,
                     struct pb_wl_phase *ph)
{
    const char *expected = measure ? "a duration such as 3s or 500ms, an operation count such "
                                     "as 10000ops, or until-built"
                                   : "a duration such as 1s or 500ms, or an operation count "
                                     "such as 10000ops";
    const uint64_t min = measure ? 1 : 0;
    const char *s;
    size_t len;
    char why[160];

    if (!is_text(n))
        return FAIL(p, n, "'%s' is %s (expected %s)", path, describe(n).s, expected);
    s = sval(n);
    len = strlen(s);
    if (measure && strcmp(s, "until-built") == 0) {
        *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_UNTIL_BUILT};
        return 0;
    }
    if (len > 3 && strcmp(s + len - 3, "ops") == 0 && isdigit((unsigned char)s[0])) {
        uint64_t ops = 0;
        size_t i;

        for (i = 0; i < len - 3 && isdigit((unsigned char)s[i]); i++)
            if (ops <= MAX_OPS) /* saturates above the range: reported below */
                ops = ops * 10 + (uint64_t)(s[i] - '0');
        while (i < len - 3 && s[i] == ' ')
            i++;
        if (i != len - 3)
            return FAIL(p, n, "'%s' is %s (expected %s)", path, describe(n).s, expected);
        if (ops < min || ops > MAX_OPS)
            return FAIL(p, n, "'%s' is %s (expected from %" PRIu64 " to %" PRIu64 " ops)", path,
                        describe(n).s, min, MAX_OPS);
        *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_OPS, .ops = ops};
        return 0;
    }
    if (pb_parse_duration(s, &ph->ns, why, sizeof(why)))
        return FAIL(p, n, "'%s' is %s (expected %s)", path, describe(n).s, expected);
    if (ph->ns < min || ph->ns > (measure ? 24 : 1) * 3600 * NS_PER_S)
        return FAIL(p, n, "'%s' is %s (expected a duration from %s to %s)", path, describe(n).s,
                    ns_str(min).s, measure ? "24h" : "1h");
    ph->unit = PB_WL_PHASE_TIME;
    ph->ops = 0;
    return 0;
}

static int parse_phases(struct wl_parser *p, yaml_node_t *n, struct pb_wl_phases *ph,
                        struct wl_marks *marks)
{
    static const char *const keys[] = {"warmup", "measure", "repetitions"};
    yaml_node_t *v[3], *k[3];
    int rc;

    ph->warmup = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = DEFAULT_WARMUP_NS};
    ph->measure = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = DEFAULT_MEASURE_NS};
    ph->repetitions = 1;
    if (!n)
        return 0;
    if ((rc = map_fields(p, n, "phases", keys, 3, v, k)))
        return rc;
    if (v[0] && (rc = get_phase(p, v[0], "phases.warmup", false, &ph->warmup)))
        return rc;
    if (v[1] && (rc = get_phase(p, v[1], "phases.measure", true, &ph->measure)))
        return rc;
    marks->measure = v[1];
    if (v[2] && (rc = get_unsigned(p, v[2], "phases.repetitions", 1, 1000, &ph->repetitions)))
        return rc;
    return 0;
}

static unsigned building_domains(const struct pb_workload *wl)
{
    unsigned n = 0;

    for (unsigned i = 0; i < wl->nr_groups; i++)
        if (wl->groups[i].start == PB_WL_START_BUILD)
            n += wl->groups[i].count;
    return n;
}

/* until-built needs something to build; the node is the measure value at fault. */
static int check_measure(struct wl_parser *p, const struct pb_workload *wl, yaml_node_t *at,
                         const char *path)
{
    if (wl->phases.measure.unit == PB_WL_PHASE_UNTIL_BUILT && building_domains(wl) == 0)
        return FAIL(p, at,
                    "'%s' is 'until-built' but %s has no domain with start: build (expected a "
                    "duration or an operation count)",
                    path, wl->name);
    return 0;
}

/* Checks between sections that do not depend on the machine. */
static int check_workload(struct wl_parser *p, const struct pb_workload *wl,
                          const struct wl_marks *marks)
{
    const bool builds = building_domains(wl) > 0 || wl->churn.recreate_per_second > 0;
    const char *noeffect = "no domain has start: build and churn.recreate_per_second is 0 "
                           "(expected it only when something is built)";
    const struct pb_wl_balloon *b = &wl->churn.balloon;

    if (!builds && marks->builders)
        return FAIL(p, marks->builders, "key 'builders' has no effect: %s", noeffect);
    if (!builds && marks->orders)
        return FAIL(p, marks->orders, "key 'orders' has no effect: %s", noeffect);
    if (!builds && marks->extents)
        return FAIL(p, marks->extents, "key 'extents_per_call' has no effect: %s", noeffect);
    if (!builds && marks->balloon_ratio)
        return FAIL(p, marks->balloon_ratio,
                    "'churn.balloon.ratio' is %s but %s (expected pages_per_second)",
                    describe(marks->balloon_ratio).s,
                    "no domain has start: build and churn.recreate_per_second is 0");
    for (unsigned i = 0; i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];

        /* An extent larger than max_pages always fails assign_pages with -E2BIG. */
        for (int o = 0; wl->orders.mode == PB_WL_ORDERS_MIX && o < PB_WL_NR_ORDERS; o++) {
            bool built = g->start == PB_WL_START_BUILD || wl->churn.recreate_per_second > 0;
            if (built && wl->orders.weight[o] > 0 &&
                (UINT64_C(1) << pb_wl_orders[o]) > g->max_pages)
                return fail_at(p->err, p->errlen, p->file, wl->orders.weight_pos[o],
                               "'orders.%u' is %g but domains[%u] has max_memory %s, less than "
                               "one order-%u extent (expected 0)",
                               pb_wl_orders[o], wl->orders.weight[o], i, pages_str(g->max_pages).s,
                               pb_wl_orders[o]);
        }
        if (b->pacing == PB_WL_BALLOON_OFF)
            continue;
        if (b->order > order_limit[g->privilege])
            return FAIL(p, marks->balloon_order,
                        "'churn.balloon.order' is '%u' but domains[%u] is a %s domain, limited "
                        "to order %u (expected an order up to %u)",
                        b->order, i, privilege_names[g->privilege], order_limit[g->privilege],
                        order_limit[g->privilege]);
        if ((double)g->memory_pages * b->depth < (double)(UINT64_C(1) << b->order)) {
            yaml_node_t *at = marks->balloon_depth ? marks->balloon_depth : marks->balloon_order;
            struct pb_wl_pos pos = at ? pos_of(at) : g->memory_pos;
            return fail_at(p->err, p->errlen, p->file, pos,
                           "balloon depth %g of domains[%u]'s %s is less than one order-%u "
                           "extent (expected a depth of at least %g)",
                           b->depth, i, pages_str(g->memory_pages).s, b->order,
                           (double)(UINT64_C(1) << b->order) / (double)g->memory_pages);
        }
    }
    return 0;
}

/*
 * The checks that need the machine: run at load for a stated machine, at bind for one from the
 * topology. Uses only what the struct keeps, since the document is gone by bind time.
 */
static int check_machine(const struct pb_workload *wl, unsigned nodes, uint64_t pages_per_node,
                         char *err, size_t errlen)
{
    const uint64_t total = (uint64_t)nodes * pages_per_node;
    uint64_t need = 0;

    for (unsigned i = 0; i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];

        need += (uint64_t)g->count * g->memory_pages;
        if (g->affinity == PB_WL_AFFINITY_NODES && nodes < 64 && (g->node_mask >> nodes)) {
            unsigned n = (unsigned)__builtin_ctzll(g->node_mask >> nodes) + nodes;
            return fail_at(err, errlen, wl->path, g->node_pos[n],
                           "'domains[%u].affinity' names node %u (expected a node from 0 to "
                           "%u: the machine has %u node%s)",
                           i, n, nodes - 1, nodes, nodes == 1 ? "" : "s");
        }
        if (g->claim_pages > total)
            return fail_at(err, errlen, wl->path, g->claim_pos,
                           "'domains[%u].claim' is %s, more than the machine's memory "
                           "(expected at most %s)",
                           i, pages_str(g->claim_pages).s, pages_str(total).s);
    }
    if (need > total)
        return fail_at(err, errlen, wl->path, wl->domains_pos,
                       "the domains need %s in all, more than the machine's memory (expected "
                       "at most %s: %u node%s of %s)",
                       pages_str(need).s, pages_str(total).s, nodes, nodes == 1 ? "" : "s",
                       pages_str(pages_per_node).s);
    for (int o = 0; wl->orders.mode == PB_WL_ORDERS_MIX && o < PB_WL_NR_ORDERS; o++)
        if (wl->orders.weight[o] > 0 && (UINT64_C(1) << pb_wl_orders[o]) > pages_per_node)
            return fail_at(err, errlen, wl->path, wl->orders.weight_pos[o],
                           "'orders.%u' is %g but a node has %s, less than one order-%u "
                           "extent (expected 0: a buddy never crosses nodes)",
                           pb_wl_orders[o], wl->orders.weight[o], pages_str(pages_per_node).s,
                           pb_wl_orders[o]);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Files and suites
 */

static int load_file(const char *path, struct pb_workload *wl, struct wl_chain *chain, char *err,
                     size_t errlen);

static void free_single(struct pb_workload *wl)
{
    free(wl->name);
    free(wl->description);
    free(wl->path);
    free(wl->groups);
}

static int add_member(struct pb_workload *suite, struct pb_workload *m)
{
    struct pb_workload *grown =
        realloc(suite->members, (suite->nr_members + 1) * sizeof(*suite->members));

    if (!grown)
        return -ENOMEM;
    suite->members = grown;
    suite->members[suite->nr_members++] = *m;
    memset(m, 0, sizeof(*m));
    return 0;
}

struct wl_override {
    yaml_node_t *warmup, *measure, *repetitions, *seed;
    struct pb_wl_phase warmup_v, measure_v;
    unsigned repetitions_v;
    uint64_t seed_v;
};

static int apply_override(struct wl_parser *p, const struct wl_override *ov, const char *path,
                          struct pb_workload *m)
{
    char item[64];

    if (ov->warmup)
        m->phases.warmup = ov->warmup_v;
    if (ov->measure)
        m->phases.measure = ov->measure_v;
    if (ov->repetitions)
        m->phases.repetitions = ov->repetitions_v;
    if (ov->seed) {
        if (m->heap.state != PB_WL_HEAP_FRESH && m->heap.seed == m->seed)
            m->heap.seed = ov->seed_v; /* it was following the workload's seed */
        m->seed = ov->seed_v;
    }
    snprintf(item, sizeof(item), "%s.measure", path);
    return ov->measure ? check_measure(p, m, ov->measure, item) : 0;
}

static int parse_entry(struct wl_parser *p, yaml_node_t *e, const char *path, yaml_node_t **name,
                       struct wl_override *ov)
{
    static const char *const keys[] = {"workload", "warmup", "measure", "repetitions", "seed"};
    yaml_node_t *v[5], *k[5];
    char item[64];
    int rc;

    memset(ov, 0, sizeof(*ov));
    if (e->type == YAML_SCALAR_NODE) {
        *name = e;
    } else if (e->type == YAML_MAPPING_NODE) {
        if ((rc = map_fields(p, e, path, keys, 5, v, k)))
            return rc;
        if (!v[0])
            return missing(p, e, path, "workload", "the name of a workload");
        *name = v[0];
        snprintf(item, sizeof(item), "%s.warmup", path);
        if ((ov->warmup = v[1]) && (rc = get_phase(p, v[1], item, false, &ov->warmup_v)))
            return rc;
        snprintf(item, sizeof(item), "%s.measure", path);
        if ((ov->measure = v[2]) && (rc = get_phase(p, v[2], item, true, &ov->measure_v)))
            return rc;
        snprintf(item, sizeof(item), "%s.repetitions", path);
        if ((ov->repetitions = v[3]) &&
            (rc = get_unsigned(p, v[3], item, 1, 1000, &ov->repetitions_v)))
            return rc;
        snprintf(item, sizeof(item), "%s.seed", path);
        if ((ov->seed = v[4]) && (rc = get_uint(p, v[4], item, 0, UINT64_MAX, &ov->seed_v)))
            return rc;
    } else {
        return FAIL(p, e, "'%s' is %s (expected a workload name, or a mapping with workload)", path,
                    describe(e).s);
    }
    if (!is_text(*name) || !valid_name(sval(*name)))
        return FAIL(p, *name,
                    "'%s' is %s (expected a workload name: letters, digits, '-', '_' and '.')",
                    path, describe(*name).s);
    return 0;
}

static int parse_suite(struct wl_parser *p, yaml_node_t *list, struct pb_workload *wl)
{
    const char *slash = strrchr(p->file, '/');
    const int dirlen = slash ? (int)(slash - p->file) : 1;
    const char *dir = slash ? p->file : ".";
    yaml_node_item_t *it;
    unsigned i = 0;
    int rc;

    if (list->type != YAML_SEQUENCE_NODE ||
        list->data.sequence.items.start == list->data.sequence.items.top)
        return FAIL(p, list, "'suite' is %s (expected a list of at least one workload name)",
                    list->type == YAML_SEQUENCE_NODE ? "an empty list" : describe(list).s);
    for (it = list->data.sequence.items.start; it < list->data.sequence.items.top; it++, i++) {
        yaml_node_t *e = node_at(p, *it), *name = NULL;
        struct pb_workload m = {0};
        struct wl_override ov;
        char path[32], member[PATH_MAX], *real;

        snprintf(path, sizeof(path), "suite[%u]", i);
        if ((rc = parse_entry(p, e, path, &name, &ov)))
            return rc;
        if (snprintf(member, sizeof(member), "%.*s/%s.yaml", dirlen, dir, sval(name)) >=
            (int)sizeof(member))
            return FAIL(p, name,
                        "'%s' makes a path longer than %d bytes (expected a shorter "
                        "one)",
                        path, PATH_MAX);
        real = realpath(member, NULL);
        if (!real)
            return FAIL(p, name, "'%s' is %s (expected a workload of this directory: no %s)", path,
                        describe(name).s, member);
        for (unsigned c = 0; c < p->chain->depth; c++) {
            char cycle[512] = "";

            if (strcmp(p->chain->real[c], real) != 0)
                continue;
            for (unsigned d = c; d < p->chain->depth; d++) {
                char *stem = file_stem(p->chain->real[d]);
                msg_append(cycle, sizeof(cycle), "%s -> ", stem ? stem : "?");
                free(stem);
            }
            msg_append(cycle, sizeof(cycle), "%s", sval(name));
            free(real);
            return FAIL(p, name,
                        "'%s' is %s, which closes a cycle %s (expected a workload that does "
                        "not include this suite)",
                        path, describe(name).s, cycle);
        }
        free(real);
        if ((rc = load_file(member, &m, p->chain, p->err, p->errlen))) {
            struct pb_wl_pos at = pos_of(name);
            pb_workload_free(&m);
            msg_append(p->err, p->errlen,
                       "\n%s:%" PRIu32 ":%" PRIu32 ": note: included from suite '%s'", p->file,
                       at.line, at.col, wl->name);
            return rc;
        }
        if (m.kind == PB_WL_SINGLE) {
            rc = apply_override(p, &ov, path, &m);
            if (!rc && wl->nr_members >= PB_WL_MAX_SUITE)
                rc = FAIL(p, name, "'%s' is %s, one member too many (expected at most %d)", path,
                          describe(name).s, PB_WL_MAX_SUITE);
            if (!rc && add_member(wl, &m))
                rc = -ENOMEM;
        } else {
            for (unsigned j = 0; !rc && j < m.nr_members; j++) {
                rc = apply_override(p, &ov, path, &m.members[j]);
                if (!rc && wl->nr_members >= PB_WL_MAX_SUITE)
                    rc = FAIL(p, name,
                              "'%s' is %s, which makes more than %d members (expected at most "
                              "%d)",
                              path, describe(name).s, PB_WL_MAX_SUITE, PB_WL_MAX_SUITE);
                if (!rc && add_member(wl, &m.members[j]))
                    rc = -ENOMEM;
            }
        }
        if (rc == -ENOMEM)
            pb_errf(p->err, p->errlen, "%s: out of memory", p->file);
        pb_workload_free(&m);
        if (rc)
            return rc;
    }
    return 0;
}

/* `options`: the model's tunables (core/options.h) by name, each an integer in its range. */
static int parse_options(struct wl_parser *p, yaml_node_t *n, struct pb_options *o)
{
    const char *names[PB_OPT_NR];
    yaml_node_t *v[PB_OPT_NR], *k[PB_OPT_NR];
    int rc;

    pb_options_init(o);
    if (!n)
        return 0;
    for (unsigned i = 0; i < PB_OPT_NR; i++)
        names[i] = pb_option_desc(i)->name;
    if ((rc = map_fields(p, n, "options", names, PB_OPT_NR, v, k)))
        return rc;
    for (unsigned i = 0; i < PB_OPT_NR; i++) {
        const struct pb_option_desc *d = pb_option_desc(i);
        char path[80];
        uint64_t val;
        if (!v[i])
            continue;
        /* Every option's range is within 0 to INT64_MAX. */
        snprintf(path, sizeof(path), "options.%s", d->name);
        if ((rc = get_uint(p, v[i], path, (uint64_t)d->min, (uint64_t)d->max, &val)))
            return rc;
        PB_BUG_ON(pb_options_set(o, d->name, (int64_t)val) != 0);
    }
    return 0;
}

static int parse_root(struct wl_parser *p, yaml_node_t *root, struct pb_workload *wl)
{
    static const char *const keys[] = {
        "name",
        "description",
        "machine",
        "domains",
        "builders",
        "orders",
        "extents_per_call",
        "preemption",
        "churn",
        "p2m_readers",
        "scrub",
        "heap",
        "phases",
        "seed",
        "suite",
        "options",
    };
    enum {
        NAME,
        DESC,
        MACHINE,
        DOMAINS,
        BUILDERS,
        ORDERS,
        EXTENTS,
        PREEMPTION,
        CHURN,
        READERS,
        SCRUB,
        HEAP,
        PHASES,
        SEED,
        SUITE,
        OPTIONS,
        NKEYS
    };
    yaml_node_t *v[NKEYS], *k[NKEYS];
    struct wl_marks marks = {0};
    char *nl;
    int rc;

    if ((rc = map_fields(p, root, "", keys, NKEYS, v, k)))
        return rc;
    if (v[NAME] && (!is_text(v[NAME]) || strcmp(sval(v[NAME]), wl->name) != 0))
        return FAIL(p, v[NAME], "'name' is %s (expected '%s', the file's name without .yaml)",
                    describe(v[NAME]).s, wl->name);
    if (!v[DESC])
        return missing(p, root, "", "description", "one line saying what the workload does");
    if (!is_text(v[DESC]))
        return FAIL(p, v[DESC], "'description' is %s (expected one line of text)",
                    describe(v[DESC]).s);
    wl->description = strdup(sval(v[DESC]));
    if (!wl->description) {
        pb_errf(p->err, p->errlen, "%s: out of memory", p->file);
        return -ENOMEM;
    }
    /* A block scalar ends in a newline; more lines than one do not fit `popbench list`. */
    for (nl = wl->description + strlen(wl->description); nl > wl->description && nl[-1] == '\n';)
        *--nl = '\0';
    if (strchr(wl->description, '\n')) {
        unsigned lines = 1;
        for (const char *c = wl->description; *c; c++)
            lines += *c == '\n';
        return FAIL(p, v[DESC], "'description' has %u lines (expected one line of text)", lines);
    }
    if (!wl->description[0])
        return FAIL(p, v[DESC], "'description' is %s (expected one line of text)",
                    describe(v[DESC]).s);
    if (strlen(wl->description) > MAX_DESCRIPTION)
        return FAIL(p, v[DESC], "'description' is %zu characters long (expected at most %d)",
                    strlen(wl->description), MAX_DESCRIPTION);

    if (v[SUITE]) {
        for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
             pair < root->data.mapping.pairs.top; pair++) {
            yaml_node_t *key = node_at(p, pair->key);
            if (key != k[NAME] && key != k[DESC] && key != k[SUITE])
                return FAIL(p, key,
                            "key '%s' in a suite (expected only name, description and suite)",
                            sval(key));
        }
        wl->kind = PB_WL_SUITE;
        /* The chain holds this file and the suites that include it. */
        if (p->chain->depth > PB_WL_MAX_NESTING)
            return FAIL(p, k[SUITE], "key 'suite' makes suites nest %u deep (expected at most %d)",
                        p->chain->depth, PB_WL_MAX_NESTING);
        return parse_suite(p, v[SUITE], wl);
    }

    wl->kind = PB_WL_SINGLE;
    wl->seed = 1;
    if (v[SEED] && (rc = get_uint(p, v[SEED], "seed", 0, UINT64_MAX, &wl->seed)))
        return rc;
    if ((rc = parse_machine(p, v[MACHINE], &wl->machine)))
        return rc;
    if (!v[DOMAINS])
        return missing(p, root, "", "domains", "a list of domain groups");
    if ((rc = parse_domains(p, v[DOMAINS], wl, &marks)))
        return rc;
    marks.builders = k[BUILDERS];
    marks.orders = k[ORDERS];
    marks.extents = k[EXTENTS];
    if ((rc = parse_builders(p, v[BUILDERS], &wl->builders)) ||
        (rc = parse_orders(p, v[ORDERS], &wl->orders)) ||
        (rc = parse_extents(p, v[EXTENTS], &wl->orders)) ||
        (rc = parse_preemption(p, v[PREEMPTION], &wl->preemption)) ||
        (rc = parse_churn(p, v[CHURN], &wl->churn, &marks)) ||
        (rc = parse_readers(p, v[READERS], &wl->p2m_readers)) ||
        (rc = parse_scrub(p, v[SCRUB], &wl->scrub)) ||
        (rc = parse_heap(p, v[HEAP], &wl->heap, wl->seed)) ||
        (rc = parse_phases(p, v[PHASES], &wl->phases, &marks)) ||
        (rc = parse_options(p, v[OPTIONS], &wl->options)))
        return rc;
    if ((rc = check_workload(p, wl, &marks)))
        return rc;
    if (marks.measure && (rc = check_measure(p, wl, marks.measure, "phases.measure")))
        return rc;
    if (!wl->machine.from_topology)
        return check_machine(wl, wl->machine.nodes, wl->machine.pages_per_node, p->err, p->errlen);
    return 0;
}

/* libyaml's error, in our message form. */
static int yaml_failure(struct wl_parser *p, const yaml_parser_t *yp, const char *buf)
{
    struct pb_wl_pos at = {1, 1};

    if (yp->error == YAML_MEMORY_ERROR) {
        pb_errf(p->err, p->errlen, "%s: out of memory", p->file);
        return -ENOMEM;
    }
    if (yp->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        for (size_t i = 0; i < yp->problem_offset && buf[i]; i++) {
            if (buf[i] == '\n') {
                at.line++;
                at.col = 1;
            } else {
                at.col++;
            }
        }
        return fail_at(p->err, p->errlen, p->file, at,
                       "invalid text: %s (expected UTF-8 text without control characters)",
                       yp->problem ? yp->problem : "unreadable");
    }
    at.line = (uint32_t)yp->problem_mark.line + 1;
    at.col = (uint32_t)yp->problem_mark.column + 1;
    if (yp->context)
        return fail_at(p->err, p->errlen, p->file, at,
                       "invalid YAML: %s (%s that starts at %zu:%zu)",
                       yp->problem ? yp->problem : "?", yp->context, yp->context_mark.line + 1,
                       yp->context_mark.column + 1);
    return fail_at(p->err, p->errlen, p->file, at, "invalid YAML: %s (expected valid YAML)",
                   yp->problem ? yp->problem : "?");
}

static int read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    size_t got;
    int rc;

    if (!f) {
        rc = -errno;
        pb_errf(err, errlen, "%s: cannot open: %s (expected a readable workload file)", path,
                strerror(-rc));
        return rc;
    }
    *buf = malloc(PB_WL_MAX_FILE_BYTES + 1);
    if (!*buf) {
        fclose(f);
        pb_errf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    got = fread(*buf, 1, PB_WL_MAX_FILE_BYTES + 1, f);
    rc = ferror(f) ? -EIO : 0;
    fclose(f);
    if (rc) {
        pb_errf(err, errlen, "%s: cannot read (expected a readable workload file)", path);
    } else if (got > PB_WL_MAX_FILE_BYTES) {
        rc = fail_at(err, errlen, path, (struct pb_wl_pos){1, 1},
                     "the file is larger than 1MiB (expected a workload file)");
    }
    if (rc) {
        free(*buf);
        *buf = NULL;
        return rc;
    }
    (*buf)[got] = '\0';
    *len = got;
    return 0;
}

static int load_file(const char *path, struct pb_workload *wl, struct wl_chain *chain, char *err,
                     size_t errlen)
{
    struct wl_parser p = {.file = path, .err = err, .errlen = errlen, .chain = chain};
    yaml_parser_t yp;
    yaml_document_t extra;
    yaml_node_t *root;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    memset(wl, 0, sizeof(*wl));
    if ((rc = read_file(path, &buf, &len, err, errlen)))
        return rc;
    wl->path = strdup(path);
    wl->name = file_stem(path);
    if (!wl->path || !wl->name) {
        free(buf);
        pb_errf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    chain->real[chain->depth] = realpath(path, NULL);
    if (!chain->real[chain->depth]) {
        rc = -errno;
        free(buf);
        pb_errf(err, errlen, "%s: cannot resolve: %s (expected a readable workload file)", path,
                strerror(-rc));
        return rc;
    }
    chain->depth++;
    if (!yaml_parser_initialize(&yp)) {
        rc = -ENOMEM;
        pb_errf(err, errlen, "%s: out of memory", path);
        goto out_chain;
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&yp, &p.doc)) {
        rc = yaml_failure(&p, &yp, buf);
        goto out_parser;
    }
    root = yaml_document_get_root_node(&p.doc);
    if (!root) {
        rc = fail_at(err, errlen, path, (struct pb_wl_pos){1, 1},
                     "the file is empty (expected a mapping of workload keys)");
        goto out_doc;
    }
    if (!yaml_parser_load(&yp, &extra)) {
        rc = yaml_failure(&p, &yp, buf);
        goto out_doc;
    }
    if (yaml_document_get_root_node(&extra)) {
        rc = fail_at(err, errlen, path, pos_of(yaml_document_get_root_node(&extra)),
                     "a second YAML document (expected one workload per file)");
        yaml_document_delete(&extra);
        goto out_doc;
    }
    yaml_document_delete(&extra);
    rc = parse_root(&p, root, wl);
out_doc:
    yaml_document_delete(&p.doc);
out_parser:
    yaml_parser_delete(&yp);
out_chain:
    chain->depth--;
    free(chain->real[chain->depth]);
    chain->real[chain->depth] = NULL;
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 */

int pb_workload_load(const char *path, struct pb_workload *wl, char *err, size_t errlen)
{
    struct wl_chain chain = {0};
    int rc;

    if (!path || !wl) {
        pb_errf(err, errlen, "pb_workload_load: no %s (expected a path and a workload)",
                path ? "workload" : "path");
        return -EINVAL;
    }
    rc = load_file(path, wl, &chain, err, errlen);
    if (rc)
        pb_workload_free(wl);
    return rc;
}

void pb_workload_free(struct pb_workload *wl)
{
    if (!wl)
        return;
    for (unsigned i = 0; i < wl->nr_members; i++)
        pb_workload_free(&wl->members[i]);
    free(wl->members);
    free_single(wl);
    memset(wl, 0, sizeof(*wl));
}

int pb_workload_bind_machine(struct pb_workload *wl, unsigned nodes, uint64_t pages_per_node,
                             char *err, size_t errlen)
{
    int rc;

    if (!wl || nodes == 0 || nodes > PB_WL_MAX_NODES || pages_per_node == 0 ||
        pages_per_node > MAX_PAGES) {
        pb_errf(err, errlen,
                "pb_workload_bind_machine: %u nodes of %" PRIu64 " pages (expected 1 to %d "
                "nodes of 1 to %" PRIu64 " pages)",
                nodes, pages_per_node, PB_WL_MAX_NODES, MAX_PAGES);
        return -EINVAL;
    }
    /* Check everything before changing anything. */
    if (wl->kind == PB_WL_SUITE) {
        for (unsigned i = 0; i < wl->nr_members; i++)
            if (wl->members[i].machine.from_topology &&
                (rc = check_machine(&wl->members[i], nodes, pages_per_node, err, errlen)))
                return rc;
        for (unsigned i = 0; i < wl->nr_members; i++)
            if (wl->members[i].machine.from_topology) {
                wl->members[i].machine.nodes = nodes;
                wl->members[i].machine.pages_per_node = pages_per_node;
            }
        return 0;
    }
    if (!wl->machine.from_topology)
        return 0;
    if ((rc = check_machine(wl, nodes, pages_per_node, err, errlen)))
        return rc;
    wl->machine.nodes = nodes;
    wl->machine.pages_per_node = pages_per_node;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The stems of DIR's *.yaml files, sorted. */
static int list_stems(const char *dir, char ***out, size_t *nr)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    int rc = 0;

    *out = NULL;
    *nr = 0;
    if (!d)
        return -errno;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char **grown;

        if (de->d_name[0] == '.' || len <= 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        grown = realloc(names, (n + 1) * sizeof(*names));
        if (!grown || !(grown[n] = strndup(de->d_name, len - 5))) {
            names = grown ? grown : names;
            rc = -ENOMEM;
            break;
        }
        names = grown;
        n++;
    }
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(names[i]);
        free(names);
        return rc;
    }
    if (n)
        qsort(names, n, sizeof(*names), cmp_str);
    *out = names;
    *nr = n;
    return 0;
}

static void free_stems(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

int pb_workload_find(const char *name_or_path, const char *dir, char *path, size_t pathlen,
                     char *err, size_t errlen)
{
    size_t len;
    char **names;
    size_t n;
    int rc;

    if (!name_or_path || !path || !pathlen) {
        pb_errf(err, errlen, "pb_workload_find: no name or no room for the path");
        return -EINVAL;
    }
    len = strlen(name_or_path);
    if (strchr(name_or_path, '/') || (len > 5 && strcmp(name_or_path + len - 5, ".yaml") == 0)) {
        if (len >= pathlen) {
            pb_errf(err, errlen, "%s: path too long (expected at most %zu bytes)", name_or_path,
                    pathlen - 1);
            return -ENAMETOOLONG;
        }
        if (access(name_or_path, R_OK)) {
            rc = -errno;
            pb_errf(err, errlen, "%s: %s (expected a readable workload file)", name_or_path,
                    strerror(-rc));
            return rc;
        }
        memcpy(path, name_or_path, len + 1);
        return 0;
    }
    if (!valid_name(name_or_path)) {
        char shown[64];
        sanitize(name_or_path, len, shown, sizeof(shown));
        pb_errf(err, errlen,
                "'%s' is not a workload name (expected letters, digits, '-', '_' and '.', or a "
                "path to a .yaml file)",
                shown);
        return -EINVAL;
    }
    if (!dir) {
        pb_errf(err, errlen, "pb_workload_find: no directory to look for '%s' in", name_or_path);
        return -EINVAL;
    }
    if ((size_t)snprintf(path, pathlen, "%s/%s.yaml", dir, name_or_path) >= pathlen) {
        pb_errf(err, errlen, "%s/%s.yaml: path too long (expected at most %zu bytes)", dir,
                name_or_path, pathlen - 1);
        path[0] = '\0';
        return -ENAMETOOLONG;
    }
    if (access(path, R_OK) == 0)
        return 0;
    pb_errf(err, errlen, "no workload '%s' in %s (expected one of: ", name_or_path, dir);
    if (list_stems(dir, &names, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            msg_append(err, errlen, "%s%s", i ? ", " : "", names[i]);
        free_stems(names, n);
    }
    msg_append(err, errlen, ")");
    path[0] = '\0';
    return -ENOENT;
}

int pb_workload_list(const char *dir, struct pb_wl_info **infos, size_t *nr)
{
    char **names;
    size_t n;
    struct pb_wl_info *out;
    int rc;

    if (!dir || !infos || !nr)
        return -EINVAL;
    *infos = NULL;
    *nr = 0;
    if ((rc = list_stems(dir, &names, &n)))
        return rc;
    out = calloc(n ? n : 1, sizeof(*out));
    if (!out) {
        free_stems(names, n);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct pb_workload wl;
        char err[1024];
        size_t need = strlen(dir) + strlen(names[i]) + 7;

        out[i].name = names[i];
        names[i] = NULL;
        out[i].path = malloc(need);
        if (!out[i].path) {
            rc = -ENOMEM;
            break;
        }
        snprintf(out[i].path, need, "%s/%s.yaml", dir, out[i].name);
        rc = pb_workload_load(out[i].path, &wl, err, sizeof(err));
        if (rc == -ENOMEM)
            break;
        if (rc) {
            out[i].error = strdup(err);
            if (!out[i].error) {
                rc = -ENOMEM;
                break;
            }
            rc = 0;
            continue;
        }
        out[i].kind = wl.kind;
        out[i].nr_members = wl.nr_members;
        out[i].description = wl.description;
        wl.description = NULL;
        pb_workload_free(&wl);
    }
    free_stems(names, n);
    if (rc) {
        pb_workload_list_free(out, n);
        return rc;
    }
    *infos = out;
    *nr = n;
    return 0;
}

void pb_workload_list_free(struct pb_wl_info *infos, size_t nr)
{
    if (!infos)
        return;
    for (size_t i = 0; i < nr; i++) {
        free(infos[i].name);
        free(infos[i].path);
        free(infos[i].description);
        free(infos[i].error);
    }
    free(infos);
}

int pb_workload_claim_split(const struct pb_wl_domain_group *g, unsigned nodes, uint64_t pages,
                            struct pb_wl_claim_part parts[PB_WL_MAX_NODES])
{
    uint64_t share[PB_WL_MAX_NODES] = {0};
    int nr = 0;

    if (!g || !parts || nodes == 0 || nodes > PB_WL_MAX_NODES)
        return -EINVAL;
    if (g->affinity == PB_WL_AFFINITY_VNUMA) {
        const unsigned vn = g->vnuma_nodes;
        uint64_t per, given = 0;

        if (vn == 0 || vn > PB_WL_MAX_NODES || g->memory_pages < vn)
            return -EINVAL;
        /* The ranges of call_mem_flags in bench/runner.c: the last vnode takes the rest. */
        per = g->memory_pages / vn;
        for (unsigned v = 0; v < vn; v++) {
            uint64_t range = v + 1 < vn ? per : g->memory_pages - per * (vn - 1);
            uint64_t s = (uint64_t)((unsigned __int128)pages * range / g->memory_pages);
            share[v % nodes] += s;
            given += s;
        }
        share[0] += pages - given;
    } else if (g->affinity == PB_WL_AFFINITY_NODES) {
        const uint64_t mask = g->node_mask;
        unsigned count, first;

        if (!mask || (nodes < 64 && (mask >> nodes)))
            return -EINVAL;
        count = (unsigned)__builtin_popcountll(mask);
        first = (unsigned)__builtin_ctzll(mask);
        for (unsigned n = 0; n < nodes; n++)
            if (mask & (UINT64_C(1) << n))
                share[n] = pages / count;
        share[first] += pages % count;
    } else {
        return -EINVAL;
    }
    for (unsigned n = 0; n < nodes; n++)
        if (share[n])
            parts[nr++] = (struct pb_wl_claim_part){.node = n, .pages = share[n]};
    return nr;
}

uint64_t pb_workload_timed_ns(const struct pb_workload *wl)
{
    uint64_t ns = 0;

    if (!wl)
        return 0;
    if (wl->kind == PB_WL_SUITE) {
        for (unsigned i = 0; i < wl->nr_members; i++)
            ns += pb_workload_timed_ns(&wl->members[i]);
        return ns;
    }
    if (wl->phases.warmup.unit == PB_WL_PHASE_TIME)
        ns += wl->phases.warmup.ns;
    if (wl->phases.measure.unit == PB_WL_PHASE_TIME)
        ns += wl->phases.measure.ns;
    return ns * wl->phases.repetitions;
}

/* ---------------------------------------------------------------------------------------------
 * Dump
 */

/* The shortest text that strtod reads back as v. */
static void fmt_double(double v, char *buf, size_t len)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, len, "%.0f", v); /* 20, not 2e+01 */
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void dump_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void dump_phase(FILE *out, const char *key, const struct pb_wl_phase *ph)
{
    switch (ph->unit) {
    case PB_WL_PHASE_TIME:
        fprintf(out, "  %s: %s\n", key, ns_str(ph->ns).s);
        break;
    case PB_WL_PHASE_OPS:
        fprintf(out, "  %s: %" PRIu64 "ops\n", key, ph->ops);
        break;
    case PB_WL_PHASE_UNTIL_BUILT:
        fprintf(out, "  %s: until-built\n", key);
        break;
    }
}

static void dump_single(FILE *out, const struct pb_workload *wl)
{
    const bool builds = building_domains(wl) > 0 || wl->churn.recreate_per_second > 0;
    const struct pb_wl_balloon *b = &wl->churn.balloon;
    char num[40];

    fprintf(out, "name: ");
    dump_quoted(out, wl->name);
    fprintf(out, "\ndescription: ");
    dump_quoted(out, wl->description);
    fprintf(out, "\nseed: %" PRIu64 "\nmachine:\n", wl->seed);
    if (wl->machine.from_topology && wl->machine.nodes == 0)
        fprintf(out, "  from: topology\n");
    else
        fprintf(out, "  nodes: %u\n  memory_per_node: %s\n", wl->machine.nodes,
                pages_str(wl->machine.pages_per_node).s);
    fprintf(out, "  backing: %s\n  dma_zone: %s\ndomains:\n", backing_names[wl->machine.backing],
            dma_zone_names[wl->machine.dma_zone_off]);
    for (unsigned i = 0; i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];

        fprintf(out, "  - count: %u\n    memory: %s\n    max_memory: %s\n", g->count,
                pages_str(g->memory_pages).s, pages_str(g->max_pages).s);
        fprintf(out, "    claim: %s\n", g->claim_pages ? pages_str(g->claim_pages).s : "none");
        if (g->claim_pages)
            fprintf(out, "    claim_mode: %s\n", claim_mode_names[g->claim_mode]);
        fprintf(out, "    affinity: ");
        if (g->affinity == PB_WL_AFFINITY_ALL) {
            fprintf(out, "all\n");
        } else if (g->affinity == PB_WL_AFFINITY_VNUMA) {
            fprintf(out, "{vnuma: %u}\n", g->vnuma_nodes);
        } else {
            const char *sep = "[";
            for (unsigned n = 0; n < PB_WL_MAX_NODES; n++)
                if (g->node_mask & (UINT64_C(1) << n)) {
                    fprintf(out, "%s%u", sep, n);
                    sep = ", ";
                }
            fprintf(out, "]\n");
        }
        fprintf(out, "    privilege: %s\n    start: %s\n", privilege_names[g->privilege],
                start_names[g->start]);
    }
    if (builds) {
        fprintf(out, "builders:\n  %s: %u\n",
                wl->builders.kind == PB_WL_BUILDERS_POOL ? "pool" : "threads_per_domain",
                wl->builders.threads);
        if (wl->orders.mode == PB_WL_ORDERS_MEMINIT) {
            fprintf(out, "orders: meminit\n");
        } else {
            fprintf(out, "orders:\n");
            for (int o = 0; o < PB_WL_NR_ORDERS; o++) {
                fmt_double(wl->orders.weight[o], num, sizeof(num));
                fprintf(out, "  %u: %s\n", pb_wl_orders[o], num);
            }
        }
        fprintf(out, "extents_per_call:\n");
        for (int o = 0; o < PB_WL_NR_ORDERS; o++)
            fprintf(out, "  %u: %u\n", pb_wl_orders[o], wl->orders.extents_per_call[o]);
    }
    switch (wl->preemption.kind) {
    case PB_WL_PREEMPT_NONE:
        fprintf(out, "preemption: none\n");
        break;
    case PB_WL_PREEMPT_TIMESLICE:
        fprintf(out, "preemption:\n  timeslice: %s\n", ns_str(wl->preemption.timeslice_ns).s);
        break;
    case PB_WL_PREEMPT_EVERY:
        fprintf(out, "preemption:\n  every: %u\n", wl->preemption.every_extents);
        break;
    case PB_WL_PREEMPT_PROBABILITY:
        fmt_double(wl->preemption.probability, num, sizeof(num));
        fprintf(out, "preemption:\n  probability: %s\n", num);
        break;
    }
    fmt_double(wl->churn.recreate_per_second, num, sizeof(num));
    fprintf(out, "churn:\n  recreate_per_second: %s\n", num);
    if (b->pacing != PB_WL_BALLOON_OFF) {
        fprintf(out, "  balloon:\n");
        if (b->pacing == PB_WL_BALLOON_RATE) {
            fprintf(out, "    pages_per_second: %" PRIu64 "\n    threads: %u\n",
                    b->pages_per_second, b->threads);
        } else {
            fmt_double(b->ratio, num, sizeof(num));
            fprintf(out, "    ratio: %s\n", num);
        }
        fmt_double(b->depth, num, sizeof(num));
        fprintf(out, "    order: %u\n    extents_per_call: %u\n    depth: %s\n    free: %s\n",
                b->order, b->extents_per_call, num, b->free_dirty ? "dirty" : "clean");
    }
    fprintf(out, "p2m_readers:\n  threads: %u\n  lookups_per_second: %" PRIu64 "\n",
            wl->p2m_readers.threads, wl->p2m_readers.lookups_per_second);
    fprintf(out, "scrub:\n  mode: %s\n", scrub_names[wl->scrub.mode]);
    if (wl->scrub.mode == PB_WL_SCRUB_BACKGROUND)
        fprintf(out, "  workers_per_node: %u\n", wl->scrub.workers_per_node);
    fprintf(out, "heap:\n  state: %s\n", heap_names[wl->heap.state]);
    if (wl->heap.state == PB_WL_HEAP_FRAGMENTED)
        fprintf(out, "  ageing_passes: %u\n", wl->heap.ageing_passes);
    if (wl->heap.state == PB_WL_HEAP_DIRTY) {
        fmt_double(wl->heap.dirty_fraction, num, sizeof(num));
        fprintf(out, "  dirty_fraction: %s\n", num);
    }
    if (wl->heap.state != PB_WL_HEAP_FRESH)
        fprintf(out, "  seed: %" PRIu64 "\n", wl->heap.seed);
    fprintf(out, "phases:\n");
    dump_phase(out, "warmup", &wl->phases.warmup);
    dump_phase(out, "measure", &wl->phases.measure);
    fprintf(out, "  repetitions: %u\n", wl->phases.repetitions);
    /* Only the options the workload sets: the others are the model's, not the workload's. */
    if (wl->options.set)
        fprintf(out, "options:\n");
    for (unsigned i = 0; i < PB_OPT_NR; i++)
        if (wl->options.set & (1u << i))
            fprintf(out, "  %s: %" PRId64 "\n", pb_option_desc(i)->name,
                    pb_options_get(&wl->options, (enum pb_option)i));
}

int pb_workload_dump(FILE *out, const struct pb_workload *wl)
{
    if (!out || !wl || !wl->name || !wl->description)
        return -EINVAL;
    if (wl->kind == PB_WL_SUITE) {
        fprintf(out, "# suite %s: %s\n", wl->name, wl->description);
        for (unsigned i = 0; i < wl->nr_members; i++) {
            fprintf(out, "---\n");
            dump_single(out, &wl->members[i]);
        }
    } else {
        dump_single(out, wl);
    }
    return ferror(out) ? -EIO : 0;
}
