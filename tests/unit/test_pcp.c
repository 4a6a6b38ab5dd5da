/*
 * pcp's own rules (heap.h): batch refills and drains at the watermarks, cached frames counted
 * as free and known to the validator, drain on pressure, exact node honoured, dirty frees
 * bypass the caches; each cache's lock is a ranked pb_lock with statistics, and the refills and
 * drains are counted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/heap_impl.h" /* the validator test corrupts a cache on purpose */
#include "core/memflags.h"

#define NODE_FRAMES 1024u
#define EXACT(n)    (MEMF_node(n) | MEMF_exact_node)
#define ALL_ZONES   1, PB_NR_ZONES - 1

static struct pb_heap *machine(unsigned nodes)
{
    struct pb_machine_desc desc = {.nr_nodes = nodes, .backing = PB_BACKING_NONE};
    for (unsigned n = 0; n < nodes; n++)
        desc.node_frames[n] = NODE_FRAMES;
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(&desc, "pcp", PB_LOCK_TICKET, &h), 0);
    pb_set_current_cpu(0);
    return h;
}

static void assert_valid(struct pb_heap *h)
{
    char msg[256] = "";
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("validator: %s", msg);
}

static uint64_t alloc0(struct pb_heap *h, unsigned flags)
{
    uint64_t mfn = 0;
    assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 0, flags, NULL, &mfn), 0);
    return mfn;
}

static void test_watermarks_api(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1);
    unsigned b, hi;
    assert_int_equal(pb_pcp_get_watermarks(h, 0, &b, &hi), 0);
    assert_int_equal(b, 31);
    assert_int_equal(hi, 186);
    assert_int_equal(pb_pcp_set_watermarks(h, 1, 4, 8), -EINVAL);
    assert_int_equal(pb_pcp_set_watermarks(h, 0, 0, 8), -EINVAL);
    assert_int_equal(pb_pcp_set_watermarks(h, 0, 4, PB_PCP_CAP), -EINVAL);
    assert_int_equal(pb_pcp_get_watermarks(h, 0, &b, &hi), 0);
    assert_int_equal(b, 31); /* unchanged */
    struct pb_heap *x = NULL;
    struct pb_machine_desc desc = {.nr_nodes = 1, .node_frames = {64}};
    assert_int_equal(pb_heap_create(&desc, "pernode", PB_LOCK_TICKET, &x), 0);
    assert_int_equal(pb_pcp_set_watermarks(x, 0, 4, 8), -EINVAL);
    pb_heap_destroy(x);
    pb_heap_destroy(h);
}

