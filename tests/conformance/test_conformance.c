/*
 * Conformance: one test per rule of XEN-MODEL.md (§1-§7), each named after the rule and the
 * Xen function it follows, run on every variant the rule applies to. Where a variant differs
 * from a rule on purpose, the table `deviations` below says so: it is the only place that
 * does, and the tests consult it. The rules are checked through the public API (and, where a
 * rule is about a structure, heap_impl.h), on small machines whose layout is known exactly.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/clear.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/heap_impl.h" /* free-list order, a node's lock, a buddy's scrub state */
#include "core/m2p.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/preempt.h"
#include "core/prng.h"
#include "core/scrub.h"
#include "tests/common/heap_fixture.h"
#include "tests/common/memop_fixture.h"

#define MAX_GFN (1ull << 22)

static const struct pb_memop_caller DOMU = {.privilege = PB_PRIV_DOMU};
static const struct pb_memop_caller CONTROL = {.privilege = PB_PRIV_CONTROL};

/* ------------------------------------------------------------------------------------------
 * Where a variant differs from a rule on purpose: the one table that says so.
 */

static const struct deviation {
    const char *variant, *rule, *how;
} deviations[] = {
    {"pernode", "one_heap_lock",
     "one heap lock per node (the mission's design), not Xen's one global heap lock"},
    {"pcp", "one_heap_lock", "per-node heap locks, and one lock per CPU's caches in front"},
    {"pernode", "idle_scrub",
     "per-CPU scrub workers that clear free memory whatever the load, zones from the highest, "
     "several per node"},
    {"pcp", "idle_scrub", "as pernode"},
    {"pcp", "buddy_layout",
     "clean order-0 and order-9 frees stay in per-CPU caches, unmerged, until drained, and "
     "allocations of those orders take from the caches first; the rules of the buddy layout "
     "run it with caches that pass every extent straight through"},
};

/* The rules a deviation may name (each test that consults the table uses one of these). */
static const char *const rules[] = {"one_heap_lock", "idle_scrub", "buddy_layout"};

/* The variant the suite runs against now (main runs the suite once per variant). */
static const char *variant;

static bool deviates(const char *v, const char *rule)
{
    bool known = false;
    for (size_t i = 0; i < PB_ARRAY_SIZE(rules); i++)
        known |= !strcmp(rules[i], rule);
    if (!known)
        fail_msg("rule '%s' is not in the suite's list of rules", rule);
    for (size_t i = 0; i < PB_ARRAY_SIZE(deviations); i++)
        if (!strcmp(deviations[i].variant, v) && !strcmp(deviations[i].rule, rule))
            return true;
    return false;
}

/* Skip the calling test where the current variant differs from `rule` on purpose. */
#define APPLIES(rule)                                                                              \
    do {                                                                                           \
        if (deviates(variant, rule)) {                                                             \
            skip();                                                                                \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ------------------------------------------------------------------------------------------
 * Fixtures.
 */

static struct pb_heap *machine_desc(const struct pb_machine_desc *desc)
{
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(desc, variant, PB_LOCK_TICKET, &h), 0);
    if (deviates(variant, "buddy_layout")) {
        assert_int_equal(pb_pcp_set_watermarks(h, 0, 1, 0), 0);
        assert_int_equal(pb_pcp_set_watermarks(h, 9, 1, 0), 0);
    }
    return h;
}

/* nodes x frames, node n = MFNs [n * frames, (n + 1) * frames), no DMA zone. */
static struct pb_heap *conf_machine_b(unsigned nodes, uint64_t frames, enum pb_backing backing)
{
    struct pb_machine_desc desc = {
        .nr_nodes = nodes, .backing = backing, .dma_zone = PB_DMA_ZONE_OFF};
    for (unsigned n = 0; n < nodes; n++)
        desc.node_frames[n] = frames;
    return machine_desc(&desc);
}

static struct pb_heap *conf_machine(unsigned nodes, uint64_t frames)
{
    return conf_machine_b(nodes, frames, PB_BACKING_NONE);
}

/* A domain with a p2m; `finished`: its creation is over (not on the build path). */
static struct pb_domain *dom(struct pb_heap *h, unsigned id, uint64_t max_pages, uint64_t affinity,
                             bool finished)
{
    struct pb_domain_config cfg = {.max_pages = max_pages, .node_affinity = affinity};
    struct pb_domain *d = NULL;
    assert_int_equal(pb_memop_domain_create(h, id, &cfg, MAX_GFN, PB_LOCK_TICKET, &d), 0);
    if (finished)
        assert_int_equal(pb_memop_finish_creation(h, d), 0);
    return d;
}

/* The usual start of a memory_op rule: a machine, domain 1 on it, no preemption. */
static struct pb_domain *setup1(struct pb_heap **h, unsigned nodes, uint64_t frames,
                                uint64_t max_pages, bool finished)
{
    *h = conf_machine(nodes, frames);
    no_preemption();
    return dom(*h, 1, max_pages, 0, finished);
}

/* The usual end: every identity holds; the domain and the machine go. */
static void teardown1(struct pb_heap *h, struct pb_domain *d)
{
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    assert_valid(h);
    pb_heap_destroy(h);
}

static unsigned node_of(struct pb_heap *h, uint64_t mfn)
{
    int n = pb_mfn_to_node(h, mfn);
    assert_true(n >= 0);
    return (unsigned)n;
}

/* Allocate every free frame of node `node` (or of the machine: node < 0), owned by nobody;
 * returns how many. */
static uint64_t fill(struct pb_heap *h, int node)
{
    uint64_t n = 0, mfn;
    unsigned flags = node >= 0 ? EXACT(node) : 0;
    while (pb_alloc_domheap_pages(h, NULL, 0, flags, &mfn) == 0)
        n++;
    return n;
}

/* Make every free frame dirty (with backing, data left in it): allocate all, free all dirty. */
static uint64_t dirty_all(struct pb_heap *h, int node)
{
    uint64_t cap = pb_heap_nr_frames(h), n = 0, mfn;
    uint64_t *got = malloc(cap * sizeof(*got));
    assert_non_null(got);
    unsigned flags = node >= 0 ? EXACT(node) : 0;
    while (pb_alloc_domheap_pages(h, NULL, 0, flags, &mfn) == 0)
        got[n++] = mfn;
    for (uint64_t i = 0; i < n; i++) {
        void *p = pb_frame_data(h, got[i]);
        if (p)
            pb_dirty_fill(p);
        assert_int_equal(pb_free_heap_pages(h, got[i], 0, true), 0);
    }
    free(got);
    return n;
}

static struct pb_reservation resv(unsigned domid, const uint64_t *gfns, uint64_t nr, unsigned order,
                                  unsigned flags)
{
    return (struct pb_reservation){.extent_start = gfns,
                                   .extent_list_len = nr,
                                   .nr_extents = nr,
                                   .extent_order = order,
                                   .mem_flags = flags,
                                   .domid = domid};
}

static uint64_t decrease(struct pb_heap *h, const struct pb_memop_caller *c,
                         const struct pb_reservation *r, uint64_t start, bool dirty,
                         struct pb_memop_result *res)
{
    long rc = pb_decrease_reservation(h, c, r, start, dirty, res);
    assert_true(rc >= 0);
    assert_int_equal((uint64_t)rc, res->nr_done);
    return (uint64_t)rc;
}

/* Populate one extent of `order` at gfn for domain id, as the control domain. */
static void populate_one(struct pb_heap *h, unsigned id, uint64_t gfn, unsigned order)
{
    struct pb_reservation r = resv(id, &gfn, 1, order, 0);
    struct pb_memop_result res;
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
}

static uint64_t mapped_mfn(struct pb_domain *d, uint64_t gfn)
{
    struct p2m_entry e;
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), gfn, &e), 0);
    assert_int_equal(e.type, P2M_RAM_RW);
    return e.mfn;
}

static void sum_lock(void *ctx, const struct pb_lock *l)
{
    struct pb_lock_stats st;
    pb_lock_stats_read(l, &st);
    *(uint64_t *)ctx += st.acquisitions;
}

static void count_lock(void *ctx, const struct pb_lock *l)
{
    (void)l;
    ++*(unsigned *)ctx;
}

/* Acquisitions of every heap lock (pcp: the caches' locks too). */
static uint64_t heap_lock_acquisitions(struct pb_heap *h)
{
    uint64_t n = 0;
    pb_heap_for_each_lock(h, sum_lock, &n);
    return n;
}

static uint64_t p2m_lock_acquisitions(struct pb_domain *d)
{
    struct pb_lock_stats st;
    p2m_lock_stats(pb_domain_p2m(d), &st);
    return st.acquisitions;
}

static struct pb_heap_counters heap_counters(struct pb_heap *h)
{
    struct pb_heap_counters c;
    pb_heap_read_counters(h, &c);
    return c;
}

static struct pb_scrub_counters scrub_counters(struct pb_heap *h)
{
    struct pb_scrub_counters c;
    pb_scrub_read_counters(h, &c);
    return c;
}

/* Waits, at most a minute, for cond(ctx); fails saying what for. */
static void wait_for(bool (*cond)(void *ctx), void *ctx, const char *what)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!cond(ctx)) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > 60)
            fail_msg("waited a minute for %s", what);
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------------------------------------
 * §1 Frames and the heap.
 */

static void
test_init_heap_pages_keeps_mfn0_out_and_buddies_aligned_within_node_and_zone(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(2, 1024);
    unsigned owner, o;
    uint32_t fd;
    assert_false(pb_heap_free_buddy_at(h, 0, &o, &fd));
    assert_false(pb_heap_frame_in_use(h, 0, &owner));
    assert_int_equal(pb_heap_total_avail(h), 2047);
    /* Node 0: one buddy per zone below 1024, each as large as its alignment allows. */
    for (unsigned k = 0; k <= 9; k++)
        assert_buddy(h, 1ull << k, k, CLEAN);
    /* Node 1 ([1024, 2048)) is one order-10 buddy: it never merges across into node 0. */
    assert_buddy(h, 1024, 10, CLEAN);
    uint64_t m;
    /* alloc_heap_pages: order > MAX_ORDER fails outright. */
    assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, PB_MAX_ORDER + 1, 0, NULL, &m),
                     -EINVAL);
    assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, PB_MAX_ORDER, 0, NULL, &m),
                     -ENOMEM);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_alloc_domheap_pages_memf_bits_caps_the_highest_zone_at_bits_to_zone(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 4096);
    /* MEMF_bits(20): zones up to 8, MFNs below 256. */
    uint64_t n = 0, mfn;
    while (pb_alloc_domheap_pages(h, NULL, 0, MEMF_bits(20), &mfn) == 0) {
        assert_true(mfn < 256);
        n++;
    }
    assert_int_equal(n, 255);
    for (uint64_t m = 1; m < 256; m++)
        assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    /* bits_to_zone: 13 bits and fewer than 13 both mean zone 1, MFN 1 alone. */
    assert_int_equal(alloc_ok(h, NULL, 0, MEMF_bits(13)), 1);
    assert_int_equal(pb_alloc_domheap_pages(h, NULL, 0, MEMF_bits(12), &mfn), -ENOMEM);
    assert_int_equal(pb_free_heap_pages(h, 1, 0, false), 0);
    assert_int_equal(alloc_ok(h, NULL, 0, MEMF_bits(12)), 1);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void
