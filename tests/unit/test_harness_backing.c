/*
 * test_harness_backing.c: what a run starts from and what its clearing costs. The aliased
 * backing (core/heap.h: every node's frames alias one buffer, and clearing a frame writes that
 * buffer), verification refused where it cannot work (pb_run_backing), the machine's starting
 * states (bench/heap_prep.h: boot-dirty as Xen's bootscrub=idle leaves it, a used host), and
 * the host's clear bandwidth with AUTO's choice for cold memory, recorded by a run.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "bench/heap_prep.h"
#include "bench/report.h"
#include "core/clear.h"
#include "core/heap.h"
#include "core/memflags.h"
#include "core/p2m.h"
#include "core/scrub.h"

#include "tests/common/run_fixture.h"

#define MIB_FRAMES 256u /* frames of 1 MiB */

static void assert_valid(struct pb_heap *h)
{
    char msg[256] = "";
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("validator: %s", msg);
}

static struct pb_heap *heap(enum pb_backing backing, uint64_t frames, uint64_t alias_bytes)
{
    struct pb_machine_desc d = {.nr_nodes = 1, .backing = backing, .alias_bytes = alias_bytes};
    struct pb_heap *h = NULL;
    d.node_frames[0] = frames;
    assert_int_equal(pb_heap_create(&d, "xen", PB_LOCK_TICKET, &h), 0);
    return h;
}

/* ------------------------------------------------------------------------------------------
 * The aliased backing.
 */

static void test_aliased_frames_share_one_buffer(void **state)
{
    (void)state;
    /* 8 MiB of frames over a 2 MiB buffer: frame m and m + 512 are the same memory. */
    struct pb_heap *h = heap(PB_BACKING_ALIASED, 8 * MIB_FRAMES, 2u << 20);
    struct pb_node_backing b;
    pb_heap_node_backing(h, 0, &b);
    assert_int_equal(b.kind, PB_BACKING_ALIASED);
    assert_int_equal(b.bytes, 2u << 20);
    assert_int_equal(b.frames_bytes, 8u << 20);
    assert_true(pb_heap_aliased(h));
    assert_true(pb_heap_backed(h));
    unsigned char *a = pb_frame_data(h, 513), *c = pb_frame_data(h, 1 + 3 * 512);
    assert_ptr_not_equal(a, c);
    a[17] = 0x5a;
    assert_int_equal(c[17], 0x5a);
    ((unsigned char *)pb_frame_data(h, 1))[17] = 0;
    assert_int_equal(a[17], 0);
    pb_heap_destroy(h);

    /* A node no larger than its buffer is simply real; a buffer of part of 2 MiB is refused. */
    h = heap(PB_BACKING_ALIASED, 2 * MIB_FRAMES, 4u << 20);
    pb_heap_node_backing(h, 0, &b);
    assert_int_equal(b.kind, PB_BACKING_REAL);
    assert_false(pb_heap_aliased(h));
    pb_heap_destroy(h);
    struct pb_machine_desc bad = {
        .nr_nodes = 1, .backing = PB_BACKING_ALIASED, .alias_bytes = 3u << 20};
    bad.node_frames[0] = 8 * MIB_FRAMES;
    assert_int_equal(pb_heap_create(&bad, "xen", PB_LOCK_TICKET, &h), -EINVAL);
    /* The default buffer is larger than the last-level cache. */
    assert_true(pb_backing_alias_default() >= PB_ALIAS_LLC_FACTOR * pb_clear_llc_bytes());
    assert_int_equal(pb_backing_alias_default() % (2u << 20), 0);
}

