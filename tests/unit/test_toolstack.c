/*
 * The toolstack side (core/toolstack.h): libxenctrl's wrappers continue preempted calls and
 * report short counts as Xen's do; the meminit_hvm-style builder picks the largest extents the
 * heap and the caller allow. Each test is named after its rule.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/preempt.h"
#include "core/toolstack.h"
#include "core/prng.h"
#include "tests/unit/memop_fixture.h"

#define DOMID   3
#define MAX_GFN (1ull << 20)
#define GIB     (1ull << 18) /* frames */

static const struct pb_memop_caller DOMU = {.privilege = PB_PRIV_DOMU};
static const struct pb_memop_caller CONTROL = {.privilege = PB_PRIV_CONTROL};

/* The variant the whole suite runs against (main runs it once per variant). */
static const char *variant;

static struct pb_heap *machine(unsigned nodes, uint64_t frames_per_node)
{
    struct pb_machine_desc desc = {.nr_nodes = nodes, .backing = PB_BACKING_NONE};
    for (unsigned n = 0; n < nodes; n++)
        desc.node_frames[n] = frames_per_node;
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(&desc, variant, PB_LOCK_TICKET, &h), 0);
    return h;
}

static void assert_valid(struct pb_heap *h)
{
    char msg[256] = "";
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("validator: %s", msg);
}

static struct pb_domain *domain(struct pb_heap *h, uint64_t max_pages, bool finished)
{
    struct pb_domain_config cfg = {.max_pages = max_pages};
    struct pb_domain *d = NULL;
    assert_int_equal(pb_memop_domain_create(h, DOMID, &cfg, MAX_GFN, PB_LOCK_TICKET, &d), 0);
    if (finished)
        assert_int_equal(pb_memop_finish_creation(h, d), 0);
    return d;
}

static void preempt(const struct pb_preempt_policy p)
{
    assert_int_equal(pb_preempt_configure(&p), 0);
}

static uint64_t *gfn_run(uint64_t first, uint64_t nr, unsigned order)
{
    uint64_t *g = calloc(nr, sizeof(*g));
    assert_non_null(g);
    for (uint64_t i = 0; i < nr; i++)
        g[i] = first + (i << order);
    return g;
}

/* ------------------------------------------------------------------------------------------
 * libxenctrl wrappers.
 */

