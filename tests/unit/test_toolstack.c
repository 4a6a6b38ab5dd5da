/*
 * The toolstack side (core/toolstack.h): libxenctrl's wrappers continue preempted calls and
 * report short counts as Xen's do; the HVM builder lays a guest out as libxl does and makes
 * libxenguest's meminit_hvm calls, checked call by call for given guests and heap states. Each
 * test is named after its rule and the Xen function it follows.
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

#define DOMID   3
#define MAX_GFN (1ull << 21) /* room above 4 GiB for relocated memory */
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

static int group_setup(void **state)
{
    (void)state;
    pb_rcu_register_thread();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    pb_rcu_barrier();
    pb_rcu_unregister_thread();
    return 0;
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
    assert_int_equal(st.c.released_frames, 20 * 16);
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
 * The HVM builder: libxl's layout and libxenguest's meminit_hvm, call by call (XEN-MODEL §6a).
 */

#define G4     (1ull << 20) /* gfn of 4 GiB */
#define HOLE   0xf0000ull   /* mmio_start: 4 GiB - HVM_BELOW_4G_MMIO_LENGTH */
#define CHUNK  2048ull      /* 8 MiB */
#define NODE0X XENMEMF_exact_node(0)
#define NODE1X XENMEMF_exact_node(1)

static struct pb_meminit_config layout(uint64_t pages)
{
    struct pb_hvm_guest g = {.memory_pages = pages};
    struct pb_meminit_config cfg;
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    return cfg;
}

static void assert_range(const struct pb_vmemrange *r, uint64_t start, uint64_t end, unsigned vnode,
                         int node)
{
    assert_int_equal(r->start_gfn, start);
    assert_int_equal(r->end_gfn, end);
    assert_int_equal(r->vnode, vnode);
    assert_int_equal(r->node, node);
}

static void test_libxl_layout_relocates_memory_above_the_mmio_hole(void **state)
{
    (void)state;
    /* Below the hole: one range, lowmem_end = the memory. */
    struct pb_meminit_config cfg = layout(1100 * 256);
    assert_int_equal(cfg.nr_ranges, 1);
    assert_range(&cfg.ranges[0], 0, 1100 * 256, 0, -1);
    assert_int_equal(cfg.mmio_start_gfn, HOLE);
    assert_int_equal(cfg.mmio_pages, G4 - HOLE);
    assert_int_equal(pb_meminit_pages(&cfg), 1100 * 256 - 0x20);
    assert_false(cfg.claim);
    assert_int_equal(pb_meminit_claim_pages(&cfg), 0);
    /* 4 GiB: lowmem_end = mmio_start, the rest from 4 GiB up. */
    cfg = layout(G4);
    assert_int_equal(cfg.nr_ranges, 2);
    assert_range(&cfg.ranges[0], 0, HOLE, 0, -1);
    assert_range(&cfg.ranges[1], G4, G4 + (G4 - HOLE), 0, -1);
    assert_ptr_equal(pb_meminit_top_range(&cfg), &cfg.ranges[1]);
    /* xl's claim_mode: target - vga_hole_size. */
    struct pb_hvm_guest g = {.memory_pages = 512 * 256, .claim = true};
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    assert_int_equal(pb_meminit_claim_pages(&cfg), 512 * 256 - 0x20);
    /* A smaller hole (mmio_hole) moves mmio_start up. */
    g = (struct pb_hvm_guest){.memory_pages = G4, .mmio_pages = 1 << 18};
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    assert_range(&cfg.ranges[0], 0, 3 << 18, 0, -1);
    assert_range(&cfg.ranges[1], G4, G4 + (1 << 18), 0, -1);
    /* Too small, a hole that leaves nothing, bad vnodes. */
    g = (struct pb_hvm_guest){.memory_pages = 0xff};
    assert_int_equal(pb_meminit_layout(&g, &cfg), -EINVAL);
    g = (struct pb_hvm_guest){.memory_pages = G4, .mmio_pages = G4};
    assert_int_equal(pb_meminit_layout(&g, &cfg), -EINVAL);
    const uint64_t sizes[] = {1000, 1000};
    const int nodes[] = {0, 1};
    g = (struct pb_hvm_guest){
        .memory_pages = 2001, .nr_vnodes = 2, .vnode_pages = sizes, .vnode_node = nodes};
    assert_int_equal(pb_meminit_layout(&g, &cfg), -EINVAL);
}

static void test_libxl_vnuma_ranges_are_split_around_the_hole(void **state)
{
    (void)state;
    const uint64_t sizes[] = {2ull << 18, 2ull << 18};
    const int nodes[] = {0, 1};
    struct pb_hvm_guest g = {
        .memory_pages = 4ull << 18, .nr_vnodes = 2, .vnode_pages = sizes, .vnode_node = nodes};
    struct pb_meminit_config cfg;
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    assert_int_equal(cfg.nr_ranges, 3);
    assert_range(&cfg.ranges[0], 0, 2ull << 18, 0, 0);
    assert_range(&cfg.ranges[1], 2ull << 18, HOLE, 1, 1);
    assert_range(&cfg.ranges[2], G4, G4 + (G4 - HOLE), 1, 1);
    assert_int_equal(pb_meminit_pages(&cfg), (4ull << 18) - 0x20);
}

/* One call as the plan handed it out, and what came of it. */
struct seen {
    struct pb_meminit_call c;
    uint64_t done;
};

/* Runs the plan of cfg for domain DOMID through the libxenctrl wrappers, as meminit_hvm does
 * (without the claim), recording every call. Returns the calls; *nr their count. */
static struct seen *drive(struct pb_heap *h, const struct pb_meminit_config *cfg, size_t *nr,
                          struct pb_meminit_plan *plan)
{
    size_t cap = 4096;
    struct seen *v = calloc(cap, sizeof(*v));
    uint64_t *gfns = calloc(PB_MEMINIT_MAX_EXTENTS, sizeof(*gfns));
    assert_non_null(v);
    assert_non_null(gfns);
    assert_int_equal(pb_meminit_plan_init(plan, cfg), 0);
    *nr = 0;
    struct pb_meminit_call c;
    while (pb_meminit_plan_next(plan, &c)) {
        assert_true(*nr < cap);
        assert_true(c.nr >= 1 && c.nr <= PB_MEMINIT_MAX_EXTENTS);
        for (uint64_t i = 0; i < c.nr; i++)
            gfns[i] = c.gfn + (i << c.order);
        long done = pb_xc_domain_populate_physmap(h, &CONTROL, DOMID, c.nr, c.order, c.mem_flags,
                                                  gfns, NULL);
        assert_true(done >= 0);
        v[*nr] = (struct seen){.c = c, .done = (uint64_t)done};
        (*nr)++;
        pb_meminit_plan_done(plan, &c, (uint64_t)done);
    }
    free(gfns);
    return v;
}

/* Walks the recorded calls: each expect() checks the next one. */
struct expect_it {
    const struct seen *v;
    size_t nr, at;
};

static void expect(struct expect_it *it, uint64_t gfn, unsigned order, uint64_t nr, bool exact,
                   unsigned flags, uint64_t done)
{
    if (it->at >= it->nr)
        fail_msg("call %zu: none (expected order %u at gfn %#llx)", it->at, order,
                 (unsigned long long)gfn);
    const struct seen *s = &it->v[it->at];
    if (s->c.gfn != gfn || s->c.order != order || s->c.nr != nr || s->c.exact != exact ||
        s->c.mem_flags != flags || s->done != done)
        fail_msg("call %zu: gfn %#llx order %u nr %llu exact %d flags %#x done %llu (expected gfn "
                 "%#llx order %u nr %llu exact %d flags %#x done %llu)",
                 it->at, (unsigned long long)s->c.gfn, s->c.order, (unsigned long long)s->c.nr,
                 s->c.exact, s->c.mem_flags, (unsigned long long)s->done, (unsigned long long)gfn,
                 order, (unsigned long long)nr, exact, flags, (unsigned long long)done);
    it->at++;
}

/* Full 8 MiB chunks of 2 MiB extents from gfn to end (a multiple of CHUNK apart), all done. */
static void expect_chunks(struct expect_it *it, uint64_t gfn, uint64_t end, unsigned flags)
{
    for (; gfn + CHUNK <= end; gfn += CHUNK)
        expect(it, gfn, 9, 4, false, flags, 4);
    assert_int_equal(gfn, end);
}

/* The low pages: 0..0x9f in one call without a node, 0xc0..0x1ff up to the first 2 MiB. */
static void expect_low(struct expect_it *it, unsigned flags)
{
    expect(it, 0, 0, 0xa0, true, 0, 0xa0);
    expect(it, 0xc0, 0, 0x140, true, flags, 0x140);
}

/* The low pages, then the rest of the first GiB: 2 MiB extents 4 to a call (never 1 GiB: 0xc0
 * is not aligned), the last chunk clipped at the GiB. The 0xa0 call names no node. */
static void expect_first_gib(struct expect_it *it, unsigned flags)
{
    expect_low(it, flags);
    expect_chunks(it, 0x200, 0x3fa00, flags);
    expect(it, 0x3fa00, 9, 3, false, flags, 3);
}

/* What every build must leave: each range's frames mapped, the domain's, on its node. */
static void assert_built(struct pb_heap *h, struct pb_domain *d,
                         const struct pb_meminit_config *cfg, const struct pb_meminit_report *rep)
{
    uint64_t total = pb_meminit_pages(cfg);
    for (unsigned i = 0; i < cfg->nr_ranges; i++) {
        const struct pb_vmemrange *r = &cfg->ranges[i];
        for (uint64_t gfn = r->start_gfn; gfn < r->end_gfn; gfn += 97) {
            struct p2m_entry e;
            int rc = p2m_lookup(pb_domain_p2m(d), gfn, &e);
            if (gfn >= 0xa0 && gfn < 0xc0) {
                assert_true(rc != 0 || e.type != P2M_RAM_RW); /* the VGA hole */
                continue;
            }
            assert_int_equal(rc, 0);
            assert_int_equal(e.type, P2M_RAM_RW);
            unsigned owner = 0;
            assert_true(pb_heap_frame_in_use(h, e.mfn, &owner));
            assert_int_equal(owner, DOMID);
            if (r->node >= 0 && gfn >= 0xc0)
                assert_int_equal(pb_mfn_to_node(h, e.mfn), r->node);
        }
    }
    assert_int_equal(rep->frames, total);
    assert_int_equal(rep->extents_1g * GIB + rep->extents_2m * 512 + rep->extents_4k, total);
    assert_int_equal(pb_domain_tot_pages(d), total);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.ram_frames, total);
    assert_int_equal(p2m_validate(pb_domain_p2m(d)), 0);
    assert_valid(h);
}