test_page_list_add_scrub_puts_clean_buddies_at_the_head_and_dirty_at_the_tail(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 4096);
    uint64_t m;
    /* Zone 12 is [2048, 4096): take it whole, give back a dirty and a clean order-9 buddy. */
    assert_int_equal(pb_alloc_heap_pages(h, 12, 12, 11, 0, NULL, &m), 0);
    assert_int_equal(m, 2048);
    assert_int_equal(pb_free_heap_pages(h, 2048, 9, true), 0);
    assert_int_equal(pb_free_heap_pages(h, 3072, 9, false), 0);
    const struct pb_list *l = &h->nodes[0]->free[12][9];
    assert_int_equal(l->head, 3072);
    assert_int_equal(l->tail, 2048);
    assert_buddy(h, 2048, 9, 0);
    assert_buddy(h, 3072, 9, CLEAN);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_heap_counters_free_plus_in_use_plus_offlined_is_every_frame(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(2, 2048);
    struct pb_domain *d = dom(h, 1, 1 << 20, 0, true);
    struct pb_rng rng;
    pb_rng_seed(&rng, 12);
    uint64_t held[64];
    unsigned orders[64], n = 0;
    for (int step = 0; step < 300; step++) {
        if (n && (n == 64 || pb_rng_below(&rng, 2))) {
            unsigned i = (unsigned)pb_rng_below(&rng, n);
            assert_int_equal(pb_free_domheap_pages(h, d, held[i], orders[i], pb_rng_below(&rng, 2)),
                             0);
            held[i] = held[--n];
            orders[i] = orders[n];
        } else {
            unsigned order = (unsigned)pb_rng_below(&rng, 6);
            uint64_t m;
            if (pb_alloc_domheap_pages(h, d, order, 0, &m) == 0) {
                held[n] = m;
                orders[n++] = order;
            }
        }
        uint64_t in_use = 0;
        unsigned owner;
        for (uint64_t f = 0; f < pb_heap_nr_frames(h); f++)
            in_use += pb_heap_frame_in_use(h, f, &owner);
        assert_int_equal(pb_heap_total_avail(h) + in_use + 1, pb_heap_nr_frames(h));
        assert_int_equal(pb_domain_tot_pages(d), in_use);
        assert_int_equal(pb_heap_node_avail(h, 0) + pb_heap_node_avail(h, 1),
                         pb_heap_total_avail(h));
        assert_valid(h); /* avail[node][zone], node_need_scrub, claims: every identity */
    }
    teardown1(h, d);
}

static void test_arch_get_dma_bitsize_a_quarter_of_node0_at_most_4gib(void **state)
{
    (void)state;
    const struct {
        unsigned nodes;
        uint64_t node0;
        enum pb_dma_zone dma;
        unsigned bits, zone;
    } cases[] = {
        {2, 1024, PB_DMA_ZONE_XEN, 20, 8},              /* 1 MiB of a 4 MiB node 0 */
        {2, 1ull << 21, PB_DMA_ZONE_XEN, 31, 19},       /* 2 GiB of 8 GiB */
        {2, (1ull << 22) + 4, PB_DMA_ZONE_XEN, 32, 20}, /* capped at 4 GiB */
        {1, 1ull << 21, PB_DMA_ZONE_XEN, 0, 0},         /* one node: none */
        {2, 1024, PB_DMA_ZONE_OFF, 0, 0},               /* turned off */
    };
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        struct pb_machine_desc desc = {
            .nr_nodes = cases[i].nodes, .backing = PB_BACKING_NONE, .dma_zone = cases[i].dma};
        desc.node_frames[0] = cases[i].node0;
        desc.node_frames[1] = 16;
        struct pb_heap *h = machine_desc(&desc);
        assert_int_equal(pb_heap_dma_bitsize(h), cases[i].bits);
        assert_int_equal(pb_heap_dma_zone(h), cases[i].zone);
        pb_heap_destroy(h);
    }
}

static void test_alloc_domheap_pages_searches_above_the_dma_zone_first_then_every_zone(void **state)
{
    (void)state;
    struct pb_machine_desc desc = {.nr_nodes = 2, .backing = PB_BACKING_NONE};
    desc.node_frames[0] = desc.node_frames[1] = 1024;
    struct pb_heap *h = machine_desc(&desc);
    assert_int_equal(pb_heap_dma_zone(h), 8); /* DMA memory: MFNs below 256 */
    uint64_t mfn, above = 0;
    while (pb_alloc_domheap_pages(h, NULL, 0, 0, &mfn) == 0 && mfn >= 256)
        above++;
    assert_int_equal(above, 2047 - 255);
    /* Nothing left above: the second, full search found DMA memory. */
    assert_true(mfn < 256);
    assert_int_equal(heap_counters(h).dma_retries, 1);
    assert_int_equal(pb_alloc_domheap_pages(h, NULL, 0, MEMF_no_dma, &mfn), -ENOMEM);
    assert_int_equal(heap_counters(h).dma_retries, 1);
    assert_valid(h);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * §2 Allocating.
 */

static void
test_alloc_heap_pages_claimed_memory_is_unavailable_unless_the_claim_covers_it(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 4096); /* 4095 free: ..., 1024 (order 10), 2048 (11) */
    struct pb_domain *a = dom(h, 1, 1 << 13, 0, true), *b = dom(h, 2, 1 << 13, 0, true);
    uint64_t m;
    assert_int_equal(pb_domain_claim_pages(a, 3000), 0);
    /* b has no claim: outstanding 3000 + 2048 > 4095 free, though the buddy is there. */
    assert_int_equal(pb_alloc_domheap_pages(h, b, 11, 0, &m), -ENOMEM);
    assert_int_equal(alloc_ok(h, b, 7, MEMF_bits(20)), 128); /* 3000 + 128 <= 4095 */
    /* a's claim covers 2048. */
    assert_int_equal(alloc_ok(h, a, 11, 0), 2048);
    assert_int_equal(pb_domain_claim(a), 952);
    /* A claim of 952 does not cover 1024: it needs 952 + 1024 <= 1919 free. */
    assert_int_equal(pb_alloc_domheap_pages(h, a, 10, 0, &m), -ENOMEM);
    alloc_ok(h, a, 9, 0);
    assert_int_equal(pb_domain_claim(a), 440);
    /* MEMF_no_refcount counts as no claim: 440 + 1024 > 1407 free. Nobody: 440 + 256 fits. */
    assert_int_equal(pb_alloc_domheap_pages(h, a, 10, MEMF_no_refcount, &m), -ENOMEM);
    alloc_ok(h, NULL, 8, 0);
    assert_int_equal(pb_heap_outstanding_claims(h), 440);
    assert_valid(h);
    pb_memop_domain_destroy(h, a);
    pb_memop_domain_destroy(h, b);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    pb_heap_destroy(h);
}

static void test_alloc_heap_pages_consumes_min_of_claim_and_request(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1 << 14);
    struct pb_domain *a = dom(h, 1, 1 << 14, 0, true);
    assert_int_equal(pb_domain_claim_pages(a, 100), 0);
    alloc_ok(h, a, 9, 0);
    assert_int_equal(pb_domain_claim(a), 0);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_int_equal(pb_domain_claim_pages(a, 512 + 300), 0);
    assert_int_equal(pb_domain_claim(a), 300);
    alloc_ok(h, a, 4, 0);
    assert_int_equal(pb_domain_claim(a), 284);
    assert_int_equal(pb_heap_outstanding_claims(h), 284);
    assert_valid(h);
    pb_memop_domain_destroy(h, a);
    pb_heap_destroy(h);
}

