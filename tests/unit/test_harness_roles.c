/*
 * test_harness_roles.c: the worker roles (bench/role_*.c) one step at a time, on the test's
 * own thread, over a run set up by runner_setup but never started: what each step did is
 * exactly what the counters say, with no scheduler in between. The whole runs, threads and
 * phases included, are test_harness_runner.c's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/runner_impl.h"

#include "tests/common/run_fixture.h"

#define MAX_STEPS 10000 /* a role that needs more steps than this for one build is stuck */

struct rig {
    struct pb_workload wl;
    struct pb_run_config cfg;
    struct pb_run_result res;
    struct runner rn;
};

/* A run of the workload set up as pb_run would, on this thread, with no worker started. */
static void rig_setup(struct rig *r, const char *name, const char *body)
{
    char err[512] = "";
    memset(r, 0, sizeof(*r));
    load(name, body, &r->wl);
    r->cfg = config(&r->wl, "pernode");
    pb_clock_init();
    pb_rcu_register_thread();
    pb_set_current_node(0);
    pb_set_current_cpu(0);
    int rc = runner_setup(&r->rn, &r->cfg, &r->res, err, sizeof(err));
    if (rc)
        fail_msg("runner_setup: %s", err);
}

static void rig_teardown(struct rig *r)
{
    runner_teardown(&r->rn);
    pb_run_result_free(&r->res);
    pb_workload_free(&r->wl);
    pb_rcu_unregister_thread();
}

static struct worker *worker_of(struct rig *r, enum pb_worker_role role)
{
    for (unsigned i = 0; i < r->rn.nr_workers; i++)
        if (r->rn.w[i].role == role)
            return &r->rn.w[i];
    fail_msg("no %s worker", pb_worker_role_name(role));
    return NULL;
}

static unsigned queued(struct rig *r)
{
    unsigned n = 0;
    for (unsigned i = 0; i < r->rn.nr_slots; i++)
        n += atomic_load(&r->rn.slots[i].state) == SLOT_QUEUED;
    return n;
}

/* Builder steps until nothing is queued and no build is open; returns the populate calls. */
static uint64_t build_all(struct worker *b)
{
    uint64_t ops = 0;
    for (unsigned i = 0; i < MAX_STEPS; i++) {
        enum pb_step s = b->ops->step(b);
        assert_int_not_equal(s, PB_STEP_MISS);
        ops += s == PB_STEP_OP;
        if (s == PB_STEP_IDLE)
            return ops;
    }
    fail_msg("the builder still had work after %d steps", MAX_STEPS);
    return ops;
}

/* One build domain (pool), one running domain that balloons, a reader, recreate churn. */
static const char *const all_roles =
    "machine:\n  nodes: 1\n  memory_per_node: 64MiB\n  backing: none\n"
    "domains:\n  - count: 1\n    memory: 8MiB\n"
    "  - count: 1\n    memory: 8MiB\n    max_memory: 12MiB\n    start: running\n"
    "builders:\n  pool: 1\norders:\n  0: 1\n  9: 1\n"
    "churn:\n  recreate_per_second: 1000000\n"
    "  balloon:\n    threads: 1\n    pages_per_second: 0\n    order: 0\n"
    "    extents_per_call: 128\n    depth: 0.5\n"
    "p2m_readers:\n  threads: 1\n  lookups_per_second: 0\n"
    "phases:\n  warmup: 0ops\n  measure: 10ops\n  repetitions: 1\nseed: 4\n";

