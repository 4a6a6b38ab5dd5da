/*
 * units.c: sizes and durations, as workload files and the command line write them (an unsigned
 * integer, optional spaces, a unit) and as popbench prints them back.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/pb.h"
#include "workloads/reader.h"
#include "workloads/workload.h"

struct unit {
    const char *name;
    uint64_t scale;
};

/* Each table ascends: the formatter takes the last unit that divides a value. */
static const struct unit size_units[] = {
    {"B", 1},
    {"KiB", UINT64_C(1) << 10},
    {"MiB", UINT64_C(1) << 20},
    {"GiB", UINT64_C(1) << 30},
    {"TiB", UINT64_C(1) << 40},
    {"pages", WL_PAGE_BYTES}, /* input only: output stays in bytes */
};

static const struct unit duration_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"ms", 1000000},
    {"s", WL_NS_PER_S},
    {"m", 60 * WL_NS_PER_S},
    {"h", 3600 * WL_NS_PER_S},
};

struct quantity {
    const struct unit *units;
    size_t nunits;
    const char *unit_list, *example, *finer, *zero;
};

static const struct quantity sizes = {
    size_units, PB_ARRAY_SIZE(size_units), "B, KiB, MiB, GiB, TiB, pages",
    "512MiB",   "1536MiB for 1.5GiB",      "0B",
};

static const struct quantity durations = {
    duration_units,        PB_ARRAY_SIZE(duration_units),
    "ns, us, ms, s, m, h", "500ms",
    "1500ms for 1.5s",     "0s",
};

bool wl_parse_digits(const char **s, uint64_t *v)
{
    const char *p = *s;
    uint64_t acc = 0;

    if (!isdigit((unsigned char)*p))
        return false;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    *s = p;
    *v = acc;
    return true;
}

/* "<digits>[ ]*<unit>" */
static int parse_quantity(const struct quantity *q, const char *s, uint64_t *out, char *err,
                          size_t errlen)
{
    const char *p = s;
    uint64_t v = 0;
    char shown[64];

    if (!s || !out) {
        pb_errf(err, errlen, "no value (expected an integer and a unit, e.g. %s)", q->example);
        return -EINVAL;
    }
    if (*p == '\0') {
        pb_errf(err, errlen, "empty (expected an integer and a unit, e.g. %s)", q->example);
        return -EINVAL;
    }
    if (*p == '-' || *p == '+') {
        pb_errf(err, errlen, "a sign (expected an unsigned integer and a unit, e.g. %s)",
                q->example);
        return -EINVAL;
    }
    if (!isdigit((unsigned char)*p)) {
        pb_errf(err, errlen, "no number (expected an integer and a unit, e.g. %s)", q->example);
        return -EINVAL;
    }
    if (!wl_parse_digits(&p, &v))
        goto too_large;
    if (*p == '.' || *p == ',') {
        pb_errf(err, errlen, "a fraction (expected an integer: use a smaller unit, e.g. %s)",
                q->finer);
        return -EINVAL;
    }
    while (*p == ' ')
        p++;
    if (*p == '\0') {
        pb_errf(err, errlen, "no unit (expected one of: %s)", q->unit_list);
        return -EINVAL;
    }
    for (size_t i = 0; i < q->nunits; i++) {
        if (strcmp(p, q->units[i].name) != 0)
            continue;
        if (v > UINT64_MAX / q->units[i].scale)
            goto too_large;
        *out = v * q->units[i].scale;
        return 0;
    }
    wl_sanitize(p, strlen(p), shown, sizeof(shown));
    pb_errf(err, errlen, "unknown unit '%s' (expected one of: %s)", shown, q->unit_list);
    return -EINVAL;
too_large:
    pb_errf(err, errlen, "too large (expected at most %" PRIu64 "%s)", UINT64_MAX,
            q->units[0].name);
    return -EINVAL;
}

int pb_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
    return parse_quantity(&sizes, s, bytes, err, errlen);
}

int pb_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen)
{
    return parse_quantity(&durations, s, ns, err, errlen);
}

static int format_quantity(const struct quantity *q, size_t nunits, uint64_t v, char *buf,
                           size_t len)
{
    int n;

    if (!buf || !len)
        return -EINVAL;
    if (v == 0) {
        n = snprintf(buf, len, "%s", q->zero);
    } else {
        size_t best = 0;
        for (size_t i = 0; i < nunits; i++)
            if (v % q->units[i].scale == 0)
                best = i;
        n = snprintf(buf, len, "%" PRIu64 "%s", v / q->units[best].scale, q->units[best].name);
    }
    if (n < 0 || (size_t)n >= len) {
        buf[0] = '\0';
        return -EINVAL;
    }
    return 0;
}

int pb_format_size(uint64_t bytes, char *buf, size_t len)
{
    return format_quantity(&sizes, sizes.nunits - 1, bytes, buf, len);
}

int pb_format_duration(uint64_t ns, char *buf, size_t len)
{
    return format_quantity(&durations, durations.nunits, ns, buf, len);
}

struct wl_str wl_pages_str(uint64_t pages)
{
    struct wl_str r;

    pb_format_size(pages << PB_WL_PAGE_SHIFT, r.s, sizeof(r.s));
    return r;
}

struct wl_str wl_ns_str(uint64_t ns)
{
    struct wl_str r;

    pb_format_duration(ns, r.s, sizeof(r.s));
    return r;
}