static void test_alloc_heap_pages_splits_from_the_top_keeping_the_upper_half(void **state)
{
    (void)state;
    APPLIES("buddy_layout");
    struct pb_heap *h = conf_machine(2, 1024);
    uint64_t m = alloc_ok(h, NULL, 10, EXACT(1));
    assert_int_equal(m, 1024);
    /* Node 1's buddy again, its upper half dirty: first_dirty 512. */
    assert_int_equal(pb_free_heap_pages(h, 1024, 9, false), 0);
    assert_int_equal(pb_free_heap_pages(h, 1536, 9, true), 0);
    assert_buddy(h, 1024, 10, 512);
    m = alloc_ok(h, NULL, 8, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    /* Halved twice: the lower halves go back (1024 clean, 1536 dirty from 0), the top kept. */
    assert_int_equal(m, 1792);
    assert_buddy(h, 1024, 9, CLEAN);
    assert_buddy(h, 1536, 8, 0);
    assert_true(pb_heap_frame_dirty(h, 1792));
    assert_int_equal(heap_counters(h).splits, 2);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_get_free_buddy_clean_memory_on_every_node_beats_dirty_local_memory(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(2, 1024);
    dirty_all(h, 0);
    pb_set_current_node(0);
    struct pb_heap_counters c0 = heap_counters(h);
    uint64_t a = alloc_ok(h, NULL, 9, 0), b = alloc_ok(h, NULL, 9, 0);
    assert_int_equal(node_of(h, a), 1);
    assert_int_equal(node_of(h, b), 1);
    assert_int_equal(heap_counters(h).second_pass, c0.second_pass);
    /* Node 1 is used up: the second pass (MEMF_no_scrub) takes node 0's dirty memory. */
    uint64_t c = alloc_ok(h, NULL, 9, 0);
    assert_int_equal(node_of(h, c), 0);
    assert_int_equal(heap_counters(h).second_pass, c0.second_pass + 1);
    /* An order-0 request takes a dirty head at once, in the first pass. */
    uint64_t d = alloc_ok(h, NULL, 0, 0);
    assert_int_equal(node_of(h, d), 0);
    assert_int_equal(heap_counters(h).second_pass, c0.second_pass + 1);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_get_free_buddy_moves_a_dirty_head_it_skips_to_the_tail(void **state)
{
    (void)state;
    APPLIES("buddy_layout");
    struct pb_heap *h = conf_machine(1, 4096);
    assert_int_equal(fill(h, -1), 4095);
    /* Two dirty order-9 buddies, nothing else free: 2048 at the head, 3072 at the tail. */
    assert_int_equal(pb_free_heap_pages(h, 2048, 9, true), 0);
    assert_int_equal(pb_free_heap_pages(h, 3072, 9, true), 0);
    /* The clean-only pass moves 2048 to the tail; the dirty-accepting pass takes 3072. */
    assert_int_equal(alloc_ok(h, NULL, 9, 0), 3072);
    assert_int_equal(pb_free_heap_pages(h, 3072, 9, true), 0);
    /* MEMF_no_scrub takes a dirty head at once, without moving anything. */
    assert_int_equal(alloc_ok(h, NULL, 9, MEMF_no_scrub), 2048);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void
test_get_free_buddy_starts_after_last_alloc_node_and_rotates_over_the_affinity(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(4, 1024);
    struct pb_domain *d = dom(h, 1, 1 << 12, 0xe /* nodes 1-3 */, true);
    const unsigned want[] = {1, 2, 3, 1};
    for (size_t i = 0; i < PB_ARRAY_SIZE(want); i++)
        assert_int_equal(node_of(h, alloc_ok(h, d, 0, 0)), want[i]);
    struct pb_domain *e = dom(h, 2, 1 << 12, 0, true);
    const unsigned all[] = {1, 2, 3, 0, 1};
    for (size_t i = 0; i < PB_ARRAY_SIZE(all); i++)
        assert_int_equal(node_of(h, alloc_ok(h, e, 0, 0)), all[i]);
    pb_memop_domain_destroy(h, d);
    pb_memop_domain_destroy(h, e);
    pb_heap_destroy(h);
}

static void
test_a_new_domain_starts_at_last_alloc_node_0_so_its_first_extent_goes_after_0(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(4, 1024);
    const struct {
        uint64_t affinity;
        unsigned first;
    } cases[] = {{0x5, 2}, {0x1, 0}, {0x8, 3}, {0, 1}};
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        struct pb_domain *d = dom(h, 1, 1 << 12, cases[i].affinity, true);
        assert_int_equal(node_of(h, alloc_ok(h, d, 0, 0)), cases[i].first);
        pb_memop_domain_destroy(h, d);
    }
    pb_heap_destroy(h);
}

static void test_alloc_domheap_pages_memf_no_owner_still_places_by_the_domain(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(4, 1024);
    struct pb_domain *d = dom(h, 1, 100, 0xc /* nodes 2, 3 */, true);
    assert_int_equal(pb_domain_claim_pages(d, 10), 0);
    uint64_t m = alloc_ok(h, d, 0, MEMF_no_owner);
    unsigned owner;
    assert_int_equal(node_of(h, m), 2);
    assert_true(pb_heap_frame_in_use(h, m, &owner));
    assert_int_equal(owner, PB_DOMID_NONE);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    assert_int_equal(pb_domain_claim(d), 10); /* MEMF_no_owner implies MEMF_no_refcount */
    /* It moved last_alloc_node: the domain's own next extent goes to node 3. */
    assert_int_equal(node_of(h, alloc_ok(h, d, 0, 0)), 3);
    assert_int_equal(pb_domain_claim(d), 9);
    assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    teardown1(h, d);
}

static void
test_get_free_buddy_falls_back_over_the_affinity_then_other_nodes_from_the_lowest(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(4, 1024);
    struct pb_domain *d = dom(h, 1, 1 << 14, 0x6 /* nodes 1, 2 */, true);
    fill(h, 1);
    fill(h, 2);
    uint64_t m;
    /* MEMF_exact_node without a node: only the affinity. */
    assert_int_equal(pb_alloc_domheap_pages(h, d, 0, MEMF_exact_node, &m), -ENOMEM);
    /* Else the nodes outside it, from the lowest: 0, then 3. */
    assert_int_equal(node_of(h, alloc_ok(h, d, 0, 0)), 0);
    fill(h, 0);
    assert_int_equal(node_of(h, alloc_ok(h, d, 0, 0)), 3);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);

    /* A requested node outside the mask: then the mask from its lowest node. */
    h = conf_machine(4, 1024);
    d = dom(h, 1, 1 << 14, 0x5 /* nodes 0, 2 */, true);
    fill(h, 1);
    assert_int_equal(node_of(h, alloc_ok(h, d, 0, MEMF_node(1))), 0);
    assert_int_equal(pb_alloc_domheap_pages(h, d, 0, EXACT(1), &m), -ENOMEM);
    teardown1(h, d);
}

static void test_alloc_heap_pages_needs_a_tlb_flush_only_for_frames_an_owner_freed(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1024);
    struct pb_domain *d = dom(h, 1, 100, 0, true);
    uint64_t m = alloc_ok(h, d, 0, 0);
    assert_int_equal(m, 1023);
    assert_int_equal(pb_free_domheap_pages(h, d, m, 0, false), 0);
    uint64_t f0 = heap_counters(h).tlb_flushes;
    assert_int_equal(alloc_ok(h, NULL, 0, 0), m);
    assert_int_equal(heap_counters(h).tlb_flushes, f0 + 1);
    /* Freed by nobody: no flush needed. */
    assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    assert_int_equal(alloc_ok(h, NULL, 0, 0), m);
    assert_int_equal(heap_counters(h).tlb_flushes, f0 + 1);
    /* MEMF_no_tlbflush skips the filter. */
    assert_int_equal(pb_assign_pages(d, m, 0, 0), 0);
    assert_int_equal(pb_free_domheap_pages(h, d, m, 0, false), 0);
    assert_int_equal(alloc_ok(h, NULL, 0, MEMF_no_tlbflush), m);
    assert_int_equal(heap_counters(h).tlb_flushes, f0 + 1);
    teardown1(h, d);
}

static void test_alloc_heap_pages_scrubs_dirty_frames_unless_memf_no_scrub(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine_b(1, 1024, PB_BACKING_REAL);
    uint64_t dirty = dirty_all(h, -1);
    assert_int_equal(pb_heap_node_need_scrub(h, 0), dirty);
    /* Scrubbed outside the lock, and no longer counted dirty. */
    uint64_t m = alloc_ok(h, NULL, 4, 0);
    for (uint64_t i = 0; i < 16; i++) {
        assert_true(pb_page_is_zero(pb_frame_data(h, m + i)));
        assert_false(pb_heap_frame_dirty(h, m + i));
    }
    assert_int_equal(pb_heap_node_need_scrub(h, 0), dirty - 16);
    assert_int_equal(heap_counters(h).scrubbed_on_alloc, 16);
    /* MEMF_no_scrub: handed out as they are, the flag dropped... */
    m = alloc_ok(h, NULL, 4, MEMF_no_scrub);
    for (uint64_t i = 0; i < 16; i++) {
        assert_false(pb_page_is_zero(pb_frame_data(h, m + i)));
        assert_false(pb_heap_frame_dirty(h, m + i));
    }
    /* ...or kept with MEMF_keep_scrub; either way they leave node_need_scrub. */
    m = alloc_ok(h, NULL, 4, MEMF_no_scrub | MEMF_keep_scrub);
    for (uint64_t i = 0; i < 16; i++)
        assert_true(pb_heap_frame_dirty(h, m + i));
    assert_int_equal(pb_heap_node_need_scrub(h, 0), dirty - 48);
    struct pb_heap_counters c = heap_counters(h);
    assert_int_equal(c.scrubbed_on_alloc, 16);
    assert_int_equal(c.dirty_alloc_pages, 48);
    assert_valid(h);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * §3 Freeing.
 */

static void
test_free_heap_pages_merges_with_its_buddy_of_the_same_order_never_across_nodes(void **state)
{
    (void)state;
    APPLIES("buddy_layout");
    /* Node 0 [0, 768) ends with 512 (order 8); node 1 [768, 1536) starts with 768 (order 8),
     * whose order-8 buddy is node 0's 512. */
    struct pb_heap *h = conf_machine(2, 768);
    assert_buddy(h, 512, 8, CLEAN);
    assert_buddy(h, 768, 8, CLEAN);
    uint64_t m = alloc_ok(h, NULL, 8, EXACT(1) | MEMF_bits(22));
    assert_int_equal(m, 768);
    assert_int_equal(pb_free_heap_pages(h, 768, 8, false), 0);
    assert_buddy(h, 768, 8, CLEAN);
    assert_buddy(h, 512, 8, CLEAN);
    /* Within a node: with the successor, then with the predecessor. */
    assert_int_equal(alloc_ok(h, NULL, 9, EXACT(1)), 1024);
    assert_int_equal(pb_free_heap_pages(h, 1024, 8, false), 0);
    assert_buddy(h, 1024, 8, CLEAN);
    assert_int_equal(pb_free_heap_pages(h, 1280, 8, false), 0);
    assert_buddy(h, 1024, 9, CLEAN);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void
test_free_heap_pages_merged_first_dirty_is_the_lower_halfs_else_2_order_plus_upper(void **state)
{
    (void)state;
    APPLIES("buddy_layout");
    struct pb_heap *h = conf_machine(2, 1024);
    assert_int_equal(alloc_ok(h, NULL, 10, EXACT(1)), 1024);
    assert_int_equal(pb_free_heap_pages(h, 1536, 9, true), 0);
    assert_int_equal(pb_free_heap_pages(h, 1024, 9, false), 0);
    assert_buddy(h, 1024, 10, 512); /* clean lower half: 2^9 + the upper half's 0 */
    assert_int_equal(alloc_ok(h, NULL, 10, EXACT(1) | MEMF_no_scrub), 1024);
    assert_int_equal(pb_free_heap_pages(h, 1024, 9, true), 0);
    assert_int_equal(pb_free_heap_pages(h, 1536, 9, false), 0);
    assert_buddy(h, 1024, 10, 0); /* dirty lower half: its own */
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_mark_page_free_invalidates_the_m2p_entry_of_every_frame(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1 << 12);
    const struct pb_m2p *m2p = pb_heap_m2p(h);
    struct pb_domain *d = dom(h, 1, 1 << 12, 0, true);
    no_preemption();
    populate_one(h, 1, 32, 4);
    uint64_t m = mapped_mfn(d, 32);
    for (uint64_t i = 0; i < 16; i++)
        assert_int_equal(pb_m2p_get(m2p, m + i), 32 + i);
    uint64_t g = 32;
    struct pb_reservation r = resv(1, &g, 1, 4, 0);
    struct pb_memop_result res;
    assert_int_equal(decrease(h, &CONTROL, &r, 0, false, &res), 1);
    for (uint64_t i = 0; i < 16; i++)
        assert_int_equal(pb_m2p_get(m2p, m + i), PB_M2P_INVALID);
    /* Domain death: the same for every frame it still had. */
    populate_one(h, 1, 64, 4);
    m = mapped_mfn(d, 64);
    pb_memop_domain_destroy(h, d);
    for (uint64_t i = 0; i < 16; i++)
        assert_int_equal(pb_m2p_get(m2p, m + i), PB_M2P_INVALID);
    pb_heap_destroy(h);
}

static void
test_free_domheap_pages_frees_a_live_domains_frames_clean_dying_or_ownerless_dirty(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1024);
    struct pb_domain *d = dom(h, 1, 100, 0, true);
    uint64_t a = alloc_ok(h, d, 0, 0), b = alloc_ok(h, d, 0, 0), c = alloc_ok(h, NULL, 0, 0);
    assert_int_equal(pb_free_domheap_pages(h, d, a, 0, false), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, 0), 0);
    pb_domain_kill(d);
    assert_int_equal(pb_free_domheap_pages(h, d, b, 0, false), 0);
    assert_true(pb_heap_frame_dirty(h, b));
    assert_int_equal(pb_free_domheap_pages(h, NULL, c, 0, false), 0);
    assert_true(pb_heap_frame_dirty(h, c));
    assert_int_equal(pb_heap_node_need_scrub(h, 0), 2);
    teardown1(h, d);
}

/* A scrubber's after_frame hook that stops it at a chosen frame until released. */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned frames, stop_at;
    uint64_t paused_at; /* mfn it is stopped at, UINT64_MAX when running */
    uint64_t node0_frames, node0_limit;
    int (*pick)(struct gate *g, uint64_t mfn); /* which frames count; NULL: all */
};