static void test_aliased_clears_write_the_real_buffer(void **state)
{
    (void)state;
    struct pb_heap *h = heap(PB_BACKING_ALIASED, 8 * MIB_FRAMES, 2u << 20);
    assert_int_equal(pb_heap_prep_boot_dirty(h), 0);
    /* Mark the whole buffer through the frames of its first alias. */
    for (uint64_t m = 512; m < 1024; m++)
        pb_dirty_fill(pb_frame_data(h, m));
    struct pb_clear_stats s0, s1;
    pb_clear_stats_enable(true);
    pb_clear_stats_read(&s0);
    /* An order-9 extent, dirty: the allocation scrubs it, through whichever alias it lies in. */
    uint64_t mfn;
    assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 9, 0, NULL, &mfn), 0);
    pb_clear_stats_read(&s1);
    pb_clear_stats_enable(false);
    assert_true(mfn % 512 == 0);
    assert_true(s1.bytes - s0.bytes >= 512 * PB_PAGE_SIZE);
    assert_true(s1.ns > s0.ns);
    for (uint64_t m = 512; m < 1024; m++)
        assert_true(pb_page_is_zero(pb_frame_data(h, m)));
    assert_int_equal(pb_free_heap_pages(h, mfn, 9, false), 0);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_verify_is_refused_where_frames_share_memory(void **state)
{
    (void)state;
    struct pb_workload wl;
    char err[512] = "";
    enum pb_backing b = PB_BACKING_NONE;
    load("aliased",
         "machine:\n  nodes: 1\n  memory_per_node: 64MiB\n  backing: aliased\n"
         "domains:\n  - memory: 16MiB\n",
         &wl);
    assert_int_equal(pb_run_backing(&wl, NULL, PB_VERIFY_OFF, &b, err, sizeof(err)), 0);
    assert_int_equal(b, PB_BACKING_ALIASED);
    assert_int_equal(pb_run_backing(&wl, NULL, PB_VERIFY_SAMPLED, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "aliased.yaml:5:12: 'machine.backing' is aliased"));
    assert_non_null(strstr(err, "expected backing: real for --verify, or --verify off"));
    /* auto: aliased, or real for verification; --backing overrides the workload's. */
    enum pb_wl_backing over = PB_WL_BACKING_AUTO;
    assert_int_equal(pb_run_backing(&wl, &over, PB_VERIFY_OFF, &b, err, sizeof(err)), 0);
    assert_int_equal(b, PB_BACKING_ALIASED);
    assert_int_equal(pb_run_backing(&wl, &over, PB_VERIFY_FULL, &b, err, sizeof(err)), 0);
    assert_int_equal(b, PB_BACKING_REAL);
    over = PB_WL_BACKING_ALIASED;
    assert_int_equal(pb_run_backing(&wl, &over, PB_VERIFY_FULL, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--backing is aliased"));
    /* pb_run refuses it too, whoever calls it. */
    struct pb_run_config cfg = config(&wl, "xen");
    struct pb_run_result res;
    assert_int_equal(pb_run(&cfg, &res, err, sizeof(err)), -EINVAL);
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

/* ------------------------------------------------------------------------------------------
 * Starting states.
 */

static void test_boot_dirty_leaves_every_free_frame_dirty(void **state)
{
    (void)state;
    struct pb_heap *h = heap(PB_BACKING_NONE, 64 * MIB_FRAMES, 0);
    uint64_t avail = pb_heap_total_avail(h);
    assert_int_equal(pb_scrub_backlog(h), 0);
    assert_int_equal(pb_heap_prep_boot_dirty(h), 0);
    assert_int_equal(pb_heap_total_avail(h), avail);
    assert_int_equal(pb_scrub_backlog(h), avail);
    unsigned owner;
    for (uint64_t m = 1; m < pb_heap_nr_frames(h); m++) {
        assert_false(pb_heap_frame_in_use(h, m, &owner));
        assert_true(pb_heap_frame_dirty(h, m));
    }
    /* The buddies are as large as before: a 32 MiB one is still there. */
    uint64_t mfn;
    assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 13, MEMF_no_scrub, NULL, &mfn), 0);
    assert_int_equal(pb_free_heap_pages(h, mfn, 13, true), 0);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_used_host_scatters_dirty_memory_among_clean(void **state)
{
    (void)state;
    uint64_t backlog[2];
    pb_rcu_register_thread(); /* the past guests have p2ms */
    for (int i = 0; i < 2; i++) {
        struct pb_heap *h = heap(PB_BACKING_NONE, 256 * MIB_FRAMES, 0);
        uint64_t avail = pb_heap_total_avail(h);
        assert_int_equal(pb_heap_prep_used(h, 2, 7, PB_LOCK_TICKET), 0);
        /* Every guest of the past is gone; their memory is back, much of it dirty. */
        assert_int_equal(pb_heap_total_avail(h), avail);
        for (unsigned id = PB_MAX_DOMAINS - 64; id < PB_MAX_DOMAINS; id++)
            assert_null(pb_domain_get(h, id));
        backlog[i] = pb_scrub_backlog(h);
        assert_true(backlog[i] > avail / 10);
        assert_true(backlog[i] < avail);
        /* Dirty and clean frames alternate: the dirty memory is in pieces. */
        unsigned runs = 0;
        for (uint64_t m = 2; m < pb_heap_nr_frames(h); m++)
            runs += pb_heap_frame_dirty(h, m) != pb_heap_frame_dirty(h, m - 1);
        assert_true(runs >= 4);
        assert_valid(h);
        pb_heap_destroy(h);
    }
    pb_rcu_unregister_thread();
    assert_int_equal(backlog[0], backlog[1]); /* the seed decides it all */
}

/* ------------------------------------------------------------------------------------------
 * The host's clear bandwidth and AUTO's choice.
 */

static void test_host_measurement_sets_auto_and_runs_record_it(void **state)
{
    (void)state;
    struct pb_clear_host host, got;
    assert_int_equal(pb_clear_host_measure(3u << 20, 0, 0, &host), -EINVAL);
    assert_int_equal(pb_clear_host_measure(4u << 20, 0, 3, &host), 0);
    assert_true(pb_clear_host(&got));
    assert_int_equal(got.fastest, host.fastest);
    assert_int_equal(host.region_bytes, PB_CLEAR_HOST_REGION);
    assert_true(host.fastest == PB_CLEAR_MEMSET || host.fastest == PB_CLEAR_STOSB ||
                host.fastest == PB_CLEAR_NT);
    for (unsigned m = PB_CLEAR_MEMSET; m < PB_CLEAR_NR_METHODS; m++) {
        assert_true(host.gbps[m] > 0);
        assert_true(host.gbps[m] <= host.gbps[host.fastest]);
        assert_true(host.gbps_min[m] <= host.gbps[m] && host.gbps[m] <= host.gbps_max[m]);
    }
    /* AUTO clears cold memory with the fastest: the background scrubber, large regions. */
    assert_int_equal(pb_clear_auto_cold_method(), host.fastest);
    assert_int_equal(pb_clear_auto_method(2u << 20), host.fastest);

    /* A run on a boot-dirty host records it, and what its own clearing cost. */
    struct pb_workload wl;
    load("clearcost",
         "machine:\n  nodes: 1\n  memory_per_node: 64MiB\n  backing: real\n"
         "domains:\n  - count: 2\n    memory: 16MiB\n"
         "builders:\n  pool: 1\norders: meminit\n"
         "phases:\n  warmup: 0s\n  measure: until-built\n  repetitions: 1\nseed: 3\n",
         &wl);
    assert_int_equal(wl.heap.state, PB_WL_HEAP_BOOT_DIRTY);
    struct pb_run_config cfg = config(&wl, "xen");
    struct pb_run_result res;
    char err[512] = "";
    if (pb_run(&cfg, &res, err, sizeof(err)))
        fail_msg("pb_run: %s", err);
    assert_true(res.valid);
    assert_true(res.clear_host_measured);
    assert_int_equal(res.clear_host.fastest, host.fastest);
    /* Every page the builds took was dirty and cleared: bytes and time were counted. */
    assert_true(res.clear.bytes >= res.pages * PB_PAGE_SIZE);
    assert_true(res.clear.ns > 0);
    assert_true(pb_run_clear_ratio(&res) > 0);
    assert_non_null(strstr(res.start_state, "boot-dirty: 100% of free memory dirty"));
    assert_non_null(strstr(res.backing_nodes, "node0 real 64MiB"));

    /* The results' context keeps the host's figures, the choice, the backing, the state. */
    static char *argv[] = {"popbench", "run"};
    struct pb_report_setup setup = {.topo = &topo,
                                    .git_commit = "abc",
                                    .build_type = "Release",
                                    .argc = 2,
                                    .argv = argv,
                                    .placement = "compact"};
    struct pb_report rep;
    struct pb_report_id id = {
        .workload = "clearcost", .variant = "xen", .threads = 1, .repetitions = 1};
    assert_int_equal(pb_report_init(&rep, &setup), 0);
    assert_int_equal(pb_report_add(&rep, &id, &res), 0);
    assert_string_equal(pb_results_context_string(rep.doc, "clear_host_method"),
                        pb_clear_method_name(host.fastest));
    double gbps = 0;
    assert_int_equal(pb_results_context_number(rep.doc, "clear_host_gbps", &gbps), 0);
    assert_true(gbps == host.gbps[host.fastest]);
    assert_string_equal(pb_results_context_string(rep.doc, "backing"), "real");
    assert_non_null(
        strstr(pb_results_context_string(rep.doc, "start_state"), "clearcost: boot-dirty"));
    pb_report_free(&rep);
    pb_run_result_free(&res);
    pb_workload_free(&wl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aliased_frames_share_one_buffer),
        cmocka_unit_test(test_aliased_clears_write_the_real_buffer),
        cmocka_unit_test(test_verify_is_refused_where_frames_share_memory),
        cmocka_unit_test(test_boot_dirty_leaves_every_free_frame_dirty),
        cmocka_unit_test(test_used_host_scatters_dirty_memory_among_clean),
        cmocka_unit_test(test_host_measurement_sets_auto_and_runs_record_it),
    };
    return cmocka_run_group_tests(tests, run_fixture_setup, run_fixture_teardown);
}