static void test_each_role_step_by_step(void **state)
{
    (void)state;
    struct rig r;
    rig_setup(&r, "allroles", all_roles);
    struct runner *rn = &r.rn;
    assert_int_equal(rn->nr_workers, 4);
    struct worker *builder = worker_of(&r, PB_ROLE_BUILDER);
    struct worker *balloon = worker_of(&r, PB_ROLE_BALLOON);
    struct worker *reader = worker_of(&r, PB_ROLE_READER);
    struct worker *recreate = worker_of(&r, PB_ROLE_RECREATE);
    /* Setup built the running domain: readers see it; the other one is queued. */
    assert_int_equal(atomic_load(&rn->published), 1);
    assert_int_equal(queued(&r), 1);

    /* A reader's pick of the queued slot misses, of the running domain looks up. */
    unsigned looked = 0, missed = 0;
    for (int i = 0; i < 64; i++) {
        enum pb_step s = reader->ops->step(reader);
        assert_true(s == PB_STEP_WORK || s == PB_STEP_MISS);
        looked += s == PB_STEP_WORK;
        missed += s == PB_STEP_MISS;
    }
    assert_true(looked > 0 && missed > 0);
    assert_int_equal(ctr_get(&reader->rec.ctr.lookups), looked);
    assert_int_equal(pb_hist_count(reader->lookup_h), looked);
    assert_int_equal(reader->step_units, 64); /* every step counts against its pace */

    /* The builder builds the queued domain, one populate call per OP step, then idles. */
    uint64_t ops = build_all(builder);
    assert_true(ops > 0);
    assert_int_equal(ctr_get(&builder->rec.ctr.calls), ops);
    assert_int_equal(ctr_get(&builder->rec.ctr.built), 1);
    assert_int_equal(ctr_get(&builder->rec.ctr.pages), 8 * 256);
    assert_int_equal(pb_hist_count(builder->build_h), 1);
    assert_int_equal(queued(&r), 0);
    assert_int_equal(atomic_load(&rn->published), 2);

    /* With both domains there, every lookup finds one. */
    for (int i = 0; i < 32; i++)
        assert_int_equal(reader->ops->step(reader), PB_STEP_WORK);
    assert_int_equal(ctr_get(&reader->rec.ctr.lookups), looked + 32);

    /* A balloon goes down first: one decrease of 128 pages. */
    assert_int_equal(balloon->ops->step(balloon), PB_STEP_OP);
    assert_int_equal(ctr_get(&balloon->rec.ctr.dec_calls), 1);
    assert_int_equal(ctr_get(&balloon->rec.ctr.dec_pages), 128);
    assert_int_equal(ctr_get(&balloon->rec.ctr.calls), 0);
    assert_int_equal(pb_hist_count(balloon->dec_h), 1);

    /* Its first recreation is long due: one idle domain destroyed and queued again. */
    assert_int_equal(recreate->ops->step(recreate), PB_STEP_WORK);
    assert_int_equal(ctr_get(&recreate->rec.ctr.recreations), 1);
    assert_int_equal(queued(&r), 1);
    assert_int_equal(atomic_load(&rn->published), 1);

    /* The builder builds it again (a running domain too, meminit-style), then has nothing. */
    build_all(builder);
    assert_int_equal(ctr_get(&builder->rec.ctr.built), 2);
    assert_int_equal(queued(&r), 0);
    assert_int_equal(builder->ops->step(builder), PB_STEP_IDLE);
    assert_string_equal(builder->error, "");
    assert_string_equal(balloon->error, "");
    rig_teardown(&r);
}

/* Nothing built yet: a reader has no domain to look at and waits for one (IDLE, not MISS). */
static void test_reader_idles_until_a_domain_exists(void **state)
{
    (void)state;
    struct rig r;
    rig_setup(&r, "readeridle",
              "machine:\n  nodes: 1\n  memory_per_node: 64MiB\n  backing: none\n"
              "domains:\n  - count: 2\n    memory: 4MiB\n"
              "builders:\n  pool: 1\n"
              "p2m_readers:\n  threads: 1\n  lookups_per_second: 0\n"
              "phases:\n  warmup: 0ops\n  measure: 10ops\n  repetitions: 1\nseed: 2\n");
    struct worker *reader = worker_of(&r, PB_ROLE_READER);
    struct worker *builder = worker_of(&r, PB_ROLE_BUILDER);
    assert_int_equal(atomic_load(&r.rn.published), 0);
    assert_int_equal(reader->ops->step(reader), PB_STEP_IDLE);
    assert_int_equal(ctr_get(&reader->rec.ctr.lookups), 0);
    /* A builder opening a build publishes its p2m: the reader has work again. */
    assert_int_equal(builder->ops->step(builder), PB_STEP_WORK);
    assert_int_equal(atomic_load(&r.rn.published), 1);
    enum pb_step s = reader->ops->step(reader);
    assert_true(s == PB_STEP_WORK || s == PB_STEP_MISS);
    rig_teardown(&r);
}

/* A time- or ops-bounded phase keeps builders busy, the warm-up before until-built included:
 * with nothing queued they rebuild the domain built longest ago; in the until-built measure
 * phase they do not. */