static void gate_init(struct gate *g, unsigned stop_at)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv, NULL);
    g->stop_at = stop_at;
    g->paused_at = UINT64_MAX;
}

static void gate_hook(void *ctx, unsigned node, unsigned worker, uint64_t mfn)
{
    (void)node;
    (void)worker;
    struct gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (!g->pick || g->pick(g, mfn)) {
        if (++g->frames == g->stop_at) {
            g->paused_at = mfn;
            pthread_cond_broadcast(&g->cv);
            while (g->paused_at != UINT64_MAX)
                pthread_cond_wait(&g->cv, &g->mu);
        }
    }
    pthread_mutex_unlock(&g->mu);
}

/* Waits (a minute at most) for the gate to stop a scrubber; the mfn it stopped at. */
static uint64_t gate_wait(struct gate *g)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 60;
    pthread_mutex_lock(&g->mu);
    while (g->paused_at == UINT64_MAX)
        if (pthread_cond_timedwait(&g->cv, &g->mu, &deadline) == ETIMEDOUT)
            fail_msg("no scrubber reached frame %u of the gate within a minute", g->stop_at);
    uint64_t at = g->paused_at;
    pthread_mutex_unlock(&g->mu);
    return at;
}

static void gate_release(struct gate *g, unsigned next_stop)
{
    pthread_mutex_lock(&g->mu);
    g->stop_at = next_stop;
    g->paused_at = UINT64_MAX;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static struct pb_scrubber *scrubber(struct pb_heap *h, struct gate *g, unsigned nr_cpus,
                                    const unsigned *cpu_node)
{
    struct pb_scrub_config cfg = {.workers_per_node = 1,
                                  .method = PB_CLEAR_MEMSET,
                                  .nr_cpus = nr_cpus,
                                  .cpu_node = cpu_node,
                                  .after_frame = g ? gate_hook : NULL,
                                  .ctx = g,
                                  /* a check for ABORT after every frame the gate counts */
                                  .batch_frames = 1};
    struct pb_scrubber *s = NULL;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
    return s;
}

struct free_job {
    struct pb_heap *h;
    uint64_t mfn;
    unsigned order;
    int rc;
};

static void *free_job_main(void *p)
{
    struct free_job *f = p;
    f->rc = pb_free_heap_pages(f->h, f->mfn, f->order, false);
    return NULL;
}

struct head_state {
    struct pb_heap *h;
    uint64_t mfn;
    uint8_t want;
};

static bool head_in_state(void *ctx)
{
    struct head_state *s = ctx;
    return atomic_load(&s->h->frames[s->mfn].scrub) == s->want;
}

struct node_backlog {
    struct pb_heap *h;
    int node; /* -1: the whole heap */
};

static bool node_clean(void *ctx)
{
    struct node_backlog *b = ctx;
    return b->node < 0 ? pb_scrub_backlog(b->h) == 0
                       : pb_heap_node_need_scrub(b->h, (unsigned)b->node) == 0;
}

static void test_free_heap_pages_stops_a_scrub_in_progress_before_merging(void **state)
{
    (void)state;
    APPLIES("buddy_layout");
    struct pb_heap *h = conf_machine_b(2, 1024, PB_BACKING_REAL);
    /* Node 1: the lower half in use, the upper half free and dirty. */
    assert_int_equal(alloc_ok(h, NULL, 10, EXACT(1)), 1024);
    for (uint64_t i = 1536; i < 2048; i++)
        pb_dirty_fill(pb_frame_data(h, i));
    assert_int_equal(pb_free_heap_pages(h, 1536, 9, true), 0);
    struct gate g;
    gate_init(&g, 10);
    struct pb_scrubber *s = scrubber(h, &g, 0, NULL);
    assert_int_equal(gate_wait(&g), 1536 + 9);
    /* Freeing the lower half merges with the buddy under the scrub: it must stop it. */
    struct free_job f = {.h = h, .mfn = 1024, .order = 9};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_job_main, &f), 0);
    struct head_state hs = {h, 1536, PB_SCRUB_ABORT};
    wait_for(head_in_state, &hs, "the merge to ask the scrubber to stop");
    gate_release(&g, 11);
    pthread_join(t, NULL);
    assert_int_equal(f.rc, 0);
    /* The scrubber gave the buddy back at frame 10; it is merged, and taken again. */
    assert_int_equal(gate_wait(&g), 1024 + 522);
    assert_int_equal(h->frames[1024].order, 10);
    assert_int_equal(h->frames[1024].first_dirty, 522);
    assert_int_equal(scrub_counters(h).aborts, 1);
    gate_release(&g, 0);
    struct node_backlog nb = {h, -1};
    wait_for(node_clean, &nb, "the scrubber to finish");
    pb_scrubber_stop(s);
    assert_buddy(h, 1024, 10, CLEAN);
    assert_int_equal(scrub_counters(h).background, 512);
    assert_valid(h);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * §4 Scrubbing.
 */

struct skips {
    struct pb_heap *h;
    uint64_t at_least;
};

static bool busy_skips_seen(void *ctx)
{
    struct skips *s = ctx;
    return scrub_counters(s->h).idle_busy_skips >= s->at_least;
}

static void test_scrub_free_pages_runs_only_on_idle_cpus_so_a_busy_host_scrubs_nothing(void **state)
{
    (void)state;
    APPLIES("idle_scrub");
    struct pb_heap *h = conf_machine(1, 4096);
    uint64_t dirty = dirty_all(h, -1);
    pb_cpu_busy_enter(h, 0); /* the host's only modelled CPU */
    struct pb_scrubber *s = scrubber(h, NULL, 0, NULL);
    struct skips sk = {h, 3};
    wait_for(busy_skips_seen, &sk, "the idle scrubber to find its CPU busy three times");
    assert_int_equal(scrub_counters(h).background, 0);
    assert_int_equal(pb_scrub_backlog(h), dirty);
    pb_cpu_busy_exit(h, 0);
    struct node_backlog nb = {h, -1};
    wait_for(node_clean, &nb, "the idle CPU to scrub everything");
    pb_scrubber_stop(s);
    assert_int_equal(scrub_counters(h).background, dirty);
    assert_valid(h);
    pb_heap_destroy(h);
}

/* Records which of four buddies each cleared frame belongs to, in order of first clearing. */
struct walk {
    pthread_mutex_t mu;
    uint64_t start[4], len[4];
    int seen[4], nseen;
};

static void walk_hook(void *ctx, unsigned node, unsigned worker, uint64_t mfn)
{
    (void)node;
    (void)worker;
    struct walk *w = ctx;
    pthread_mutex_lock(&w->mu);
    for (int b = 0; b < 4; b++)
        if (mfn >= w->start[b] && mfn < w->start[b] + w->len[b] &&
            (w->nseen == 0 || w->seen[w->nseen - 1] != b) && w->nseen < 4)
            w->seen[w->nseen++] = b;
    pthread_mutex_unlock(&w->mu);
}

static void
test_scrub_free_pages_walks_zones_from_the_lowest_and_orders_from_max_order_down(void **state)
{
    (void)state;
    APPLIES("idle_scrub");
    struct pb_heap *h = conf_machine(1, 4096);
    fill(h, -1);
    /* Zone 12: 2048 (order 9), 3072 (order 8); zone 11: 1024 (order 9), 1536 (order 8). */
    struct walk w = {.start = {2048, 3072, 1024, 1536}, .len = {512, 256, 512, 256}};
    pthread_mutex_init(&w.mu, NULL);
    for (int b = 0; b < 4; b++)
        assert_int_equal(pb_free_heap_pages(h, w.start[b], b & 1 ? 8 : 9, true), 0);
    struct pb_scrub_config cfg = {.method = PB_CLEAR_MEMSET, .after_frame = walk_hook, .ctx = &w};
    struct pb_scrubber *s = NULL;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
    struct node_backlog nb = {h, -1};
    wait_for(node_clean, &nb, "the idle scrubber to finish");
    pb_scrubber_stop(s);
    assert_int_equal(w.nseen, 4);
    const int want[4] = {2, 3, 0, 1}; /* 1024, 1536, 2048, 3072 */
    for (int i = 0; i < 4; i++)
        assert_int_equal(w.seen[i], want[i]);
    pthread_mutex_destroy(&w.mu);
    pb_heap_destroy(h);
}