static void test_populate_continues_after_each_preemption_and_counts_it(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 14);
    struct pb_domain *d = domain(h, 1 << 14, true);
    uint64_t *g = gfn_run(0, 20, 4);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = 1});
    struct pb_xc_stats st = {0};
    assert_int_equal(pb_xc_domain_populate_physmap(h, &DOMU, DOMID, 20, 4, 0, g, &st), 20);
    assert_int_equal(st.hypercalls, 20);
    assert_int_equal(st.continuations, 19);
    assert_int_equal(st.c.extents, 20);
    assert_int_equal(st.c.frames, 20 * 16);
    assert_int_equal(st.last_error, 0);
    assert_int_equal(pb_domain_tot_pages(d), 20 * 16);
    /* Stats add up across calls; NULL stats are allowed. */
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = 5});
    assert_int_equal(pb_xc_domain_populate_physmap(h, &DOMU, DOMID, 20, 4, 0, g, &st), 20);
    assert_int_equal(st.hypercalls, 20 + 4);
    assert_int_equal(st.continuations, 19 + 3);
    /* Populating mapped gfns again replaces the mappings; the old frames stay the domain's. */
    assert_int_equal(st.c.replaced_frames, 20 * 16);
    assert_int_equal(st.c.released_frames, 0);
    assert_int_equal(pb_domain_tot_pages(d), 2 * 20 * 16);
    assert_int_equal(pb_xc_domain_populate_physmap(h, &DOMU, DOMID, 20, 4, 0, g, NULL), 20);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    free(g);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_populate_stops_at_a_short_count_without_continuing(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12);
    struct pb_domain *d = domain(h, 7, true);
    uint64_t *g = gfn_run(0, 10, 0);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = 2});
    struct pb_xc_stats st = {0};
    assert_int_equal(pb_xc_domain_populate_physmap(h, &DOMU, DOMID, 10, 0, 0, g, &st), 7);
    assert_int_equal(st.last_error, -E2BIG);
    assert_int_equal(st.continuations, 3); /* 2, 4, 6 extents done: then the limit */
    assert_int_equal(st.hypercalls, 4);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    free(g);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_exact_turns_a_short_count_into_ebusy(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12);
    struct pb_domain *d = domain(h, 7, true);
    uint64_t *g = gfn_run(0, 10, 0);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    errno = 0;
    assert_int_equal(pb_xc_domain_populate_physmap_exact(h, &DOMU, DOMID, 5, 0, 0, g, NULL), 0);
    assert_int_equal(errno, 0);
    assert_int_equal(pb_xc_domain_populate_physmap_exact(h, &DOMU, DOMID, 5, 0, 0, g + 5, NULL),
                     -1);
    assert_int_equal(errno, EBUSY);
    /* An unknown domain is a short count too (0 of 5), as Xen's memory_op answers it. */
    errno = 0;
    assert_int_equal(pb_xc_domain_populate_physmap_exact(h, &DOMU, 99, 5, 0, 0, g, NULL), -1);
    assert_int_equal(errno, EBUSY);
    errno = 0;
    assert_int_equal(pb_xc_domain_populate_physmap_exact(NULL, &DOMU, DOMID, 5, 0, 0, g, NULL), -1);
    assert_int_equal(errno, EINVAL);
    errno = 0;
    assert_int_equal(pb_xc_domain_populate_physmap(h, &DOMU, DOMID, 5, 0, 0, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    free(g);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_decrease_continues_after_each_preemption(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 14);
    struct pb_domain *d = domain(h, 1 << 14, true);
    uint64_t avail = pb_heap_total_avail(h);
    uint64_t *g = gfn_run(0, 12, 9);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    assert_int_equal(pb_xc_domain_populate_physmap(h, &DOMU, DOMID, 12, 9, 0, g, NULL), 12);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = 1});
    struct pb_xc_stats st = {0};
    assert_int_equal(pb_xc_domain_decrease_reservation(h, &DOMU, DOMID, 12, 9, g, false, &st), 12);
    assert_int_equal(st.continuations, 11);
    assert_int_equal(st.c.released_frames, 12 * 512);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    assert_int_equal(pb_heap_total_avail(h), avail);
    /* Nothing mapped any more: a short count of 0. */
    assert_int_equal(pb_xc_domain_decrease_reservation(h, &DOMU, DOMID, 12, 9, g, false, &st), 0);
    assert_int_equal(st.last_error, -ENOENT);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    free(g);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * The meminit_hvm-style builder.
 */

/* Every frame of the report is mapped, owned by the domain and on the range's node. */
static void assert_built(struct pb_heap *h, struct pb_domain *d, const struct pb_vmemrange *rg,
                         unsigned nr, const struct pb_meminit_report *rep)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < nr; i++) {
        total += rg[i].nr_frames;
        for (uint64_t gfn = rg[i].start_gfn; gfn < rg[i].start_gfn + rg[i].nr_frames; gfn += 97) {
            struct p2m_entry e;
            assert_int_equal(p2m_lookup(pb_domain_p2m(d), gfn, &e), 0);
            assert_int_equal(e.type, P2M_RAM_RW);
            unsigned owner = 0;
            assert_true(pb_heap_frame_in_use(h, e.mfn, &owner));
            assert_int_equal(owner, DOMID);
            if (rg[i].node >= 0)
                assert_int_equal(pb_mfn_to_node(h, e.mfn), rg[i].node);
        }
    }
    assert_int_equal(rep->frames, total);
    assert_int_equal(rep->extents_1g * GIB + rep->extents_2m * 512 + rep->extents_4k, total);
    assert_int_equal(pb_domain_tot_pages(d), total);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.ram_frames, total);
    assert_int_equal(p2m_validate(pb_domain_p2m(d)), 0);
    assert_true(pb_domain_creation_finished(d));
    assert_int_equal(rep->xc.c.flush_filter_skipped, total); /* all built on the build path */
    assert_valid(h);
}

static void test_meminit_on_a_fresh_heap_uses_1g_then_2m_then_4k(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 2 * GIB); /* node 0 has one free 1 GiB buddy, node 1 two */
    struct pb_domain *d = domain(h, 4 * GIB, false);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    const struct pb_vmemrange rg[] = {
        {.start_gfn = 0, .nr_frames = 2 * GIB, .node = 1},
        {.start_gfn = 2 * GIB, .nr_frames = GIB + 1027, .node = 0},
        {.start_gfn = 3 * GIB + 4096 + 7, .nr_frames = 3 * 512, .node = -1},
    };
    struct pb_meminit_config cfg = {.ranges = rg, .nr_ranges = 3};
    struct pb_meminit_report rep;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), 0);
    /* 2 + 1 GiB extents; 2 MiB: 2 after the last 1 GiB, 2 inside the misaligned range. */
    assert_int_equal(rep.extents_1g, 3);
    assert_int_equal(rep.extents_2m, 2 + 2);
    assert_int_equal(rep.extents_4k, 3 + (512 - 7) + 7);
    assert_int_equal(rep.misses_1g + rep.misses_2m, 0);
    assert_built(h, d, rg, 3, &rep);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

