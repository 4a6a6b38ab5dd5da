/*
 * heap_fixture.h: small machines, domains and checks shared by the heap's rule tests
 * (test_heap.c, test_node_claims.c, test_scrub.c). Include after <cmocka.h>.
 */
#ifndef POPBENCH_TESTS_HEAP_FIXTURE_H
#define POPBENCH_TESTS_HEAP_FIXTURE_H

#include <string.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/memflags.h"

#define NODE_FRAMES 1024u /* node n = MFNs [n*1024, (n+1)*1024): node 1 is one order-10 buddy */

/* nodes x frames: node n is MFNs [n * frames, (n + 1) * frames). */
static inline struct pb_heap *machine_of(const char *variant, unsigned nodes, uint64_t frames,
                                         enum pb_backing backing)
{
    struct pb_machine_desc desc = {.nr_nodes = nodes, .backing = backing};
    for (unsigned n = 0; n < nodes; n++)
        desc.node_frames[n] = frames;
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(&desc, variant, PB_LOCK_TICKET, &h), 0);
    return h;
}

/* nodes x NODE_FRAMES, metadata only. */
static inline struct pb_heap *machine(const char *variant, unsigned nodes)
{
    return machine_of(variant, nodes, NODE_FRAMES, PB_BACKING_NONE);
}

/*
 * The buddy-layout rules (exact positions after splits, merges on free): pcp's caches hold
 * order-0 and order-9 frames off the buddy lists by design (refilled a batch at a time, merged
 * only when drained), so for those rules pcp runs with caches that pass every extent through.
 */
static inline struct pb_heap *buddy_machine(const char *variant, unsigned nodes)
{
    struct pb_heap *h = machine(variant, nodes);
    if (!strcmp(variant, "pcp")) {
        assert_int_equal(pb_pcp_set_watermarks(h, 0, 1, 0), 0);
        assert_int_equal(pb_pcp_set_watermarks(h, 9, 1, 0), 0);
    }
    return h;
}

static inline void assert_valid(struct pb_heap *h)
{
    char msg[256] = "";
    int rc = pb_heap_validate(h, msg, sizeof(msg));
    if (rc)
        fail_msg("validator: %s", msg);
}

static inline struct pb_domain *domain(struct pb_heap *h, unsigned id, uint64_t max_pages,
                                       uint64_t affinity)
{
    struct pb_domain_config cfg = {.max_pages = max_pages, .node_affinity = affinity};
    struct pb_domain *d = NULL;
    assert_int_equal(pb_domain_create(h, id, &cfg, &d), 0);
    return d;
}

static inline uint64_t alloc_ok(struct pb_heap *h, struct pb_domain *d, unsigned order,
                                unsigned flags)
{
    uint64_t mfn = 0;
    assert_int_equal(pb_alloc_domheap_pages(h, d, order, flags, &mfn), 0);
    return mfn;
}

static inline void assert_buddy(struct pb_heap *h, uint64_t mfn, unsigned order,
                                uint32_t first_dirty)
{
    unsigned o;
    uint32_t fd;
    if (!pb_heap_free_buddy_at(h, mfn, &o, &fd))
        fail_msg("no free buddy at mfn %lu", (unsigned long)mfn);
    assert_int_equal(o, order);
    assert_int_equal(fd, first_dirty);
}

#define CLEAN    UINT32_MAX
#define EXACT(n) (MEMF_node(n) | MEMF_exact_node)

#define FOR_EACH_VARIANT(v)                                                                        \
    for (const char *const *vp = pb_variant_names(), *v; (v = *vp) != NULL; vp++)

#endif