/* One build driven call by call (drive), its calls checked one by one (expect). */
struct build_run {
    struct pb_heap *h;
    struct pb_domain *d;
    struct pb_meminit_config cfg;
    struct pb_meminit_plan plan;
    struct seen *v;
    struct expect_it it;
};

static void build_start(struct build_run *b, struct pb_heap *h, uint64_t max_pages,
                        const struct pb_meminit_config *cfg)
{
    size_t nr;
    b->h = h;
    b->d = domain(h, max_pages, false);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    b->cfg = *cfg;
    b->v = drive(h, &b->cfg, &nr, &b->plan);
    b->it = (struct expect_it){b->v, nr, 0};
}

/* Every call was expected, so many 1 GiB and 2 MiB calls came back short; the build is
 * complete and sound; the domain goes. */
static void build_end(struct build_run *b, uint64_t misses_1g, uint64_t misses_2m)
{
    assert_int_equal(b->it.at, b->it.nr);
    assert_int_equal(b->plan.rep.misses_1g, misses_1g);
    assert_int_equal(b->plan.rep.misses_2m, misses_2m);
    assert_true(pb_meminit_plan_complete(&b->plan));
    assert_int_equal(pb_memop_finish_creation(b->h, b->d), 0);
    assert_built(b->h, b->d, &b->cfg, &b->plan.rep);
    free(b->v);
    pb_memop_domain_destroy(b->h, b->d);
}

