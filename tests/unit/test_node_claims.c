/*
 * Per-node claims (core/domain.h, pb_domain_claim_nodes): each error, the guarantee that a
 * node claim keeps its frames for its domain, retirement node first then host-wide, the
 * interplay with exact-node requests, the search order, release, and the validator's node
 * identities. Every test runs against every variant.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/heap_impl.h" /* the validator test corrupts a heap on purpose */

#include "tests/common/heap_fixture.h"

#define ALL_ZONES 1, PB_NR_ZONES - 1

static int claim2(struct pb_domain *d, int n0, uint64_t p0, int n1, uint64_t p1)
{
    struct pb_claim parts[2] = {{n0, p0}, {n1, p1}};
    return pb_domain_claim_nodes(d, parts, 2);
}

static int claim1(struct pb_domain *d, int node, uint64_t pages)
{
    struct pb_claim part = {node, pages};
    return pb_domain_claim_nodes(d, &part, 1);
}

static void assert_no_claims(struct pb_heap *h, struct pb_domain *d)
{
    assert_int_equal(pb_domain_claim(d), 0);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    for (unsigned n = 0; n < pb_heap_nr_nodes(h); n++)
        assert_int_equal(pb_heap_node_claims(h, n), 0);
}

static void test_node_claim_errors(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 1024, 0);
        struct pb_claim many[PB_MAX_NODES + 2];
        for (unsigned i = 0; i < PB_MAX_NODES + 2; i++)
            many[i] = (struct pb_claim){PB_CLAIM_HOST, 0};
        assert_int_equal(pb_domain_claim_nodes(NULL, many, 1), -EINVAL);
        assert_int_equal(pb_domain_claim_nodes(d, NULL, 1), -EINVAL);
        assert_int_equal(pb_domain_claim_nodes(d, many, PB_MAX_NODES + 2), -EINVAL);
        assert_int_equal(claim1(d, 2, 1), -EINVAL);       /* no node 2 */
        assert_int_equal(claim1(d, -2, 1), -EINVAL);      /* neither node nor host */
        assert_int_equal(claim2(d, 0, 1, 0, 1), -EINVAL); /* node 0 twice */
        assert_int_equal(claim2(d, PB_CLAIM_HOST, 1, PB_CLAIM_HOST, 1), -EINVAL);
        assert_int_equal(claim2(d, 0, 600, 1, 425), -EINVAL);      /* 1025 > max_pages */
        assert_int_equal(claim2(d, 0, UINT64_MAX, 1, 2), -EINVAL); /* the sum overflows */
        assert_no_claims(h, d);

        /* tot_pages counts against max_pages: 16 held + 1009 > 1024. */
        alloc_ok(h, d, 4, 0);
        assert_int_equal(claim2(d, 0, 600, PB_CLAIM_HOST, 409), -EINVAL);
        assert_int_equal(claim2(d, 0, 600, PB_CLAIM_HOST, 408), 0);
        assert_int_equal(pb_domain_claim(d), 1008);
        assert_int_equal(pb_domain_node_claim(d, 0), 600);
        assert_int_equal(pb_domain_host_claim(d), 408);
        assert_int_equal(pb_heap_node_claims(h, 0), 600);
        assert_int_equal(pb_heap_outstanding_claims(h), 1008);
        assert_valid(h);
        /* A claim exists, of either kind. */
        assert_int_equal(claim1(d, 1, 1), -EINVAL);
        assert_int_equal(pb_domain_claim_pages(d, 100), -EINVAL);
        /* nr == 0 releases every part. */
        assert_int_equal(pb_domain_claim_nodes(d, NULL, 0), 0);
        assert_no_claims(h, d);
        assert_int_equal(pb_domain_claim_pages(d, 100), 0);
        assert_int_equal(claim1(d, 1, 1), -EINVAL);
        assert_int_equal(pb_domain_claim_pages(d, 0), 0);
        assert_no_claims(h, d);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_node_claim_enomem_changes_nothing(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *a = domain(h, 1, 4096, 0);
        struct pb_domain *b = domain(h, 2, 4096, 0);
        /* More than the machine holds, for a domain allowed that much. */
        struct pb_domain *huge = domain(h, 3, UINT64_MAX, 0);
        assert_int_equal(claim1(huge, PB_CLAIM_HOST, 1ull << 40), -ENOMEM);
        assert_no_claims(h, huge);
        /* More than node 1 holds (1024 frames). */
        assert_int_equal(claim1(a, 1, 1025), -ENOMEM);
        /* All or nothing: node 0's part fits, node 1's does not. */
        assert_int_equal(claim2(a, 0, 100, 1, 1025), -ENOMEM);
        assert_no_claims(h, a);
        /* a holds all of node 1; b cannot claim there, even one frame, nor host-wide more
         * than what is left unclaimed. */
        assert_int_equal(claim1(a, 1, 1024), 0);
        assert_int_equal(claim1(b, 1, 1), -ENOMEM);
        assert_int_equal(claim1(b, PB_CLAIM_HOST, NODE_FRAMES), -ENOMEM); /* 1023 left */
        assert_int_equal(claim2(b, 0, 23, PB_CLAIM_HOST, 1000), 0);
        assert_int_equal(pb_heap_outstanding_claims(h), 2047);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

/* Frames another domain's node claim holds are never handed to anyone else. */
static void test_node_claim_keeps_its_frames_for_its_domain(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *a = domain(h, 1, 4096, 0);
        struct pb_domain *b = domain(h, 2, 4096, 1u << 1); /* b prefers node 1 */
        assert_int_equal(claim1(a, 1, NODE_FRAMES), 0);
        uint64_t m;
        /* b's affinity names node 1, whose frames are all claimed: it gets node 0's. */
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, b, 9, 0)), 0);
        for (unsigned i = 0; i < 8; i++)
            assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, b, 0, 0)), 0);
        assert_int_equal(pb_alloc_domheap_pages(h, b, 0, EXACT(1), &m), -ENOMEM);
        assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 0, EXACT(1), NULL, &m), -ENOMEM);
        assert_valid(h);
        /* a gets every frame of node 1, with no node named, and its claim runs out exactly. */
        for (unsigned i = 0; i < NODE_FRAMES; i++)
            assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, a, 0, 0)), 1);
        assert_int_equal(pb_domain_claim(a), 0);
        assert_int_equal(pb_heap_node_claims(h, 1), 0);
        assert_int_equal(pb_heap_node_avail(h, 1), 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_node_claims_retire_node_first_then_host(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 4096, 0);
        assert_int_equal(claim2(d, 0, 8, PB_CLAIM_HOST, 16), 0);
        alloc_ok(h, d, 2, EXACT(0)); /* 4 of the 8 on node 0 */
        assert_int_equal(pb_domain_node_claim(d, 0), 4);
        assert_int_equal(pb_domain_host_claim(d), 16);
        alloc_ok(h, d, 3, EXACT(0)); /* the other 4, then 4 host-wide */
        assert_int_equal(pb_domain_node_claim(d, 0), 0);
        assert_int_equal(pb_domain_host_claim(d), 12);
        alloc_ok(h, d, 2, EXACT(1)); /* no claim on node 1: host-wide */
        assert_int_equal(pb_domain_host_claim(d), 8);
        assert_int_equal(pb_heap_outstanding_claims(h), 8);
        assert_int_equal(pb_heap_node_claims(h, 0), 0);
        assert_valid(h);
        /* Order 0 (pcp serves it from its cache): the same order of retirement. */
        assert_int_equal(pb_domain_claim_pages(d, 0), 0);
        assert_int_equal(claim2(d, 1, 2, PB_CLAIM_HOST, 1), 0);
        alloc_ok(h, d, 0, EXACT(1));
        assert_int_equal(pb_domain_node_claim(d, 1), 1);
        alloc_ok(h, d, 0, EXACT(1));
        assert_int_equal(pb_domain_node_claim(d, 1), 0);
        assert_int_equal(pb_domain_host_claim(d), 1);
        alloc_ok(h, d, 0, EXACT(1));
        assert_no_claims(h, d);
        /* A claimed allocation that finds nothing gives every part back: node 1 admits it
         * (its claim covers it) but has no frame below 4 MiB (MEMF_bits(22)). */
        struct pb_domain *e = domain(h, 2, 1u << 20, 0);
        assert_int_equal(claim2(e, 1, 16, PB_CLAIM_HOST, 16), 0);
        uint64_t m;
        assert_int_equal(pb_alloc_domheap_pages(h, e, 4, EXACT(1) | MEMF_bits(22), &m), -ENOMEM);
        assert_int_equal(pb_alloc_domheap_pages(h, e, 11, EXACT(1), &m), -ENOMEM);
        assert_int_equal(pb_domain_node_claim(e, 1), 16);
        assert_int_equal(pb_domain_host_claim(e), 16);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_node_claim_exact_node_interplay(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *a = domain(h, 1, 4096, 0);
        struct pb_domain *b = domain(h, 2, 4096, 0);
        assert_int_equal(claim1(a, 1, NODE_FRAMES), 0);
        assert_int_equal(pb_domain_claim_pages(b, 100), 0);
        uint64_t m;
        /* b's host-wide claim does not reach frames a's node claim holds... */
        assert_int_equal(pb_alloc_domheap_pages(h, b, 0, EXACT(1), &m), -ENOMEM);
        assert_int_equal(pb_domain_claim(b), 100);
        /* ...but pays for frames on a node with unclaimed ones. */
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, b, 0, EXACT(0))), 0);
        assert_int_equal(pb_domain_claim(b), 99);
        /* An exact request on a node a has no claim on takes unclaimed frames and leaves a's
         * node claim whole; so does a node hint (the caller's node comes first). */
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, a, 3, EXACT(0))), 0);
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, a, 3, MEMF_node(0))), 0);
        assert_int_equal(pb_domain_node_claim(a, 1), NODE_FRAMES);
        /* Exact on its claimed node: served by the claim even with the pool empty. */
        struct pb_domain *c = domain(h, 3, 1u << 20, 0);
        pb_pcp_drain_all(h); /* cached frames are unclaimed too: give them back first */
        assert_int_equal(pb_domain_claim_pages(c, pb_heap_total_avail(h) - NODE_FRAMES - 99), 0);
        assert_int_equal(pb_alloc_heap_pages(h, ALL_ZONES, 0, 0, NULL, &m), -ENOMEM);
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, a, 9, EXACT(1))), 1);
        assert_int_equal(pb_domain_node_claim(a, 1), NODE_FRAMES - 512);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

