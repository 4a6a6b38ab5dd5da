/*
 * The heap's rules (XEN-MODEL.md §1-3, §5), each test named after its rule and run against
 * every variant.
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
#include "core/heap_impl.h" /* the validator tests corrupt a heap on purpose */
#include "core/memflags.h"

#include "tests/common/heap_fixture.h"

static void test_fresh_heap_holds_every_frame_but_mfn0(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 4);
        assert_int_equal(pb_heap_total_avail(h), 4 * NODE_FRAMES - 1);
        assert_int_equal(pb_heap_node_avail(h, 0), NODE_FRAMES - 1);
        assert_int_equal(pb_heap_node_avail(h, 1), NODE_FRAMES);
        unsigned owner;
        assert_false(pb_heap_frame_in_use(h, 0, &owner));
        assert_buddy(h, 1024, 10, CLEAN);
        assert_buddy(h, 512, 9, CLEAN);
        assert_buddy(h, 1, 0, CLEAN);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_split_from_the_top_keeps_the_upper_half(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = buddy_machine(v, 2);
        assert_int_equal(alloc_ok(h, NULL, 0, EXACT(1)), 2047);
        assert_buddy(h, 1024, 9, CLEAN);
        assert_buddy(h, 1536, 8, CLEAN);
        assert_buddy(h, 2046, 0, CLEAN);
        assert_int_equal(alloc_ok(h, NULL, 0, EXACT(1)), 2046);
        assert_int_equal(alloc_ok(h, NULL, 1, EXACT(1)), 2044);
        assert_int_equal(alloc_ok(h, NULL, 9, EXACT(1)), 1024);
        assert_int_equal(pb_heap_node_avail(h, 1), NODE_FRAMES - 4 - 512);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_merge_with_predecessor_and_successor(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = buddy_machine(v, 2);
        uint64_t a = alloc_ok(h, NULL, 0, EXACT(1)); /* 2047 */
        uint64_t b = alloc_ok(h, NULL, 0, EXACT(1)); /* 2046 */
        /* 2046 first: its buddy 2047 is in use, no merge. */
        assert_int_equal(pb_free_heap_pages(h, b, 0, false), 0);
        assert_buddy(h, 2046, 0, CLEAN);
        /* 2047 merges with its predecessor, and on up to the whole order-10 block. */
        assert_int_equal(pb_free_heap_pages(h, a, 0, false), 0);
        assert_buddy(h, 1024, 10, CLEAN);
        assert_valid(h);

        a = alloc_ok(h, NULL, 0, EXACT(1));
        b = alloc_ok(h, NULL, 0, EXACT(1));
        /* 2047 first, then 2046 merges with its successor. */
        assert_int_equal(pb_free_heap_pages(h, a, 0, false), 0);
        assert_buddy(h, 2047, 0, CLEAN);
        assert_int_equal(pb_free_heap_pages(h, b, 0, false), 0);
        assert_buddy(h, 1024, 10, CLEAN);
        struct pb_heap_counters c;
        pb_heap_read_counters(h, &c);
        assert_true(c.merges >= 20);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_merge_never_crosses_a_node(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        /* Nodes of 1024 frames: node 2's [2048,3072) and node 3's [3072,4096) would be
         * buddies of order 10 were they on one node. */
        struct pb_heap *h = machine(v, 4);
        assert_buddy(h, 2048, 10, CLEAN);
        assert_buddy(h, 3072, 10, CLEAN);
        uint64_t m = alloc_ok(h, NULL, 10, EXACT(3));
        assert_int_equal(m, 3072);
        assert_int_equal(pb_free_heap_pages(h, m, 10, false), 0);
        assert_buddy(h, 3072, 10, CLEAN);
        assert_buddy(h, 2048, 10, CLEAN);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_first_dirty_after_merge(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = buddy_machine(v, 2);
        uint64_t m = alloc_ok(h, NULL, 10, EXACT(1));
        assert_int_equal(m, 1024);
        /* Upper half dirty, lower clean: merged first_dirty = 2^0 + 0. */
        assert_int_equal(pb_free_heap_pages(h, 1025, 0, true), 0);
        assert_int_equal(pb_free_heap_pages(h, 1024, 0, false), 0);
        assert_buddy(h, 1024, 1, 1);
        assert_int_equal(pb_heap_node_need_scrub(h, 1), 1);
        /* Lower half dirty (first_dirty 1): kept as the merged first_dirty. */
        assert_int_equal(pb_free_heap_pages(h, 1026, 1, false), 0);
        assert_buddy(h, 1024, 2, 1);
        for (unsigned o = 2; o < 10; o++)
            assert_int_equal(pb_free_heap_pages(h, 1024 + (1u << o), o, false), 0);
        assert_buddy(h, 1024, 10, 1);
        assert_int_equal(pb_heap_node_need_scrub(h, 1), 1);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_first_dirty_after_split(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = buddy_machine(v, 2);
        /* Make node 1 one order-10 buddy whose first dirty frame is 1022 (MFN 2046). */
        uint64_t m = alloc_ok(h, NULL, 1, EXACT(1));
        assert_int_equal(m, 2046);
        assert_int_equal(pb_free_heap_pages(h, m, 1, true), 0);
        assert_buddy(h, 1024, 10, 1022);
        assert_int_equal(pb_heap_node_need_scrub(h, 1), 2);
        /* Order 8 accepting dirty memory: lower halves below the dirty frames are clean, the
         * kept upper block starts first_dirty at 254. */
        m = alloc_ok(h, NULL, 8, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
        assert_int_equal(m, 1792);
        assert_buddy(h, 1024, 9, CLEAN);
        assert_buddy(h, 1536, 8, CLEAN);
        assert_true(pb_heap_frame_dirty(h, 2046));
        assert_true(pb_heap_frame_dirty(h, 2047));
        assert_false(pb_heap_frame_dirty(h, 2045));
        /* Taken dirty frames leave node_need_scrub (it counts free frames only). */
        assert_int_equal(pb_heap_node_need_scrub(h, 1), 0);
        assert_int_equal(pb_free_heap_pages(h, m, 8, false), 0);
        assert_valid(h);

        /* A dirty buddy whose first_dirty lies in the lower half: the upper half is then
         * conservatively dirty from its start. */
        m = alloc_ok(h, NULL, 10, EXACT(1));
        assert_int_equal(pb_free_heap_pages(h, 1024, 0, true), 0);
        assert_int_equal(pb_free_heap_pages(h, 1025, 0, false), 0);
        for (unsigned o = 1; o < 10; o++)
            assert_int_equal(pb_free_heap_pages(h, 1024 + (1u << o), o, false), 0);
        assert_buddy(h, 1024, 10, 0);
        m = alloc_ok(h, NULL, 0, EXACT(1));
        assert_int_equal(m, 2047);
        assert_buddy(h, 1024, 9, 0);
        assert_buddy(h, 1536, 8, 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_scrub_on_alloc_clears_dirty_frames(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        uint64_t m = alloc_ok(h, NULL, 10, EXACT(1));
        assert_int_equal(pb_free_heap_pages(h, m, 10, true), 0);
        assert_int_equal(pb_heap_node_need_scrub(h, 1), 1024);
        m = alloc_ok(h, NULL, 9, EXACT(1));
        for (unsigned i = 0; i < 512; i++)
            assert_false(pb_heap_frame_dirty(h, m + i));
        struct pb_heap_counters c;
        pb_heap_read_counters(h, &c);
        assert_int_equal(c.scrubbed_on_alloc, 512);
        assert_int_equal(c.dirty_alloc_pages, 512);
        assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_search_rotates_over_affinity(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 4);
        struct pb_domain *d = domain(h, 1, 1u << 20, (1u << 1) | (1u << 3));
        int expect[] = {1, 3, 1, 3, 1};
        for (unsigned i = 0; i < PB_ARRAY_SIZE(expect); i++)
            assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, d, 0, 0)), expect[i]);
        /* A requested node comes first, then the rotation carries on from there. */
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, d, 0, MEMF_node(0))), 0);
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, d, 0, 0)), 1);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void exhaust_node(struct pb_heap *h, unsigned node)
{
    uint64_t m;
    while (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, EXACT(node), NULL, &m) == 0)
        ;
    assert_int_equal(pb_heap_node_avail(h, node), 0);
}

