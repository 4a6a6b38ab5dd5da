/*
 * The options table (core/options.h): every option's table entry, setting it, its range, an
 * unknown name, the NAME=VALUE form, merging, a heap taking a set; then, per option, that the
 * heap does what it says (the watermarks change what a refill takes and when a free drains,
 * the scrub options where a scrub stops).
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/heap.h"
#include "core/heap_impl.h" /* the xen yield test stands in for allocations in progress */
#include "core/memflags.h"
#include "core/options.h"
#include "core/scrub.h"

#define EXACT(n)  (MEMF_node(n) | MEMF_exact_node)
#define ALL_ZONES 1, PB_NR_ZONES - 1

/* ---- the table -------------------------------------------------------------------------- */

static void test_table(void **state)
{
    (void)state;
    unsigned n = 0;
    const struct pb_option_desc *d;
    for (; (d = pb_option_desc(n)); n++) {
        assert_non_null(d->name);
        assert_true(strlen(d->name) > 0 &&
                    strspn(d->name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(d->name));
        assert_true(d->min <= d->def && d->def <= d->max);
        assert_true(d->min >= 0); /* workloads give options as unsigned integers */
        assert_non_null(d->meaning);
        assert_true(strlen(d->meaning) > 10);
        assert_int_equal(pb_option_find(d->name), (int)n);
        for (unsigned k = 0; k < n; k++)
            assert_string_not_equal(pb_option_desc(k)->name, d->name);
    }
    assert_int_equal(n, PB_OPT_NR);
    assert_int_equal(pb_option_find("no_such_option"), -EINVAL);
    assert_int_equal(pb_option_find(NULL), -EINVAL);
    /* The defaults are the constants the model had. */
    struct pb_options o;
    pb_options_init(&o);
    assert_int_equal(o.set, 0);
    assert_int_equal(pb_options_get(&o, PB_OPT_PCP_BATCH_ORDER0), 31);
    assert_int_equal(pb_options_get(&o, PB_OPT_PCP_HIGH_ORDER0), 186);
    assert_int_equal(pb_options_get(&o, PB_OPT_PCP_BATCH_ORDER9), 1);
    assert_int_equal(pb_options_get(&o, PB_OPT_PCP_HIGH_ORDER9), 4);
    assert_int_equal(pb_options_get(&o, PB_OPT_SCRUB_BATCH_FRAMES), PB_SCRUB_BATCH);
    assert_int_equal(pb_options_get(&o, PB_OPT_SCRUB_PREEMPT_FRAMES), 256);
    assert_int_equal(pb_options_get(&o, PB_OPT_SCRUB_XEN_YIELD_FRAMES), 8);
}

/* Each option: its bounds are taken, one beyond either is -ERANGE and changes nothing. */
static void test_set_and_range(void **state)
{
    (void)state;
    const struct pb_option_desc *d;
    for (unsigned i = 0; (d = pb_option_desc(i)); i++) {
        struct pb_options o;
        char err[256], want[128];
        pb_options_init(&o);
        assert_int_equal(pb_options_set(&o, d->name, d->max), 0);
        assert_int_equal(pb_options_get(&o, i), d->max);
        assert_int_equal(o.set, 1u << i);
        assert_int_equal(pb_options_set(&o, d->name, d->min), 0);
        assert_int_equal(pb_options_get(&o, i), d->min);
        assert_int_equal(pb_options_set(&o, d->name, d->max + 1), -ERANGE);
        assert_int_equal(pb_options_set(&o, d->name, d->min - 1), -ERANGE);
        assert_int_equal(pb_options_get(&o, i), d->min);
        assert_int_equal(pb_options_check(&o, err, sizeof(err)), 0);
        pb_options_errf(err, sizeof(err), d->name, d->max + 1, -ERANGE);
        snprintf(want, sizeof(want),
                 "option '%s' is %" PRId64 " (expected %" PRId64 " to %" PRId64 ")", d->name,
                 d->max + 1, d->min, d->max);
        assert_string_equal(err, want);
        /* A set made by hand with a value out of range is caught as a whole. */
        o.value[i] = d->max + 1;
        assert_int_equal(pb_options_check(&o, err, sizeof(err)), -ERANGE);
        assert_string_equal(err, want);
    }
}

static void test_unknown_name(void **state)
{
    (void)state;
    struct pb_options o;
    char err[512];
    pb_options_init(&o);
    assert_int_equal(pb_options_set(&o, "pcp_batch", 8), -EINVAL);
    assert_int_equal(pb_options_set(&o, NULL, 8), -EINVAL);
    assert_int_equal(pb_options_set(NULL, "pcp_batch_order0", 8), -EINVAL);
    assert_int_equal(o.set, 0);
    pb_options_errf(err, sizeof(err), "pcp_batch", 8, -EINVAL);
    assert_non_null(strstr(err, "unknown option 'pcp_batch' (expected one of: pcp_batch_order0, "));
    assert_non_null(strstr(err, "build_tlb_flush, inject_alloc_delay_ns)"));
}

static void test_parse(void **state)
{
    (void)state;
    struct pb_options o;
    char err[512];
    pb_options_init(&o);
    assert_int_equal(pb_options_parse(&o, "pcp_batch_order0=8", err, sizeof(err)), 0);
    assert_int_equal(pb_options_get(&o, PB_OPT_PCP_BATCH_ORDER0), 8);
    static const char *const not_assignments[] = {
        "pcp_batch_order0",    "pcp_batch_order0=",   "=8",
        "pcp_batch_order0=-1", "pcp_batch_order0=8x", "pcp_batch_order0=99999999999999999999",
    };
    for (size_t i = 0; i < PB_ARRAY_SIZE(not_assignments); i++) {
        assert_int_equal(pb_options_parse(&o, not_assignments[i], err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "is not NAME=VALUE"));
    }
    assert_int_equal(pb_options_parse(&o, "nosuch=1", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "unknown option 'nosuch'"));
    assert_int_equal(pb_options_parse(&o, "pcp_high_order0=256", err, sizeof(err)), -ERANGE);
    assert_string_equal(err, "option 'pcp_high_order0' is 256 (expected 0 to 255)");
    assert_int_equal(pb_options_get(&o, PB_OPT_PCP_BATCH_ORDER0), 8); /* errors change nothing */
    assert_int_equal(o.set, 1u << PB_OPT_PCP_BATCH_ORDER0);
}

/* What src was given replaces dst's; what it was not leaves dst alone. */
static void test_merge(void **state)
{
    (void)state;
    struct pb_options dst, src;
    pb_options_init(&dst);
    pb_options_init(&src);
    assert_int_equal(pb_options_set(&dst, "pcp_batch_order0", 8), 0);
    assert_int_equal(pb_options_set(&dst, "pcp_high_order0", 16), 0);
    assert_int_equal(pb_options_set(&src, "pcp_high_order0", 32), 0);
    pb_options_merge(&dst, &src);
    assert_int_equal(pb_options_get(&dst, PB_OPT_PCP_BATCH_ORDER0), 8);
    assert_int_equal(pb_options_get(&dst, PB_OPT_PCP_HIGH_ORDER0), 32);
    assert_int_equal(dst.set, (1u << PB_OPT_PCP_BATCH_ORDER0) | (1u << PB_OPT_PCP_HIGH_ORDER0));
}

/* ---- a heap takes a set ----------------------------------------------------------------- */

static struct pb_heap *machine(const char *variant, unsigned nodes)
{
    struct pb_machine_desc desc = {.nr_nodes = nodes, .backing = PB_BACKING_NONE};
    for (unsigned n = 0; n < nodes; n++)
        desc.node_frames[n] = 1024;
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(&desc, variant, PB_LOCK_TICKET, &h), 0);
    pb_set_current_cpu(0);
    return h;
}