/* Without a node named, the search starts on the nodes the domain still has claims on. */
static void test_node_claims_lead_the_search(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 4);
        struct pb_domain *d = domain(h, 1, 1u << 20, 0);
        assert_int_equal(claim2(d, 2, 512, 3, 512), 0);
        unsigned nodes[4];
        for (unsigned i = 0; i < 4; i++)
            nodes[i] = (unsigned)pb_mfn_to_node(h, alloc_ok(h, d, 8, 0));
        assert_int_equal(nodes[0], 2);
        assert_int_equal(nodes[1], 3);
        assert_int_equal(nodes[2], 2);
        assert_int_equal(nodes[3], 3);
        assert_no_claims(h, d);
        /* Claims used up: back to rotating over the affinity (all nodes) after node 3. */
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, d, 8, 0)), 0);
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, d, 8, 0)), 1);
        /* A claim outside the affinity leads too, but MEMF_exact_node without a node keeps
         * the search within the affinity. */
        struct pb_domain *e = domain(h, 2, 1u << 20, 1u << 0);
        assert_int_equal(claim1(e, 1, 16), 0);
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, e, 0, MEMF_exact_node)), 0);
        assert_int_equal(pb_mfn_to_node(h, alloc_ok(h, e, 0, 0)), 1);
        assert_int_equal(pb_domain_node_claim(e, 1), 15);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void test_node_claims_released_by_kill_and_destroy(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 4096, 0);
        struct pb_domain *e = domain(h, 2, 4096, 0);
        assert_int_equal(claim2(d, 0, 300, 1, 300), 0);
        assert_int_equal(claim2(e, 1, 200, PB_CLAIM_HOST, 50), 0);
        alloc_ok(h, d, 4, 0);
        pb_domain_kill(d);
        assert_int_equal(pb_domain_claim(d), 0);
        assert_int_equal(pb_heap_node_claims(h, 0), 0);
        assert_int_equal(pb_heap_node_claims(h, 1), 200);
        assert_valid(h);
        pb_domain_destroy(d);
        pb_domain_destroy(e);
        assert_int_equal(pb_heap_outstanding_claims(h), 0);
        assert_int_equal(pb_heap_node_claims(h, 1), 0);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static void expect_invalid(struct pb_heap *h, const char *what)
{
    char msg[256] = "";
    assert_int_equal(pb_heap_validate(h, msg, sizeof(msg)), -EUCLEAN);
    if (!strstr(msg, what))
        fail_msg("expected '%s' in: %s", what, msg);
}

