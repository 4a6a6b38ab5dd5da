/*
 * options.h: the model's tunables, in one table (after mimalloc's mi_option table).
 *
 * Every option has a name, a default, an allowed range and a meaning. A struct pb_options holds
 * one value of each and remembers which were given explicitly, so that one set can be laid over
 * another (a workload's `options:`, then `popbench run --option`). A heap takes a set with
 * pb_heap_set_options (heap.h) before use; the results record every value of it.
 *
 * Defaults are the model's (Xen's where Xen has the constant). Adding an option: a line in the
 * enum and in the table of options.c, and the code that reads it from the heap's set.
 */
#ifndef POPBENCH_CORE_OPTIONS_H
#define POPBENCH_CORE_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

enum pb_option {
    PB_OPT_PCP_BATCH_ORDER0,       /* pcp: order-0 extents a cache refills or drains at once */
    PB_OPT_PCP_HIGH_ORDER0,        /* pcp: order-0 extents a cache holds before draining */
    PB_OPT_PCP_BATCH_ORDER9,       /* pcp: the same for order 9 */
    PB_OPT_PCP_HIGH_ORDER9,        /* pcp: order-9 extents a cache holds before draining */
    PB_OPT_SCRUB_BATCH_FRAMES,     /* pernode scrub workers: frames per clear between checks */
    PB_OPT_SCRUB_PREEMPT_FRAMES,   /* domain build: dirty frames between preemption checks */
    PB_OPT_SCRUB_XEN_YIELD_FRAMES, /* xen idle scrubber: frames before it stops for a busy CPU */
    PB_OPT_BUILD_TLB_FLUSH,        /* domain build: 0 no flush (Xen's code), 1 Xen's intent */
    PB_OPT_INJECT_ALLOC_DELAY_NS,  /* a known slowdown: ns spun per extent populate_physmap
                                      allocates (0: none), for measuring the tool's own power */
    PB_OPT_NR
};

struct pb_option_desc {
    const char *name; /* [a-z0-9_]+, as workloads, flags and results spell it */
    int64_t def, min, max;
    const char *meaning; /* one line */
};

struct pb_options {
    int64_t value[PB_OPT_NR];
    uint32_t set; /* bit i: option i was given explicitly (pb_options_set) */
};
_Static_assert(PB_OPT_NR <= 32, "struct pb_options.set has a bit per option");

/* Every option at its default, none given. */
void pb_options_init(struct pb_options *o);
/* Option i's description, or NULL past the last: for (i = 0; (d = pb_option_desc(i)); i++). */
const struct pb_option_desc *pb_option_desc(unsigned i);
/* The option of that name, or -EINVAL. */
int pb_option_find(const char *name);

/*
 * Give an option a value: 0; -EINVAL for an unknown name (or a NULL argument); -ERANGE for a
 * value outside the option's range (pb_option_desc has it; pb_options_errf says it). Nothing
 * changes on an error.
 */
int pb_options_set(struct pb_options *o, const char *name, int64_t value);
static inline int64_t pb_options_get(const struct pb_options *o, enum pb_option i)
{
    return o->value[i];
}
/*
 * pb_options_set from the text "NAME=VALUE" (VALUE a decimal integer), as a flag gives it: 0,
 * -EINVAL (not NAME=VALUE, or an unknown name) or -ERANGE, with the reason in err.
 */
int pb_options_parse(struct pb_options *o, const char *assignment, char *err, size_t errlen);
/* Lay src over dst: every option src was given replaces dst's (and counts as given there). */
void pb_options_merge(struct pb_options *dst, const struct pb_options *src);
/* Whether every value is within its range: 0, or -ERANGE naming the first that is not. */
int pb_options_check(const struct pb_options *o, char *err, size_t errlen);

/*
 * What went wrong with pb_options_set(o, name, value) that returned rc, in words, for the
 * caller to put after its own location: "unknown option 'x' (expected one of: a, b, ...)" or
 * "option 'x' is 300 (expected 1 to 255)".
 */
void pb_options_errf(char *err, size_t errlen, const char *name, int64_t value, int rc);

#endif
