/*
 * test_p2m: the p2m radix, single-threaded: set and lookup at every order, translation inside
 * superpages, exactly which frames a replace or remove releases (splits included), the walk,
 * that bad arguments and failed allocations change nothing, the counters against recounts,
 * and a random sequence checked frame by frame against a flat model.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/p2m.h"
#include "core/prng.h"

#define GB  (1ull << 18) /* gfns per 1 GiB */
#define MB2 (1ull << 9)  /* gfns per 2 MiB */

/* ---- failing chosen node allocations (linked with -Wl,--wrap=aligned_alloc) ---------------- */

void *__real_aligned_alloc(size_t align, size_t size);
void *__wrap_aligned_alloc(size_t align, size_t size);

static int alloc_fail_countdown = -1; /* n >= 0: the allocation after n more fails */

void *__wrap_aligned_alloc(size_t align, size_t size)
{
    if (alloc_fail_countdown == 0) {
        alloc_fail_countdown = -1;
        return NULL;
    }
    if (alloc_fail_countdown > 0)
        alloc_fail_countdown--;
    return __real_aligned_alloc(align, size);
}

/* ---- helpers ------------------------------------------------------------------------------- */

struct extent {
    uint64_t gfn, mfn;
    unsigned int order;
};

struct release_log {
    size_t n, cap;
    struct extent *call;
    uint64_t frames;
};

static void log_release(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order)
{
    struct release_log *log = ctx;

    if (log->n == log->cap) {
        log->cap = log->cap ? 2 * log->cap : 64;
        log->call = realloc(log->call, log->cap * sizeof(*log->call));
        assert_non_null(log->call);
    }
    log->call[log->n++] = (struct extent){gfn, mfn, order};
    log->frames += 1ull << order;
}

static void log_reset(struct release_log *log)
{
    log->n = 0;
    log->frames = 0;
}

static void log_free(struct release_log *log)
{
    free(log->call);
    memset(log, 0, sizeof(*log));
}

static void assert_released(const struct release_log *log, size_t i, uint64_t gfn, uint64_t mfn,
                            unsigned int order)
{
    assert_true(i < log->n);
    assert_int_equal(log->call[i].gfn, gfn);
    assert_int_equal(log->call[i].mfn, mfn);
    assert_int_equal(log->call[i].order, order);
}

static void assert_entry(struct p2m *p, uint64_t gfn, enum p2m_type type, uint64_t mfn,
                         unsigned int order)
{
    struct p2m_entry e;

    assert_int_equal(p2m_lookup(p, gfn, &e), 0);
    assert_int_equal(e.type, type);
    assert_int_equal(e.mfn, type == P2M_RAM_RW ? mfn : P2M_INVALID_MFN);
    assert_int_equal(e.order, order);
}

static void assert_unmapped(struct p2m *p, uint64_t gfn)
{
    struct p2m_entry e;

    assert_int_equal(p2m_lookup(p, gfn, &e), 0);
    assert_int_equal(e.type, P2M_INVALID);
    assert_int_equal(e.mfn, P2M_INVALID_MFN);
}

/* Everything observable of a map: its entries in gfn order and its counters. */
struct snapshot {
    size_t n, cap;
    struct extent *entry;
    enum p2m_type *type;
    struct p2m_counters cnt;
};

static int snap_visit(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order, enum p2m_type type)
{
    struct snapshot *s = ctx;

    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->entry = realloc(s->entry, s->cap * sizeof(*s->entry));
        s->type = realloc(s->type, s->cap * sizeof(*s->type));
        assert_true(s->entry && s->type);
    }
    s->entry[s->n] = (struct extent){gfn, mfn, order};
    s->type[s->n++] = type;
    return 0;
}

static void snap_take(struct p2m *p, struct snapshot *s)
{
    memset(s, 0, sizeof(*s));
    assert_int_equal(p2m_for_each(p, snap_visit, s), 0);
    p2m_counters_read(p, &s->cnt);
}

static void snap_free(struct snapshot *s)
{
    free(s->entry);
    free(s->type);
}