/* The gate counts only frames of node 0 (MFNs below 1024). */
static int node0_frame(struct gate *g, uint64_t mfn)
{
    (void)g;
    return mfn < 1024;
}

static void test_node_to_scrub_own_node_else_a_node_without_cpus_one_cpu_per_node(void **state)
{
    (void)state;
    APPLIES("idle_scrub");
    /* CPUs 0 and 1 on node 0, CPU 2 on node 1; node 2 has none. */
    const unsigned cpu_node[3] = {0, 0, 1};
    struct pb_heap *h = conf_machine(3, 1024);
    dirty_all(h, 1);
    uint64_t dirty2 = dirty_all(h, 2);
    pb_cpu_busy_enter(h, 2);
    struct pb_scrubber *s = scrubber(h, NULL, 3, cpu_node);
    /* Node 2 has no CPU: an idle CPU of node 0 scrubs it. Node 1's own CPU is busy, and
     * nobody else scrubs a node that has CPUs. */
    struct node_backlog nb2 = {h, 2};
    wait_for(node_clean, &nb2, "node 0's CPUs to scrub CPU-less node 2");
    assert_int_equal(scrub_counters(h).background, dirty2);
    assert_true(pb_heap_node_need_scrub(h, 1) > 0);
    pb_cpu_busy_exit(h, 2);
    struct node_backlog nb1 = {h, 1};
    wait_for(node_clean, &nb1, "node 1's CPU to scrub its node once idle");
    pb_scrubber_stop(s);
    pb_heap_destroy(h);

    /* One CPU per node: while one of node 0's CPUs holds node 0, the other one, which would
     * take its own node first, scrubs CPU-less node 2 instead and never touches node 0. */
    h = conf_machine(3, 1024);
    dirty_all(h, 0);
    dirty_all(h, 2);
    pb_cpu_busy_enter(h, 2);
    struct gate g;
    gate_init(&g, 1);
    g.pick = node0_frame;
    s = scrubber(h, &g, 3, cpu_node);
    assert_true(gate_wait(&g) < 1024);
    wait_for(node_clean, &nb2, "the other CPU of node 0 to scrub node 2");
    pthread_mutex_lock(&g.mu);
    assert_int_equal(g.frames, 1); /* node 0: only the frame its scrubber stopped at */
    pthread_mutex_unlock(&g.mu);
    gate_release(&g, 0);
    struct node_backlog nb0 = {h, 0};
    wait_for(node_clean, &nb0, "node 0 to be scrubbed");
    pb_scrubber_stop(s);
    pb_cpu_busy_exit(h, 2);
    pb_heap_destroy(h);
}

struct busy_at {
    struct pb_heap *h;
    unsigned frames;
};

static void busy_at_first_frame(void *ctx, unsigned node, unsigned worker, uint64_t mfn)
{
    (void)node;
    (void)worker;
    (void)mfn;
    struct busy_at *b = ctx;
    if (++b->frames == 1)
        pb_cpu_busy_enter(b->h, 0);
}

static bool yielded(void *ctx)
{
    return scrub_counters(ctx).idle_busy_yields > 0;
}

static void test_scrub_free_pages_stops_for_a_busy_cpu_after_about_8_frames(void **state)
{
    (void)state;
    APPLIES("idle_scrub");
    struct pb_heap *h = conf_machine(1, 1024);
    uint64_t m = alloc_ok(h, NULL, 9, 0);
    assert_int_equal(pb_free_heap_pages(h, m, 9, true), 0);
    struct busy_at b = {h, 0};
    struct pb_scrub_config cfg = {
        .method = PB_CLEAR_MEMSET, .after_frame = busy_at_first_frame, .ctx = &b};
    struct pb_scrubber *s = NULL;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
    wait_for(yielded, h, "the idle scrubber to stop for its busy CPU");
    pb_scrubber_stop(s);
    /* Xen: a scrubbed frame weighs 100, it stops once the count is above 800: nine frames. */
    assert_int_equal(b.frames, 9);
    assert_buddy(h, m, 9, 9);
    pb_cpu_busy_exit(h, 0);
    pb_heap_destroy(h);
}

/* A backed machine of one node, every free frame dirty, verification on, and domain 1 on it
 * still being built; no preemption. */
static struct pb_domain *building(struct pb_heap **h, uint64_t frames, uint64_t max_pages)
{
    *h = conf_machine_b(1, frames, PB_BACKING_REAL);
    dirty_all(*h, -1);
    assert_int_equal(pb_heap_set_verify(*h, PB_VERIFY_FULL), 0);
    no_preemption();
    return dom(*h, 1, max_pages, 0, false);
}

static void
test_populate_physmap_build_scrubs_the_extent_itself_checking_every_256_dirty_pages(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = building(&h, 1 << 13, 1 << 13);
    uint64_t g = 0;
    struct pb_reservation r = resv(1, &g, 1, 10, 0);
    struct pb_memop_result res;
    struct pb_memop_counts sum = {0};
    preempt_every(1);
    unsigned invocations = 0;
    uint64_t start = 0;
    do {
        start = populate(h, &CONTROL, &r, start, &res);
        pb_memop_counts_add(&sum, &res.c);
        invocations++;
    } while (res.preempted);
    no_preemption();
    /* 1024 dirty frames: a check after 256, 512 and 768 (never after the last). */
    assert_int_equal(invocations, 4);
    assert_int_equal(sum.scrub_preemptions, 3);
    assert_int_equal(sum.stash_hits, 3);
    assert_int_equal(sum.extents, 1);
    assert_int_equal(scrub_counters(h).domain_build, 1024);
    assert_int_equal(scrub_counters(h).verify_failures, 0);
    uint64_t m = mapped_mfn(d, 0);
    for (uint64_t i = 0; i < 1024; i++)
        assert_true(pb_page_is_zero(pb_frame_data(h, m + i)));
    teardown1(h, d);
}

static void
test_populate_physmap_build_assigns_only_after_the_scrub_a_stash_is_nobodys(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = building(&h, 1 << 13, 1 << 13);
    uint64_t g = 0;
    struct pb_reservation r = resv(1, &g, 1, 10, 0);
    struct pb_memop_result res;
    preempt_every(1);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    no_preemption();
    assert_true(res.preempted);
    assert_int_equal(res.c.scrub_preemptions, 1);
    /* Stashed, a quarter scrubbed: allocated, but not the domain's. */
    assert_int_equal(pb_domain_tot_pages(d), 0);
    uint64_t mfn, progress;
    assert_int_equal(pb_scrub_stash_take(d, 10, -1, &mfn, &progress), 0);
    assert_int_equal(progress, 256);
    unsigned owner;
    assert_true(pb_heap_frame_in_use(h, mfn, &owner));
    assert_int_equal(owner, PB_DOMID_NONE);
    pb_scrub_stash_put(d, mfn, 10, progress);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
    assert_int_equal(res.c.stash_hits, 1);
    assert_int_equal(pb_domain_tot_pages(d), 1024);
    assert_true(pb_heap_frame_in_use(h, mfn, &owner));
    assert_int_equal(owner, 1);
    teardown1(h, d);
}

static void
test_populate_physmap_build_max_pages_fails_after_the_scrub_and_frees_it_dirty(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = building(&h, 1 << 12, 100);
    uint64_t backlog = pb_scrub_backlog(h), g = 0;
    struct pb_reservation r = resv(1, &g, 1, 9, 0);
    struct pb_memop_result res;
    no_preemption();
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -E2BIG);
    /* Scrubbed first (512 frames cleared), refused by assign_pages, freed back dirty. */
    assert_int_equal(scrub_counters(h).domain_build, 512);
    assert_int_equal(pb_scrub_backlog(h), backlog);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    teardown1(h, d);
}

static void test_stash_allocation_keeps_the_old_stash_and_frees_the_new_extent(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1 << 12);
    struct pb_domain *d = dom(h, 1, 1 << 12, 0, false);
    uint64_t a = alloc_ok(h, d, 4, MEMF_no_scrub | MEMF_keep_scrub);
    uint64_t b = alloc_ok(h, d, 4, MEMF_no_scrub | MEMF_keep_scrub);
    pb_scrub_stash_put(d, a, 4, 3);
    pb_scrub_stash_put(d, b, 4, 5);
    unsigned owner;
    assert_false(pb_heap_frame_in_use(h, b, &owner));
    assert_true(pb_heap_frame_dirty(h, b)); /* a frame of nobody goes back dirty */
    uint64_t mfn, progress;
    assert_int_equal(pb_scrub_stash_take(d, 4, -1, &mfn, &progress), 0);
    assert_int_equal(mfn, a);
    assert_int_equal(progress, 3);
    /* A dying domain keeps nothing. */
    pb_domain_kill(d);
    pb_scrub_stash_put(d, a, 4, 3);
    assert_false(pb_heap_frame_in_use(h, a, &owner));
    assert_int_equal(pb_scrub_stash_take(d, 4, -1, &mfn, &progress), -ENOENT);
    assert_int_equal(scrub_counters(h).stash_discards, 2);
    teardown1(h, d);
}