/* A heap with one option set. */
static struct pb_heap *machine_with(const char *variant, unsigned nodes, const char *name,
                                    int64_t value)
{
    struct pb_heap *h = machine(variant, nodes);
    struct pb_options o;
    pb_options_init(&o);
    assert_int_equal(pb_options_set(&o, name, value), 0);
    assert_int_equal(pb_heap_set_options(h, &o), 0);
    return h;
}

static void test_heap_takes_a_set(void **state)
{
    (void)state;
    struct pb_heap *h = machine("pcp", 1);
    struct pb_options o;
    pb_options_init(&o);
    assert_memory_equal(pb_heap_options(h)->value, o.value, sizeof(o.value));
    assert_int_equal(pb_heap_set_options(h, NULL), -EINVAL);
    o.value[PB_OPT_PCP_BATCH_ORDER0] = 0; /* out of range: nothing changes */
    assert_int_equal(pb_heap_set_options(h, &o), -ERANGE);
    assert_int_equal(pb_options_get(pb_heap_options(h), PB_OPT_PCP_BATCH_ORDER0), 31);
    /* The watermarks API and the options are one setting. */
    assert_int_equal(pb_pcp_set_watermarks(h, 9, 2, 6), 0);
    assert_int_equal(pb_options_get(pb_heap_options(h), PB_OPT_PCP_BATCH_ORDER9), 2);
    assert_int_equal(pb_options_get(pb_heap_options(h), PB_OPT_PCP_HIGH_ORDER9), 6);
    assert_int_equal(pb_options_set(&o, "pcp_batch_order0", 5), 0);
    assert_int_equal(pb_heap_set_options(h, &o), 0);
    unsigned batch, high;
    assert_int_equal(pb_pcp_get_watermarks(h, 0, &batch, &high), 0);
    assert_int_equal(batch, 5);
    assert_int_equal(high, 186);
    assert_int_equal(pb_pcp_get_watermarks(h, 9, &batch, &high), 0);
    assert_int_equal(batch, 1); /* the whole set was replaced */
    pb_heap_destroy(h);
}