static void test_exact_node_fails_when_the_node_is_full(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 4);
        exhaust_node(h, 2);
        uint64_t m;
        uint64_t before = pb_heap_total_avail(h);
        assert_int_equal(pb_alloc_domheap_pages(h, NULL, 0, EXACT(2), &m), -ENOMEM);
        assert_int_equal(pb_heap_total_avail(h), before);
        /* Without exact_node the next node serves it. */
        m = alloc_ok(h, NULL, 0, MEMF_node(2));
        assert_int_equal(pb_mfn_to_node(h, m), 3);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_exact_node_stays_within_affinity(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 1u << 20, 1u << 1);
        exhaust_node(h, 1);
        uint64_t m;
        assert_int_equal(pb_alloc_domheap_pages(h, d, 0, MEMF_exact_node, &m), -ENOMEM);
        /* Without it, the nodes outside the affinity come last. */
        m = alloc_ok(h, d, 0, 0);
        assert_int_equal(pb_mfn_to_node(h, m), 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

/* Every free frame of `node` dirty: take it all, give it back dirty. */
static void dirty_node(struct pb_heap *h, unsigned node)
{
    uint64_t mfns[NODE_FRAMES];
    unsigned n = 0;
    while (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, EXACT(node), NULL, &mfns[n]) == 0)
        n++;
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(pb_free_heap_pages(h, mfns[i], 0, true), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, node), pb_heap_node_avail(h, node));
}