static void test_get_stashed_allocation_frees_a_stash_of_another_order_or_exact_node(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(2, 1 << 12);
    struct pb_domain *d = dom(h, 1, 1 << 13, 0, false);
    uint64_t mfn, progress;
    unsigned owner;
    const struct {
        unsigned order;
        int node;
    } misses[] = {{5, -1}, {4, 0}, {4, 7}};
    for (size_t i = 0; i < PB_ARRAY_SIZE(misses); i++) {
        uint64_t e = alloc_ok(h, d, 4, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
        pb_scrub_stash_put(d, e, 4, 1);
        assert_int_equal(pb_scrub_stash_take(d, misses[i].order, misses[i].node, &mfn, &progress),
                         -ENOENT);
        assert_false(pb_heap_frame_in_use(h, e, &owner));
        assert_true(pb_heap_frame_dirty(h, e));
        /* Emptied either way. */
        assert_int_equal(pb_scrub_stash_take(d, 4, -1, &mfn, &progress), -ENOENT);
    }
    uint64_t e = alloc_ok(h, d, 4, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    pb_scrub_stash_put(d, e, 4, 2);
    assert_int_equal(pb_scrub_stash_take(d, 4, 1, &mfn, &progress), 0);
    assert_int_equal(mfn, e);
    assert_int_equal(pb_free_heap_pages(h, e, 4, true), 0);
    assert_int_equal(scrub_counters(h).stash_discards, 3);
    teardown1(h, d);
}

/* ------------------------------------------------------------------------------------------
 * §5 Domains and assignment.
 */

static void test_assign_pages_dying_einval_over_max_eperm_too_many_e2big(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1024);
    struct pb_domain *d = dom(h, 1, 16, 0, true);
    assert_int_equal(pb_assign_pages(d, alloc_ok(h, NULL, 4, 0), 4, 0), 0);
    uint64_t one = alloc_ok(h, NULL, 0, 0);
    assert_int_equal(pb_assign_pages(d, one, 0, 0), -E2BIG);
    assert_int_equal(pb_domain_set_max_pages(d, 8), 0);
    assert_int_equal(pb_assign_pages(d, one, 0, 0), -EPERM);
    pb_domain_kill(d);
    assert_int_equal(pb_assign_pages(d, one, 0, 0), -EINVAL);
    assert_int_equal(pb_domain_tot_pages(d), 16);
    assert_int_equal(pb_free_heap_pages(h, one, 0, false), 0);
    teardown1(h, d);
}

static void test_domain_set_outstanding_pages_claim_rules(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1 << 12);
    struct pb_domain *d = dom(h, 1, 1000, 0, true), *e = dom(h, 2, 1 << 14, 0, true);
    assert_int_equal(pb_domain_claim_pages(d, 0), 0); /* releasing nothing */
    alloc_ok(h, d, 3, 0);
    alloc_ok(h, d, 1, 0);                                      /* tot_pages 10 */
    assert_int_equal(pb_domain_claim_pages(d, 10), -EINVAL);   /* not above tot_pages */
    assert_int_equal(pb_domain_claim_pages(d, 1001), -EINVAL); /* above max_pages */
    assert_int_equal(pb_domain_claim_pages(d, 500), 0);
    assert_int_equal(pb_domain_claim(d), 490); /* pages - tot_pages */
    assert_int_equal(pb_heap_outstanding_claims(h), 490);
    assert_int_equal(pb_domain_claim_pages(d, 600), -EINVAL); /* one claim at a time */
    /* More than free memory minus the outstanding claims: -ENOMEM. */
    uint64_t room = pb_heap_total_avail(h) - 490;
    assert_int_equal(pb_domain_claim_pages(e, room + 1), -ENOMEM);
    assert_int_equal(pb_domain_claim_pages(e, room), 0);
    assert_int_equal(pb_domain_claim_pages(e, 0), 0);
    assert_int_equal(pb_domain_claim_pages(d, 0), 0);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    pb_memop_domain_destroy(h, e);
    pb_heap_destroy(h);
}

static void test_xenmem_claim_pages_on_a_dying_domain_is_einval(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1 << 12);
    struct pb_domain *d = dom(h, 1, 1000, 0, true);
    assert_int_equal(pb_domain_claim_pages(d, 100), 0);
    pb_domain_kill(d); /* releases the claim */
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_int_equal(pb_domain_claim_pages(d, 100), -EINVAL);
    assert_int_equal(pb_domain_claim_pages(d, 0), -EINVAL);
    struct pb_claim part = {0, 50};
    assert_int_equal(pb_domain_claim_nodes(d, &part, 1), -EINVAL);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    teardown1(h, d);
}

static void test_mem_claim_claim_4mib_populate_2mib_destroy_releases_the_rest(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 14, 1 << 13, false);
    assert_int_equal(pb_domain_claim_pages(d, 1024), 0); /* 4 MiB */
    assert_int_equal(pb_heap_outstanding_claims(h), 1024);
    populate_one(h, 1, 0, 9); /* one 2 MiB extent */
    assert_int_equal(pb_heap_outstanding_claims(h), 512);
    pb_memop_domain_destroy(h, d);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_valid(h);
    pb_heap_destroy(h);
}

#if POPBENCH_DEBUG >= 1
static struct {
    unsigned calls;
    const struct pb_lock *held, *wanted;
} rank_seen;

static void rank_record(const struct pb_lock *held, const struct pb_lock *wanted)
{
    rank_seen.calls++;
    rank_seen.held = held;
    rank_seen.wanted = wanted;
}
#endif

static void test_lock_order_page_alloc_lock_before_the_heap_lock(void **state)
{
    (void)state;
#if POPBENCH_DEBUG >= 1
    struct pb_heap *h = conf_machine(2, 1 << 12);
    memset(&rank_seen, 0, sizeof(rank_seen));
    pb_lock_set_rank_hook(rank_record);
    /* Everything the model does with a domain's memory: never a violation. */
    struct pb_domain *d = dom(h, 1, 1 << 13, 0, false);
    no_preemption();
    assert_int_equal(pb_domain_claim_pages(d, 600), 0);
    populate_one(h, 1, 0, 9);
    populate_one(h, 1, 512, 0);
    uint64_t g = 0;
    struct pb_reservation r = resv(1, &g, 1, 9, 0);
    struct pb_memop_result res;
    assert_int_equal(decrease(h, &CONTROL, &r, 0, false, &res), 1);
    pb_memop_domain_destroy(h, d);
    assert_int_equal(rank_seen.calls, 0);
    /* And the checker does see the wrong order. */
    d = dom(h, 1, 16, 0, true);
    struct pb_lock *heap = h->nodes[0]->heap_lock;
    pb_lock_acquire(heap);
    pb_lock_acquire(pb_domain_lock(d));
    pb_lock_release(pb_domain_lock(d));
    pb_lock_release(heap);
    assert_int_equal(rank_seen.calls, 1);
    assert_ptr_equal(rank_seen.held, heap);
    assert_ptr_equal(rank_seen.wanted, pb_domain_lock(d));
    pb_lock_set_rank_hook(NULL);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
#else
    skip(); /* lock ranks are checked only in checked builds */
#endif
}

/* ------------------------------------------------------------------------------------------
 * §6 memory_op.
 */

static void
test_construct_memop_from_reservation_address_bits_up_to_12_refused_above_capped(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(2, 1 << 16); /* 2^17 frames: 29 address bits */
    unsigned mf = 0xdead;
    for (unsigned bits = 1; bits <= 12; bits++)
        assert_int_equal(pb_construct_memop_from_reservation(h, &CONTROL, bits, &mf), -EINVAL);
    assert_int_equal(pb_construct_memop_from_reservation(h, &CONTROL, 29, &mf), 0);
    assert_int_equal(mf, 0);
    struct pb_domain *d = dom(h, 1, 64, 0, true);
    no_preemption();
    uint64_t g = 0;
    struct pb_reservation r = resv(1, &g, 1, 0, 12);
    struct pb_memop_result res;
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -EINVAL);
    r.mem_flags = 13; /* zone 1: MFN 1 alone */
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
    assert_int_equal(mapped_mfn(d, 0), 1);
    teardown1(h, d);
}

static void
test_propagate_node_privileged_node_below_max_numnodes_falls_back_64_refused(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 4, 1024, 1 << 12, true);
    uint64_t g[3] = {0, 1, 2};
    struct pb_memop_result res;
    /* Node 5 is offline: accepted; the search falls back from the lowest node. */
    struct pb_reservation r = resv(1, &g[0], 1, 0, XENMEMF_node(5));
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
    assert_int_equal(node_of(h, mapped_mfn(d, 0)), 0);
    /* An exact request for it finds nothing. */
    r = resv(1, &g[1], 1, 0, XENMEMF_exact_node(5));
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -ENOMEM);
    /* MAX_NUMNODES and above: refused before anything is done. */
    r = resv(1, &g[2], 1, 0, XENMEMF_node(64));
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -EINVAL);
    /* A node it has: obeyed. */
    r = resv(1, &g[1], 1, 0, XENMEMF_exact_node(3));
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
    assert_int_equal(node_of(h, mapped_mfn(d, 1)), 3);
    teardown1(h, d);
}

static void test_propagate_node_unprivileged_hint_ignored_exact_request_refused(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 4, 1024, 1 << 12, true);
    uint64_t g = 0;
    struct pb_memop_result res;
    struct pb_reservation r = resv(1, &g, 1, 0, XENMEMF_node(3));
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    assert_int_equal(node_of(h, mapped_mfn(d, 0)), 1); /* the domain's own first node */
    g = 1;
    r = resv(1, &g, 1, 0, XENMEMF_exact_node(3));
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 0);
    assert_int_equal(res.error, -EINVAL);
    teardown1(h, d);
}

static void test_max_order_is_the_largest_over_the_callers_roles_pod_allows_max_order(void **state)
{
    (void)state;
    const struct {
        struct pb_memop_caller c;
        unsigned order;
    } cases[] = {
        {{.privilege = PB_PRIV_DOMU}, 9},
        {{.privilege = PB_PRIV_DOMU, .roles = PB_ROLE_PASSTHROUGH}, 12},
        {{.privilege = PB_PRIV_HARDWARE}, 12},
        {{.privilege = PB_PRIV_CONTROL}, 18},
        {{.privilege = PB_PRIV_HARDWARE, .roles = PB_ROLE_CONTROL}, 18},
        {{.privilege = PB_PRIV_HARDWARE, .roles = PB_ROLE_PASSTHROUGH}, 12},
    };
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++)
        assert_int_equal(pb_memop_max_order(&cases[i].c), cases[i].order);
    const struct pb_order_limits lim = {.domu = 10, .control = 30, .hardware = 4};
    const struct pb_memop_caller hw = {.privilege = PB_PRIV_HARDWARE, .limits = &lim};
    const struct pb_memop_caller ctl = {.privilege = PB_PRIV_CONTROL, .limits = &lim};
    assert_int_equal(pb_memop_max_order(&hw), 10);
    assert_int_equal(pb_memop_max_order(&ctl), PB_MAX_ORDER);

    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 14, 1 << 14, true);
    uint64_t g = 0;
    struct pb_memop_result res;
    struct pb_reservation r = resv(1, &g, 1, 10, 0);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 0);
    assert_int_equal(res.error, -EPERM);
    assert_int_equal(populate(h, &cases[1].c, &r, 0, &res), 1);
    /* PoD: MAX_ORDER for anyone; beyond, never. */
    g = 1ull << 18;
    r = resv(1, &g, 1, 18, XENMEMF_populate_on_demand);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    r.extent_order = 19;
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 0);
    assert_int_equal(res.error, -EPERM);
    teardown1(h, d);
}