/* ---- each option's effect --------------------------------------------------------------- */

static uint64_t alloc_on(struct pb_heap *h, unsigned order, unsigned node)
{
    uint64_t mfn = 0;
    assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, order, EXACT(node), NULL, &mfn), 0);
    return mfn;
}

/* A refill takes one batch: one extent goes out, the rest stays cached. */
static void test_effect_pcp_batch(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned order;
        int64_t batch;
    } cases[] = {{"pcp_batch_order0", 0, 8}, {"pcp_batch_order9", 9, 2}};
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        struct pb_heap *dflt = machine("pcp", 2);
        struct pb_heap *h = machine_with("pcp", 2, cases[i].name, cases[i].batch);
        int64_t def = pb_option_desc((unsigned)pb_option_find(cases[i].name))->def;
        uint64_t a = alloc_on(dflt, cases[i].order, 1), b = alloc_on(h, cases[i].order, 1);
        /* Node 1 has 2 order-9 extents: the default order-9 batch, 1, takes one of them. */
        assert_int_equal(pb_pcp_cached(dflt, 0, 1, cases[i].order), def - 1);
        assert_int_equal(pb_pcp_cached(h, 0, 1, cases[i].order), cases[i].batch - 1);
        assert_int_equal(pb_free_heap_pages(dflt, a, cases[i].order, false), 0);
        assert_int_equal(pb_free_heap_pages(h, b, cases[i].order, false), 0);
        pb_heap_destroy(dflt);
        pb_heap_destroy(h);
    }
}

/* A free above the high watermark drains: with high 1 and batch 1, a cache keeps one extent. */
static void test_effect_pcp_high(void **state)
{
    (void)state;
    static const struct {
        const char *batch, *high;
        unsigned order, node;
    } cases[] = {{"pcp_batch_order0", "pcp_high_order0", 0, 1},
                 {"pcp_batch_order9", "pcp_high_order9", 9, 1}};
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        struct pb_heap *h = machine("pcp", 2);
        struct pb_options o;
        pb_options_init(&o);
        assert_int_equal(pb_options_set(&o, cases[i].batch, 1), 0);
        assert_int_equal(pb_options_set(&o, cases[i].high, 1), 0);
        assert_int_equal(pb_heap_set_options(h, &o), 0);
        unsigned order = cases[i].order;
        uint64_t m0 = alloc_on(h, order, cases[i].node), m1 = alloc_on(h, order, cases[i].node);
        assert_int_equal(pb_pcp_cached(h, 0, cases[i].node, order), 0);
        assert_int_equal(pb_free_heap_pages(h, m0, order, false), 0);
        assert_int_equal(pb_pcp_cached(h, 0, cases[i].node, order), 1);
        assert_int_equal(pb_free_heap_pages(h, m1, order, false), 0);
        assert_int_equal(pb_pcp_cached(h, 0, cases[i].node, order), 1); /* 2 > 1: one drained */
        /* The default high (186 frames, 4 order-9 extents) keeps both. */
        assert_int_equal(
            pb_options_set(&o, cases[i].high,
                           pb_option_desc((unsigned)pb_option_find(cases[i].high))->def),
            0);
        assert_int_equal(pb_heap_set_options(h, &o), 0);
        m0 = alloc_on(h, order, cases[i].node);
        m1 = alloc_on(h, order, cases[i].node);
        assert_int_equal(pb_free_heap_pages(h, m0, order, false), 0);
        assert_int_equal(pb_free_heap_pages(h, m1, order, false), 0);
        assert_int_equal(pb_pcp_cached(h, 0, cases[i].node, order), 2);
        pb_heap_destroy(h);
    }
}