static void assert_snap_equal(const struct snapshot *a, const struct snapshot *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->entry[i].gfn, b->entry[i].gfn);
        assert_int_equal(a->entry[i].mfn, b->entry[i].mfn);
        assert_int_equal(a->entry[i].order, b->entry[i].order);
        assert_int_equal(a->type[i], b->type[i]);
    }
    assert_memory_equal(&a->cnt, &b->cnt, sizeof(a->cnt));
}

static void assert_unchanged(struct p2m *p, const struct snapshot *before)
{
    struct snapshot after;

    snap_take(p, &after);
    assert_snap_equal(before, &after);
    snap_free(&after);
    assert_int_equal(p2m_validate(p), 0);
}

/* Counters recounted from the walk must equal the map's own. */
static void assert_counters_recount(struct p2m *p)
{
    struct snapshot s;
    uint64_t entries[3] = {0}, ram = 0, pod = 0;

    snap_take(p, &s);
    for (size_t i = 0; i < s.n; i++) {
        unsigned int order = s.entry[i].order;
        assert_true(order == 0 || order == 9 || order == 18);
        entries[order / 9]++;
        if (s.type[i] == P2M_RAM_RW)
            ram += 1ull << order;
        else
            pod += 1ull << order;
    }
    assert_int_equal(s.cnt.ram_frames, ram);
    assert_int_equal(s.cnt.pod_frames, pod);
    for (int i = 0; i < 3; i++)
        assert_int_equal(s.cnt.entries[i], entries[i]);
    snap_free(&s);
    assert_int_equal(p2m_validate(p), 0);
}

static struct p2m *make_p2m(uint64_t max_gfn)
{
    struct p2m *p = NULL;

    assert_int_equal(p2m_create(max_gfn, PB_LOCK_TICKET, &p), 0);
    assert_non_null(p);
    return p;
}

static void destroy_p2m(struct p2m *p)
{
    p2m_destroy(p, NULL, NULL);
    pb_rcu_barrier(); /* so the leak checker sees nodes freed */
}

/* ---- set and lookup ------------------------------------------------------------------------ */

static void test_set_lookup_each_order(void **state)
{
    (void)state;
    static const struct {
        unsigned int order, entry_order;
    } cases[] = {{0, 0}, {1, 0}, {4, 0}, {8, 0}, {9, 9}, {10, 9}, {12, 9}, {17, 9}, {18, 18}};
    struct p2m *p = make_p2m(16 * GB);

    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        unsigned int order = cases[i].order;
        uint64_t gfn = i * GB + (order < 18 ? (1ull << order) * (order < 16 ? 3 : 1) : 0);
        uint64_t mfn = 0x100000 * (i + 1);
        uint64_t last = gfn + (1ull << order) - 1;

        assert_int_equal(p2m_set(p, gfn, mfn, order, P2M_RAM_RW, NULL, NULL), 0);
        assert_entry(p, gfn, P2M_RAM_RW, mfn, cases[i].entry_order);
        assert_entry(p, gfn + (last - gfn) / 2, P2M_RAM_RW, mfn + (last - gfn) / 2,
                     cases[i].entry_order);
        assert_entry(p, last, P2M_RAM_RW, mfn + (last - gfn), cases[i].entry_order);
        if (order < 18) {
            assert_unmapped(p, gfn - 1);
            assert_unmapped(p, last + 1);
        }
    }
    /* PoD at each storage order: no frame. */
    assert_int_equal(p2m_set(p, 12 * GB, 5, 0, P2M_POD, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, 12 * GB + MB2, 0, 9, P2M_POD, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, 13 * GB, 0, 18, P2M_POD, NULL, NULL), 0);
    assert_entry(p, 12 * GB, P2M_POD, 0, 0);
    assert_entry(p, 12 * GB + MB2 + 100, P2M_POD, 0, 9);
    assert_entry(p, 13 * GB + 4242, P2M_POD, 0, 18);

    /* A hole reports the size of the empty slot found. */
    struct p2m_entry e;
    assert_int_equal(p2m_lookup(p, 14 * GB + 5, &e), 0);
    assert_int_equal(e.type, P2M_INVALID);
    assert_int_equal(e.order, 18);

    uint64_t ram = 0;
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++)
        ram += 1ull << cases[i].order;
    struct p2m_counters c;
    p2m_counters_read(p, &c);
    assert_int_equal(c.ram_frames, ram);
    assert_int_equal(c.pod_frames, 1 + MB2 + GB);
    assert_int_equal(c.splits, 0);
    assert_counters_recount(p);
    destroy_p2m(p);
}