/*
 * Age the heap: allocate all of it in 2 MiB blocks, then free them all but `pins` of node 1's
 * (seeded choice, at least one in each of its 1 GiB regions), in each of which one 4 KiB frame
 * stays allocated. Node 1 then has no 1 GiB buddy and 1024 - pins free 2 MiB ones.
 */
static void fragment(struct pb_heap *h, unsigned pins, uint64_t seed)
{
    uint64_t nblk = 0, cap = 8192;
    uint64_t *blk = malloc(cap * sizeof(*blk));
    assert_non_null(blk);
    for (unsigned node = 0; node < 2; node++) {
        uint64_t mfn;
        while (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 9, MEMF_node(node) | MEMF_exact_node,
                                   NULL, &mfn) == 0)
            blk[nblk++] = mfn;
    }
    uint64_t start1 = pb_heap_node_start(h, 1);
    bool *pinned = calloc(nblk, sizeof(*pinned));
    assert_non_null(pinned);
    uint64_t s = seed, chosen = 0;
    while (chosen < pins) {
        uint64_t i = pb_splitmix64(&s) % nblk;
        /* The first two pins go to each 1 GiB region of node 1 in turn. */
        if (blk[i] < start1 || pinned[i] || (chosen < 2 && (blk[i] - start1) / GIB != chosen))
            continue;
        pinned[i] = true;
        chosen++;
        /* Give back all of the block but its first frame, in aligned pieces. */
        for (unsigned o = 0; o < 9; o++)
            assert_int_equal(pb_free_heap_pages(h, blk[i] + (1ull << o), o, false), 0);
    }
    for (uint64_t i = 0; i < nblk; i++)
        if (!pinned[i])
            assert_int_equal(pb_free_heap_pages(h, blk[i], 9, false), 0);
    free(pinned);
    free(blk);
}