/* An in-use order-9 extent all of whose frames are flagged dirty (node 0's only one: 512). */
static uint64_t dirty_extent(struct pb_heap *h)
{
    uint64_t mfn = alloc_on(h, 9, 0);
    assert_int_equal(mfn, 512);
    assert_int_equal(pb_free_heap_pages(h, mfn, 9, true), 0);
    assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 9,
                                         EXACT(0) | MEMF_no_scrub | MEMF_keep_scrub, NULL, &mfn),
                     0);
    assert_int_equal(mfn, 512);
    return mfn;
}

static bool preempt_always(void *ctx)
{
    (void)ctx;
    return true;
}

/* The domain-build scrub stops at its first preemption check: after scrub_preempt_frames. */
static void test_effect_scrub_preempt(void **state)
{
    (void)state;
    static const int64_t every[] = {256 /* the default */, 64, 1};
    for (size_t i = 0; i < PB_ARRAY_SIZE(every); i++) {
        struct pb_heap *h = machine_with("pernode", 1, "scrub_preempt_frames", every[i]);
        uint64_t mfn = dirty_extent(h), progress = 0;
        assert_int_equal(pb_scrub_extent_preemptible(h, mfn, 9, &progress, preempt_always, NULL),
                         -ERESTART);
        assert_int_equal(progress, every[i]);
        for (uint64_t f = 0; f < 512; f++)
            assert_int_equal(pb_heap_frame_dirty(h, mfn + f), f >= (uint64_t)every[i]);
        progress = 512;
        assert_int_equal(pb_free_heap_pages(h, mfn, 9, true), 0);
        pb_heap_destroy(h);
    }
}

/*
 * What a background scrubber sees at its first cleared frame (its after_frame hook runs on the
 * worker, which owns the buddy's flags while it is SCRUBBING), and when the buddy's
 * first_dirty first moves (the worker gave it back with its progress and took it again).
 */
struct watch {
    struct pb_heap *h;
    uint64_t head;
    unsigned frames;         /* frames the hook saw */
    uint64_t dirty_at_first; /* dirty frames of the buddy at the first */
    uint32_t fd_first;       /* the head's first_dirty at the first */
    unsigned moved_at;       /* frame count when first_dirty first differed, 0: not yet */
    uint32_t moved_to;
    _Atomic bool done; /* moved_at is set (xen), or the first frame seen (pernode) */
};

static void watch_hook(void *ctx, unsigned node, unsigned worker, uint64_t mfn)
{
    (void)node;
    (void)worker;
    (void)mfn;
    struct watch *w = ctx;
    uint32_t fd = w->h->frames[w->head].first_dirty;
    if (++w->frames == 1) {
        w->fd_first = fd;
        for (uint64_t f = 0; f < 512; f++)
            w->dirty_at_first += pb_heap_frame_dirty(w->h, w->head + f);
        if (!w->h->ops->global_lock)
            atomic_store(&w->done, true);
    } else if (!w->moved_at && fd != w->fd_first) {
        w->moved_at = w->frames;
        w->moved_to = fd;
        atomic_store(&w->done, true);
    }
}

