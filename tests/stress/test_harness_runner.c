/*
 * test_harness_runner.c: whole runs of small workloads through pb_run (bench/runner.h), with
 * their threads, phases and validator: the counts must add up and the heap must stay sound.
 * Labelled stress: it runs under ThreadSanitizer and ASan too.
 *
 * Every phase is bounded by an operation count or by until-built, never by a duration: what a
 * test asserts about a run is what the operations it asked for imply, however slowly the
 * machine runs them. (A count of what a role does on its own, alongside, such as p2m lookups,
 * is the subject of test_harness_roles.c, which drives the roles step by step.)
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/runner.h"
#include "bench/topology.h"
#include "workloads/workload.h"

#include "tests/common/run_fixture.h"

static void run_ok(const struct pb_run_config *cfg, struct pb_run_result *res)
{
    char err[1024] = "";
    int rc = pb_run(cfg, res, err, sizeof(err));
    if (rc)
        fail_msg("pb_run: %s", err);
    assert_true(res->completed);
    if (!res->valid)
        fail_msg("validator: %s", res->validator);
    assert_string_equal(res->validator, "ok");
}

/* What every finished run must satisfy, whatever the workload. */
static void check_identities(const struct pb_run_result *r)
{
    uint64_t pages = 0, calls = 0, lookups = 0;
    for (unsigned i = 0; i < r->nr_thr; i++) {
        pages += r->thr[i].pages;
        calls += r->thr[i].calls;
        lookups += r->thr[i].lookups;
        assert_true(r->thr[i].vcpu < topo.nr_vcpus);
        assert_int_equal(r->thr[i].node, topo.cpus[r->thr[i].vcpu].node);
        assert_int_equal(r->thr[i].pu, topo.cpus[r->thr[i].vcpu].real_os);
        assert_true(r->thr[i].cpu_ok); /* it ran where it was pinned */
    }
    assert_int_equal(pages, r->pages);
    assert_int_equal(calls, r->calls);
    assert_int_equal(lookups, r->lookups);
    assert_int_equal(pb_hist_count(r->call_h), r->calls);
    assert_int_equal(pb_hist_count(r->invocation_h), r->calls + r->continuations);
    assert_int_equal(r->invocations, r->calls + r->continuations);
    assert_int_equal(pb_hist_count(r->lookup_h), r->lookups);
    assert_int_equal(pb_hist_count(r->decrease_h), r->decrease_calls);
    assert_true(r->nr_lock_classes == 3);
    assert_string_equal(r->locks[0].name, "heap");
    assert_string_equal(r->locks[1].name, "domain.page_alloc");
    assert_string_equal(r->locks[2].name, "p2m");
    for (unsigned i = 0; i < r->nr_locks; i++)
        assert_true(r->locks[i].st.contended <= r->locks[i].st.acquisitions);
    if (r->pages > 0)
        assert_true(r->locks[0].st.acquisitions > 0);
    assert_true(r->extents <= r->pages);
    /* The time series covers the phase: its pages never exceed what was counted in the end. */
    uint64_t ts = 0;
    for (size_t i = 0; i < r->nr_samples; i++) {
        ts += r->ts_pages[i];
        if (i)
            assert_true(r->t_ms[i] > r->t_ms[i - 1]);
    }
    assert_true(ts <= r->pages);
}

static const char *const small_machine = "machine:\n"
                                         "  nodes: 2\n"
                                         "  memory_per_node: 256MiB\n"
                                         "  backing: none\n";

static void test_ops_bounded_builds(void **state)
{
    (void)state;
    struct pb_workload wl;
    char body[1024];
    snprintf(body, sizeof(body),
             "%sdomains:\n  - count: 3\n    memory: 24MiB\n"
             "builders:\n  pool: 2\norders:\n  0: 1\n  9: 1\nextents_per_call:\n  0: 64\n  9: 2\n"
             "phases:\n  warmup: 20ops\n  measure: 301ops\n  repetitions: 1\nseed: 11\n",
             small_machine);
    load("opsbound", body, &wl);
    for (int v = 0; v < 2; v++) {
        struct pb_run_config cfg = config(&wl, v ? "pernode" : "xen");
        struct pb_run_result res;
        run_ok(&cfg, &res);
        check_identities(&res);
        /* 301 operations shared by two builders, and nothing else issues any. */
        assert_int_equal(res.calls, 301);
        assert_int_equal(res.threads, 2);
        assert_true(res.pages > 0);
        assert_true(res.measure_ns > 0);
        assert_int_equal(res.decrease_calls, 0);
        pb_run_result_free(&res);
    }
    pb_workload_free(&wl);
}

