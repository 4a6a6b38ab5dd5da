/*
 * memop_fixture.h: what the memory_op tests share (test_memop.c, test_toolstack.c, the
 * conformance suite): RCU registration of the test thread for a cmocka group, the preemption
 * policies they switch between, and one checked populate_physmap invocation. Include after
 * <cmocka.h>.
 */
#ifndef POPBENCH_TESTS_MEMOP_FIXTURE_H
#define POPBENCH_TESTS_MEMOP_FIXTURE_H

#include "core/memop.h"
#include "core/p2m.h"
#include "core/preempt.h"

/* Group setup and teardown: the test thread calls into the p2m, so it is an RCU reader. */
static inline int rcu_group_setup(void **state)
{
    (void)state;
    pb_rcu_register_thread();
    return 0;
}

static inline int rcu_group_teardown(void **state)
{
    (void)state;
    pb_rcu_barrier();
    pb_rcu_unregister_thread();
    return 0;
}

static inline void no_preemption(void)
{
    assert_int_equal(pb_preempt_configure(&(struct pb_preempt_policy){.kind = PB_PREEMPT_NONE}), 0);
}

static inline void preempt_every(uint64_t n)
{
    assert_int_equal(
        pb_preempt_configure(&(struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = n}),
        0);
}

/* One invocation; returns nr_done after checking it matches the result. */
static inline uint64_t populate(struct pb_heap *h, const struct pb_memop_caller *c,
                                const struct pb_reservation *r, uint64_t start,
                                struct pb_memop_result *res)
{
    long rc = pb_populate_physmap(h, c, r, start, res);
    assert_true(rc >= 0);
    assert_int_equal((uint64_t)rc, res->nr_done);
    return (uint64_t)rc;
}

#endif
