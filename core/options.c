/*
 * options.c: the table of the model's tunables (options.h).
 */
#include "core/options.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pb.h"
#include "core/scrub.h"

/* One line per option, in the order of enum pb_option. */
static const struct pb_option_desc table[PB_OPT_NR] = {
    [PB_OPT_PCP_BATCH_ORDER0] = {"pcp_batch_order0", 31, 1, 255,
                                 "pcp: order-0 frames a cache refills or drains at a time"},
    [PB_OPT_PCP_HIGH_ORDER0] = {"pcp_high_order0", 186, 0, 255,
                                "pcp: order-0 frames a cache holds at most; above, it drains "
                                "one batch"},
    [PB_OPT_PCP_BATCH_ORDER9] = {"pcp_batch_order9", 1, 1, 255,
                                 "pcp: order-9 extents a cache refills or drains at a time"},
    [PB_OPT_PCP_HIGH_ORDER9] = {"pcp_high_order9", 4, 0, 255,
                                "pcp: order-9 extents a cache holds at most; above, it drains "
                                "one batch"},
    [PB_OPT_SCRUB_BATCH_FRAMES] = {"scrub_batch_frames", PB_SCRUB_BATCH, 1, PB_SCRUB_CHUNK,
                                   "pernode scrub workers: dirty frames cleared by one call of "
                                   "the clear method between two checks for an allocator waiting"},
    [PB_OPT_SCRUB_PREEMPT_FRAMES] = {"scrub_preempt_frames", PB_SCRUB_PREEMPT_BATCH, 1,
                                     (int64_t)1 << PB_MAX_ORDER,
                                     "domain build: dirty frames scrubbed between two preemption "
                                     "checks (Xen: 256)"},
    [PB_OPT_SCRUB_XEN_YIELD_FRAMES] = {"scrub_xen_yield_frames", PB_SCRUB_XEN_YIELD, 1,
                                       (int64_t)1 << PB_MAX_ORDER,
                                       "xen idle scrubber: frames cleared before it stops as soon "
                                       "as its CPU is busy (Xen: about 8)"},
    [PB_OPT_BUILD_TLB_FLUSH] = {"build_tlb_flush", 0, 0, 1,
                                "domain build: 0 no TLB flush at all (what Xen's x86 code does: "
                                "the stamps populate_physmap reads were overwritten), 1 one "
                                "filtered flush at the end of each populate_physmap invocation "
                                "(what Xen means to do)"},
    [PB_OPT_INJECT_ALLOC_DELAY_NS] = {"inject_alloc_delay_ns", 0, 0, 10000000,
                                      "a known slowdown, not a model of Xen: ns spun after each "
                                      "extent populate_physmap allocates (0: none; popbench "
                                      "calibrate)"},
};

void pb_options_init(struct pb_options *o)
{
    for (unsigned i = 0; i < PB_OPT_NR; i++)
        o->value[i] = table[i].def;
    o->set = 0;
}

const struct pb_option_desc *pb_option_desc(unsigned i)
{
    return i < PB_OPT_NR ? &table[i] : NULL;
}

int pb_option_find(const char *name)
{
    for (unsigned i = 0; name && i < PB_OPT_NR; i++)
        if (!strcmp(table[i].name, name))
            return (int)i;
    return -EINVAL;
}

int pb_options_set(struct pb_options *o, const char *name, int64_t value)
{
    int i = pb_option_find(name);
    if (!o || i < 0)
        return -EINVAL;
    if (value < table[i].min || value > table[i].max)
        return -ERANGE;
    o->value[i] = value;
    o->set |= 1u << i;
    return 0;
}

int pb_options_parse(struct pb_options *o, const char *assignment, char *err, size_t errlen)
{
    const char *eq = assignment ? strchr(assignment, '=') : NULL;
    char name[64], *end;
    if (!o || !eq || eq == assignment || (size_t)(eq - assignment) >= sizeof(name) ||
        !isdigit((unsigned char)eq[1])) {
        pb_errf(err, errlen,
                "'%s' is not NAME=VALUE (expected an option and an integer, e.g. %s=%" PRId64 ")",
                assignment ? assignment : "", table[0].name, table[0].def);
        return -EINVAL;
    }
    snprintf(name, sizeof(name), "%.*s", (int)(eq - assignment), assignment);
    errno = 0;
    unsigned long long v = strtoull(eq + 1, &end, 10);
    if (*end || errno == ERANGE || v > INT64_MAX) {
        pb_errf(err, errlen, "'%s' is not NAME=VALUE (expected a decimal integer after '=')",
                assignment);
        return -EINVAL;
    }
    int rc = pb_options_set(o, name, (int64_t)v);
    if (rc)
        pb_options_errf(err, errlen, name, (int64_t)v, rc);
    return rc;
}

void pb_options_merge(struct pb_options *dst, const struct pb_options *src)
{
    for (unsigned i = 0; i < PB_OPT_NR; i++)
        if (src->set & (1u << i))
            dst->value[i] = src->value[i];
    dst->set |= src->set;
}

int pb_options_check(const struct pb_options *o, char *err, size_t errlen)
{
    for (unsigned i = 0; i < PB_OPT_NR; i++)
        if (o->value[i] < table[i].min || o->value[i] > table[i].max) {
            pb_options_errf(err, errlen, table[i].name, o->value[i], -ERANGE);
            return -ERANGE;
        }
    return 0;
}

void pb_options_errf(char *err, size_t errlen, const char *name, int64_t value, int rc)
{
    int i = pb_option_find(name);
    if (i >= 0 && rc == -ERANGE) {
        pb_errf(err, errlen, "option '%s' is %" PRId64 " (expected %" PRId64 " to %" PRId64 ")",
                name, value, table[i].min, table[i].max);
        return;
    }
    char names[512] = "";
    size_t len = 0;
    for (unsigned k = 0; k < PB_OPT_NR && len < sizeof(names); k++)
        len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", k ? ", " : "",
                                table[k].name);
    pb_errf(err, errlen, "unknown option '%s' (expected one of: %s)", name ? name : "", names);
}