static void test_until_built(void **state)
{
    (void)state;
    struct pb_workload wl;
    char body[1024];
    snprintf(body, sizeof(body),
             "%sdomains:\n  - count: 3\n    memory: 18MiB\n  - count: 1\n    memory: 2052KiB\n"
             "builders:\n  threads_per_domain: 1\norders: meminit\n"
             "preemption:\n  every: 2\n"
             "phases:\n  warmup: 20ops\n  measure: until-built\n  repetitions: 1\nseed: 3\n",
             small_machine);
    load("untilbuilt", body, &wl);
    struct pb_run_config cfg = config(&wl, "pernode");
    struct pb_run_result res;
    run_ok(&cfg, &res);
    check_identities(&res);
    /* Each domain built exactly once from nothing, whatever the warm-up did. */
    assert_int_equal(res.domains_built, 4);
    /* The toolstack leaves each guest's VGA hole (0x20 pages) empty. */
    assert_int_equal(res.pages, 3 * (18 * 256 - 0x20) + 513 - 0x20);
    assert_int_equal(res.threads, 4);
    assert_int_equal(pb_hist_count(res.build_h), 4);
    /* Preempted every 2 extents: calls of 4 x 2 MiB continue. */
    assert_true(res.continuations > 0);
    assert_true(res.preemptions > 0);
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

/*
 * A storm shorter than the floor repeats in rounds: every building domain destroyed and built
 * again, each round measured. Counted by rounds, not time: a floor no storm reaches and a cap
 * of three rounds give exactly three; no floor and a minimum of two, exactly two.
 */
static void test_until_built_rounds(void **state)
{
    (void)state;
    struct pb_workload wl;
    char body[1024];
    snprintf(body, sizeof(body),
             "%sdomains:\n  - count: 3\n    memory: 18MiB\n  - count: 1\n    memory: 2052KiB\n"
             "builders:\n  threads_per_domain: 1\norders: meminit\n"
             "phases:\n  warmup: 0s\n  measure: until-built\n  repetitions: 1\nseed: 3\n",
             small_machine);
    load("rounds", body, &wl);
    /* The toolstack leaves each guest's VGA hole (0x20 pages) empty. */
    const uint64_t storm_pages = 3 * (18 * 256 - 0x20) + 513 - 0x20;
    for (int v = 0; v < 2; v++) {
        struct pb_run_config cfg = config(&wl, v ? "pernode" : "xen");
        cfg.floor_ns = UINT64_MAX;
        cfg.max_rounds = 3;
        struct pb_run_result res;
        run_ok(&cfg, &res);
        check_identities(&res);
        assert_int_equal(res.rounds, 3);
        assert_false(res.floor_met);
        assert_int_equal(res.domains_built, 3 * 4);
        assert_int_equal(res.pages, 3 * storm_pages);
        assert_int_equal(pb_hist_count(res.build_h), 3 * 4);
        assert_non_null(res.round_ns);
        uint64_t sum = 0;
        for (unsigned r = 0; r < res.rounds; r++) {
            assert_true(res.round_ns[r] > 0);
            sum += res.round_ns[r];
        }
        assert_int_equal(sum, res.measure_ns);
        /* The teardown between rounds is not counted: it frees every page of two storms, one
         * at a time, where the builds themselves free next to nothing. */
        assert_true(res.heap.frees < storm_pages);
        /* Pinned workers were sampled and stayed where they were pinned. */
        assert_true(res.noise.migrations_ok);
        assert_true(res.noise.cpu_samples >= res.nr_thr);
        assert_int_equal(res.noise.migrations, 0);
        assert_true(res.noise.nivcsw_ok);
        pb_run_result_free(&res);
    }

    struct pb_run_config cfg = config(&wl, "pernode");
    cfg.min_rounds = 2;
    struct pb_run_result res;
    run_ok(&cfg, &res);
    assert_int_equal(res.rounds, 2);
    assert_true(res.floor_met); /* no floor */
    assert_int_equal(res.domains_built, 2 * 4);
    assert_int_equal(res.pages, 2 * storm_pages);
    pb_run_result_free(&res);

    /* An ops-bounded phase is never extended: its counts are exact. */
    pb_workload_free(&wl);
    snprintf(body, sizeof(body),
             "%sdomains:\n  - count: 2\n    memory: 24MiB\n"
             "builders:\n  pool: 1\norders:\n  0: 1\nextents_per_call:\n  0: 64\n"
             "phases:\n  warmup: 0ops\n  measure: 50ops\n  repetitions: 1\nseed: 5\n",
             small_machine);
    load("opsfloor", body, &wl);
    cfg = config(&wl, "xen");
    cfg.floor_ns = UINT64_MAX;
    run_ok(&cfg, &res);
    assert_int_equal(res.calls, 50);
    assert_int_equal(res.rounds, 1);
    assert_false(res.floor_met);
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

static void test_balloon_and_readers(void **state)
{
    (void)state;
    struct pb_workload wl;
    char body[1024];
    snprintf(
        body, sizeof(body),
        "%sdomains:\n  - count: 3\n    memory: 16MiB\n    max_memory: 20MiB\n    start: running\n"
        "churn:\n  balloon:\n    threads: 2\n    pages_per_second: 0\n    order: 0\n"
        "    extents_per_call: 128\n    depth: 0.5\n    free: scrub_domheap\n"
        "p2m_readers:\n  threads: 1\n  lookups_per_second: 0\n"
        "scrub:\n  mode: background\n  workers_per_node: 1\n"
        "phases:\n  warmup: 20ops\n  measure: 400ops\n  repetitions: 1\nseed: 5\n",
        small_machine);
    load("balloonrd", body, &wl);
    for (int v = 0; v < 2; v++) {
        struct pb_run_config cfg = config(&wl, v ? "pernode" : "xen");
        cfg.threads = 1; /* the primaries are the balloon workers */
        struct pb_run_result res;
        run_ok(&cfg, &res);
        check_identities(&res);
        assert_int_equal(res.threads, 1);
        /* The balloon worker's 400 calls, and nothing else calls: a domain goes down 16 calls
         * of 128 extents before it comes up 16, so 400 calls include decreases. */
        assert_int_equal(res.calls + res.decrease_calls, 400);
        assert_true(res.decrease_calls > 0);
        /* One reader ran alongside: its lookups are the run's. */
        assert_int_equal(res.nr_thr, 2);
        assert_int_equal(res.thr[1].role, PB_ROLE_READER);
        assert_int_equal(res.thr[1].lookups, res.lookups);
        /* Balloons go down before they come up: never more up than down, plus one window. */
        assert_true(res.pages <= res.decrease_pages + 3 * 8 * 256);
        pb_run_result_free(&res);
    }
    pb_workload_free(&wl);
}

static void test_recreate_claims_dirty_heap(void **state)
{
    (void)state;
    struct pb_workload wl;
    char body[1024];
    snprintf(
        body, sizeof(body),
        "%sdomains:\n  - count: 4\n    memory: 16MiB\n    max_memory: 20MiB\n    claim: 16MiB\n"
        "  - count: 2\n    memory: 8MiB\n    max_memory: 12MiB\n    start: running\n"
        "builders:\n  pool: 2\norders:\n  0: 1\n  9: 1\n"
        "preemption:\n  probability: 0.05\n"
        "churn:\n  recreate_per_second: 200\n"
        "heap:\n  state: dirty\n  dirty_fraction: 1\n  seed: 9\n"
        "phases:\n  warmup: 20ops\n  measure: 200ops\n  repetitions: 1\nseed: 6\n",
        small_machine);
    load("recreate", body, &wl);
    struct pb_run_config cfg = config(&wl, "pernode");
    struct pb_run_result res;
    run_ok(&cfg, &res);
    check_identities(&res);
    /* Builders only build queued domains; the six domains' builds take at most a few dozen
     * calls, so 200 calls need domains destroyed and built again in the measure phase. */
    assert_int_equal(res.calls, 200);
    assert_true(res.recreations > 0);
    assert_true(res.domains_built > 0);
    assert_int_equal(res.build_failures, 0);
    assert_int_equal(res.claim_failures, 0);
    /* The heap started all dirty and destroyed domains free dirty: every frame populated was
     * scrubbed first. */
    assert_true(res.pages > 0);
    assert_true(res.scrub.on_alloc + res.scrub.background + res.scrub.domain_build > 0);
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

static void test_fragmented_real_backing(void **state)
{
    (void)state;
    struct pb_workload wl;
    load("fragreal",
         "machine:\n  nodes: 1\n  memory_per_node: 64MiB\n  backing: real\n"
         "domains:\n  - count: 2\n    memory: 12MiB\n"
         "builders:\n  pool: 2\norders: meminit\n"
         "heap:\n  state: fragmented\n  ageing_passes: 2\n  seed: 4\n"
         "phases:\n  warmup: 10ops\n  measure: 200ops\n  repetitions: 1\nseed: 8\n",
         &wl);
    struct pb_run_config cfg = config(&wl, "xen");
    cfg.verify = PB_VERIFY_FULL;
    struct pb_run_result res;
    run_ok(&cfg, &res);
    check_identities(&res);
    assert_true(res.backed);
    assert_int_equal(res.calls, 200);
    assert_true(res.pages > 0);
    /* Every frame handed out is verified: rebuilt domains take frames their predecessors left
     * dirty, cleared and read back zero (a failure would have failed the validator). */
    assert_true(res.scrub.verified > 0);
    assert_int_equal(res.scrub.verify_failures, 0);
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

static void test_interrupt_stops_early(void **state)
{
    (void)state;
    struct pb_workload wl;
    char body[1024];
    _Atomic bool stop = true;
    snprintf(body, sizeof(body),
             "%sdomains:\n  - count: 2\n    memory: 8MiB\n"
             "phases:\n  warmup: 1h\n  measure: 1h\n  repetitions: 1\nseed: 1\n",
             small_machine);
    load("interrupt", body, &wl);
    struct pb_run_config cfg = config(&wl, "xen");
    cfg.interrupt = &stop;
    struct pb_run_result res;
    char err[512];
    assert_int_equal(pb_run(&cfg, &res, err, sizeof(err)), 0);
    assert_false(res.completed);
    assert_true(res.valid); /* stopped cleanly: the heap is sound */
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

/* Four nodes of 96MiB: node claims (16MiB per node of each vNUMA domain, 16MiB on nodes 1 and 3
 * of the listed one) always fit beside the hog, whose 128MiB rotate over the nodes without
 * filling any. */
static const char *const claims_body =
    "machine:\n  nodes: 4\n  memory_per_node: 96MiB\n  backing: none\n"
    "domains:\n"
    "  - count: 2\n    memory: 64MiB\n    claim: 64MiB\n    claim_mode: nodes\n"
    "    affinity: {vnuma: 4}\n"
    "  - count: 1\n    memory: 32MiB\n    claim: 32MiB\n    claim_mode: nodes\n"
    "    affinity: [1, 3]\n"
    "  - count: 1\n    memory: 128MiB\n"
    "builders:\n  threads_per_domain: 1\norders:\n  0: 1\n  9: 1\n"
    "phases:\n  warmup: 0s\n  measure: until-built\n  repetitions: 1\nseed: 12\n";

static void test_node_claims_locality(void **state)
{
    (void)state;
    static const enum pb_run_claim_mode modes[] = {PB_RUN_CLAIM_WORKLOAD, PB_RUN_CLAIM_NODES,
                                                   PB_RUN_CLAIM_HOST, PB_RUN_CLAIM_NONE};
    static const char *const variants[] = {"xen", "pernode", "pcp"};
    struct pb_workload wl;
    load("nodeclaims", claims_body, &wl);
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++)
        for (size_t v = 0; v < sizeof(variants) / sizeof(variants[0]); v++) {
            struct pb_run_config cfg = config(&wl, variants[v]);
            cfg.claim_mode = modes[m];
            struct pb_run_result res;
            run_ok(&cfg, &res);
            check_identities(&res);
            assert_int_equal(res.domains_built, 4);
            /* The three with nodes of their own are counted, the hog is not. */
            assert_true(res.locality_counted);
            assert_int_equal(res.locality_domains, 3);
            assert_int_equal(res.locality_pages, (2 * 64 + 32) * 256);
            assert_true(res.local_pages <= res.locality_pages);
            assert_true(res.locality_min >= 0 && res.locality_min <= 1);
            assert_int_equal(res.claim_failures, 0);
            assert_int_equal(res.node_claim_fallbacks, 0);
            if (modes[m] == PB_RUN_CLAIM_WORKLOAD || modes[m] == PB_RUN_CLAIM_NODES) {
                /* Their frames were reserved on their nodes: nothing can be remote. */
                assert_int_equal(res.local_pages, res.locality_pages);
                assert_true(res.locality_min == 1);
            }
            pb_run_result_free(&res);
        }
    pb_workload_free(&wl);
}

/* A domain bound to a node smaller than itself: its node claim cannot be staked, it claims
 * host-wide instead, and what does not fit on its node is remote. */
static void test_node_claim_fallback(void **state)
{
    (void)state;
    struct pb_workload wl;
    load("fallback",
         "machine:\n  nodes: 2\n  memory_per_node: 96MiB\n  backing: none\n"
         "domains:\n  - count: 1\n    memory: 128MiB\n    claim: 128MiB\n"
         "    claim_mode: nodes\n    affinity: [0]\n"
         "builders:\n  threads_per_domain: 1\norders:\n  9: 1\n"
         "phases:\n  warmup: 0s\n  measure: until-built\n  repetitions: 1\nseed: 2\n",
         &wl);
    for (int mode = 0; mode < 2; mode++) {
        struct pb_run_config cfg = config(&wl, "pernode");
        cfg.claim_mode = mode ? PB_RUN_CLAIM_HOST : PB_RUN_CLAIM_WORKLOAD;
        struct pb_run_result res;
        run_ok(&cfg, &res);
        assert_int_equal(res.domains_built, 1);
        assert_int_equal(res.node_claim_fallbacks, mode ? 0 : 1);
        assert_int_equal(res.claim_failures, 0);
        assert_int_equal(res.locality_domains, 1);
        assert_int_equal(res.locality_pages, 128 * 256);
        /* Node 0 holds at most 96MiB of it. */
        assert_true(res.locality_pages - res.local_pages >= 32 * 256);
        assert_true(res.locality_min <= 0.75);
        pb_run_result_free(&res);
    }
    pb_workload_free(&wl);
}

/* A vNUMA domain alone on the machine: its calls of 64 x 2MiB would span every vnode, but each
 * goes out per vnode with that vnode's node, so all of its memory is local. */
static void test_vnuma_calls_per_vnode(void **state)
{
    (void)state;
    struct pb_workload wl;
    load("vnodecalls",
         "machine:\n  nodes: 4\n  memory_per_node: 64MiB\n  backing: none\n"
         "domains:\n  - count: 1\n    memory: 64MiB\n    affinity: {vnuma: 4}\n"
         "builders:\n  threads_per_domain: 1\norders:\n  9: 1\nextents_per_call:\n  9: 64\n"
         "phases:\n  warmup: 0s\n  measure: until-built\n  repetitions: 1\nseed: 3\n",
         &wl);
    struct pb_run_config cfg = config(&wl, "xen");
    struct pb_run_result res;
    run_ok(&cfg, &res);
    check_identities(&res);
    assert_int_equal(res.pages, 64 * 256);
    assert_int_equal(res.calls, 4); /* one per vnode */
    assert_int_equal(res.locality_domains, 1);
    assert_int_equal(res.local_pages, 64 * 256);
    assert_int_equal(res.locality_pages, 64 * 256);
    assert_true(res.locality_min == 1);
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

static void test_claim_mode_names(void **state)
{
    (void)state;
    static const char *const names[] = {"workload", "host", "nodes", "none"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        enum pb_run_claim_mode m = PB_RUN_CLAIM_NONE;
        assert_int_equal(pb_run_claim_mode_parse(names[i], &m), 0);
        assert_string_equal(pb_run_claim_mode_name(m), names[i]);
    }
    enum pb_run_claim_mode m = PB_RUN_CLAIM_HOST;
    assert_int_equal(pb_run_claim_mode_parse("node", &m), -EINVAL);
    assert_int_equal(pb_run_claim_mode_parse("", &m), -EINVAL);
    assert_int_equal(pb_run_claim_mode_parse(NULL, &m), -EINVAL);
    assert_int_equal(pb_run_claim_mode_parse("host", NULL), -EINVAL);
    assert_int_equal(m, PB_RUN_CLAIM_HOST); /* unchanged */
}

static void test_bad_config(void **state)
{
    (void)state;
    struct pb_run_result res;
    struct pb_workload wl;
    char body[1024], err[512] = "";
    snprintf(body, sizeof(body), "%sdomains:\n  - count: 1\n    memory: 8MiB\n", small_machine);
    load("badcfg", body, &wl);
    struct pb_run_config cfg = config(&wl, "no-such-variant");
    assert_int_equal(pb_run(&cfg, &res, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no-such-variant"));
    pb_run_result_free(&res);
    assert_int_equal(pb_run(NULL, &res, err, sizeof(err)), -EINVAL);
    cfg = config(&wl, "xen");
    cfg.claim_mode = (enum pb_run_claim_mode)(PB_RUN_CLAIM_NONE + 1);
    assert_int_equal(pb_run(&cfg, &res, err, sizeof(err)), -EINVAL);
    pb_workload_free(&wl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ops_bounded_builds),
        cmocka_unit_test(test_until_built),
        cmocka_unit_test(test_until_built_rounds),
        cmocka_unit_test(test_balloon_and_readers),
        cmocka_unit_test(test_recreate_claims_dirty_heap),
        cmocka_unit_test(test_fragmented_real_backing),
        cmocka_unit_test(test_interrupt_stops_early),
        cmocka_unit_test(test_node_claims_locality),
        cmocka_unit_test(test_node_claim_fallback),
        cmocka_unit_test(test_vnuma_calls_per_vnode),
        cmocka_unit_test(test_claim_mode_names),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, run_fixture_setup, run_fixture_teardown);
}