static void test_populate_physmap_preempt_check_before_every_extent_but_the_first(void **state)
{
    (void)state;
    struct pb_heap *h = conf_machine(1, 1 << 12);
    struct pb_domain *d = dom(h, 1, 3, 0, true);
    uint64_t g[5] = {0, 1, 2, 3, 4};
    struct pb_reservation r = resv(1, g, 5, 0, 0);
    struct pb_memop_result res;
    /* Preempted at every check: one extent per invocation, never none. */
    preempt_every(1);
    uint64_t start = 0;
    for (unsigned inv = 1; inv <= 3; inv++) {
        start = populate(h, &DOMU, &r, start, &res);
        assert_int_equal(start, inv);
        assert_int_equal(res.c.extents, 1);
    }
    /* nr_done is the first extent not completed: max_pages 3 stops extent 3. */
    assert_true(res.preempted);
    assert_int_equal(populate(h, &DOMU, &r, start, &res), 3);
    assert_false(res.preempted);
    assert_int_equal(res.error, -E2BIG);
    no_preemption();
    teardown1(h, d);
}

static void test_populate_physmap_build_skips_tlb_flushes_and_flushes_nothing_after(void **state)
{
    (void)state;
    for (int intended = 0; intended <= 1; intended++) {
        struct pb_heap *h = conf_machine(1, 1 << 12);
        struct pb_options o = *pb_heap_options(h);
        assert_int_equal(pb_options_set(&o, "build_tlb_flush", intended), 0);
        assert_int_equal(pb_heap_set_options(h, &o), 0);
        no_preemption();
        /* A running guest's frames, given back: they need a flush before reuse. */
        struct pb_domain *old = dom(h, 2, 1 << 12, 0, true);
        uint64_t g = 0;
        struct pb_reservation r = resv(2, &g, 1, 4, 0);
        struct pb_memop_result res;
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
        assert_int_equal(decrease(h, &CONTROL, &r, 0, false, &res), 1);
        /* A new domain built from them: no per-page flush, and none after (Xen's code), or
         * the intended one for the invocation. */
        struct pb_domain *d = dom(h, 1, 1 << 12, 0, false);
        uint64_t f0 = heap_counters(h).tlb_flushes;
        struct pb_memop_global_counters g0, g1;
        pb_memop_global_counters_read(&g0);
        r.domid = 1;
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
        assert_int_equal(res.c.flush_filter_skipped, 16);
        assert_int_equal(pb_memop_finish_creation(h, d), 0);
        pb_memop_global_counters_read(&g1);
        assert_int_equal(heap_counters(h).tlb_flushes, f0);
        assert_int_equal(g1.batched_tlb_flushes - g0.batched_tlb_flushes, (uint64_t)intended);
        pb_memop_domain_destroy(h, old);
        pb_memop_domain_destroy(h, d);
        pb_heap_destroy(h);
    }
}

static void test_decrease_reservation_frees_2_order_order0_pages(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 13, 1 << 13, true);
    populate_one(h, 1, 0, 9);
    struct pb_heap_counters c0 = heap_counters(h);
    uint64_t locks0 = heap_lock_acquisitions(h), p2m0 = p2m_lock_acquisitions(d);
    uint64_t g = 0;
    struct pb_reservation r = resv(1, &g, 1, 9, 0);
    struct pb_memop_result res;
    assert_int_equal(decrease(h, &CONTROL, &r, 0, false, &res), 1);
    struct pb_heap_counters c1 = heap_counters(h);
    /* One order-0 free per page: 512 heap frees, each under a heap lock of its own. */
    assert_int_equal(c1.frees - c0.frees, 512);
    assert_int_equal(res.c.released_frames, 512);
    uint64_t drains = c1.pcp_drains - c0.pcp_drains; /* pcp: a cache lock, then the node's */
    assert_int_equal(heap_lock_acquisitions(h) - locks0, 512 + drains);
    /* One p2m hold per page, plus the PoD check of the extent. */
    assert_int_equal(p2m_lock_acquisitions(d) - p2m0, 512 + 1);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    teardown1(h, d);
}

static void test_decrease_reservation_splits_a_superpage_entry_to_remove_one_4kib_page(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 12, 1 << 12, true);
    populate_one(h, 1, 512, 9);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.entries[1], 1);
    uint64_t m = mapped_mfn(d, 517);
    uint64_t g = 517;
    struct pb_reservation r = resv(1, &g, 1, 0, 0);
    struct pb_memop_result res;
    assert_int_equal(decrease(h, &CONTROL, &r, 0, false, &res), 1);
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.splits, 1);
    assert_int_equal(pc.entries[1], 0);
    assert_int_equal(pc.entries[0], 511);
    assert_int_equal(pb_m2p_get(pb_heap_m2p(h), m), PB_M2P_INVALID);
    unsigned owner;
    assert_false(pb_heap_frame_in_use(h, m, &owner));
    assert_int_equal(pb_domain_tot_pages(d), 511);
    teardown1(h, d);
}

static void
test_decrease_reservation_stops_at_a_hole_after_freeing_the_pages_before_it(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 12, 1 << 12, true);
    populate_one(h, 1, 0, 9);
    populate_one(h, 1, 512, 9);
    uint64_t hole = 100;
    struct pb_reservation r = resv(1, &hole, 1, 0, 0);
    struct pb_memop_result res;
    assert_int_equal(decrease(h, &CONTROL, &r, 0, false, &res), 1);
    uint64_t g[2] = {512, 0};
    r = resv(1, g, 2, 9, 0);
    /* The first extent goes whole; the second frees gfns 0-99 and stops at 100. */
    assert_int_equal(decrease(h, &CONTROL, &r, 0, false, &res), 1);
    assert_int_equal(res.error, -ENOENT);
    assert_int_equal(res.c.extents, 1);
    assert_int_equal(res.c.released_frames, 512 + 100);
    assert_int_equal(pb_domain_tot_pages(d), 1024 - 1 - 612);
    struct p2m_entry e;
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), 99, &e), 0);
    assert_int_equal(e.type, P2M_INVALID);
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), 101, &e), 0);
    assert_int_equal(e.type, P2M_RAM_RW);
    teardown1(h, d);
}

static void test_decrease_reservation_preempt_check_before_every_extent_but_the_first(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 12, 1 << 12, true);
    uint64_t g[3] = {0, 16, 32};
    struct pb_reservation r = resv(1, g, 3, 4, 0);
    struct pb_memop_result res;
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 3);
    preempt_every(1);
    uint64_t start = 0;
    for (unsigned inv = 1; inv <= 3; inv++) {
        start = decrease(h, &CONTROL, &r, start, false, &res);
        assert_int_equal(start, inv);
        assert_int_equal(res.c.released_frames, 16);
        assert_int_equal(res.preempted, inv < 3);
    }
    no_preemption();
    assert_int_equal(pb_domain_tot_pages(d), 0);
    teardown1(h, d);
}

static void
test_relinquish_memory_destroy_frees_every_page_dirty_one_at_a_time_preemptibly(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 13, 1 << 13, true);
    populate_one(h, 1, 0, 10);
    populate_one(h, 1, 1024, 9);
    for (uint64_t g = 2048; g < 2052; g++)
        populate_one(h, 1, g, 0);
    const uint64_t n = 1024 + 512 + 4;
    assert_int_equal(pb_domain_tot_pages(d), n);
    struct pb_heap_counters c0 = heap_counters(h);
    struct pb_memop_global_counters g0, g1;
    pb_memop_global_counters_read(&g0);
    uint64_t backlog = pb_scrub_backlog(h);
    preempt_every(64);
    pb_memop_domain_destroy(h, d);
    no_preemption();
    pb_memop_global_counters_read(&g1);
    struct pb_heap_counters c1 = heap_counters(h);
    assert_int_equal(g1.destroy_frames - g0.destroy_frames, n);
    assert_int_equal(c1.frees - c0.frees, n); /* order 0 each */
    /* A check after every page but the last, preempted at every 64th. */
    assert_int_equal(g1.destroy_continuations - g0.destroy_continuations, (n - 1) / 64);
    assert_int_equal(pb_scrub_backlog(h) - backlog, n);
    assert_null(pb_domain_get(h, 1));
    assert_valid(h);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * §7 The p2m.
 */

static void
test_p2m_add_page_looks_up_each_old_entry_and_writes_each_m2p_entry_in_one_hold(void **state)
{
    (void)state;
    /* The p2m itself: per page, an old-entry lookup, the M2P write, the log-dirty mark. */
    struct p2m *p;
    assert_int_equal(p2m_create(1 << 12, PB_LOCK_TICKET, &p), 0);
    _Atomic uint64_t *entries = calloc(1 << 12, sizeof(*entries));
    assert_non_null(entries);
    struct pb_m2p m2p = {.entry = entries, .nr_frames = 1 << 12};
    p2m_set_m2p(p, &m2p);
    assert_int_equal(p2m_log_dirty_enable(p), 0);
    struct p2m_add_stats st;
    assert_int_equal(p2m_add_page(p, 512, 2048, 9, &st), 0);
    assert_int_equal(st.lookups, 512);
    for (uint64_t i = 0; i < 512; i++) {
        assert_int_equal(pb_m2p_get(&m2p, 2048 + i), 512 + i);
        assert_true(p2m_log_dirty_test(p, 512 + i));
    }
    assert_false(p2m_log_dirty_test(p, 511));
    p2m_destroy(p, NULL, NULL);
    free((void *)entries);

    /* Through populate_physmap: the whole extent under one hold of the domain's p2m lock. */
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 12, 1 << 12, true);
    uint64_t before = p2m_lock_acquisitions(d);
    populate_one(h, 1, 0, 9);
    assert_int_equal(p2m_lock_acquisitions(d) - before, 1);
    uint64_t m = mapped_mfn(d, 0);
    for (uint64_t i = 0; i < 512; i++)
        assert_int_equal(pb_m2p_get(pb_heap_m2p(h), m + i), i);
    teardown1(h, d);
}

static void
test_p2m_add_page_a_repopulated_gfns_old_frame_stays_the_domains_until_it_dies(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 12, 1 << 12, true);
    uint64_t avail = pb_heap_total_avail(h);
    populate_one(h, 1, 5, 0);
    uint64_t old = mapped_mfn(d, 5);
    populate_one(h, 1, 5, 0);
    uint64_t now = mapped_mfn(d, 5);
    assert_int_not_equal(old, now);
    unsigned owner;
    assert_true(pb_heap_frame_in_use(h, old, &owner));
    assert_int_equal(owner, 1);
    assert_int_equal(pb_domain_tot_pages(d), 2);
    assert_int_equal(pb_m2p_get(pb_heap_m2p(h), old), PB_M2P_INVALID);
    assert_int_equal(pb_m2p_get(pb_heap_m2p(h), now), 5);
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    assert_int_equal(pb_heap_total_avail(h), avail);
    pb_heap_destroy(h);
}