static void test_refill_takes_one_batch(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2);
    assert_int_equal(pb_pcp_set_watermarks(h, 0, 8, 16), 0);
    uint64_t before = pb_heap_node_avail(h, 1);
    uint64_t m = alloc0(h, EXACT(1));
    assert_int_equal(m, 2047); /* the first of the batch, split from the top */
    assert_int_equal(pb_pcp_cached(h, 0, 1, 0), 7);
    /* Cached frames are free: only the one handed out left the counters. */
    assert_int_equal(pb_heap_node_avail(h, 1), before - 1);
    for (uint64_t f = 2040; f < 2047; f++) {
        unsigned owner;
        assert_true(pb_heap_frame_cached(h, f));
        assert_false(pb_heap_frame_in_use(h, f, &owner));
    }
    assert_valid(h);
    /* The next 7 come from the cache, in the order they were taken (FIFO). */
    for (unsigned i = 0; i < 7; i++)
        assert_int_equal(alloc0(h, EXACT(1)), 2046 - i);
    assert_int_equal(pb_pcp_cached(h, 0, 1, 0), 0);
    alloc0(h, EXACT(1)); /* empty: refills another batch */
    assert_int_equal(pb_pcp_cached(h, 0, 1, 0), 7);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_free_drains_a_batch_above_high(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2);
    assert_int_equal(pb_pcp_set_watermarks(h, 0, 4, 6), 0);
    uint64_t m[16];
    for (unsigned i = 0; i < 16; i++)
        m[i] = alloc0(h, EXACT(1));
    assert_int_equal(pb_pcp_cached(h, 0, 1, 0), 0); /* 16 = 4 whole batches */
    struct pb_heap_counters c;
    pb_heap_read_counters(h, &c);
    assert_int_equal(c.pcp_refills, 4);
    assert_int_equal(c.pcp_drains, 0);
    for (unsigned i = 0; i < 6; i++)
        assert_int_equal(pb_free_heap_pages(h, m[i], 0, false), 0);
    assert_int_equal(pb_pcp_cached(h, 0, 1, 0), 6);
    assert_valid(h);
    /* The 7th goes above high: the 4 oldest go back to the buddy lists. */
    assert_int_equal(pb_free_heap_pages(h, m[6], 0, false), 0);
    assert_int_equal(pb_pcp_cached(h, 0, 1, 0), 3);
    unsigned o;
    uint32_t fd;
    assert_false(pb_heap_frame_cached(h, m[0]));
    assert_true(pb_heap_frame_cached(h, m[4]));
    /* m[0..3] = 2047..2044 merged on the lists; m[4..6] are cached, m[7..15] in use. */
    assert_true(pb_heap_free_buddy_at(h, 2044, &o, &fd));
    assert_int_equal(o, 2);
    pb_heap_read_counters(h, &c);
    assert_int_equal(c.pcp_drains, 1);
    pb_pcp_drain_all(h); /* the 3 left, in one batch */
    pb_heap_read_counters(h, &c);
    assert_int_equal(c.pcp_refills, 4);
    assert_int_equal(c.pcp_drains, 2);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_order9_cached_and_dirty_frees_bypass(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2);
    uint64_t m;
    assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 9, EXACT(1), NULL, &m), 0);
    assert_int_equal(pb_free_heap_pages(h, m, 9, false), 0);
    assert_int_equal(pb_pcp_cached(h, 0, 1, 9), 1);
    assert_valid(h);
    uint64_t again;
    assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 9, EXACT(1), NULL, &again), 0);
    assert_int_equal(again, m); /* straight from the cache */
    /* A dirty free never enters a cache: the scrubbers must see it on the lists. */
    assert_int_equal(pb_free_heap_pages(h, again, 9, true), 0);
    assert_int_equal(pb_pcp_cached(h, 0, 1, 9), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);
    uint64_t z = alloc0(h, EXACT(0));
    assert_int_equal(pb_free_heap_pages(h, z, 0, true), 0);
    assert_false(pb_heap_frame_cached(h, z));
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_exact_node_takes_only_that_nodes_cache(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2);
    uint64_t a = alloc0(h, EXACT(0));
    assert_int_equal(pb_free_heap_pages(h, a, 0, false), 0);
    assert_true(pb_pcp_cached(h, 0, 0, 0) > 0);
    uint64_t b = alloc0(h, EXACT(1));
    assert_int_equal(pb_mfn_to_node(h, b), 1);
    /* Fill node 1 completely: every frame comes from node 1, none from node 0's cache. */
    uint64_t cached0 = pb_pcp_cached(h, 0, 0, 0), m;
    while (pb_alloc_heap_pages(h, ALL_ZONES, 0, EXACT(1), NULL, &m) == 0)
        assert_int_equal(pb_mfn_to_node(h, m), 1);
    assert_int_equal(pb_heap_node_avail(h, 1), 0);
    /* The failure drained every cache back to the lists, node 0 lost nothing. */
    assert_int_equal(pb_heap_node_avail(h, 0), NODE_FRAMES - 1 - 1 + 1 - 0);
    (void)cached0;
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_drain_on_pressure_serves_a_claim(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1);
    struct pb_domain_config cfg = {.max_pages = 4 * NODE_FRAMES};
    struct pb_domain *d = NULL;
    assert_int_equal(pb_domain_create(h, 1, &cfg, &d), 0);
    /* CPU 1 leaves frames in its cache. */
    pb_set_current_cpu(1);
    uint64_t m[40];
    for (unsigned i = 0; i < 40; i++)
        m[i] = alloc0(h, 0);
    for (unsigned i = 0; i < 40; i++)
        assert_int_equal(pb_free_heap_pages(h, m[i], 0, false), 0);
    uint64_t cached = pb_pcp_cached(h, 1, 0, 0);
    assert_true(cached > 0);
    /* A claim of all free memory needs the cached frames: the caches are drained for it. */
    uint64_t free_frames = pb_heap_total_avail(h);
    assert_int_equal(free_frames, NODE_FRAMES - 1);
    assert_int_equal(pb_domain_claim_pages(d, free_frames), 0);
    assert_int_equal(pb_pcp_cached(h, 1, 0, 0), 0);
    assert_valid(h);
    /* Another domain cannot take anything, even from a cache (there is none left). */
    pb_set_current_cpu(2);
    uint64_t x;
    assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 0, 0, NULL, &x), -ENOMEM);
    /* The claimed domain gets every frame, from CPU 2's cache refills and the lists. */
    for (uint64_t i = 0; i < free_frames; i++)
        assert_int_equal(pb_alloc_domheap_pages(h, d, 0, 0, &x), 0);
    assert_int_equal(pb_domain_claim(d), 0);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_drain_on_pressure_serves_a_claimed_allocation(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1);
    struct pb_domain_config cfg = {.max_pages = 4 * NODE_FRAMES};
    struct pb_domain *d = NULL;
    assert_int_equal(pb_domain_create(h, 1, &cfg, &d), 0);
    /* CPU 3 caches frames split off the only order-9 buddy, [512, 1024) (highest zone). */
    pb_set_current_cpu(3);
    uint64_t m[40], x;
    for (unsigned i = 0; i < 40; i++)
        m[i] = alloc0(h, 0);
    for (unsigned i = 0; i < 40; i++)
        assert_int_equal(pb_free_heap_pages(h, m[i], 0, false), 0);
    assert_true(pb_pcp_cached(h, 3, 0, 0) >= 40);
    unsigned o;
    uint32_t fd;
    assert_false(pb_heap_free_buddy_at(h, 512, &o, &fd) && o == 9);
    assert_int_equal(pb_domain_claim_pages(d, 512), 0);
    /* Covered by the claim, yet no order-9 buddy exists until CPU 3's cache drains and its
     * frames merge back: the failure drains every cache and the retry succeeds. */
    pb_set_current_cpu(4);
    assert_int_equal(pb_alloc_domheap_pages(h, d, 9, 0, &x), 0);
    assert_int_equal(x, 512);
    assert_int_equal(pb_pcp_cached(h, 3, 0, 0), 0);
    assert_int_equal(pb_domain_claim(d), 0);
    struct pb_heap_counters c;
    pb_heap_read_counters(h, &c);
    assert_int_equal(c.alloc_failures, 0); /* the retried call did not fail */
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_validator_sees_cached_frames(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2);
    uint64_t m = alloc0(h, EXACT(1));
    assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    assert_valid(h);
    struct pb_pcp *p = h->pcp[0];
    struct pb_pcp_list *l = &p->lists[1 * PB_PCP_ORDERS + 0];
    char msg[256];
    /* A cached frame marked dirty. */
    h->frames[m].need_scrub = 1;
    assert_int_equal(pb_heap_validate(h, msg, sizeof(msg)), -EUCLEAN);
    assert_non_null(strstr(msg, "dirty"));
    h->frames[m].need_scrub = 0;
    /* A cached frame that says it is not cached. */
    h->frames[m].owner = PB_DOMID_NONE;
    assert_int_equal(pb_heap_validate(h, msg, sizeof(msg)), -EUCLEAN);
    assert_non_null(strstr(msg, "not free there"));
    h->frames[m].owner = PB_OWNER_CACHED;
    /* The same frame twice in a cache. */
    uint32_t saved = l->ring[(l->head + 1) % PB_PCP_CAP];
    l->ring[(l->head + 1) % PB_PCP_CAP] = l->ring[l->head];
    assert_int_equal(pb_heap_validate(h, msg, sizeof(msg)), -EUCLEAN);
    assert_non_null(strstr(msg, "two places"));
    l->ring[(l->head + 1) % PB_PCP_CAP] = saved;
    /* A cached frame of another node's list. */
    l->ring[l->head] = 5;
    assert_int_equal(pb_heap_validate(h, msg, sizeof(msg)), -EUCLEAN);
    l->ring[l->head] = (uint32_t)(l->ring[l->head] == 5 ? saved + 1 : saved);
    pb_heap_destroy(h);
}