static void test_validator_checks_node_claims(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = machine(v, 2);
        struct pb_domain *d = domain(h, 1, 4096, 0);
        assert_int_equal(claim1(d, 1, 100), 0);
        assert_valid(h);
        atomic_fetch_add(&h->nodes[1]->claimed, 5);
        expect_invalid(h, "node 1: claimed");
        atomic_fetch_sub(&h->nodes[1]->claimed, 5);
        atomic_fetch_add(&d->node_claim[1], 5);
        expect_invalid(h, "node_claims");
        atomic_fetch_sub(&d->node_claim[1], 5);
        atomic_fetch_add(&d->node_claim[1], -200);
        expect_invalid(h, "negative claim");
        atomic_fetch_add(&d->node_claim[1], 200);
        /* A node claim beyond the node's free frames, every sum kept consistent. */
        int64_t over = NODE_FRAMES + 1 - 100;
        atomic_fetch_add(&d->node_claim[1], over);
        atomic_fetch_add(&d->node_claims, over);
        atomic_fetch_add(&h->nodes[1]->claimed, over);
        atomic_fetch_add(&h->outstanding_claims, over);
        atomic_fetch_sub(&h->unclaimed, over);
        expect_invalid(h, "over-committed");
        atomic_fetch_sub(&d->node_claim[1], over);
        atomic_fetch_sub(&d->node_claims, over);
        atomic_fetch_sub(&h->nodes[1]->claimed, over);
        atomic_fetch_sub(&h->outstanding_claims, over);
        atomic_fetch_add(&h->unclaimed, over);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_claim_errors),
        cmocka_unit_test(test_node_claim_enomem_changes_nothing),
        cmocka_unit_test(test_node_claim_keeps_its_frames_for_its_domain),
        cmocka_unit_test(test_node_claims_retire_node_first_then_host),
        cmocka_unit_test(test_node_claim_exact_node_interplay),
        cmocka_unit_test(test_node_claims_lead_the_search),
        cmocka_unit_test(test_node_claims_released_by_kill_and_destroy),
        cmocka_unit_test(test_validator_checks_node_claims),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