/* Waits (at most a minute, or fails saying what for) for the hook to be done. */
static void wait_done(struct watch *w, const char *what)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!atomic_load(&w->done)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 60)
            fail_msg("no scrub worker reached %s within a minute", what);
        sched_yield();
    }
}

/* A freed dirty order-9 buddy at 512 (node 0 of a one-node heap), scrubbed with the hook. */
static struct pb_scrubber *scrub_one_buddy(struct pb_heap *h, struct watch *w)
{
    uint64_t mfn = alloc_on(h, 9, 0);
    assert_int_equal(pb_free_heap_pages(h, mfn, 9, true), 0);
    *w = (struct watch){.h = h, .head = mfn};
    struct pb_scrub_config cfg = {
        .workers_per_node = 1,
        .method = PB_CLEAR_MEMSET,
        .after_frame = watch_hook,
        .ctx = w,
    };
    struct pb_scrubber *s = NULL;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
    return s;
}

/* pernode: a worker clears scrub_batch_frames frames in one call before its first check. */
static void test_effect_scrub_batch(void **state)
{
    (void)state;
    static const int64_t batch[] = {16 /* the default */, 64, 1};
    for (size_t i = 0; i < PB_ARRAY_SIZE(batch); i++) {
        struct pb_heap *h = machine_with("pernode", 1, "scrub_batch_frames", batch[i]);
        struct watch w;
        struct pb_scrubber *s = scrub_one_buddy(h, &w);
        wait_done(&w, "its first frame");
        pb_scrubber_stop(s);
        assert_int_equal(w.dirty_at_first, 512 - batch[i]);
        pb_heap_destroy(h);
    }
}

/* The hook of the xen test below: the scrubber's CPU becomes busy at its first frame. */
static void busy_at_first(void *ctx, unsigned node, unsigned worker, uint64_t mfn)
{
    (void)node;
    (void)worker;
    (void)mfn;
    struct watch *w = ctx;
    if (++w->frames == 1)
        pb_cpu_busy_enter(w->h, 0);
}

/*
 * xen: once its CPU is busy, the idle scrubber gives the buddy back as soon as it has cleared
 * more than scrub_xen_yield_frames frames (Xen: cnt > 800, nine frames), and then does not
 * scrub while the CPU stays busy.
 */
static void test_effect_scrub_xen_yield(void **state)
{
    (void)state;
    static const int64_t every[] = {8 /* the default */, 3, 100};
    for (size_t i = 0; i < PB_ARRAY_SIZE(every); i++) {
        struct pb_heap *h = machine_with("xen", 1, "scrub_xen_yield_frames", every[i]);
        uint64_t mfn = alloc_on(h, 9, 0);
        assert_int_equal(pb_free_heap_pages(h, mfn, 9, true), 0);
        struct watch w = {.h = h, .head = mfn};
        struct pb_scrub_config cfg = {
            .method = PB_CLEAR_MEMSET, .after_frame = busy_at_first, .ctx = &w};
        struct pb_scrubber *s = NULL;
        assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
        struct pb_scrub_counters sc;
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (pb_scrub_read_counters(h, &sc); sc.idle_busy_yields == 0;
             pb_scrub_read_counters(h, &sc)) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - start.tv_sec > 60)
                fail_msg("the xen scrubber did not stop for its busy CPU within a minute");
            sched_yield();
        }
        pb_scrubber_stop(s);
        assert_int_equal(sc.idle_busy_yields, 1);
        assert_int_equal(w.frames, every[i] + 1);
        assert_int_equal(sc.background, every[i] + 1);
        unsigned order;
        uint32_t fd;
        assert_true(pb_heap_free_buddy_at(h, mfn, &order, &fd));
        assert_int_equal(order, 9);
        assert_int_equal(fd, every[i] + 1);
        pb_cpu_busy_exit(h, 0);
        pb_heap_destroy(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_set_and_range),
        cmocka_unit_test(test_unknown_name),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_heap_takes_a_set),
        cmocka_unit_test(test_effect_pcp_batch),
        cmocka_unit_test(test_effect_pcp_high),
        cmocka_unit_test(test_effect_scrub_preempt),
        cmocka_unit_test(test_effect_scrub_batch),
        cmocka_unit_test(test_effect_scrub_xen_yield),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