static void test_counters_include_cache_hits(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1);
    for (unsigned i = 0; i < 10; i++) {
        uint64_t m = alloc0(h, 0);
        assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    }
    struct pb_heap_counters c;
    pb_heap_read_counters(h, &c);
    assert_int_equal(c.allocs, 10);
    assert_int_equal(c.frees, 10);
    pb_pcp_drain_all(h);
    assert_int_equal(pb_pcp_cached(h, 0, 0, 0), 0);
    assert_int_equal(pb_heap_total_avail(h), NODE_FRAMES - 1);
    assert_valid(h);
    pb_heap_destroy(h);
}

/* The caches' locks as pb_heap_for_each_lock reports them. */
struct lock_list {
    const struct pb_lock *pcp[4], *node[4];
    unsigned nr_pcp, nr_node;
};

static void list_lock(void *ctx, const struct pb_lock *lock)
{
    struct lock_list *ll = ctx;
    if (lock->rank == PB_RANK_PCP && ll->nr_pcp < 4)
        ll->pcp[ll->nr_pcp++] = lock;
    else if (lock->rank == PB_RANK_HEAP && ll->nr_node < 4)
        ll->node[ll->nr_node++] = lock;
}

static struct lock_list heap_locks(const struct pb_heap *h)
{
    struct lock_list ll = {0};
    pb_heap_for_each_lock(h, list_lock, &ll);
    return ll;
}