static void test_clean_remote_memory_before_dirty_local(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        dirty_node(h, 1);
        /* Order 9 asking for node 1: node 1 is all dirty, node 0 has clean memory. */
        uint64_t m = alloc_ok(h, NULL, 9, MEMF_node(1));
        assert_int_equal(pb_mfn_to_node(h, m), 0);
        /* Order 0 takes dirty memory at once, on the node asked for. */
        m = alloc_ok(h, NULL, 0, MEMF_node(1));
        assert_int_equal(pb_mfn_to_node(h, m), 1);
        /* With node 0 full, order 9 accepts node 1's dirty memory in the second pass. */
        exhaust_node(h, 0);
        m = alloc_ok(h, NULL, 9, MEMF_node(1));
        assert_int_equal(pb_mfn_to_node(h, m), 1);
        struct pb_heap_counters c;
        pb_heap_read_counters(h, &c);
        assert_int_equal(c.second_pass, 1);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_zone_cap_from_memf_bits(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 4);
        /* 22 address bits: frames below 2^10 only (zones 1..10). */
        uint64_t m;
        unsigned n = 0;
        while (pb_alloc_domheap_pages(h, NULL, 0, MEMF_bits(22), &m) == 0) {
            assert_true(m < 1024);
            n++;
        }
        assert_int_equal(n, 1023);
        /* 23 bits reach zone 11. */
        m = alloc_ok(h, NULL, 0, MEMF_bits(23));
        assert_true(m >= 1024 && m < 2048);
        /* Tiny caps clamp to zone 1 (MFN 1), already taken. */
        assert_int_equal(pb_alloc_domheap_pages(h, NULL, 0, MEMF_bits(12), &m), -ENOMEM);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

/* Xen flushes TLBs only for frames a domain owned: an anonymous free needs no safety flush. */
static uint64_t tlb_flushes(struct pb_heap *h)
{
    struct pb_heap_counters c;
    pb_heap_read_counters(h, &c);
    return c.tlb_flushes;
}

static void test_tlb_flush_only_for_frames_an_owner_freed(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = buddy_machine(v, 1);
        uint64_t m = alloc_ok(h, NULL, 0, 0);
        assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);
        uint64_t f0 = tlb_flushes(h);
        assert_int_equal(alloc_ok(h, NULL, 0, 0), m);
        assert_int_equal(tlb_flushes(h), f0);
        assert_int_equal(pb_free_heap_pages(h, m, 0, false), 0);

        /* Two frames a domain gave back: the first reallocation flushes, and that flush
         * covers the second. MEMF_no_tlbflush skips the check. */
        struct pb_domain *d = domain(h, 1, 16, 0);
        uint64_t a = alloc_ok(h, d, 0, 0), b = alloc_ok(h, d, 0, 0);
        assert_int_equal(pb_free_domheap_pages(h, d, a, 0, false), 0);
        assert_int_equal(pb_free_domheap_pages(h, d, b, 0, false), 0);
        f0 = tlb_flushes(h);
        uint64_t x = alloc_ok(h, NULL, 0, MEMF_no_tlbflush);
        assert_int_equal(tlb_flushes(h), f0);
        uint64_t y = alloc_ok(h, NULL, 0, 0);
        assert_true((x == a && y == b) || (x == b && y == a));
        assert_int_equal(tlb_flushes(h), f0 + 1);
        assert_int_equal(pb_free_domheap_pages(h, d, a = alloc_ok(h, d, 0, 0), 0, false), 0);
        assert_int_equal(pb_free_heap_pages(h, x, 0, false), 0);
        /* x went back anonymous: taking it again needs nothing; a needs a flush. */
        f0 = tlb_flushes(h);
        uint64_t p = alloc_ok(h, NULL, 0, 0), q = alloc_ok(h, NULL, 0, 0);
        assert_true(p == a || q == a);
        assert_int_equal(tlb_flushes(h), f0 + 1);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_claim_errors(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 1024, 0);
        alloc_ok(h, d, 4, 0);                                      /* tot_pages 16 */
        assert_int_equal(pb_domain_claim_pages(d, 16), -EINVAL);   /* <= tot_pages */
        assert_int_equal(pb_domain_claim_pages(d, 1025), -EINVAL); /* > max_pages */
        assert_int_equal(pb_domain_claim_pages(d, 100), 0);
        assert_int_equal(pb_domain_claim(d), 84);
        assert_int_equal(pb_domain_claim_pages(d, 200), -EINVAL); /* a claim exists */
        assert_int_equal(pb_heap_outstanding_claims(h), 84);
        assert_int_equal(pb_domain_claim_pages(d, 0), 0); /* release */
        assert_int_equal(pb_heap_outstanding_claims(h), 0);
        /* More than the unclaimed free memory. */
        struct pb_domain *big = domain(h, 2, 1u << 20, 0);
        assert_int_equal(pb_domain_claim_pages(big, 2 * NODE_FRAMES), -ENOMEM);
        assert_int_equal(pb_domain_claim(big), 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_claim_consumed_on_allocation(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        /* Xen's own claims test: claim 4 MiB, populate one 2 MiB extent, destroy. */
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 1024, 0);
        assert_int_equal(pb_domain_claim_pages(d, 1024), 0);
        assert_int_equal(pb_heap_outstanding_claims(h), 1024);
        alloc_ok(h, d, 9, 0);
        assert_int_equal(pb_heap_outstanding_claims(h), 512);
        assert_int_equal(pb_domain_claim(d), 512);
        /* A no_refcount allocation does not consume the claim. */
        alloc_ok(h, d, 0, MEMF_no_refcount);
        assert_int_equal(pb_domain_claim(d), 512);
        assert_int_equal(pb_domain_extra_pages(d), 1);
        assert_valid(h);
        pb_domain_destroy(d);
        assert_int_equal(pb_heap_outstanding_claims(h), 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

/* Order-0 allocations (for d, or for nobody) until memory runs out: how many succeeded. */
static uint64_t alloc_until_enomem(struct pb_heap *h, struct pb_domain *d, unsigned flags)
{
    uint64_t n = 0, m;
    int rc;
    while ((rc = d ? pb_alloc_domheap_pages(h, d, 0, flags, &m)
                   : pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, flags, NULL, &m)) == 0)
        n++;
    assert_int_equal(rc, -ENOMEM);
    return n;
}

static void test_claims_never_over_committed(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *a = domain(h, 1, 1u << 20, 0);
        struct pb_domain *b = domain(h, 2, 1u << 20, 0);
        uint64_t free_frames = pb_heap_total_avail(h);
        assert_int_equal(pb_domain_claim_pages(a, free_frames - 8), 0);
        uint64_t m;
        /* b has no claim: only 8 unclaimed frames remain for it. */
        alloc_ok(h, b, 3, 0);
        assert_int_equal(pb_alloc_domheap_pages(h, b, 0, 0, &m), -ENOMEM);
        assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, 0, NULL, &m), -ENOMEM);
        /* a still gets every frame it claimed. */
        assert_int_equal(alloc_until_enomem(h, a, 0), free_frames - 8);
        assert_int_equal(pb_heap_outstanding_claims(h), 0);
        assert_int_equal(pb_heap_total_avail(h), 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

/*
 * Exact near the limits, wherever the unclaimed frames sit. pernode and pcp keep them as
 * credit on the nodes (borrowed from the host's pool in batches) or in caches: a claim of
 * every unclaimed frame must still succeed (and one more fail), an allocation without a claim
 * must get every unclaimed frame even when they are another node's credit (and not one more),
 * and a claimant must still get all it claimed.
 */
static uint64_t unclaimed(struct pb_heap *h)
{
    return pb_heap_total_avail(h) - pb_heap_outstanding_claims(h);
}

static void test_claims_exact_wherever_unclaimed_frames_sit(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *a = domain(h, 1, 4096, 0), *b = domain(h, 2, 4096, 0);
        uint64_t m[200];
        /* Node 0 borrows credit beyond its need, and keeps it (or caches the frame). */
        m[0] = 0;
        assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, EXACT(0), NULL, &m[0]), 0);
        assert_int_equal(pb_free_heap_pages(h, m[0], 0, false), 0);
        uint64_t u = unclaimed(h);
        assert_int_equal(u, 2 * NODE_FRAMES - 1);
        /* Every unclaimed frame can be claimed, and not one more. */
        assert_int_equal(pb_domain_claim_pages(a, u - 300), 0);
        assert_int_equal(pb_domain_claim_pages(b, 301), -ENOMEM);
        assert_valid(h);
        /* 200 frames of node 0 taken and given back: near the limit the credit they leave
         * behind is node 0's (or its cache's), while node 1 has frames but no credit. */
        for (int i = 0; i < 200; i++)
            assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, EXACT(0), NULL, &m[i]),
                             0);
        for (int i = 0; i < 200; i++)
            assert_int_equal(pb_free_heap_pages(h, m[i], 0, false), 0);
        assert_int_equal(unclaimed(h), 300);
        assert_valid(h);
        /* Node 1 gets all 300 unclaimed frames without a claim, and not one more. */
        assert_int_equal(alloc_until_enomem(h, NULL, EXACT(1)), 300);
        assert_int_equal(unclaimed(h), 0);
        assert_int_equal(alloc_until_enomem(h, NULL, 0), 0);
        assert_int_equal(pb_domain_claim_pages(b, 1), -ENOMEM);
        assert_valid(h);
        /* The claimant still gets every frame it claimed. */
        assert_int_equal(alloc_until_enomem(h, a, 0), u - 300);
        assert_int_equal(pb_heap_outstanding_claims(h), 0);
        assert_int_equal(pb_heap_total_avail(h), 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_claim_smaller_than_request_needs_the_pool(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *a = domain(h, 1, 1u << 20, 0);
        struct pb_domain *b = domain(h, 2, 1u << 20, 0);
        uint64_t free_frames = pb_heap_total_avail(h);
        /* a claims 4, b claims all but 8 of the rest: the unclaimed pool is 8. */
        assert_int_equal(pb_domain_claim_pages(a, 4), 0);
        assert_int_equal(pb_domain_claim_pages(b, free_frames - 12), 0);
        uint64_t m;
        /* a asks for 16 > its claim of 4: needs 16 unclaimed, there are 8. */
        assert_int_equal(pb_alloc_domheap_pages(h, a, 4, 0, &m), -ENOMEM);
        assert_int_equal(pb_domain_claim(a), 4);
        /* Order 3 (8 frames): the pool holds 8, the claim pays 4 of them. */
        alloc_ok(h, a, 3, 0);
        assert_int_equal(pb_domain_claim(a), 0);
        assert_int_equal(pb_heap_outstanding_claims(h), free_frames - 12);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_assign_pages_errors(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 16, 0);
        uint64_t m;
        alloc_ok(h, d, 3, 0);
        /* -E2BIG: 16 more do not fit under max_pages 16 with 8 in. */
        uint64_t before = pb_heap_total_avail(h);
        assert_int_equal(pb_alloc_domheap_pages(h, d, 4, 0, &m), -E2BIG);
        assert_int_equal(pb_heap_total_avail(h), before); /* the frames went back */
        alloc_ok(h, d, 3, 0);
        /* At max_pages exactly: even one more is -E2BIG. */
        assert_int_equal(pb_alloc_domheap_pages(h, d, 0, 0, &m), -E2BIG);
        /* -EPERM: tot_pages already over max_pages. */
        assert_int_equal(pb_domain_set_max_pages(d, 4), 0);
        assert_int_equal(pb_alloc_domheap_pages(h, d, 0, 0, &m), -EPERM);
        /* Direct assign of a block not owned by nobody: -EINVAL. */
        assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, 0, NULL, &m), 0);
        assert_int_equal(pb_assign_pages(d, m, 0, MEMF_no_refcount), 0);
        assert_int_equal(pb_assign_pages(d, m, 0, MEMF_no_refcount), -EINVAL);
        assert_int_equal(pb_domain_extra_pages(d), 1);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_assign_to_dying_domain_fails(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 1024, 0);
        uint64_t m;
        assert_int_equal(pb_domain_claim_pages(d, 100), 0);
        assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 2, 0, NULL, &m), 0);
        pb_domain_kill(d);
        assert_true(pb_domain_dying(d));
        assert_int_equal(pb_heap_outstanding_claims(h), 0); /* killing releases the claim */
        assert_int_equal(pb_assign_pages(d, m, 2, 0), -EINVAL);
        uint64_t x;
        assert_int_equal(pb_alloc_domheap_pages(h, d, 0, 0, &x), -EINVAL);
        assert_int_equal(pb_free_heap_pages(h, m, 2, false), 0);
        pb_domain_destroy(d);
        assert_null(pb_domain_get(h, 1));
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_max_pages_bounds_tot_pages(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 100, 0);
        uint64_t m;
        unsigned got = 0;
        while (pb_alloc_domheap_pages(h, d, 0, 0, &m) == 0)
            got++;
        assert_int_equal(got, 100);
        assert_int_equal(pb_domain_tot_pages(d), 100);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_destroy_frees_every_frame_dirty(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        uint64_t before = pb_heap_total_avail(h);
        struct pb_domain *d = domain(h, 1, 1024, 0);
        alloc_ok(h, d, 9, 0);
        alloc_ok(h, d, 0, 0);
        assert_int_equal(pb_domain_tot_pages(d), 513);
        pb_domain_destroy(d);
        assert_int_equal(pb_heap_total_avail(h), before);
        assert_int_equal(pb_heap_node_need_scrub(h, 0) + pb_heap_node_need_scrub(h, 1), 513);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_balloon_down_frees_clean_unless_asked(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 1024, 0);
        uint64_t a = alloc_ok(h, d, 0, 0), b = alloc_ok(h, d, 0, 0);
        assert_int_equal(pb_free_domheap_pages(h, d, a, 0, false), 0);
        assert_int_equal(pb_heap_node_need_scrub(h, 0) + pb_heap_node_need_scrub(h, 1), 0);
        assert_int_equal(pb_free_domheap_pages(h, d, b, 0, true), 0);
        assert_int_equal(pb_heap_node_need_scrub(h, 0) + pb_heap_node_need_scrub(h, 1), 1);
        assert_int_equal(pb_domain_tot_pages(d), 0);
        /* Not its frame any more. */
        assert_int_equal(pb_free_domheap_pages(h, d, b, 0, false), -EINVAL);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_bad_arguments_return_einval_and_change_nothing(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 1024, 0);
        uint64_t in_use = alloc_ok(h, d, 0, 0);
        uint64_t total = pb_heap_total_avail(h), m = 0;
        struct pb_heap_counters c0, c1;
        pb_heap_read_counters(h, &c0);
        int top = PB_NR_ZONES - 1;
        assert_int_equal(pb_alloc_heap_pages(h, 1, top, PB_MAX_ORDER + 1, 0, NULL, &m), -EINVAL);
        assert_int_equal(pb_alloc_heap_pages(h, 0, top, 0, 0, NULL, &m), -EINVAL);
        assert_int_equal(pb_alloc_heap_pages(h, 5, 4, 0, 0, NULL, &m), -EINVAL);
        assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES, 0, 0, NULL, &m), -EINVAL);
        assert_int_equal(pb_alloc_heap_pages(h, 1, top, 0, 1u << 12, NULL, &m), -EINVAL);
        assert_int_equal(pb_alloc_heap_pages(h, 1, top, 0, MEMF_node(2), NULL, &m), -EINVAL);
        assert_int_equal(pb_alloc_heap_pages(h, 1, top, 0, 0, NULL, NULL), -EINVAL);
        assert_int_equal(pb_alloc_domheap_pages(h, d, PB_MAX_ORDER + 1, 0, &m), -EINVAL);
        assert_int_equal(pb_free_heap_pages(h, 0, 0, false), -EINVAL);    /* MFN 0 */
        assert_int_equal(pb_free_heap_pages(h, 1025, 1, false), -EINVAL); /* misaligned */
        assert_int_not_equal(in_use, 1);
        assert_int_equal(pb_free_heap_pages(h, 1, 0, false), -EINVAL);      /* free frame */
        assert_int_equal(pb_free_heap_pages(h, 4096, 0, false), -EINVAL);   /* no such frame */
        assert_int_equal(pb_free_heap_pages(h, in_use, 0, false), -EINVAL); /* owned */
        assert_int_equal(pb_free_domheap_pages(h, d, 1u << 20, 0, false), -EINVAL);
        assert_int_equal(pb_assign_pages(d, in_use, 0, 0), -EINVAL); /* already owned */
        struct pb_domain_config cfg = {.max_pages = 1, .node_affinity = 1u << 2};
        struct pb_domain *x;
        assert_int_equal(pb_domain_create(h, 2, &cfg, &x), -EINVAL); /* no node 2 */
        cfg.node_affinity = 0;
        assert_int_equal(pb_domain_create(h, PB_MAX_DOMAINS, &cfg, &x), -EINVAL);
        assert_int_equal(pb_domain_create(h, 1, &cfg, &x), -EEXIST);
        struct pb_machine_desc bad = {.nr_nodes = 0};
        struct pb_heap *hh;
        assert_int_equal(pb_heap_create(&bad, "xen", PB_LOCK_TICKET, &hh), -EINVAL);
        bad.nr_nodes = 1;
        bad.node_frames[0] = 16;
        assert_int_equal(pb_heap_create(&bad, "no-such-variant", PB_LOCK_TICKET, &hh), -EINVAL);
        pb_heap_read_counters(h, &c1);
        assert_memory_equal(&c0, &c1, sizeof(c0));
        assert_int_equal(pb_heap_total_avail(h), total);
        assert_int_equal(pb_domain_tot_pages(d), 1);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