/* A guest of 2 GiB + 10 MiB + 3 pages: the tail takes every kind of call. */
#define TAIL_GUEST ((2ull << 18) + 2560 + 3)

static void expect_tail(struct expect_it *it)
{
    expect(it, 0x80000, 9, 4, false, 0, 4);
    expect(it, 0x80800, 9, 1, false, 0, 1);
    expect(it, 0x80a00, 0, 3, true, 0, 3);
}

static void test_meminit_hvm_on_a_clean_heap_call_by_call(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 4 * GIB);
    struct pb_meminit_config cfg = layout(TAIL_GUEST);
    struct build_run b;
    build_start(&b, h, 4 * GIB, &cfg);
    expect_first_gib(&b.it, 0);
    /* The second GiB: one call of one 1 GiB extent. */
    expect(&b.it, 0x40000, 18, 1, false, 0, 1);
    expect_tail(&b.it);
    struct pb_meminit_report seq = b.plan.rep;
    size_t nr = b.it.nr;
    build_end(&b, 0, 0);
    assert_int_equal(seq.calls_1g, 1);
    assert_int_equal(seq.calls_2m, 128 + 2);
    assert_int_equal(seq.calls_4k, 3);

    /* pb_meminit_hvm is the same plan in a loop. */
    struct pb_domain *d = domain(h, 4 * GIB, false);
    struct pb_meminit_report rep;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), 0);
    assert_int_equal(rep.calls_1g, seq.calls_1g);
    assert_int_equal(rep.calls_2m, seq.calls_2m);
    assert_int_equal(rep.calls_4k, seq.calls_4k);
    assert_int_equal(rep.xc.hypercalls, nr); /* no preemption: one invocation per call */
    assert_true(pb_domain_creation_finished(d));
    assert_int_equal(rep.xc.c.flush_filter_skipped, pb_meminit_pages(&cfg)); /* build path */
    assert_built(h, d, &cfg, &rep);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