static void test_builders_cycle_outside_until_built(void **state)
{
    (void)state;
    struct rig r;
    rig_setup(&r, "cycle",
              "machine:\n  nodes: 1\n  memory_per_node: 64MiB\n  backing: none\n"
              "domains:\n  - count: 1\n    memory: 4MiB\n"
              "builders:\n  pool: 1\norders: meminit\n"
              "phases:\n  warmup: 10ops\n  measure: until-built\n  repetitions: 1\nseed: 2\n");
    struct worker *builder = worker_of(&r, PB_ROLE_BUILDER);
    struct slot *s = &r.rn.slots[0];
    /* Warm-up: built, then taken again. */
    for (unsigned i = 0; i < MAX_STEPS && ctr_get(&builder->rec.ctr.built) < 2; i++)
        assert_int_not_equal(builder->ops->step(builder), PB_STEP_IDLE);
    assert_int_equal(ctr_get(&builder->rec.ctr.built), 2);
    /* Measure phase (until-built): once built, the builder stays idle. */
    atomic_store(&r.rn.phase, PHASE_MEASURE);
    build_all(builder);
    assert_int_equal(atomic_load(&s->state), SLOT_IDLE);
    assert_int_equal(builder->ops->step(builder), PB_STEP_IDLE);
    rig_teardown(&r);
}

/* Four running domains bound to nodes 0, 1, 0, 1; one balloon worker. */
static const char *const node_bound =
    "machine:\n  nodes: 2\n  memory_per_node: 64MiB\n  backing: none\n"
    "domains:\n"
    "  - {count: 1, memory: 8MiB, start: running, affinity: [0]}\n"
    "  - {count: 1, memory: 8MiB, start: running, affinity: [1]}\n"
    "  - {count: 1, memory: 8MiB, start: running, affinity: [0]}\n"
    "  - {count: 1, memory: 8MiB, start: running, affinity: [1]}\n"
    "churn:\n  balloon:\n    threads: 1\n    pages_per_second: 0\n    order: 0\n"
    "    extents_per_call: 128\n    depth: 0.5\n"
    "phases:\n  warmup: 0ops\n  measure: 10ops\n  repetitions: 1\nseed: 4\n";

/* The slot whose domain one balloon step took down (a first step decreases). */
static unsigned ballooned(struct rig *r, struct worker *w)
{
    uint64_t before[4];
    for (unsigned i = 0; i < 4; i++)
        before[i] = pb_domain_tot_pages(r->rn.slots[i].d);
    assert_int_equal(w->ops->step(w), PB_STEP_OP);
    for (unsigned i = 0; i < 4; i++)
        if (pb_domain_tot_pages(r->rn.slots[i].d) < before[i])
            return i;
    fail_msg("no domain went down");
    return 0;
}

/* A guest balloons from its own node's vCPUs: a worker serves its node's domains first. */
static void test_balloon_serves_its_nodes_domains_first(void **state)
{
    (void)state;
    struct rig r;
    rig_setup(&r, "nodebound", node_bound);
    struct worker *w = worker_of(&r, PB_ROLE_BALLOON);
    assert_int_equal(r.rn.nr_running, 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(r.rn.slots[i].own_nodes, 1u << (i % 2));
    w->node = 1;
    w->scan = 0;
    unsigned first = ballooned(&r, w), second = ballooned(&r, w);
    assert_int_equal(first % 2, 1);
    assert_int_equal(second % 2, 1);
    assert_int_not_equal(first, second);
    w->node = 0;
    assert_int_equal(ballooned(&r, w) % 2, 0);
    /* Its node's domains all busy: any other idle one. */
    w->node = 1;
    atomic_store(&r.rn.slots[1].state, SLOT_BUSY);
    atomic_store(&r.rn.slots[3].state, SLOT_BUSY);
    assert_int_equal(ballooned(&r, w) % 2, 0);
    atomic_store(&r.rn.slots[1].state, SLOT_IDLE);
    atomic_store(&r.rn.slots[3].state, SLOT_IDLE);
    assert_string_equal(w->error, "");
    rig_teardown(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_role_step_by_step),
        cmocka_unit_test(test_reader_idles_until_a_domain_exists),
        cmocka_unit_test(test_builders_cycle_outside_until_built),
        cmocka_unit_test(test_balloon_serves_its_nodes_domains_first),
    };
    return cmocka_run_group_tests(tests, run_fixture_setup, run_fixture_teardown);
}