static void test_superpage_translation(void **state)
{
    (void)state;
    struct p2m *p = make_p2m(4 * GB);

    assert_int_equal(p2m_set(p, GB, 0x40000, 18, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, 2 * GB + 7 * MB2, 0xabc00, 9, P2M_RAM_RW, NULL, NULL), 0);
    assert_entry(p, GB + 12345, P2M_RAM_RW, 0x40000 + 12345, 18);
    assert_entry(p, GB - 1, P2M_INVALID, 0, 18);
    assert_entry(p, 2 * GB + 7 * MB2 + 511, P2M_RAM_RW, 0xabc00 + 511, 9);
    assert_entry(p, 2 * GB + 8 * MB2, P2M_INVALID, 0, 9);

    struct p2m_counters c;
    p2m_counters_read(p, &c);
    assert_int_equal(c.entries[2], 1);
    assert_int_equal(c.entries[1], 1);
    assert_int_equal(c.mids, 1);
    assert_int_equal(c.leaves, 0);
    destroy_p2m(p);
}

/* ---- replace and remove -------------------------------------------------------------------- */

static void test_replace_releases_old_frames(void **state)
{
    (void)state;
    struct p2m *p = make_p2m(4 * GB);
    struct release_log log = {0};
    struct p2m_counters c;
    const uint64_t g = 3 * MB2, a = 0x10000, b = 0x20000, cm = 0x77777;

    /* 2 MiB over 2 MiB: the old superpage is released whole. */
    assert_int_equal(p2m_set(p, g, a, 9, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(log.n, 0);
    assert_int_equal(p2m_set(p, g, b, 9, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(log.n, 1);
    assert_released(&log, 0, g, a, 9);
    assert_entry(p, g + 7, P2M_RAM_RW, b + 7, 9);

    /* 4 KiB inside it: split, one frame released, 511 stay. */
    log_reset(&log);
    assert_int_equal(p2m_set(p, g + 5, cm, 0, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(log.n, 1);
    assert_released(&log, 0, g + 5, b + 5, 0);
    assert_entry(p, g + 5, P2M_RAM_RW, cm, 0);
    for (uint64_t i = 0; i < MB2; i++)
        if (i != 5)
            assert_entry(p, g + i, P2M_RAM_RW, b + i, 0);
    p2m_counters_read(p, &c);
    assert_int_equal(c.ram_frames, MB2);
    assert_int_equal(c.entries[0], MB2);
    assert_int_equal(c.entries[1], 0);
    assert_int_equal(c.leaves, 1);
    assert_int_equal(c.splits, 1);
    assert_counters_recount(p);

    /* Order 4 over part of the split range: exactly those 16 frames, one by one. */
    log_reset(&log);
    assert_int_equal(p2m_set(p, g + 16, 0x90000, 4, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(log.n, 16);
    for (size_t i = 0; i < 16; i++)
        assert_released(&log, i, g + 16 + i, b + 16 + i, 0);

    /* 4 KiB inside 1 GiB: two splits, one frame released. */
    const uint64_t h = 2 * GB, m = 0x4000000;
    log_reset(&log);
    assert_int_equal(p2m_set(p, h, m, 18, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(p2m_set(p, h + 1000, cm, 0, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(log.n, 1);
    assert_released(&log, 0, h + 1000, m + 1000, 0);
    assert_entry(p, h + 999, P2M_RAM_RW, m + 999, 0);
    assert_entry(p, h + 1000, P2M_RAM_RW, cm, 0);
    assert_entry(p, h + 5 * MB2 + 3, P2M_RAM_RW, m + 5 * MB2 + 3, 9);
    p2m_counters_read(p, &c);
    assert_int_equal(c.entries[2], 0);
    assert_int_equal(c.entries[1], MB2 - 1);
    assert_int_equal(c.splits, 3);
    assert_int_equal(c.mids, 2);
    assert_int_equal(c.leaves, 2);
    assert_counters_recount(p);

    /* 1 GiB over that split region: every old entry is released, with its own frames. */
    uint64_t retired_before = c.nodes_retired;
    log_reset(&log);
    assert_int_equal(p2m_set(p, h, 0x8000000, 18, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(log.frames, GB);
    assert_int_equal(log.n, (MB2 - 1) + MB2);
    for (size_t i = 0; i < log.n; i++) {
        const struct extent *r = &log.call[i];
        uint64_t want = r->gfn == h + 1000 ? cm : m + (r->gfn - h);
        assert_int_equal(r->mfn, want);
        assert_true(r->gfn >= h && r->gfn < h + GB);
        assert_int_equal(r->gfn & ((1ull << r->order) - 1), 0);
    }
    p2m_counters_read(p, &c);
    assert_int_equal(c.mids, 1);   /* the one under g */
    assert_int_equal(c.leaves, 1); /* the one under g */
    assert_int_equal(c.nodes_retired, retired_before + 2);
    assert_entry(p, h + 1000, P2M_RAM_RW, 0x8000000 + 1000, 18);

    /* PoD has no frame: replacing it releases nothing; RAM replaced by PoD is released. */
    log_reset(&log);
    assert_int_equal(p2m_set(p, GB, 0, 9, P2M_POD, log_release, &log), 0);
    assert_int_equal(p2m_set(p, GB, 0x5000, 9, P2M_RAM_RW, log_release, &log), 0);
    assert_int_equal(log.n, 0);
    assert_int_equal(p2m_set(p, GB, 0, 9, P2M_POD, log_release, &log), 0);
    assert_int_equal(log.n, 1);
    assert_released(&log, 0, GB, 0x5000, 9);

    assert_counters_recount(p);
    log_free(&log);
    destroy_p2m(p);
}

static void test_remove(void **state)
{
    (void)state;
    struct p2m *p = make_p2m(4 * GB);
    struct release_log log = {0};
    struct p2m_counters c, before;

    /* A whole 2 MiB entry; the mid node it needed goes with it. */
    assert_int_equal(p2m_set(p, MB2, 0x1000, 9, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_remove(p, MB2, 9, log_release, &log), 0);
    assert_int_equal(log.n, 1);
    assert_released(&log, 0, MB2, 0x1000, 9);
    assert_unmapped(p, MB2 + 3);
    p2m_counters_read(p, &c);
    assert_int_equal(c.mids, 0);
    assert_int_equal(c.nodes_retired, 1);

    /* 4 KiB out of 2 MiB: split, that frame only. */
    log_reset(&log);
    assert_int_equal(p2m_set(p, 2 * MB2, 0x2000, 9, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_remove(p, 2 * MB2 + 9, 0, log_release, &log), 0);
    assert_int_equal(log.n, 1);
    assert_released(&log, 0, 2 * MB2 + 9, 0x2000 + 9, 0);
    assert_unmapped(p, 2 * MB2 + 9);
    assert_entry(p, 2 * MB2 + 8, P2M_RAM_RW, 0x2000 + 8, 0);
    assert_entry(p, 2 * MB2 + 10, P2M_RAM_RW, 0x2000 + 10, 0);
    p2m_counters_read(p, &c);
    assert_int_equal(c.ram_frames, MB2 - 1);
    assert_int_equal(c.leaves, 1);
    assert_int_equal(c.mids, 1);

    /* Holes (no mid; a mid with that slot empty; a leaf with that slot empty): no change. */
    p2m_counters_read(p, &before);
    log_reset(&log);
    assert_int_equal(p2m_remove(p, 3 * GB, 18, log_release, &log), 0);
    assert_int_equal(p2m_remove(p, 3 * GB + 5, 0, log_release, &log), 0);
    assert_int_equal(p2m_remove(p, 4 * MB2, 0, log_release, &log), 0);
    assert_int_equal(p2m_remove(p, 4 * MB2, 9, log_release, &log), 0);
    assert_int_equal(p2m_remove(p, 2 * MB2 + 9, 0, log_release, &log), 0);
    assert_int_equal(log.n, 0);
    p2m_counters_read(p, &c);
    assert_memory_equal(&c, &before, sizeof(c));

    /* Removing the rest frame by frame frees the leaf, then the mid. */
    log_reset(&log);
    for (uint64_t i = 0; i < MB2; i++)
        assert_int_equal(p2m_remove(p, 2 * MB2 + i, 0, log_release, &log), 0);
    assert_int_equal(log.n, MB2 - 1);
    assert_int_equal(log.frames, MB2 - 1);
    p2m_counters_read(p, &c);
    assert_int_equal(c.ram_frames, 0);
    assert_int_equal(c.leaves, 0);
    assert_int_equal(c.mids, 0);
    assert_int_equal(c.nodes_retired, 3);

    /* 1 GiB over a split region: everything in it, by entry. */
    assert_int_equal(p2m_set(p, GB, 0x100000, 18, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, GB + 3, 0x900000, 0, P2M_POD, NULL, NULL), 0);
    log_reset(&log);
    assert_int_equal(p2m_remove(p, GB, 18, log_release, &log), 0);
    assert_int_equal(log.frames, GB - 1); /* the PoD frame had none */
    assert_int_equal(log.n, (MB2 - 1) + (MB2 - 1));
    p2m_counters_read(p, &c);
    assert_int_equal(c.ram_frames + c.pod_frames, 0);
    assert_int_equal(c.mids + c.leaves, 0);

    /* Order 12 removes eight 2 MiB entries of a 1 GiB one. */
    assert_int_equal(p2m_set(p, 0, 0x200000, 18, P2M_RAM_RW, NULL, NULL), 0);
    log_reset(&log);
    assert_int_equal(p2m_remove(p, 1ull << 12, 12, log_release, &log), 0);
    assert_int_equal(log.n, 8);
    for (size_t i = 0; i < 8; i++)
        assert_released(&log, i, (1ull << 12) + i * MB2, 0x200000 + (1ull << 12) + i * MB2, 9);
    assert_unmapped(p, (1ull << 12) + 100);
    assert_entry(p, (1ull << 13), P2M_RAM_RW, 0x200000 + (1ull << 13), 9);

    assert_counters_recount(p);
    log_free(&log);
    destroy_p2m(p);
}

/* ---- walk ---------------------------------------------------------------------------------- */

static int stop_after_two(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order,
                          enum p2m_type type)
{
    (void)gfn, (void)mfn, (void)order, (void)type;
    return ++*(int *)ctx == 2 ? 7 : 0;
}

static void test_for_each(void **state)
{
    (void)state;
    struct p2m *p = make_p2m(3 * GB);
    struct snapshot s;

    assert_int_equal(p2m_set(p, 2 * GB, 0x3000000, 18, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, 7, 0x77, 0, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, GB + MB2, 0, 9, P2M_POD, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, 4 * MB2, 0x4000, 10, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, 2, 0, 1, P2M_POD, NULL, NULL), 0);

    static const struct {
        uint64_t gfn, mfn;
        unsigned int order;
        enum p2m_type type;
    } want[] = {
        {2, P2M_INVALID_MFN, 0, P2M_POD},
        {3, P2M_INVALID_MFN, 0, P2M_POD},
        {7, 0x77, 0, P2M_RAM_RW},
        {4 * MB2, 0x4000, 9, P2M_RAM_RW},
        {5 * MB2, 0x4000 + MB2, 9, P2M_RAM_RW},
        {GB + MB2, P2M_INVALID_MFN, 9, P2M_POD},
        {2 * GB, 0x3000000, 18, P2M_RAM_RW},
    };
    snap_take(p, &s);
    assert_int_equal(s.n, PB_ARRAY_SIZE(want));
    for (size_t i = 0; i < s.n; i++) {
        assert_int_equal(s.entry[i].gfn, want[i].gfn);
        assert_int_equal(s.entry[i].mfn, want[i].mfn);
        assert_int_equal(s.entry[i].order, want[i].order);
        assert_int_equal(s.type[i], want[i].type);
    }
    snap_free(&s);

    int visited = 0;
    assert_int_equal(p2m_for_each(p, stop_after_two, &visited), 7);
    assert_int_equal(visited, 2);
    destroy_p2m(p);
}

/* ---- bad arguments and failed allocations -------------------------------------------------- */

static void test_einval_changes_nothing(void **state)
{
    (void)state;
    const uint64_t max = 3 * GB + 1000; /* the last top slot is partial */
    struct p2m *p = make_p2m(max);
    struct release_log log = {0};
    struct snapshot before;
    struct p2m_entry e;

    assert_int_equal(p2m_set(p, 0, 0x1000, 18, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, GB + 5, 0x99, 0, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_set(p, 3 * GB, 0x5000, 9, P2M_RAM_RW, NULL, NULL), 0);
    /* The largest mfn range that fits. */
    assert_int_equal(p2m_set(p, 2 * GB, P2M_MFN_MAX - MB2 + 1, 9, P2M_RAM_RW, NULL, NULL), 0);
    assert_entry(p, 2 * GB + MB2 - 1, P2M_RAM_RW, P2M_MFN_MAX, 9);
    snap_take(p, &before);

    /* p2m_set */
    assert_int_equal(p2m_set(NULL, 0, 1, 0, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, max, 1, 0, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, UINT64_MAX, 1, 0, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, 5, 1, 9, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, GB + MB2, 1, 18, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, 0, 1, 19, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, 0, 1, 64, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, 3 * GB + MB2, 1, 9, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, 3 * GB, 1, 10, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, 3 * GB, 1, 18, P2M_POD, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, GB, 1, 0, P2M_INVALID, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, GB, 1, 0, (enum p2m_type)7, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, GB, P2M_MFN_MAX + 1, 0, P2M_RAM_RW, log_release, &log), -EINVAL);
    assert_int_equal(p2m_set(p, GB, P2M_MFN_MAX, 9, P2M_RAM_RW, log_release, &log), -EINVAL);

    /* p2m_remove */
    assert_int_equal(p2m_remove(NULL, 0, 0, log_release, &log), -EINVAL);
    assert_int_equal(p2m_remove(p, max, 0, log_release, &log), -EINVAL);
    assert_int_equal(p2m_remove(p, 1, 9, log_release, &log), -EINVAL);
    assert_int_equal(p2m_remove(p, 0, 19, log_release, &log), -EINVAL);
    assert_int_equal(p2m_remove(p, 3 * GB, 18, log_release, &log), -EINVAL);

    /* p2m_lookup */
    assert_int_equal(p2m_lookup(p, max, &e), -EINVAL);
    assert_int_equal(p2m_lookup(p, 0, NULL), -EINVAL);
    assert_int_equal(p2m_lookup(NULL, 0, &e), -EINVAL);
    assert_int_equal(p2m_lookup(p, max - 1, &e), 0);

    assert_int_equal(log.n, 0);
    assert_unchanged(p, &before);
    snap_free(&before);

    /* p2m_create */
    static char sentinel;
    struct p2m *q = (struct p2m *)&sentinel; /* must stay as it is */
    assert_int_equal(p2m_create(0, PB_LOCK_TICKET, &q), -EINVAL);
    assert_int_equal(p2m_create(P2M_GFN_LIMIT + 1, PB_LOCK_TICKET, &q), -EINVAL);
    assert_int_equal(p2m_create(GB, (enum pb_lock_kind)9, &q), -EINVAL);
    assert_int_equal(p2m_create(GB, PB_LOCK_MUTEX, NULL), -EINVAL);
    assert_ptr_equal(q, (struct p2m *)&sentinel);

    log_free(&log);
    destroy_p2m(p);
}

static void test_enomem_changes_nothing(void **state)
{
    (void)state;
    struct p2m *p = make_p2m(4 * GB);
    struct release_log log = {0};
    struct snapshot before;

    /* An empty top slot needs a mid and a leaf for 4 KiB: fail either. */
    snap_take(p, &before);
    alloc_fail_countdown = 0;
    assert_int_equal(p2m_set(p, 5, 0x5, 0, P2M_RAM_RW, log_release, &log), -ENOMEM);
    assert_unchanged(p, &before);
    alloc_fail_countdown = 1;
    assert_int_equal(p2m_set(p, 5, 0x5, 0, P2M_RAM_RW, log_release, &log), -ENOMEM);
    assert_int_equal(alloc_fail_countdown, -1); /* the second allocation was the one failed */
    assert_unchanged(p, &before);
    snap_free(&before);

    /* Splitting 1 GiB for a 4 KiB replace or remove, and for a 2 MiB one. */
    assert_int_equal(p2m_set(p, GB, 0x40000, 18, P2M_RAM_RW, NULL, NULL), 0);
    snap_take(p, &before);
    for (int fail = 0; fail < 2; fail++) {
        alloc_fail_countdown = fail;
        assert_int_equal(p2m_set(p, GB + 3, 0x5, 0, P2M_RAM_RW, log_release, &log), -ENOMEM);
        assert_unchanged(p, &before);
        alloc_fail_countdown = fail;
        assert_int_equal(p2m_remove(p, GB + 3, 0, log_release, &log), -ENOMEM);
        assert_unchanged(p, &before);
    }
    alloc_fail_countdown = 0;
    assert_int_equal(p2m_set(p, GB + MB2, 0x5, 9, P2M_RAM_RW, log_release, &log), -ENOMEM);
    assert_unchanged(p, &before);
    alloc_fail_countdown = 0;
    assert_int_equal(p2m_remove(p, GB + MB2, 9, log_release, &log), -ENOMEM);
    assert_unchanged(p, &before);
    assert_int_equal(log.n, 0);
    snap_free(&before);

    /* Allocation works again: the same calls succeed. */
    assert_int_equal(p2m_remove(p, GB + 3, 0, log_release, &log), 0);
    assert_int_equal(log.n, 1);
    assert_released(&log, 0, GB + 3, 0x40000 + 3, 0);

    /* No allocation is needed where the nodes exist. */
    alloc_fail_countdown = 0;
    assert_int_equal(p2m_set(p, GB + 4, 0x6, 0, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(alloc_fail_countdown, 0);
    alloc_fail_countdown = -1;

    /* p2m_create */
    struct p2m *q = NULL;
    alloc_fail_countdown = 0;
    assert_int_equal(p2m_create(GB, PB_LOCK_TICKET, &q), -ENOMEM);
    assert_null(q);

    log_free(&log);
    destroy_p2m(p);
}

/* ---- counters, lock statistics, destroy ---------------------------------------------------- */

static void test_counters_and_lock_stats(void **state)
{
    (void)state;
    struct p2m *p;
    struct pb_lock_stats st;

    assert_int_equal(p2m_create(2 * GB, PB_LOCK_MUTEX, &p), 0);
    p2m_lock_stats_reset(p);
    for (uint64_t i = 0; i < 10; i++)
        assert_int_equal(p2m_set(p, i * MB2, i << 9, 9, P2M_RAM_RW, NULL, NULL), 0);
    assert_int_equal(p2m_remove(p, 3, 0, NULL, NULL), 0);
    p2m_lock_stats(p, &st);
    assert_int_equal(st.acquisitions, 11);
    assert_int_equal(st.contended, 0);

    struct p2m_counters c;
    p2m_counters_read(p, &c);
    assert_int_equal(c.ram_frames, 10 * MB2 - 1);
    assert_int_equal(c.entries[0], MB2 - 1);
    assert_int_equal(c.entries[1], 9);
    assert_int_equal(c.mids, 1);
    assert_int_equal(c.leaves, 1);
    assert_int_equal(c.splits, 1);
    assert_counters_recount(p);
    assert_int_equal(p2m_max_gfn(p), 2 * GB);

    /* Destroy releases every RAM frame still mapped. */
    struct release_log log = {0};
    assert_int_equal(p2m_set(p, GB, 0, 18, P2M_POD, NULL, NULL), 0);
    p2m_destroy(p, log_release, &log);
    assert_int_equal(log.frames, 10 * MB2 - 1);
    assert_int_equal(log.n, (MB2 - 1) + 9);
    log_free(&log);
    pb_rcu_barrier();
}

/* ---- random sequence against a flat model -------------------------------------------------- */

#define MODEL_MAX_GFN (2 * GB + 3 * MB2 + 17)

struct model {
    uint64_t *mfn;     /* per gfn: mapped frame */
    uint8_t *type;     /* per gfn: enum p2m_type */
    uint8_t *released; /* per gfn: released by the operation in progress */
    uint64_t lo, hi;   /* the operation's range */
    uint64_t released_frames;
};

/* Every release must name RAM frames of the model, inside the operation's range, once. */
static void model_release(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order)
{
    struct model *m = ctx;

    assert_true(order == 0 || order == 9 || order == 18);
    assert_int_equal(gfn & ((1ull << order) - 1), 0);
    assert_true(gfn >= m->lo && gfn + (1ull << order) <= m->hi);
    for (uint64_t i = 0; i < 1ull << order; i++) {
        assert_int_equal(m->type[gfn + i], P2M_RAM_RW);
        assert_int_equal(m->mfn[gfn + i], mfn + i);
        assert_int_equal(m->released[gfn + i], 0);
        m->released[gfn + i] = 1;
    }
    m->released_frames += 1ull << order;
}

static void model_check_gfn(struct p2m *p, const struct model *m, uint64_t gfn)
{
    struct p2m_entry e;

    assert_int_equal(p2m_lookup(p, gfn, &e), 0);
    assert_int_equal(e.type, m->type[gfn]);
    assert_int_equal(e.mfn, m->type[gfn] == P2M_RAM_RW ? m->mfn[gfn] : P2M_INVALID_MFN);
}

static void test_random_against_model(void **state)
{
    (void)state;
    static const unsigned int orders[] = {0, 0, 0, 1, 4, 9, 9, 10, 13, 18};
    struct p2m *p = make_p2m(MODEL_MAX_GFN);
    struct model m = {
        .mfn = calloc(MODEL_MAX_GFN, sizeof(uint64_t)),
        .type = calloc(MODEL_MAX_GFN, 1),
        .released = calloc(MODEL_MAX_GFN, 1),
    };
    uint64_t rng = 0x9e3779b97f4a7c15ull, next_mfn = 1, mapped = 0, minted = 0;

    assert_true(m.mfn && m.type && m.released);
    for (int op = 0; op < 3000; op++) {
        unsigned int order = orders[pb_splitmix64(&rng) % PB_ARRAY_SIZE(orders)];
        uint64_t gfn = (pb_splitmix64(&rng) % MODEL_MAX_GFN) & ~((1ull << order) - 1);
        unsigned int what = pb_splitmix64(&rng) % 10; /* 0-5 RAM, 6-7 PoD, 8-9 remove */
        enum p2m_type type = what < 6 ? P2M_RAM_RW : what < 8 ? P2M_POD : P2M_INVALID;
        uint64_t n = 1ull << order, mfn = next_mfn;
        int rc;

        m.lo = gfn;
        m.hi = gfn + n;
        if (type == P2M_INVALID)
            rc = p2m_remove(p, gfn, order, model_release, &m);
        else
            rc = p2m_set(p, gfn, mfn, order, type, model_release, &m);
        if (n > MODEL_MAX_GFN - gfn) {
            assert_int_equal(rc, -EINVAL);
            continue;
        }
        assert_int_equal(rc, 0);
        for (uint64_t g = gfn; g < gfn + n; g++) {
            assert_int_equal(m.released[g], m.type[g] == P2M_RAM_RW);
            m.released[g] = 0;
            mapped -= m.type[g] == P2M_RAM_RW;
            m.type[g] = (uint8_t)type;
            m.mfn[g] = mfn + (g - gfn);
        }
        if (type == P2M_RAM_RW) {
            next_mfn += n;
            minted += n;
            mapped += n;
        }
        model_check_gfn(p, &m, gfn);
        model_check_gfn(p, &m, gfn + n - 1);
        if (gfn > 0)
            model_check_gfn(p, &m, gfn - 1);
        if (gfn + n < MODEL_MAX_GFN)
            model_check_gfn(p, &m, gfn + n);
        if (op % 500 == 0)
            assert_int_equal(p2m_validate(p), 0);
    }
    for (uint64_t g = 0; g < MODEL_MAX_GFN; g++)
        model_check_gfn(p, &m, g);
    struct p2m_counters c;
    p2m_counters_read(p, &c);
    assert_int_equal(c.ram_frames, mapped);
    assert_int_equal(minted - m.released_frames, mapped);
    assert_true(c.splits > 0);
    assert_counters_recount(p);

    free(m.mfn);
    free(m.type);
    free(m.released);
    destroy_p2m(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_lookup_each_order),
        cmocka_unit_test(test_superpage_translation),
        cmocka_unit_test(test_replace_releases_old_frames),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_for_each),
        cmocka_unit_test(test_einval_changes_nothing),
        cmocka_unit_test(test_enomem_changes_nothing),
        cmocka_unit_test(test_counters_and_lock_stats),
        cmocka_unit_test(test_random_against_model),
    };

    pb_rcu_register_thread();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pb_rcu_unregister_thread();
    return failed;
}