/*
 * Age the heap: allocate all of it in 2 MiB blocks, then free every block whole but `pins` of
 * them (seeded choice), in each of which one 4 KiB frame stays allocated, so no free 2 MiB
 * buddy can merge into a 1 GiB one unless a whole GiB is unpinned.
 */
static void fragment(struct pb_heap *h, unsigned pins, uint64_t seed)
{
    uint64_t nblk = 0, cap = 1 << 16;
    uint64_t *blk = malloc(cap * sizeof(*blk));
    assert_non_null(blk);
    uint64_t mfn;
    while (nblk < cap && pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 9, 0, NULL, &mfn) == 0)
        blk[nblk++] = mfn;
    bool *pinned = calloc(nblk, sizeof(*pinned));
    assert_non_null(pinned);
    assert_true(pins <= nblk);
    uint64_t s = seed;
    for (unsigned chosen = 0; chosen < pins;) {
        uint64_t i = pb_splitmix64(&s) % nblk;
        if (pinned[i])
            continue;
        pinned[i] = true;
        chosen++;
        for (unsigned o = 0; o < 9; o++)
            assert_int_equal(pb_free_heap_pages(h, blk[i] + (1ull << o), o, false), 0);
    }
    for (uint64_t i = 0; i < nblk; i++)
        if (!pinned[i])
            assert_int_equal(pb_free_heap_pages(h, blk[i], 9, false), 0);
    free(pinned);
    free(blk);
}