static void test_cache_lock_statistics(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1);
    struct lock_list ll = heap_locks(h);
    assert_int_equal(ll.nr_node, 1);
    assert_int_equal(ll.nr_pcp, 0); /* no CPU has used the heap yet */
    /* One allocation and one free from the cache: two acquisitions of CPU 0's cache lock. */
    uint64_t m = alloc0(h, 0);
    assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    ll = heap_locks(h);
    assert_int_equal(ll.nr_pcp, 1);
    assert_string_equal(ll.pcp[0]->name, "pcp.cpu0");
    struct pb_lock_stats st;
    pb_lock_stats_read(ll.pcp[0], &st);
    assert_int_equal(st.acquisitions, 2);
    assert_int_equal(st.contended, 0);
    /* Its holds are not timed (two clock reads would cost more than they last), and say so. */
    assert_true(st.hold_untimed);
    assert_int_equal(st.hold_ns_total, 0);
    assert_int_equal(st.hold_ns_max, 0);
    /* The refill went to the node's lock under the cache's: once, its hold timed. */
    pb_lock_stats_read(ll.node[0], &st);
    assert_int_equal(st.acquisitions, 1);
    assert_false(st.hold_untimed);
    /* Another CPU slot's traffic shows as a lock of its own. */
    pb_set_current_cpu(5);
    m = alloc0(h, 0);
    assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    m = alloc0(h, 0);
    ll = heap_locks(h);
    assert_int_equal(ll.nr_pcp, 2);
    assert_string_equal(ll.pcp[1]->name, "pcp.cpu5");
    pb_lock_stats_read(ll.pcp[1], &st);
    assert_int_equal(st.acquisitions, 3);
    pb_lock_stats_read(ll.pcp[0], &st);
    assert_int_equal(st.acquisitions, 2);
    assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    pb_heap_destroy(h);
}

static struct {
    unsigned calls;
    const struct pb_lock *held, *wanted;
} rank_seen;

static void record_rank_violation(const struct pb_lock *held, const struct pb_lock *wanted)
{
    rank_seen.calls++;
    rank_seen.held = held;
    rank_seen.wanted = wanted;
}

/* A cache's lock ranks before the node locks: taking it under one is a violation. */
static void test_cache_lock_rank(void **state)
{
    (void)state;
    if (POPBENCH_DEBUG == 0)
        skip(); /* ranks are checked in checked builds only */
    struct pb_heap *h = machine(1);
    uint64_t m = alloc0(h, 0); /* CPU 0's caches exist from here */
    struct lock_list ll = heap_locks(h);
    assert_int_equal(ll.nr_pcp, 1);
    memset(&rank_seen, 0, sizeof(rank_seen));
    pb_lock_set_rank_hook(record_rank_violation);
    /* In rank order (the cache, then the node, as a refill takes them): nothing to report. */
    struct pb_lock *node = (struct pb_lock *)ll.node[0], *cache = (struct pb_lock *)ll.pcp[0];
    pb_lock_acquire(cache);
    pb_lock_acquire(node);
    pb_lock_release(node);
    pb_lock_release(cache);
    assert_int_equal(rank_seen.calls, 0);
    /* The cache under the node's lock. */
    pb_lock_acquire(node);
    pb_pcp_cached(h, 0, 0, 0);
    pb_lock_release(node);
    pb_lock_set_rank_hook(NULL);
    assert_int_equal(rank_seen.calls, 1);
    assert_ptr_equal(rank_seen.held, node);
    assert_ptr_equal(rank_seen.wanted, cache);
    assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
    pb_heap_destroy(h);
}

/* The other variants have no caches: no refills, no drains. */
static void test_no_cache_counts_elsewhere(void **state)
{
    (void)state;
    struct pb_machine_desc desc = {.nr_nodes = 1, .node_frames = {64}};
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(&desc, "pernode", PB_LOCK_TICKET, &h), 0);
    uint64_t x;
    assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 0, 0, NULL, &x), 0);
    assert_int_equal(pb_free_heap_pages(h, x, 0, false), 0);
    struct pb_heap_counters c;
    pb_heap_read_counters(h, &c);
    assert_int_equal(c.allocs, 1);
    assert_int_equal(c.pcp_refills + c.pcp_drains, 0);
    pb_heap_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_watermarks_api),
        cmocka_unit_test(test_refill_takes_one_batch),
        cmocka_unit_test(test_free_drains_a_batch_above_high),
        cmocka_unit_test(test_order9_cached_and_dirty_frees_bypass),
        cmocka_unit_test(test_exact_node_takes_only_that_nodes_cache),
        cmocka_unit_test(test_drain_on_pressure_serves_a_claim),
        cmocka_unit_test(test_drain_on_pressure_serves_a_claimed_allocation),
        cmocka_unit_test(test_validator_sees_cached_frames),
        cmocka_unit_test(test_counters_include_cache_hits),
        cmocka_unit_test(test_cache_lock_statistics),
        cmocka_unit_test(test_cache_lock_rank),
        cmocka_unit_test(test_no_cache_counts_elsewhere),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