static void test_meminit_on_a_fragmented_heap_uses_fewer_1g_extents(void **state)
{
    (void)state;
    const struct pb_vmemrange rg[] = {{.start_gfn = 0, .nr_frames = GIB, .node = 1}};
    struct pb_meminit_config cfg = {.ranges = rg, .nr_ranges = 1};
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});

    struct pb_heap *h = machine(2, 2 * GIB);
    struct pb_domain *d = domain(h, 4 * GIB, false);
    struct pb_meminit_report fresh;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &fresh), 0);
    assert_int_equal(fresh.extents_1g, 1);
    assert_built(h, d, rg, 1, &fresh);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);

    const unsigned pins = 700;
    h = machine(2, 2 * GIB);
    fragment(h, pins, 0x5eed);
    assert_valid(h);
    uint64_t avail = pb_heap_total_avail(h);
    d = domain(h, 4 * GIB, false);
    struct pb_meminit_report aged;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &aged), 0);
    assert_true(aged.extents_1g < fresh.extents_1g);
    assert_int_equal(aged.extents_1g, 0);
    assert_int_equal(aged.misses_1g, 1);
    /* Every free 2 MiB buddy of node 1, then 4 KiB frames out of the pinned blocks. */
    assert_int_equal(aged.extents_2m, 1024 - pins);
    assert_int_equal(aged.misses_2m, 512 - (1024 - pins));
    assert_int_equal(aged.extents_4k, GIB - (1024 - pins) * 512);
    assert_built(h, d, rg, 1, &aged);
    assert_int_equal(pb_heap_total_avail(h), avail - GIB);
    pb_memop_domain_destroy(h, d);
    assert_int_equal(pb_heap_total_avail(h), avail);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_meminit_for_a_domu_caller_uses_no_1g_extents(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 4 * GIB);
    struct pb_domain *d = domain(h, 4 * GIB, false);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_PROB, .probability = 0.05, .seed = 1});
    const struct pb_vmemrange rg[] = {{.start_gfn = 0, .nr_frames = GIB, .node = -1}};
    struct pb_meminit_config cfg = {.ranges = rg, .nr_ranges = 1, .batch = 100};
    struct pb_meminit_report rep;
    assert_int_equal(pb_meminit_hvm(h, &DOMU, DOMID, &cfg, &rep), 0);
    assert_int_equal(rep.extents_1g, 0);
    assert_int_equal(rep.misses_1g, 0); /* not even tried */
    assert_int_equal(rep.extents_2m, 512);
    assert_int_equal(rep.xc.hypercalls - rep.xc.continuations, 6); /* batches of 100 */
    assert_true(rep.xc.continuations > 0);
    assert_built(h, d, rg, 1, &rep);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_meminit_fails_with_enomem_when_4k_frames_run_out(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12);
    struct pb_domain *d = domain(h, 1 << 14, false);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    const struct pb_vmemrange rg[] = {{.start_gfn = 0, .nr_frames = 1 << 13, .node = -1}};
    struct pb_meminit_config cfg = {.ranges = rg, .nr_ranges = 1};
    struct pb_meminit_report rep;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), -ENOMEM);
    assert_int_equal(rep.frames, (1 << 12) - 1); /* every frame the machine has */
    assert_int_equal(pb_domain_tot_pages(d), (1 << 12) - 1);
    assert_false(pb_domain_creation_finished(d));
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_meminit_bad_arguments(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1 << 12);
    struct pb_domain *d = domain(h, 1 << 12, false);
    struct pb_meminit_report rep;
    const struct pb_vmemrange overlap[] = {{0, 100, -1}, {99, 10, -1}};
    const struct pb_vmemrange empty[] = {{0, 0, -1}};
    const struct pb_vmemrange badnode[] = {{0, 10, 2}};
    const struct pb_vmemrange badnode2[] = {{0, 10, -2}};
    const struct pb_vmemrange wrap[] = {{UINT64_MAX - 5, 10, -1}};
    const struct pb_vmemrange ok[] = {{0, 10, 1}};
    const struct pb_meminit_config bad[] = {
        {.ranges = overlap, .nr_ranges = 2},
        {.ranges = empty, .nr_ranges = 1},
        {.ranges = badnode, .nr_ranges = 1},
        {.ranges = badnode2, .nr_ranges = 1},
        {.ranges = wrap, .nr_ranges = 1},
        {.ranges = ok, .nr_ranges = 0},
        {.ranges = NULL, .nr_ranges = 1},
        {.ranges = ok, .nr_ranges = 1, .mem_flags = XENMEMF_node(0)},
        {.ranges = ok, .nr_ranges = 1, .mem_flags = XENMEMF_populate_on_demand},
    };
    uint64_t avail = pb_heap_total_avail(h);
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++)
        assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &bad[i], &rep), -EINVAL);
    struct pb_meminit_config good = {.ranges = ok, .nr_ranges = 1};
    assert_int_equal(pb_meminit_hvm(NULL, &CONTROL, DOMID, &good, &rep), -EINVAL);
    assert_int_equal(pb_meminit_hvm(h, NULL, DOMID, &good, &rep), -EINVAL);
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &good, NULL), -EINVAL);
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID + 1, &good, &rep), -ESRCH);
    assert_int_equal(pb_heap_total_avail(h), avail);
    assert_false(pb_domain_creation_finished(d));
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &good, &rep), 0);
    assert_int_equal(rep.extents_4k, 10);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_populate_continues_after_each_preemption_and_counts_it),
        cmocka_unit_test(test_populate_stops_at_a_short_count_without_continuing),
        cmocka_unit_test(test_exact_turns_a_short_count_into_ebusy),
        cmocka_unit_test(test_decrease_continues_after_each_preemption),
        cmocka_unit_test(test_meminit_on_a_fresh_heap_uses_1g_then_2m_then_4k),
        cmocka_unit_test(test_meminit_on_a_fragmented_heap_uses_fewer_1g_extents),
        cmocka_unit_test(test_meminit_for_a_domu_caller_uses_no_1g_extents),
        cmocka_unit_test(test_meminit_fails_with_enomem_when_4k_frames_run_out),
        cmocka_unit_test(test_meminit_bad_arguments),
    };
    int failed = 0;
    for (const char *const *v = pb_variant_names(); *v; v++) {
        variant = *v;
        failed += cmocka_run_group_tests_name(variant, tests, rcu_group_setup, rcu_group_teardown);
    }
    return failed;
}