static void test_meminit_hvm_without_a_free_1g_buddy_walks_the_gib_in_2m_chunks(void **state)
{
    (void)state;
    /* 4 GiB, one block pinned in every GiB: no 1 GiB buddy, plenty of 2 MiB ones. */
    struct pb_heap *h = machine(1, 4 * GIB);
    uint64_t nblk = 0, cap = 2048;
    uint64_t *blk = malloc(cap * sizeof(*blk)), mfn;
    assert_non_null(blk);
    while (nblk < cap && pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 9, 0, NULL, &mfn) == 0)
        blk[nblk++] = mfn;
    for (uint64_t i = 0; i < nblk; i++) {
        bool pin = (blk[i] & (GIB - 1)) == 512; /* the second block of each GiB */
        if (!pin)
            assert_int_equal(pb_free_heap_pages(h, blk[i], 9, false), 0);
        else
            for (unsigned o = 0; o < 9; o++)
                assert_int_equal(pb_free_heap_pages(h, blk[i] + (1ull << o), o, false), 0);
    }
    free(blk);
    struct pb_meminit_config cfg = layout(TAIL_GUEST);
    struct build_run b;
    build_start(&b, h, 4 * GIB, &cfg);
    expect_first_gib(&b.it, 0);
    /* The 1 GiB call finds nothing (one full search); the same GiB then goes in 8 MiB chunks,
     * as meminit_hvm continues its pass with the 2 MiB step. */
    expect(&b.it, 0x40000, 18, 1, false, 0, 0);
    expect_chunks(&b.it, 0x40000, 0x80000, 0);
    expect_tail(&b.it);
    assert_int_equal(b.plan.rep.extents_1g, 0);
    build_end(&b, 1, 0);
    pb_heap_destroy(h);
}

static void test_meminit_hvm_after_a_short_2m_call_fills_only_that_chunk_with_4k(void **state)
{
    (void)state;
    /* 256 MiB: 127 whole 2 MiB blocks (MFN 0 is never free), 5 left free, 122 pinned. */
    struct pb_heap *h = machine(1, 1 << 16);
    fragment(h, 122, 0x5eed);
    assert_valid(h);
    struct pb_meminit_config cfg = layout(1 << 14); /* 64 MiB */
    struct build_run b;
    build_start(&b, h, 1 << 16, &cfg);
    expect_low(&b.it, 0);
    expect(&b.it, 0x200, 9, 4, false, 0, 4);
    /* The fifth and last free 2 MiB buddy, then the rest of this 8 MiB chunk in 4 KiB. */
    expect(&b.it, 0xa00, 9, 4, false, 0, 1);
    expect(&b.it, 0xc00, 0, 3 * 512, true, 0, 3 * 512);
    /* Each next chunk tries 2 MiB again: one failed search, then 4 KiB for that chunk. */
    for (uint64_t g = 0x1200; g < 0x3a00; g += CHUNK) {
        expect(&b.it, g, 9, 4, false, 0, 0);
        expect(&b.it, g, 0, CHUNK, true, 0, CHUNK);
    }
    expect(&b.it, 0x3a00, 9, 3, false, 0, 0);
    expect(&b.it, 0x3a00, 0, 3 * 512, true, 0, 3 * 512);
    assert_int_equal(b.plan.rep.extents_2m, 5);
    build_end(&b, 0, 7);
    pb_heap_destroy(h);
}