/* The validator must be able to fail: corrupt a heap behind the API and expect a report. */
static void expect_invalid(struct pb_heap *h, const char *needle)
{
    char msg[256] = "";
    assert_int_equal(pb_heap_validate(h, msg, sizeof(msg)), -EUCLEAN);
    if (!strstr(msg, needle))
        fail_msg("validator said '%s', expected it to mention '%s'", msg, needle);
}

static void test_validator_catches_each_broken_rule(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        atomic_fetch_add(&h->nodes[1]->avail[11], 1);
        expect_invalid(h, "avail[1][11]");
        atomic_fetch_sub(&h->nodes[1]->avail[11], 1);
        assert_valid(h);

        if (strcmp(v, "xen") == 0) {
            atomic_fetch_add(&h->total_avail, 1);
            expect_invalid(h, "total_avail_pages");
            atomic_fetch_sub(&h->total_avail, 1);
        } else {
            /* pernode, pcp: pool + node credits = free - outstanding, none of them negative. */
            atomic_fetch_add(&h->nodes[0]->credit, 7);
            expect_invalid(h, "unclaimed frames");
            atomic_fetch_sub(&h->nodes[0]->credit, 7);
            atomic_fetch_sub(&h->nodes[1]->credit, 3);
            atomic_fetch_add(&h->unclaimed, 3);
            expect_invalid(h, "node 1: negative unclaimed credit");
            atomic_fetch_add(&h->nodes[1]->credit, 3);
            atomic_fetch_sub(&h->unclaimed, 3);
            atomic_fetch_add(&h->nodes[0]->claims_retired, 2);
            expect_invalid(h, "outstanding_claims");
            atomic_fetch_sub(&h->nodes[0]->claims_retired, 2);
            assert_valid(h);
        }

        atomic_fetch_add(&h->outstanding_claims, 5);
        expect_invalid(h, "outstanding_claims");
        atomic_fetch_sub(&h->outstanding_claims, 5);

        h->nodes[1]->need_scrub = 3;
        expect_invalid(h, "node_need_scrub[1]");
        h->nodes[1]->need_scrub = 0;

        /* A frame owned by a domain and free at once. */
        struct pb_domain *d = domain(h, 1, 1024, 0);
        uint64_t m = alloc_ok(h, d, 0, EXACT(1));
        h->frames[m].state = PGS_FREE;
        expect_invalid(h, "not in use");
        h->frames[m].state = PGS_INUSE;
        assert_valid(h);

        /* tot_pages that does not match the frames. */
        d->tot_pages++;
        expect_invalid(h, "tot_pages");
        d->tot_pages--;

        /* A buddy's order that does not match its list. */
        h->frames[1024].order = 3;
        expect_invalid(h, "order");
        h->frames[1024].order = 9;

        /* A dirty frame before its buddy's first_dirty. */
        h->frames[1025].need_scrub = 1;
        expect_invalid(h, "dirty before");
        h->frames[1025].need_scrub = 0;
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_64gib_machine_builds_metadata_only(void **state)
{
    (void)state;
    struct pb_machine_desc desc = {.nr_nodes = 4, .backing = PB_BACKING_NONE};
    for (unsigned n = 0; n < 4; n++)
        desc.node_frames[n] = (16ull << 30) >> PB_PAGE_SHIFT;
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(&desc, "pernode", PB_LOCK_TICKET, &h), 0);
    assert_int_equal(pb_heap_total_avail(h), (64ull << 30 >> PB_PAGE_SHIFT) - 1);
    assert_false(pb_heap_backed(h));
    uint64_t m;
    assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, PB_MAX_ORDER, 0, NULL, &m), 0);
    assert_int_equal(m & ((1u << PB_MAX_ORDER) - 1), 0);
    assert_int_equal(pb_free_heap_pages(h, m, PB_MAX_ORDER, true), 0);
    assert_valid(h);
    pb_heap_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fresh_heap_holds_every_frame_but_mfn0),
        cmocka_unit_test(test_split_from_the_top_keeps_the_upper_half),
        cmocka_unit_test(test_merge_with_predecessor_and_successor),
        cmocka_unit_test(test_merge_never_crosses_a_node),
        cmocka_unit_test(test_first_dirty_after_merge),
        cmocka_unit_test(test_first_dirty_after_split),
        cmocka_unit_test(test_scrub_on_alloc_clears_dirty_frames),
        cmocka_unit_test(test_search_rotates_over_affinity),
        cmocka_unit_test(test_exact_node_fails_when_the_node_is_full),
        cmocka_unit_test(test_exact_node_stays_within_affinity),
        cmocka_unit_test(test_clean_remote_memory_before_dirty_local),
        cmocka_unit_test(test_zone_cap_from_memf_bits),
        cmocka_unit_test(test_tlb_flush_only_for_frames_an_owner_freed),
        cmocka_unit_test(test_claim_errors),
        cmocka_unit_test(test_claim_consumed_on_allocation),
        cmocka_unit_test(test_claims_never_over_committed),
        cmocka_unit_test(test_claims_exact_wherever_unclaimed_frames_sit),
        cmocka_unit_test(test_claim_smaller_than_request_needs_the_pool),
        cmocka_unit_test(test_assign_pages_errors),
        cmocka_unit_test(test_assign_to_dying_domain_fails),
        cmocka_unit_test(test_max_pages_bounds_tot_pages),
        cmocka_unit_test(test_destroy_frees_every_frame_dirty),
        cmocka_unit_test(test_balloon_down_frees_clean_unless_asked),
        cmocka_unit_test(test_bad_arguments_return_einval_and_change_nothing),
        cmocka_unit_test(test_validator_catches_each_broken_rule),
        cmocka_unit_test(test_64gib_machine_builds_metadata_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