static void test_p2m_maps_aligned_order9_and_order18_extents_as_one_superpage_entry(void **state)
{
    (void)state;
    struct pb_heap *h;
    struct pb_domain *d = setup1(&h, 1, 1 << 19, 1 << 19, true);
    populate_one(h, 1, 1 << 18, 18); /* first: the order-9 extent would split the only 1 GiB */
    populate_one(h, 1, 512, 9);
    struct p2m_entry e;
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), 512 + 100, &e), 0);
    assert_int_equal(e.order, 9);
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), (1 << 18) + 12345, &e), 0);
    assert_int_equal(e.order, 18);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.entries[1], 1);
    assert_int_equal(pc.entries[2], 1);
    teardown1(h, d);
}

struct lookup_inside {
    struct p2m *p;
    unsigned lookups;
};

static void lookup_while_writing(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order)
{
    (void)mfn;
    (void)order;
    struct lookup_inside *li = ctx;
    struct p2m_entry e;
    assert_int_equal(p2m_lookup(li->p, gfn + 1, &e), 0);
    li->lookups++;
}

static void test_p2m_lookups_take_no_lock_under_rcu(void **state)
{
    (void)state;
    /* A lookup made while this thread holds the writer lock (inside a release callback):
     * a lookup that took the lock would never return (checked builds: a lock-rank abort). */
    struct p2m *p;
    assert_int_equal(p2m_create(1 << 12, PB_LOCK_TICKET, &p), 0);
    assert_int_equal(p2m_set(p, 0, 7, 0, P2M_RAM_RW, NULL, NULL), 0);
    struct lookup_inside li = {p, 0};
    assert_int_equal(p2m_remove_page(p, 0, lookup_while_writing, &li), 0);
    assert_int_equal(li.lookups, 1);
    p2m_destroy(p, NULL, NULL);
}

/* ------------------------------------------------------------------------------------------
 * §8 Where Xen hurts: the one heap lock.
 */

static void test_alloc_heap_pages_xen_takes_one_global_heap_lock(void **state)
{
    (void)state;
    APPLIES("one_heap_lock");
    struct pb_heap *h = conf_machine(2, 1024);
    unsigned locks = 0;
    pb_heap_for_each_lock(h, count_lock, &locks);
    assert_int_equal(locks, 1);
    unsigned count = 0;
    for (unsigned n = 0; n < 2; n++)
        count += h->nodes[n]->heap_lock == &h->global_lock;
    assert_int_equal(count, 2);
    uint64_t before = heap_lock_acquisitions(h);
    alloc_ok(h, NULL, 0, EXACT(0));
    alloc_ok(h, NULL, 0, EXACT(1));
    assert_int_equal(heap_lock_acquisitions(h) - before, 2);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * The table itself.
 */

static void test_every_deviation_names_a_variant_and_a_rule_of_this_suite(void **state)
{
    (void)state;
    for (size_t i = 0; i < PB_ARRAY_SIZE(deviations); i++) {
        bool known_variant = false;
        for (const char *const *v = pb_variant_names(); *v; v++)
            known_variant |= !strcmp(*v, deviations[i].variant);
        if (!known_variant)
            fail_msg("deviation %zu names no variant: '%s'", i, deviations[i].variant);
        (void)deviates(deviations[i].variant, deviations[i].rule); /* fails on an unknown rule */
        assert_true(strlen(deviations[i].how) > 0);
    }
    /* Xen's own variant follows every rule. */
    for (size_t i = 0; i < PB_ARRAY_SIZE(rules); i++)
        assert_false(deviates("xen", rules[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* §1 */
        cmocka_unit_test(
            test_init_heap_pages_keeps_mfn0_out_and_buddies_aligned_within_node_and_zone),
        cmocka_unit_test(test_alloc_domheap_pages_memf_bits_caps_the_highest_zone_at_bits_to_zone),
        cmocka_unit_test(
            test_page_list_add_scrub_puts_clean_buddies_at_the_head_and_dirty_at_the_tail),
        cmocka_unit_test(test_heap_counters_free_plus_in_use_plus_offlined_is_every_frame),
        cmocka_unit_test(test_arch_get_dma_bitsize_a_quarter_of_node0_at_most_4gib),
        cmocka_unit_test(
            test_alloc_domheap_pages_searches_above_the_dma_zone_first_then_every_zone),
        /* §2 */
        cmocka_unit_test(
            test_alloc_heap_pages_claimed_memory_is_unavailable_unless_the_claim_covers_it),
        cmocka_unit_test(test_alloc_heap_pages_consumes_min_of_claim_and_request),
        cmocka_unit_test(test_alloc_heap_pages_splits_from_the_top_keeping_the_upper_half),
        cmocka_unit_test(test_get_free_buddy_clean_memory_on_every_node_beats_dirty_local_memory),
        cmocka_unit_test(test_get_free_buddy_moves_a_dirty_head_it_skips_to_the_tail),
        cmocka_unit_test(
            test_get_free_buddy_starts_after_last_alloc_node_and_rotates_over_the_affinity),
        cmocka_unit_test(
            test_a_new_domain_starts_at_last_alloc_node_0_so_its_first_extent_goes_after_0),
        cmocka_unit_test(test_alloc_domheap_pages_memf_no_owner_still_places_by_the_domain),
        cmocka_unit_test(
            test_get_free_buddy_falls_back_over_the_affinity_then_other_nodes_from_the_lowest),
        cmocka_unit_test(test_alloc_heap_pages_needs_a_tlb_flush_only_for_frames_an_owner_freed),
        cmocka_unit_test(test_alloc_heap_pages_scrubs_dirty_frames_unless_memf_no_scrub),
        /* §3 */
        cmocka_unit_test(
            test_free_heap_pages_merges_with_its_buddy_of_the_same_order_never_across_nodes),
        cmocka_unit_test(
            test_free_heap_pages_merged_first_dirty_is_the_lower_halfs_else_2_order_plus_upper),
        cmocka_unit_test(test_mark_page_free_invalidates_the_m2p_entry_of_every_frame),
        cmocka_unit_test(
            test_free_domheap_pages_frees_a_live_domains_frames_clean_dying_or_ownerless_dirty),
        cmocka_unit_test(test_free_heap_pages_stops_a_scrub_in_progress_before_merging),
        /* §4 */
        cmocka_unit_test(
            test_scrub_free_pages_runs_only_on_idle_cpus_so_a_busy_host_scrubs_nothing),
        cmocka_unit_test(
            test_scrub_free_pages_walks_zones_from_the_lowest_and_orders_from_max_order_down),
        cmocka_unit_test(test_node_to_scrub_own_node_else_a_node_without_cpus_one_cpu_per_node),
        cmocka_unit_test(test_scrub_free_pages_stops_for_a_busy_cpu_after_about_8_frames),
        cmocka_unit_test(
            test_populate_physmap_build_scrubs_the_extent_itself_checking_every_256_dirty_pages),
        cmocka_unit_test(
            test_populate_physmap_build_assigns_only_after_the_scrub_a_stash_is_nobodys),
        cmocka_unit_test(
            test_populate_physmap_build_max_pages_fails_after_the_scrub_and_frees_it_dirty),
        cmocka_unit_test(test_stash_allocation_keeps_the_old_stash_and_frees_the_new_extent),
        cmocka_unit_test(test_get_stashed_allocation_frees_a_stash_of_another_order_or_exact_node),
        /* §5 */
        cmocka_unit_test(test_assign_pages_dying_einval_over_max_eperm_too_many_e2big),
        cmocka_unit_test(test_domain_set_outstanding_pages_claim_rules),
        cmocka_unit_test(test_xenmem_claim_pages_on_a_dying_domain_is_einval),
        cmocka_unit_test(test_mem_claim_claim_4mib_populate_2mib_destroy_releases_the_rest),
        cmocka_unit_test(test_lock_order_page_alloc_lock_before_the_heap_lock),
        /* §6 */
        cmocka_unit_test(
            test_construct_memop_from_reservation_address_bits_up_to_12_refused_above_capped),
        cmocka_unit_test(
            test_propagate_node_privileged_node_below_max_numnodes_falls_back_64_refused),
        cmocka_unit_test(test_propagate_node_unprivileged_hint_ignored_exact_request_refused),
        cmocka_unit_test(test_max_order_is_the_largest_over_the_callers_roles_pod_allows_max_order),
        cmocka_unit_test(test_populate_physmap_preempt_check_before_every_extent_but_the_first),
        cmocka_unit_test(test_populate_physmap_build_skips_tlb_flushes_and_flushes_nothing_after),
        cmocka_unit_test(test_decrease_reservation_frees_2_order_order0_pages),
        cmocka_unit_test(
            test_decrease_reservation_splits_a_superpage_entry_to_remove_one_4kib_page),
        cmocka_unit_test(
            test_decrease_reservation_stops_at_a_hole_after_freeing_the_pages_before_it),
        cmocka_unit_test(test_decrease_reservation_preempt_check_before_every_extent_but_the_first),
        cmocka_unit_test(
            test_relinquish_memory_destroy_frees_every_page_dirty_one_at_a_time_preemptibly),
        /* §7 */
        cmocka_unit_test(
            test_p2m_add_page_looks_up_each_old_entry_and_writes_each_m2p_entry_in_one_hold),
        cmocka_unit_test(
            test_p2m_add_page_a_repopulated_gfns_old_frame_stays_the_domains_until_it_dies),
        cmocka_unit_test(test_p2m_maps_aligned_order9_and_order18_extents_as_one_superpage_entry),
        cmocka_unit_test(test_p2m_lookups_take_no_lock_under_rcu),
        /* §8 */
        cmocka_unit_test(test_alloc_heap_pages_xen_takes_one_global_heap_lock),
        /* the table */
        cmocka_unit_test(test_every_deviation_names_a_variant_and_a_rule_of_this_suite),
    };
    int failed = 0;
    for (const char *const *v = pb_variant_names(); *v; v++) {
        variant = *v;
        failed += cmocka_run_group_tests_name(variant, tests, rcu_group_setup, rcu_group_teardown);
    }
    return failed;
}