static void test_meminit_hvm_above_the_mmio_hole(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 5 * GIB);
    struct pb_meminit_config cfg = layout(G4);
    struct build_run b;
    build_start(&b, h, 5 * GIB, &cfg);
    expect_first_gib(&b.it, 0);
    expect(&b.it, 0x40000, 18, 1, false, 0, 1);
    expect(&b.it, 0x80000, 18, 1, false, 0, 1);
    /* 3 GiB up to mmio_start is 768 MiB: 2 MiB chunks. Then high memory from 4 GiB. */
    expect_chunks(&b.it, 0xc0000, HOLE, 0);
    expect_chunks(&b.it, G4, G4 + (G4 - HOLE), 0);
    build_end(&b, 0, 0);

    /* check_mmio_hole: a range across the hole takes no 1 GiB extent that meets it. */
    struct pb_domain *d = domain(h, 5 * GIB, false);
    struct pb_meminit_plan plan;
    size_t nr;
    cfg.nr_ranges = 1;
    cfg.ranges[0].end_gfn = G4;
    struct seen *v = drive(h, &cfg, &nr, &plan);
    size_t n1g = 0;
    for (size_t i = 0; i < nr; i++)
        if (v[i].c.order == 18) {
            assert_true(v[i].c.gfn + GIB <= HOLE);
            n1g++;
        }
    assert_int_equal(n1g, 2);
    assert_int_equal(v[nr - 1].c.gfn, G4 - CHUNK);
    assert_int_equal(v[nr - 1].c.order, 9);
    free(v);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_meminit_hvm_names_each_vnode_range_s_node_exactly(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 3 * GIB);
    const uint64_t sizes[] = {2 * GIB, 2 * GIB};
    const int nodes[] = {0, 1};
    struct pb_hvm_guest g = {
        .memory_pages = 4 * GIB, .nr_vnodes = 2, .vnode_pages = sizes, .vnode_node = nodes};
    struct pb_meminit_config cfg;
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    struct build_run b;
    build_start(&b, h, 6 * GIB, &cfg);
    expect_first_gib(&b.it, NODE0X);
    expect(&b.it, 0x40000, 18, 1, false, NODE0X, 1);
    expect(&b.it, 0x80000, 18, 1, false, NODE1X, 1);
    expect_chunks(&b.it, 0xc0000, HOLE, NODE1X);
    expect_chunks(&b.it, G4, G4 + (G4 - HOLE), NODE1X);
    build_end(&b, 0, 0);
    pb_heap_destroy(h);
}

static void test_meminit_hvm_claims_first_and_cancels_the_claim(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 2 * GIB);
    struct pb_domain *d = domain(h, 4 * GIB, false);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    struct pb_hvm_guest g = {.memory_pages = GIB, .claim = true};
    struct pb_meminit_config cfg;
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    struct pb_meminit_report rep;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), 0);
    assert_int_equal(pb_domain_claim(d), 0);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_built(h, d, &cfg, &rep);
    pb_memop_domain_destroy(h, d);

    /* More than the host has free: the claim fails and nothing is populated. */
    d = domain(h, 4 * GIB, false);
    g.memory_pages = 3 * GIB;
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    uint64_t avail = pb_heap_total_avail(h);
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), -ENOMEM);
    assert_int_equal(rep.frames, 0);
    assert_int_equal(pb_heap_total_avail(h), avail);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_false(pb_domain_creation_finished(d));
    pb_memop_domain_destroy(h, d);

    /* A build that fails half way cancels its claim too. */
    d = domain(h, 4 * GIB, false);
    uint64_t held;
    assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 18, 0, NULL, &held), 0);
    g.memory_pages = GIB + GIB / 2;
    g.claim = false; /* what a claim would refuse: the build runs out of frames instead */
    assert_int_equal(pb_meminit_layout(&g, &cfg), 0);
    cfg.claim = true;
    assert_int_equal(pb_domain_claim_pages(d, 1), 0); /* a claim already there: -EINVAL */
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), -EINVAL);
    assert_int_equal(pb_domain_claim(d), 0); /* cancelled all the same */
    cfg.claim = false;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), -ENOMEM);
    assert_true(rep.frames > 0);
    assert_false(pb_domain_creation_finished(d));
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    assert_int_equal(pb_free_heap_pages(h, held, 18, false), 0);
    pb_heap_destroy(h);
}

static void test_meminit_hvm_fails_when_an_exact_4k_call_comes_back_short(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12);
    struct pb_domain *d = domain(h, 1 << 14, false);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    struct pb_meminit_config cfg = layout(1 << 13);
    struct pb_meminit_report rep;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), -ENOMEM);
    /* Every frame the machine has but MFN 0 went in; the call that came back short ended it. */
    assert_int_equal(pb_domain_tot_pages(d), (1 << 12) - 1);
    assert_int_equal(rep.frames, (1 << 12) - 1);
    assert_false(pb_domain_creation_finished(d));
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_meminit_hvm_continues_preempted_calls(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 2 * GIB);
    struct pb_domain *d = domain(h, 2 * GIB, false);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = 1});
    struct pb_meminit_config cfg = layout(64 * 256); /* 64 MiB */
    struct pb_meminit_report rep;
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &cfg, &rep), 0);
    uint64_t calls = rep.calls_1g + rep.calls_2m + rep.calls_4k;
    /* Every extent after a call's first is a continuation. */
    assert_int_equal(rep.xc.hypercalls - rep.xc.continuations, calls);
    assert_int_equal(rep.xc.continuations, rep.extents_2m + rep.extents_4k - calls);
    preempt((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    assert_built(h, d, &cfg, &rep);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

/* Several builders sharing one plan: calls go out while others are in flight, and what a short
 * one leaves comes out next. No heap: the outcomes are given. */
static void test_meminit_plan_shared_by_builders_in_flight(void **state)
{
    (void)state;
    struct pb_meminit_config cfg = layout(256 * 256);
    struct pb_meminit_plan p;
    struct pb_meminit_call low, a, b, c, r;
    assert_int_equal(pb_meminit_plan_init(&p, &cfg), 0);
    assert_true(pb_meminit_plan_next(&p, &low));
    assert_true(pb_meminit_plan_next(&p, &a)); /* 0xc0.. */
    assert_true(pb_meminit_plan_next(&p, &b)); /* 0x200: 4 x 2 MiB */
    assert_true(pb_meminit_plan_next(&p, &c)); /* 0xa00 */
    assert_int_equal(b.gfn, 0x200);
    assert_int_equal(c.gfn, 0xa00);
    assert_true(pb_meminit_plan_done(&p, &b, 2));
    assert_true(pb_meminit_plan_next(&p, &r)); /* the rest of b's chunk, before 0x1200 */
    assert_int_equal(r.gfn, 0x600);
    assert_int_equal(r.order, 0);
    assert_int_equal(r.nr, 1024);
    assert_true(r.exact);
    assert_true(pb_meminit_plan_done(&p, &r, 1024));
    assert_true(pb_meminit_plan_done(&p, &c, 4));
    assert_true(pb_meminit_plan_done(&p, &low, low.nr));
    assert_true(pb_meminit_plan_done(&p, &a, a.nr));
    /* In flight and waiting together never exceed PB_MEMINIT_MAX_PENDING. */
    struct pb_meminit_call q[PB_MEMINIT_MAX_PENDING + 1];
    unsigned n = 0;
    while (n <= PB_MEMINIT_MAX_PENDING && pb_meminit_plan_next(&p, &q[n]))
        n++;
    assert_int_equal(n, PB_MEMINIT_MAX_PENDING);
    assert_false(pb_meminit_plan_complete(&p));
    for (unsigned i = 0; i < n; i++)
        assert_true(pb_meminit_plan_done(&p, &q[i], q[i].nr));
    while (pb_meminit_plan_next(&p, &r))
        assert_true(pb_meminit_plan_done(&p, &r, r.nr));
    assert_true(pb_meminit_plan_complete(&p));
    assert_int_equal(p.rep.frames, pb_meminit_pages(&cfg));
    assert_int_equal(p.rep.misses_2m, 1);
    /* A short exact call fails the build: nothing more is handed out. */
    assert_int_equal(pb_meminit_plan_init(&p, &cfg), 0);
    assert_true(pb_meminit_plan_next(&p, &low));
    assert_false(pb_meminit_plan_done(&p, &low, low.nr - 1));
    assert_false(pb_meminit_plan_next(&p, &r));
    assert_false(pb_meminit_plan_complete(&p));
}

static void test_meminit_bad_arguments(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1 << 12);
    struct pb_domain *d = domain(h, 1 << 12, false);
    struct pb_meminit_report rep;
    struct pb_meminit_config ok = layout(0x200);
    ok.ranges[0].node = 1;
    struct pb_meminit_config bad[9];
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++)
        bad[i] = ok;
    bad[0].nr_ranges = 0;
    bad[1].ranges[0].start_gfn = 1;  /* gfn 0 not in the first range */
    bad[2].ranges[0].end_gfn = 0xc0; /* nothing after the VGA hole */
    bad[3].ranges[0].node = 2;       /* no such node */
    bad[4].ranges[0].node = -2;
    bad[5].nr_ranges = 2; /* overlapping */
    bad[5].ranges[1] = (struct pb_vmemrange){.start_gfn = 0x1ff, .end_gfn = 0x300, .node = -1};
    bad[6].mem_flags = XENMEMF_node(0);
    bad[7].mem_flags = XENMEMF_populate_on_demand;
    bad[8].ranges[0].end_gfn = 0;
    uint64_t avail = pb_heap_total_avail(h);
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++)
        assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &bad[i], &rep), -EINVAL);
    assert_int_equal(pb_meminit_hvm(NULL, &CONTROL, DOMID, &ok, &rep), -EINVAL);
    assert_int_equal(pb_meminit_hvm(h, NULL, DOMID, &ok, &rep), -EINVAL);
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &ok, NULL), -EINVAL);
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, NULL, &rep), -EINVAL);
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID + 1, &ok, &rep), -ESRCH);
    assert_int_equal(pb_heap_total_avail(h), avail);
    assert_false(pb_domain_creation_finished(d));
    assert_int_equal(pb_meminit_hvm(h, &CONTROL, DOMID, &ok, &rep), 0);
    assert_int_equal(rep.extents_4k, 0x200 - 0x20);
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
        cmocka_unit_test(test_libxl_layout_relocates_memory_above_the_mmio_hole),
        cmocka_unit_test(test_libxl_vnuma_ranges_are_split_around_the_hole),
        cmocka_unit_test(test_meminit_hvm_on_a_clean_heap_call_by_call),
        cmocka_unit_test(test_meminit_hvm_without_a_free_1g_buddy_walks_the_gib_in_2m_chunks),
        cmocka_unit_test(test_meminit_hvm_after_a_short_2m_call_fills_only_that_chunk_with_4k),
        cmocka_unit_test(test_meminit_hvm_above_the_mmio_hole),
        cmocka_unit_test(test_meminit_hvm_names_each_vnode_range_s_node_exactly),
        cmocka_unit_test(test_meminit_hvm_claims_first_and_cancels_the_claim),
        cmocka_unit_test(test_meminit_hvm_fails_when_an_exact_4k_call_comes_back_short),
        cmocka_unit_test(test_meminit_hvm_continues_preempted_calls),
        cmocka_unit_test(test_meminit_plan_shared_by_builders_in_flight),
        cmocka_unit_test(test_meminit_bad_arguments),
    };
    int failed = 0;
    for (const char *const *v = pb_variant_names(); *v; v++) {
        variant = *v;
        failed += cmocka_run_group_tests_name(variant, tests, group_setup, group_teardown);
    }
    return failed;
}
