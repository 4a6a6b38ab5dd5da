/*
 * test_workload: the workload loader. Every shipped file loads; every kind of bad file gets its
 * exact message (file:line:col); absent keys take their documented defaults; sizes and durations
 * parse and print back; suites resolve, override and detect cycles; a dump loads back to the
 * same workload; truncated and garbled copies of the shipped files never crash the loader.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "bounded_call.h"
#include "core/pb.h"
#include "workloads/workload.h"
#include "core/prng.h"

#define SHIPPED  POPBENCH_SOURCE_DIR "/workloads"
#define FIXTURES POPBENCH_SOURCE_DIR "/tests/data/workloads"
#define MiB      (UINT64_C(1) << 20)
#define GiB      (UINT64_C(1) << 30)
#define PAGES(b) ((b) >> PB_WL_PAGE_SHIFT)
#define NS_S     UINT64_C(1000000000)

static const char *const shipped_names[] = {
    "balloon",    "balloon-scrub-domheap", "bootstorm",  "bootstorm-used", "claims",     "default",
    "fragmented", "mixed-orders",          "numa-local", "numa-spread",    "vnuma-storm"};
/* Shipped but not in the default suite: too long or too big for it, or a Xen option that is
 * not Xen's default (the default suite models Xen's defaults). */
static const char *const not_in_default[] = {"vnuma-storm", "balloon-scrub-domheap"};

/* Loads FIXTURES/name.yaml, which must load. */
static void load_fixture(const char *name, struct pb_workload *wl)
{
    char path[512], err[2048] = "";
    int rc;

    snprintf(path, sizeof(path), "%s/%s.yaml", FIXTURES, name);
    rc = pb_workload_load(path, wl, err, sizeof(err));
    if (rc)
        fail_msg("%s: %d: %s", path, rc, err);
}

/* `pattern` with every '@' replaced by `dir`. */
static void expand(const char *pattern, const char *dir, char *out, size_t len)
{
    size_t o = 0;

    for (; *pattern && o + 1 < len; pattern++) {
        if (*pattern == '@') {
            o += (size_t)snprintf(out + o, len - o, "%s", dir);
            if (o >= len)
                break;
        } else {
            out[o++] = *pattern;
        }
    }
    out[o < len ? o : len - 1] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Shipped files
 */

static void test_shipped_files_load(void **state)
{
    struct pb_wl_info *infos;
    size_t nr, found = 0;

    (void)state;
    assert_int_equal(pb_workload_list(SHIPPED, &infos, &nr), 0);
    for (size_t i = 0; i < nr; i++) {
        if (infos[i].error)
            fail_msg("%s does not load: %s", infos[i].path, infos[i].error);
        assert_non_null(infos[i].description);
        assert_true(strlen(infos[i].description) > 10);
        for (size_t j = 0; j < PB_ARRAY_SIZE(shipped_names); j++)
            found += strcmp(infos[i].name, shipped_names[j]) == 0;
    }
    assert_int_equal(found, PB_ARRAY_SIZE(shipped_names));
    pb_workload_list_free(infos, nr);
}

static bool left_out_of_default(const char *name)
{
    for (size_t i = 0; i < PB_ARRAY_SIZE(not_in_default); i++)
        if (strcmp(name, not_in_default[i]) == 0)
            return true;
    return false;
}

/* The default suite: every other shipped workload (but those left out on purpose), short
 * phases, small machines. */
static void test_default_suite(void **state)
{
    struct pb_workload wl;
    char err[2048];
    uint64_t timed;

    (void)state;
    assert_int_equal(pb_workload_load(SHIPPED "/default.yaml", &wl, err, sizeof(err)), 0);
    assert_int_equal(wl.kind, PB_WL_SUITE);
    assert_int_equal(wl.nr_members,
                     PB_ARRAY_SIZE(shipped_names) - 1 - PB_ARRAY_SIZE(not_in_default));
    for (size_t j = 0; j < PB_ARRAY_SIZE(shipped_names); j++) {
        bool in = strcmp(shipped_names[j], "default") == 0;
        unsigned times = 0;
        for (unsigned i = 0; i < wl.nr_members; i++)
            times += strcmp(wl.members[i].name, shipped_names[j]) == 0;
        if (left_out_of_default(shipped_names[j]))
            assert_int_equal(times, 0);
        else
            assert_true(in || times > 0);
    }
    for (unsigned i = 0; i < wl.nr_members; i++) {
        const struct pb_workload *m = &wl.members[i];
        uint64_t bytes = (uint64_t)m->machine.nodes * m->machine.pages_per_node << PB_WL_PAGE_SHIFT;

        assert_int_equal(m->kind, PB_WL_SINGLE);
        assert_false(m->machine.from_topology);
        assert_true(bytes <= 8 * GiB);
        /* Every figure pays the host's cost of clearing, in bounded memory. */
        assert_true(m->machine.backing == PB_WL_BACKING_AUTO ||
                    m->machine.backing == PB_WL_BACKING_ALIASED);
        /* Xen's defaults: live domains' pages are freed clean (no scrub_domheap). */
        assert_false(m->churn.balloon.free_dirty);
        /* At least popbench run's default floor (0.5 s), which would stretch it otherwise. */
        if (m->phases.measure.unit == PB_WL_PHASE_TIME)
            assert_true(m->phases.measure.ns >= NS_S / 2 && m->phases.measure.ns <= 4 * NS_S);
        else
            assert_int_equal(m->phases.measure.unit, PB_WL_PHASE_UNTIL_BUILT);
    }
    /* One pass is short: popbench run repeats the members until precise, within its budget. */
    timed = pb_workload_timed_ns(&wl);
    assert_true(timed >= 3 * NS_S && timed <= 20 * NS_S);
    pb_workload_free(&wl);
}

/* numa-local and numa-spread do the same work; only the node affinity differs. */
static void test_numa_pair(void **state)
{
    struct pb_workload local, spread;
    char err[2048];

    (void)state;
    assert_int_equal(pb_workload_load(SHIPPED "/numa-local.yaml", &local, err, sizeof(err)), 0);
    assert_int_equal(pb_workload_load(SHIPPED "/numa-spread.yaml", &spread, err, sizeof(err)), 0);
    assert_int_equal(local.machine.nodes, 2);
    assert_int_equal(spread.machine.nodes, local.machine.nodes);
    assert_int_equal(spread.machine.pages_per_node, local.machine.pages_per_node);
    assert_int_equal(local.nr_groups, 1);
    assert_int_equal(spread.nr_groups, 1);
    assert_int_equal(local.groups[0].affinity, PB_WL_AFFINITY_NODES);
    assert_int_equal(local.groups[0].node_mask, 0x1);
    assert_int_equal(spread.groups[0].affinity, PB_WL_AFFINITY_NODES);
    assert_int_equal(spread.groups[0].node_mask, 0x3);
    /* Everything else is the same: blank out the differences and compare the dumps. */
    {
        char *a = NULL, *b = NULL;
        size_t alen, blen;
        FILE *fa = open_memstream(&a, &alen), *fb = open_memstream(&b, &blen);

        spread.groups[0].node_mask = local.groups[0].node_mask;
        free(spread.name);
        free(spread.description);
        spread.name = strdup(local.name);
        spread.description = strdup(local.description);
        assert_int_equal(pb_workload_dump(fa, &local), 0);
        assert_int_equal(pb_workload_dump(fb, &spread), 0);
        fclose(fa);
        fclose(fb);
        assert_string_equal(a, b);
        free(a);
        free(b);
    }
    pb_workload_free(&local);
    pb_workload_free(&spread);
}

/* ---------------------------------------------------------------------------------------------
 * Bad files: the exact message, '@' standing for the fixtures directory.
 */

static const struct {
    const char *file, *message;
} bad_files[] = {
    {"bad-empty", "@/bad-empty.yaml:1:1: the file is empty (expected a mapping of workload keys)"},
    {"bad-comment-only",
     "@/bad-comment-only.yaml:1:1: the file is empty (expected a mapping of workload keys)"},
    {"bad-syntax", "@/bad-syntax.yaml:4:13: invalid YAML: mapping values are not allowed in this "
                   "context (expected valid YAML)"},
    {"bad-utf8", "@/bad-utf8.yaml:1:39: invalid text: invalid leading UTF-8 octet (expected UTF-8 "
                 "text without control characters)"},
    {"bad-two-documents",
     "@/bad-two-documents.yaml:5:1: a second YAML document (expected one workload per file)"},
    {"bad-root-list",
     "@/bad-root-list.yaml:1:1: the file holds a list (expected a mapping of workload keys)"},
    {"bad-unknown-key", "@/bad-unknown-key.yaml:5:3: unknown key 'thread' in 'builders' "
                        "(expected one of: threads_per_domain, pool)"},
    {"bad-unknown-top-key",
     "@/bad-unknown-top-key.yaml:2:1: unknown key 'domain' at the top level (expected one of: "
     "name, description, machine, domains, builders, orders, extents_per_call, preemption, "
     "churn, p2m_readers, scrub, heap, phases, seed, suite, options)"},
    {"bad-options-unknown",
     "@/bad-options-unknown.yaml:5:3: unknown key 'pcp_batch' in 'options' (expected one of: "
     "pcp_batch_order0, pcp_high_order0, pcp_batch_order9, pcp_high_order9, scrub_batch_frames, "
     "scrub_preempt_frames, scrub_xen_yield_frames, build_tlb_flush, inject_alloc_delay_ns)"},
    {"bad-options-range", "@/bad-options-range.yaml:6:21: 'options.pcp_batch_order0' is '0' "
                          "(expected an integer from 1 to 255)"},
    {"bad-wrong-type", "@/bad-wrong-type.yaml:3:10: 'machine.nodes' is 'two' (expected an "
                       "integer from 1 to 64)"},
    {"bad-wrong-type-list",
     "@/bad-wrong-type-list.yaml:2:10: 'machine' is a list (expected a mapping)"},
    {"bad-quoted-number", "@/bad-quoted-number.yaml:3:10: 'machine.nodes' is the quoted string "
                          "'2' (expected an integer from 1 to 64)"},
    {"bad-alias-loop", "@/bad-alias-loop.yaml:2:10: 'machine.nodes' is a mapping (expected an "
                       "integer from 1 to 64)"},
    {"bad-out-of-range", "@/bad-out-of-range.yaml:3:10: 'machine.nodes' is '65' (expected an "
                         "integer from 1 to 64)"},
    {"bad-probability", "@/bad-probability.yaml:5:16: 'preemption.probability' is '1.5' "
                        "(expected a number above 0 and at most 1)"},
    {"bad-weight-negative", "@/bad-weight-negative.yaml:6:6: 'orders.9' is '-1' (expected a "
                            "number from 0 to 1000000)"},
    {"bad-missing-key", "@/bad-missing-key.yaml:3:5: missing key 'memory' in 'domains[0]' "
                        "(expected a size such as 512MiB)"},
    {"bad-missing-description",
     "@/bad-missing-description.yaml:1:1: missing key 'description' at the top level (expected "
     "one line saying what the workload does)"},
    {"bad-duplicate-key", "@/bad-duplicate-key.yaml:5:3: duplicate key 'nodes' in 'machine', "
                          "first given at 3:3 (expected each key once)"},
    {"bad-conflict", "@/bad-conflict.yaml:4:3: key 'nodes' in 'machine' conflicts with 'from' "
                     "(expected either from: topology or nodes and memory_per_node)"},
    {"bad-name", "@/bad-name.yaml:1:7: 'name' is 'something-else' (expected 'bad-name', the "
                 "file's name without .yaml)"},
    {"bad-multiline-description", "@/bad-multiline-description.yaml:1:14: 'description' has 2 "
                                  "lines (expected one line of text)"},
    {"bad-size-unit", "@/bad-size-unit.yaml:3:13: 'domains[0].memory' is '4GB': unknown unit "
                      "'GB' (expected one of: B, KiB, MiB, GiB, TiB, pages)"},
    {"bad-size-bare", "@/bad-size-bare.yaml:3:13: 'domains[0].memory' is '1024': no unit "
                      "(expected one of: B, KiB, MiB, GiB, TiB, pages)"},
    {"bad-size-fraction", "@/bad-size-fraction.yaml:3:13: 'domains[0].memory' is '1.5GiB': a "
                          "fraction (expected an integer: use a smaller unit, e.g. 1536MiB for "
                          "1.5GiB)"},
    {"bad-size-frame", "@/bad-size-frame.yaml:3:13: 'domains[0].memory' is '1000B' (expected a "
                       "multiple of 4KiB, the frame size)"},
    {"bad-duration", "@/bad-duration.yaml:5:14: 'preemption.timeslice' is '5 sec': unknown unit "
                     "'sec' (expected one of: ns, us, ms, s, m, h)"},
    {"bad-phase", "@/bad-phase.yaml:5:12: 'phases.measure' is 'soon' (expected a duration such "
                  "as 3s or 500ms, an operation count such as 10000ops, or until-built)"},
    {"bad-max-memory", "@/bad-max-memory.yaml:4:17: 'domains[0].max_memory' is '256MiB' "
                       "(expected at least memory, 512MiB)"},
    {"bad-claim", "@/bad-claim.yaml:5:12: 'domains[0].claim' is '2GiB', more than max_memory "
                  "(expected at most 1GiB)"},
    {"bad-claim-running",
     "@/bad-claim-running.yaml:4:12: 'domains[0].claim' is '256MiB', no more than the running "
     "domain has (expected more than memory, 512MiB: a claim counts the pages already held)"},
    {"bad-claim-machine", "@/bad-claim-machine.yaml:8:12: 'domains[0].claim' is 2GiB, more than "
                          "the machine's memory (expected at most 1GiB)"},
    {"bad-claim-mode-no-claim",
     "@/bad-claim-mode-no-claim.yaml:5:5: key 'claim_mode' in 'domains[0]' has no effect: the "
     "group has no claim (expected it only with a claim)"},
    {"bad-claim-mode-all",
     "@/bad-claim-mode-all.yaml:5:17: 'domains[0].claim_mode' is 'nodes' but the group's "
     "affinity is all, no nodes of its own (expected host, or an affinity that is a list of "
     "nodes or vnuma: N)"},
    {"bad-claim-mode-value", "@/bad-claim-mode-value.yaml:6:17: 'domains[0].claim_mode' is "
                             "'per-node' (expected one of: host, nodes)"},
    {"bad-too-much-memory",
     "@/bad-too-much-memory.yaml:6:3: the domains need 3GiB in all, more than the machine's "
     "memory (expected at most 2GiB: 2 nodes of 1GiB)"},
    {"bad-affinity-node", "@/bad-affinity-node.yaml:7:19: 'domains[0].affinity' names node 2 "
                          "(expected a node from 0 to 1: the machine has 2 nodes)"},
    {"bad-affinity-duplicate", "@/bad-affinity-duplicate.yaml:4:22: 'domains[0].affinity[2]' "
                               "is '1', already listed at 4:16 (expected each node once)"},
    {"bad-hardware", "@/bad-hardware.yaml:6:16: 'domains[1].privilege' is 'hardware', making 2 "
                     "hardware domains (expected at most one)"},
    {"bad-weights-zero", "@/bad-weights-zero.yaml:5:3: 'orders' has no weight above 0 (expected "
                         "at least one order to allocate)"},
    {"bad-order-node", "@/bad-order-node.yaml:10:7: 'orders.18' is 1 but a node has 512MiB, "
                       "less than one order-18 extent (expected 0: a buddy never crosses "
                       "nodes)"},
    {"bad-order-max", "@/bad-order-max.yaml:6:7: 'orders.18' is 1 but domains[0] has "
                      "max_memory 512MiB, less than one order-18 extent (expected 0)"},
    {"bad-balloon-order",
     "@/bad-balloon-order.yaml:8:12: 'churn.balloon.order' is '18' but domains[0] is a domu "
     "domain, limited to order 9 (expected an order up to 9)"},
    {"bad-until-built", "@/bad-until-built.yaml:6:12: 'phases.measure' is 'until-built' but "
                        "bad-until-built has no domain with start: build (expected a duration "
                        "or an operation count)"},
    {"bad-meminit-extents", "@/bad-meminit-extents.yaml:5:1: key 'extents_per_call' has no "
                            "effect with orders: meminit: the toolstack's calls have its own "
                            "sizes (expected it only with a mapping of weights)"},
    {"bad-toolstack-memory", "@/bad-toolstack-memory.yaml:3:13: 'domains[0].memory' is 512KiB, "
                             "too small for the toolstack's HVM layout (expected at least 1MiB)"},
    {"bad-no-effect", "@/bad-no-effect.yaml:5:1: key 'builders' has no effect: no domain has "
                      "start: build and churn.recreate_per_second is 0 (expected it only when "
                      "something is built)"},
    {"bad-heap-key", "@/bad-heap-key.yaml:6:3: key 'dirty_fraction' in 'heap' with state "
                     "fragmented (expected it only with state: dirty)"},
    {"bad-suite-key", "@/bad-suite-key.yaml:2:1: key 'machine' in a suite (expected only name, "
                      "description and suite)"},
    {"bad-suite-missing",
     "@/bad-suite-missing.yaml:4:5: 'suite[1]' is 'no-such-workload' (expected a workload of "
     "this directory: no @/no-such-workload.yaml)"},
    {"bad-suite-member",
     "@/bad-out-of-range.yaml:3:10: 'machine.nodes' is '65' (expected an integer from 1 to 64)\n"
     "@/bad-suite-member.yaml:4:15: note: included from suite 'bad-suite-member'"},
    {"bad-suite-override",
     "@/bad-suite-override.yaml:4:14: 'suite[0].measure' is 'until-built' but good-ops has no "
     "domain with start: build (expected a duration or an operation count)"},
    {"bad-self-suite", "@/bad-self-suite.yaml:3:5: 'suite[0]' is 'bad-self-suite', which closes "
                       "a cycle bad-self-suite -> bad-self-suite (expected a workload that does "
                       "not include this suite)"},
    {"bad-domains-count", "@/bad-domains-count.yaml:3:12: 'domains[0].count' is '4096' "
                          "(expected an integer from 1 to 4095)"},
    {"bad-domains-total", "@/bad-domains-total.yaml:6:12: 'domains[1]' brings the domains to "
                          "4096 (expected at most 4095: the model's domain ids)"},
    {"bad-machine-frames",
     "@/bad-machine-frames.yaml:4:20: 'machine.memory_per_node' is '8TiB', making 16TiB on 2 "
     "nodes (expected less than 16TiB in all: the model numbers frames in 32 bits)"},
    {"bad-threads-builders",
     "@/bad-threads-builders.yaml:3:3: the workload starts 1100 threads: 1100 builders, 0 balloon "
     "workers, 0 p2m readers, 0 recreate, 0 scrub workers (expected at most 1024 in all: "
     "builders: pool: N builds many domains with N threads)"},
    {"bad-threads-per-domain",
     "@/bad-threads-per-domain.yaml:6:23: the workload starts 1280 threads: 1280 builders, 0 "
     "balloon workers, 0 p2m readers, 0 recreate, 0 scrub workers (expected at most 1024 in all: "
     "builders: pool: N builds many domains with N threads)"},
    {"bad-threads-scrub",
     "@/bad-threads-scrub.yaml:15:21: the workload starts 1088 threads: 0 builders, 256 balloon "
     "workers, 256 p2m readers, 0 recreate, 576 scrub workers (expected at most 1024 in all: "
     "fewer scrub workers)"},
    {"bad-name-invalid",
     "@/bad-name-invalid.yaml:1:7: 'name' is the quoted string 'bad name-invalid' (expected a "
     "workload name: letters, digits, '-', '_' and '.', at most 64, not first '.')"},
    {"bad-nesting", "@/bad-nesting.yaml:2:73: a list or mapping nested 65 deep (expected at most "
                    "64 levels)"},
    {"bad-anchors", "@/bad-anchors.yaml:3:2211: anchor number 257 (expected at most 256 anchors)"},
    {"cycle-a", "@/cycle-b.yaml:3:5: 'suite[0]' is 'cycle-a', which closes a cycle cycle-a -> "
                "cycle-b -> cycle-a (expected a workload that does not include this suite)\n"
                "@/cycle-a.yaml:4:5: note: included from suite 'cycle-a'"},
};

static void test_bad_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad_files); i++) {
        struct pb_workload wl;
        char path[512], err[2048], expected[2048];
        int rc;

        snprintf(path, sizeof(path), "%s/%s.yaml", FIXTURES, bad_files[i].file);
        memset(&wl, 0x5a, sizeof(wl)); /* the loader must empty it, whatever it held */
        rc = pb_workload_load(path, &wl, err, sizeof(err));
        if (rc != -EINVAL)
            fail_msg("%s: rc %d (%s)", path, rc, rc ? err : "loaded");
        expand(bad_files[i].message, FIXTURES, expected, sizeof(expected));
        assert_string_equal(err, expected);
        assert_null(wl.name);
        assert_null(wl.groups);
        assert_null(wl.members);
        pb_workload_free(&wl);
    }
}

/* Every fixture named bad-* is in the table, so none goes unchecked. */
static void test_bad_files_all_checked(void **state)
{
    DIR *d = opendir(FIXTURES);
    struct dirent *de;

    (void)state;
    assert_non_null(d);
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        bool listed = false;

        if (strncmp(de->d_name, "bad-", 4) != 0)
            continue;
        for (size_t i = 0; i < PB_ARRAY_SIZE(bad_files); i++)
            listed |= strlen(bad_files[i].file) == len - 5 &&
                      strncmp(bad_files[i].file, de->d_name, len - 5) == 0;
        if (!listed)
            fail_msg("%s has no expected message", de->d_name);
    }
    closedir(d);
}

static void test_load_errors(void **state)
{
    struct pb_workload wl;
    char err[256], small[24];

    (void)state;
    assert_int_equal(pb_workload_load(NULL, &wl, err, sizeof(err)), -EINVAL);
    assert_int_equal(pb_workload_load(FIXTURES "/good-minimal.yaml", NULL, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(pb_workload_load(FIXTURES "/nonexistent.yaml", &wl, err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, FIXTURES "/nonexistent.yaml: cannot open: No such file or "
                                      "directory (expected a readable workload file)");
    /* A message cut to the buffer, still terminated; no buffer at all is fine too. */
    memset(small, 'x', sizeof(small));
    assert_int_equal(pb_workload_load(FIXTURES "/bad-wrong-type.yaml", &wl, small, sizeof(small)),
                     -EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(pb_workload_load(FIXTURES "/bad-wrong-type.yaml", &wl, NULL, 0), -EINVAL);
    assert_int_equal(pb_workload_load(FIXTURES "/bad-suite-member.yaml", &wl, small, 5), -EINVAL);
}

/* ---------------------------------------------------------------------------------------------
 * Defaults and values
 */

static void test_defaults(void **state)
{
    struct pb_workload wl;
    const struct pb_wl_domain_group *g;

    (void)state;
    load_fixture("good-minimal", &wl);
    assert_int_equal(wl.kind, PB_WL_SINGLE);
    assert_string_equal(wl.name, "good-minimal");
    assert_string_equal(wl.description, "One domain of 64MiB, everything else by default");
    assert_string_equal(wl.path, FIXTURES "/good-minimal.yaml");
    assert_int_equal(wl.seed, 1);
    assert_int_equal(wl.options.set, 0);
    assert_true(wl.machine.from_topology);
    assert_int_equal(wl.machine.nodes, 0);
    assert_int_equal(wl.machine.pages_per_node, 0);
    assert_int_equal(wl.machine.backing, PB_WL_BACKING_AUTO);
    assert_int_equal(wl.nr_groups, 1);
    assert_int_equal(wl.nr_domains, 1);
    g = &wl.groups[0];
    assert_int_equal(g->count, 1);
    assert_int_equal(g->memory_pages, PAGES(64 * MiB));
    assert_int_equal(g->max_pages, PAGES(64 * MiB));
    assert_int_equal(g->claim_pages, 0);
    assert_int_equal(g->claim_mode, PB_WL_CLAIM_HOST);
    assert_int_equal(g->affinity, PB_WL_AFFINITY_ALL);
    assert_int_equal(g->node_mask, 0);
    assert_int_equal(g->privilege, PB_WL_PRIV_DOMU);
    assert_int_equal(g->start, PB_WL_START_BUILD);
    assert_int_equal(wl.builders.kind, PB_WL_BUILDERS_PER_DOMAIN);
    assert_int_equal(wl.builders.threads, 1);
    assert_int_equal(wl.orders.mode, PB_WL_ORDERS_MEMINIT);
    assert_int_equal(wl.orders.extents_per_call[0], 512);
    assert_int_equal(wl.orders.extents_per_call[1], 64);
    assert_int_equal(wl.orders.extents_per_call[2], 1);
    for (int o = 0; o < PB_WL_NR_ORDERS; o++)
        assert_true(wl.orders.weight[o] == 0);
    assert_int_equal(wl.preemption.kind, PB_WL_PREEMPT_NONE);
    assert_int_equal(wl.churn.balloon.pacing, PB_WL_BALLOON_OFF);
    assert_true(wl.churn.recreate_per_second == 0);
    assert_int_equal(wl.p2m_readers.threads, 0);
    assert_int_equal(wl.p2m_readers.lookups_per_second, 0);
    assert_int_equal(wl.scrub.mode, PB_WL_SCRUB_ON_ALLOC);
    assert_int_equal(wl.scrub.workers_per_node, 0);
    assert_int_equal(wl.heap.state, PB_WL_HEAP_BOOT_DIRTY); /* Xen's bootscrub=idle */
    assert_int_equal(wl.phases.warmup.unit, PB_WL_PHASE_TIME);
    assert_int_equal(wl.phases.warmup.ns, NS_S);
    assert_int_equal(wl.phases.measure.unit, PB_WL_PHASE_TIME);
    assert_int_equal(wl.phases.measure.ns, 5 * NS_S);
    assert_int_equal(wl.phases.repetitions, 1);
    assert_int_equal(wl.nr_members, 0);
    assert_int_equal(pb_workload_timed_ns(&wl), 6 * NS_S);
    pb_workload_free(&wl);
    assert_null(wl.name);
    pb_workload_free(&wl); /* twice is harmless */
    pb_workload_free(NULL);
}

/* Balloon defaults, and the defaults that depend on another key. */
static void test_dependent_defaults(void **state)
{
    struct pb_workload wl;

    (void)state;
    load_fixture("good-ops", &wl);
    assert_int_equal(wl.churn.balloon.pacing, PB_WL_BALLOON_RATE);
    assert_int_equal(wl.churn.balloon.pages_per_second, 1000);
    assert_int_equal(wl.churn.balloon.threads, 1);
    assert_int_equal(wl.churn.balloon.order, 0);
    assert_int_equal(wl.churn.balloon.extents_per_call, 512);
    assert_true(wl.churn.balloon.depth == 0.25);
    assert_false(wl.churn.balloon.free_dirty);
    assert_int_equal(wl.phases.warmup.unit, PB_WL_PHASE_OPS);
    assert_int_equal(wl.phases.warmup.ops, 10);
    assert_int_equal(wl.phases.measure.unit, PB_WL_PHASE_OPS);
    assert_int_equal(wl.phases.measure.ops, 1000);
    assert_int_equal(pb_workload_timed_ns(&wl), 0);
    assert_false(wl.machine.from_topology);
    assert_int_equal(wl.machine.nodes, 1);
    pb_workload_free(&wl);
}

static void test_every_key(void **state)
{
    struct pb_workload wl;
    const struct pb_wl_domain_group *g;

    (void)state;
    load_fixture("good-everything", &wl);
    assert_int_equal(wl.seed, 77);
    assert_false(wl.machine.from_topology);
    assert_int_equal(wl.machine.nodes, 4);
    assert_int_equal(wl.machine.pages_per_node, PAGES(2 * GiB));
    assert_int_equal(wl.machine.backing, PB_WL_BACKING_REAL);
    assert_int_equal(wl.nr_groups, 2);
    assert_int_equal(wl.nr_domains, 4);
    g = &wl.groups[0];
    assert_int_equal(g->count, 3);
    assert_int_equal(g->memory_pages, PAGES(256 * MiB));
    assert_int_equal(g->max_pages, PAGES(512 * MiB));
    assert_int_equal(g->claim_pages, PAGES(384 * MiB));
    assert_int_equal(g->claim_mode, PB_WL_CLAIM_NODES);
    assert_int_equal(g->affinity, PB_WL_AFFINITY_VNUMA);
    assert_int_equal(g->vnuma_nodes, 2);
    assert_int_equal(g->privilege, PB_WL_PRIV_CONTROL);
    assert_int_equal(g->start, PB_WL_START_BUILD);
    g = &wl.groups[1];
    assert_int_equal(g->count, 1);
    assert_int_equal(g->memory_pages, PAGES(128 * MiB));
    assert_int_equal(g->max_pages, PAGES(GiB));
    assert_int_equal(g->claim_pages, PAGES(256 * MiB));
    assert_int_equal(g->claim_mode, PB_WL_CLAIM_HOST);
    assert_int_equal(g->affinity, PB_WL_AFFINITY_NODES);
    assert_int_equal(g->node_mask, 0xa);
    assert_int_equal(g->node_pos[3].line, 19);
    assert_int_equal(g->node_pos[3].col, 16);
    assert_int_equal(g->privilege, PB_WL_PRIV_HARDWARE);
    assert_int_equal(g->start, PB_WL_START_RUNNING);
    assert_int_equal(wl.builders.kind, PB_WL_BUILDERS_POOL);
    assert_int_equal(wl.builders.threads, 3);
    assert_int_equal(wl.orders.mode, PB_WL_ORDERS_MIX);
    assert_true(wl.orders.weight[0] == 0.5);
    assert_true(wl.orders.weight[1] == 2);
    assert_true(wl.orders.weight[2] == 0);
    assert_int_equal(wl.orders.extents_per_call[0], 256);
    assert_int_equal(wl.orders.extents_per_call[1], 8);
    assert_int_equal(wl.orders.extents_per_call[2], 2);
    assert_int_equal(wl.preemption.kind, PB_WL_PREEMPT_EVERY);
    assert_int_equal(wl.preemption.every_extents, 32);
    assert_true(wl.churn.recreate_per_second == 0.5);
    assert_int_equal(wl.churn.balloon.pacing, PB_WL_BALLOON_RATIO);
    assert_true(wl.churn.balloon.ratio == 0.125);
    assert_int_equal(wl.churn.balloon.threads, 0);
    assert_int_equal(wl.churn.balloon.order, 9);
    assert_int_equal(wl.churn.balloon.extents_per_call, 4);
    assert_true(wl.churn.balloon.depth == 0.75);
    assert_true(wl.churn.balloon.free_dirty);
    assert_int_equal(wl.p2m_readers.threads, 2);
    assert_int_equal(wl.p2m_readers.lookups_per_second, 100000);
    assert_int_equal(wl.scrub.mode, PB_WL_SCRUB_BACKGROUND);
    assert_int_equal(wl.scrub.workers_per_node, 2);
    assert_int_equal(wl.heap.state, PB_WL_HEAP_FRAGMENTED);
    assert_int_equal(wl.heap.ageing_passes, 3);
    assert_int_equal(wl.heap.seed, 1234);
    assert_int_equal(wl.phases.warmup.unit, PB_WL_PHASE_OPS);
    assert_int_equal(wl.phases.warmup.ops, 10);
    assert_int_equal(wl.phases.measure.unit, PB_WL_PHASE_TIME);
    assert_int_equal(wl.phases.measure.ns, 60 * NS_S);
    assert_int_equal(wl.phases.repetitions, 7);
    assert_int_equal(pb_workload_timed_ns(&wl), 7 * 60 * NS_S);
    /* options: the two given are set, every other keeps its default and is not. */
    assert_int_equal(wl.options.set,
                     (1u << PB_OPT_PCP_BATCH_ORDER0) | (1u << PB_OPT_SCRUB_PREEMPT_FRAMES));
    assert_int_equal(pb_options_get(&wl.options, PB_OPT_PCP_BATCH_ORDER0), 8);
    assert_int_equal(pb_options_get(&wl.options, PB_OPT_SCRUB_PREEMPT_FRAMES), 64);
    assert_int_equal(pb_options_get(&wl.options, PB_OPT_PCP_HIGH_ORDER0),
                     pb_option_desc(PB_OPT_PCP_HIGH_ORDER0)->def);
    pb_workload_free(&wl);
}

/* ---------------------------------------------------------------------------------------------
 * Node claims
 */

/* Splits and checks the parts against want[] (node, pages pairs, nr of them). */
static void check_split(const struct pb_wl_domain_group *g, unsigned nodes, uint64_t pages,
                        const uint64_t (*want)[2], int nr)
{
    struct pb_wl_claim_part parts[PB_WL_MAX_NODES];

    assert_int_equal(pb_workload_claim_split(g, nodes, pages, parts), nr);
    for (int i = 0; i < nr; i++) {
        assert_int_equal(parts[i].node, want[i][0]);
        assert_int_equal(parts[i].pages, want[i][1]);
    }
}

static void test_claim_split(void **state)
{
    struct pb_wl_domain_group g = {.affinity = PB_WL_AFFINITY_VNUMA, .vnuma_nodes = 3};
    struct pb_wl_claim_part parts[PB_WL_MAX_NODES];

    (void)state;
    /* Each vnode's gfn range on node v mod nodes. */
    g.memory_pages = 300;
    check_split(&g, 4, 300, (const uint64_t[][2]){{0, 100}, {1, 100}, {2, 100}}, 3);
    /* vnodes 0 and 2 both on node 0 of two. */
    check_split(&g, 2, 300, (const uint64_t[][2]){{0, 200}, {1, 100}}, 2);
    /* The last vnode's range takes the rest of the memory. */
    g.memory_pages = 302;
    check_split(&g, 4, 302, (const uint64_t[][2]){{0, 100}, {1, 100}, {2, 102}}, 3);
    /* A claim other than memory is shared in proportion; the remainder goes to vnode 0's node. */
    g.memory_pages = 300;
    check_split(&g, 4, 1000, (const uint64_t[][2]){{0, 334}, {1, 333}, {2, 333}}, 3);
    check_split(&g, 4, 2, (const uint64_t[][2]){{0, 2}}, 1);
    check_split(&g, 4, 0, NULL, 0);
    /* No overflow with the largest sizes. */
    g.memory_pages = UINT64_C(1) << 32;
    g.vnuma_nodes = 64;
    assert_int_equal(pb_workload_claim_split(&g, 64, UINT64_C(1) << 32, parts), 64);
    for (unsigned n = 0; n < 64; n++)
        assert_int_equal(parts[n].pages, UINT64_C(1) << 26);

    /* A list of nodes: an even split, the remainder to the lowest node. */
    g = (struct pb_wl_domain_group){.affinity = PB_WL_AFFINITY_NODES, .node_mask = 0xa};
    check_split(&g, 4, 7, (const uint64_t[][2]){{1, 4}, {3, 3}}, 2);
    check_split(&g, 4, 1, (const uint64_t[][2]){{1, 1}}, 1);

    /* Whatever the numbers, the parts add up to the claim, one per node at most. */
    g = (struct pb_wl_domain_group){.affinity = PB_WL_AFFINITY_VNUMA};
    for (unsigned vn = 1; vn <= 9; vn++)
        for (uint64_t mem = vn; mem < vn + 40; mem += 7)
            for (uint64_t claim = 1; claim < 3 * mem; claim += 5) {
                uint64_t sum = 0;
                g.vnuma_nodes = vn;
                g.memory_pages = mem;
                int nr = pb_workload_claim_split(&g, 4, claim, parts);
                assert_true(nr >= 1 && nr <= 4);
                for (int i = 0; i < nr; i++) {
                    if (i)
                        assert_true(parts[i].node > parts[i - 1].node);
                    assert_true(parts[i].pages > 0);
                    sum += parts[i].pages;
                }
                assert_int_equal(sum, claim);
            }

    /* No nodes of its own, a node the machine lacks, bad arguments: -EINVAL. */
    g = (struct pb_wl_domain_group){.affinity = PB_WL_AFFINITY_ALL, .memory_pages = 10};
    assert_int_equal(pb_workload_claim_split(&g, 4, 10, parts), -EINVAL);
    g = (struct pb_wl_domain_group){.affinity = PB_WL_AFFINITY_NODES, .node_mask = 0x8};
    assert_int_equal(pb_workload_claim_split(&g, 3, 10, parts), -EINVAL);
    assert_int_equal(pb_workload_claim_split(&g, 0, 10, parts), -EINVAL);
    assert_int_equal(pb_workload_claim_split(&g, 65, 10, parts), -EINVAL);
    assert_int_equal(pb_workload_claim_split(&g, 4, 10, NULL), -EINVAL);
    assert_int_equal(pb_workload_claim_split(NULL, 4, 10, parts), -EINVAL);
    g = (struct pb_wl_domain_group){.affinity = PB_WL_AFFINITY_VNUMA, .vnuma_nodes = 0};
    assert_int_equal(pb_workload_claim_split(&g, 4, 10, parts), -EINVAL);
}

/* vnuma-storm is what its comment says: each vNUMA domain's node claims fit on its nodes
 * beside the others', and the big domain's never can. */
static void test_vnuma_storm_shape(void **state)
{
    struct pb_workload wl;
    char err[2048];
    uint64_t node_claims[PB_WL_MAX_NODES] = {0}, running[PB_WL_MAX_NODES] = {0};
    struct pb_wl_claim_part parts[PB_WL_MAX_NODES];
    unsigned fallbacks = 0;

    (void)state;
    if (pb_workload_load(SHIPPED "/vnuma-storm.yaml", &wl, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(wl.machine.nodes, 4);
    assert_int_equal(wl.phases.measure.unit, PB_WL_PHASE_UNTIL_BUILT);
    for (unsigned i = 0; i < wl.nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl.groups[i];
        if (g->start == PB_WL_START_RUNNING) {
            assert_int_equal(g->affinity, PB_WL_AFFINITY_NODES);
            running[__builtin_ctzll(g->node_mask)] += (uint64_t)g->count * g->memory_pages;
        }
    }
    for (unsigned i = 0; i < wl.nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl.groups[i];
        if (g->start == PB_WL_START_RUNNING)
            continue;
        assert_int_equal(g->claim_mode, PB_WL_CLAIM_NODES);
        assert_int_not_equal(g->affinity, PB_WL_AFFINITY_ALL);
        int nr = pb_workload_claim_split(g, wl.machine.nodes, g->claim_pages, parts);
        assert_true(nr > 0);
        for (int k = 0; k < nr; k++) {
            /* A part larger than what the running guests leave of its node can never be
             * staked, whatever the others do. */
            if (parts[k].pages > wl.machine.pages_per_node - running[parts[k].node]) {
                fallbacks += g->count;
                break;
            }
            node_claims[parts[k].node] += g->count * parts[k].pages;
        }
    }
    assert_int_equal(fallbacks, 1);
    for (unsigned n = 0; n < wl.machine.nodes; n++)
        assert_true(node_claims[n] + running[n] < wl.machine.pages_per_node);
    pb_workload_free(&wl);
}

/* ---------------------------------------------------------------------------------------------
 * Sizes and durations
 */

static void test_parse_size(void **state)
{
    static const struct {
        const char *s;
        uint64_t bytes;
    } good[] = {
        {"0B", 0},
        {"4096B", 4096},
        {"4KiB", 4096},
        {"512MiB", 512 * MiB},
        {"4GiB", 4 * GiB},
        {"2TiB", UINT64_C(2) << 40},
        {"3pages", 3 * 4096},
        {"1 GiB", GiB},
        {"007MiB", 7 * MiB},
        {"18446744073709551615B", UINT64_MAX},
    };
    static const struct {
        const char *s, *message;
    } bad[] = {
        {"", "empty (expected an integer and a unit, e.g. 512MiB)"},
        {"GiB", "no number (expected an integer and a unit, e.g. 512MiB)"},
        {" 4GiB", "no number (expected an integer and a unit, e.g. 512MiB)"},
        {"-1GiB", "a sign (expected an unsigned integer and a unit, e.g. 512MiB)"},
        {"+1GiB", "a sign (expected an unsigned integer and a unit, e.g. 512MiB)"},
        {"1.5GiB", "a fraction (expected an integer: use a smaller unit, e.g. 1536MiB for "
                   "1.5GiB)"},
        {"4", "no unit (expected one of: B, KiB, MiB, GiB, TiB, pages)"},
        {"4 ", "no unit (expected one of: B, KiB, MiB, GiB, TiB, pages)"},
        {"4GB", "unknown unit 'GB' (expected one of: B, KiB, MiB, GiB, TiB, pages)"},
        {"4gib", "unknown unit 'gib' (expected one of: B, KiB, MiB, GiB, TiB, pages)"},
        {"4GiB ", "unknown unit 'GiB ' (expected one of: B, KiB, MiB, GiB, TiB, pages)"},
        {"4Gi\x01", "unknown unit 'Gi?' (expected one of: B, KiB, MiB, GiB, TiB, pages)"},
        {"18446744073709551616B", "too large (expected at most 18446744073709551615B)"},
        {"17179869184GiB", "too large (expected at most 18446744073709551615B)"},
    };
    char err[256];
    uint64_t v;

    (void)state;
    for (size_t i = 0; i < PB_ARRAY_SIZE(good); i++) {
        v = 1;
        if (pb_parse_size(good[i].s, &v, err, sizeof(err)))
            fail_msg("'%s': %s", good[i].s, err);
        assert_int_equal(v, good[i].bytes);
    }
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++) {
        v = 42;
        assert_int_equal(pb_parse_size(bad[i].s, &v, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, bad[i].message);
        assert_int_equal(v, 42); /* untouched on error */
    }
    assert_int_equal(pb_parse_size(NULL, &v, err, sizeof(err)), -EINVAL);
    assert_int_equal(pb_parse_size("4GiB", NULL, err, sizeof(err)), -EINVAL);
    assert_int_equal(pb_parse_size("4GB", &v, NULL, 0), -EINVAL);
}

static void test_parse_duration(void **state)
{
    static const struct {
        const char *s;
        uint64_t ns;
    } good[] = {
        {"0s", 0},        {"7ns", 7},        {"3us", 3000},       {"500ms", 500000000},
        {"2s", 2 * NS_S}, {"1m", 60 * NS_S}, {"2h", 7200 * NS_S}, {"250 ms", 250000000},
    };
    static const struct {
        const char *s, *message;
    } bad[] = {
        {"", "empty (expected an integer and a unit, e.g. 500ms)"},
        {"ms", "no number (expected an integer and a unit, e.g. 500ms)"},
        {"-2s", "a sign (expected an unsigned integer and a unit, e.g. 500ms)"},
        {"1.5s", "a fraction (expected an integer: use a smaller unit, e.g. 1500ms for 1.5s)"},
        {"500", "no unit (expected one of: ns, us, ms, s, m, h)"},
        {"5 sec", "unknown unit 'sec' (expected one of: ns, us, ms, s, m, h)"},
        {"5min", "unknown unit 'min' (expected one of: ns, us, ms, s, m, h)"},
        {"5S", "unknown unit 'S' (expected one of: ns, us, ms, s, m, h)"},
        {"99999999999999999999s", "too large (expected at most 18446744073709551615ns)"},
        {"18446744074s", "too large (expected at most 18446744073709551615ns)"},
    };
    char err[256];
    uint64_t v;

    (void)state;
    for (size_t i = 0; i < PB_ARRAY_SIZE(good); i++) {
        if (pb_parse_duration(good[i].s, &v, err, sizeof(err)))
            fail_msg("'%s': %s", good[i].s, err);
        assert_int_equal(v, good[i].ns);
    }
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++) {
        v = 42;
        assert_int_equal(pb_parse_duration(bad[i].s, &v, err, sizeof(err)), -EINVAL);
        assert_string_equal(err, bad[i].message);
        assert_int_equal(v, 42);
    }
    assert_int_equal(pb_parse_duration(NULL, &v, err, sizeof(err)), -EINVAL);
}

static void test_format(void **state)
{
    static const struct {
        uint64_t v;
        const char *size, *duration;
    } cases[] = {
        {0, "0B", "0s"},
        {1000, "1000B", "1us"},
        {4096, "4KiB", "4096ns"},
        {1536 * MiB, "1536MiB", "1610612736ns"},
        {4 * GiB, "4GiB", "4294967296ns"},
        {1500000000, "1500000000B", "1500ms"},
        {60 * NS_S, "58593750KiB", "1m"},
        {UINT64_C(3) << 40, "3TiB", "3298534883328ns"},
    };
    char buf[40];
    uint64_t back;

    (void)state;
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        assert_int_equal(pb_format_size(cases[i].v, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].size);
        assert_int_equal(pb_parse_size(buf, &back, NULL, 0), 0);
        assert_int_equal(back, cases[i].v);
        assert_int_equal(pb_format_duration(cases[i].v, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].duration);
        assert_int_equal(pb_parse_duration(buf, &back, NULL, 0), 0);
        assert_int_equal(back, cases[i].v);
    }
    /* Round trips over a spread of values, UINT64_MAX included. */
    for (uint64_t v = 1, k = 0; k < 200; k++, v = v * 3 + k) {
        assert_int_equal(pb_format_size(v, buf, sizeof(buf)), 0);
        assert_int_equal(pb_parse_size(buf, &back, NULL, 0), 0);
        assert_int_equal(back, v);
        assert_int_equal(pb_format_duration(v, buf, sizeof(buf)), 0);
        assert_int_equal(pb_parse_duration(buf, &back, NULL, 0), 0);
        assert_int_equal(back, v);
    }
    assert_int_equal(pb_format_size(UINT64_MAX, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "18446744073709551615B");
    assert_int_equal(pb_format_size(4 * GiB, buf, 4), -EINVAL); /* "4GiB" needs 5 */
    assert_string_equal(buf, "");
    assert_int_equal(pb_format_size(4 * GiB, NULL, 8), -EINVAL);
    assert_int_equal(pb_format_duration(NS_S, buf, 0), -EINVAL);
}

/* ---------------------------------------------------------------------------------------------
 * Suites
 */

static void test_suite_resolution(void **state)
{
    struct pb_workload wl;
    const struct pb_workload *m;

    (void)state;
    load_fixture("good-suite", &wl);
    assert_int_equal(wl.kind, PB_WL_SUITE);
    assert_string_equal(wl.name, "good-suite");
    assert_int_equal(wl.nr_groups, 0);
    assert_int_equal(wl.nr_members, 4);

    /* 1: good-minimal as it is. */
    m = &wl.members[0];
    assert_string_equal(m->name, "good-minimal");
    assert_string_equal(m->path, FIXTURES "/good-minimal.yaml");
    assert_int_equal(m->phases.measure.ns, 5 * NS_S);
    /* 2, 3: the inner suite's members, the outer measure override on both. */
    m = &wl.members[1];
    assert_string_equal(m->name, "good-minimal");
    assert_int_equal(m->phases.measure.unit, PB_WL_PHASE_TIME);
    assert_int_equal(m->phases.measure.ns, 2 * NS_S);
    assert_int_equal(m->phases.repetitions, 1);
    m = &wl.members[2];
    assert_string_equal(m->name, "good-ops");
    assert_int_equal(m->kind, PB_WL_SINGLE);
    assert_int_equal(m->phases.measure.unit, PB_WL_PHASE_TIME);
    assert_int_equal(m->phases.measure.ns, 2 * NS_S);
    assert_int_equal(m->phases.warmup.unit, PB_WL_PHASE_OPS); /* not overridden */
    assert_int_equal(m->phases.repetitions, 3);               /* the inner override */
    assert_int_equal(m->seed, 99);
    /* 4: good-minimal again, with its own overrides. */
    m = &wl.members[3];
    assert_string_equal(m->name, "good-minimal");
    assert_int_equal(m->phases.warmup.ns, 250000000);
    assert_int_equal(m->phases.measure.unit, PB_WL_PHASE_OPS);
    assert_int_equal(m->phases.measure.ops, 100);
    /* 5s + 1s, 2s + 1s, 3 x (2s + 0s), 250ms. */
    assert_int_equal(pb_workload_timed_ns(&wl), 6 * NS_S + 3 * NS_S + 6 * NS_S + 250000000);
    pb_workload_free(&wl);
}

/* A suite entry's seed moves the heap's seed with it when the heap followed the workload's. */
static void test_suite_seed_override(void **state)
{
    char dir[] = "/tmp/pb-workload-seed-XXXXXX", path[256], err[2048];
    struct pb_workload wl;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/aged.yaml", dir);
    f = fopen(path, "w");
    fputs("description: x\nseed: 5\ndomains:\n  - memory: 4MiB\nheap:\n  state: dirty\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/pinned.yaml", dir);
    f = fopen(path, "w");
    fputs("description: x\nseed: 5\ndomains:\n  - memory: 4MiB\n"
          "heap:\n  state: dirty\n  seed: 8\n",
          f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/s.yaml", dir);
    f = fopen(path, "w");
    fputs("description: x\nsuite:\n  - {workload: aged, seed: 11}\n"
          "  - {workload: pinned, seed: 12}\n",
          f);
    fclose(f);
    if (pb_workload_load(path, &wl, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(wl.members[0].seed, 11);
    assert_int_equal(wl.members[0].heap.seed, 11);
    assert_int_equal(wl.members[1].seed, 12);
    assert_int_equal(wl.members[1].heap.seed, 8);
    pb_workload_free(&wl);
    unlink(path);
    snprintf(path, sizeof(path), "%s/aged.yaml", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/pinned.yaml", dir);
    unlink(path);
    rmdir(dir);
}

static void write_text(const char *dir, const char *name, const char *text)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_text(const char *dir, const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
    assert_int_equal(unlink(path), 0);
}

/* Suites nest at most PB_WL_MAX_NESTING deep and flatten to at most PB_WL_MAX_SUITE members. */
static void test_suite_limits(void **state)
{
    char dir[] = "/tmp/pb-workload-limits-XXXXXX", name[16], text[4096], path[256], err[4096];
    char expected[1024];
    struct pb_workload wl;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_text(dir, "leaf", "description: x\ndomains:\n  - memory: 4MiB\n");
    /* nest0 includes nest1 ... nest8 includes leaf: nine suites deep. */
    for (int i = 0; i <= PB_WL_MAX_NESTING; i++) {
        snprintf(name, sizeof(name), "nest%d", i);
        if (i < PB_WL_MAX_NESTING)
            snprintf(text, sizeof(text), "description: x\nsuite:\n  - nest%d\n", i + 1);
        else
            snprintf(text, sizeof(text), "description: x\nsuite:\n  - leaf\n");
        write_text(dir, name, text);
    }
    snprintf(path, sizeof(path), "%s/nest1.yaml", dir); /* eight suites deep: fine */
    if (pb_workload_load(path, &wl, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(wl.nr_members, 1);
    assert_string_equal(wl.members[0].name, "leaf");
    pb_workload_free(&wl);
    snprintf(path, sizeof(path), "%s/nest0.yaml", dir);
    assert_int_equal(pb_workload_load(path, &wl, err, sizeof(err)), -EINVAL);
    snprintf(expected, sizeof(expected),
             "%s/nest8.yaml:2:1: key 'suite' makes suites nest 9 deep (expected at most 8)\n"
             "%s/nest7.yaml:3:5: note: included from suite 'nest7'",
             dir, dir);
    assert_true(strncmp(err, expected, strlen(expected)) == 0);
    assert_non_null(strstr(err, "/nest0.yaml:3:5: note: included from suite 'nest0'"));

    /* 16 entries of a 16-member suite: 256 members, the most; one more is too many. */
    strcpy(text, "description: x\nsuite:\n");
    for (int i = 0; i < 16; i++)
        strcat(text, "  - leaf\n");
    write_text(dir, "wide", text);
    strcpy(text, "description: x\nsuite:\n");
    for (int i = 0; i < 16; i++)
        strcat(text, "  - wide\n");
    write_text(dir, "widest", text);
    strcat(text, "  - leaf\n");
    write_text(dir, "too-wide", text);
    snprintf(path, sizeof(path), "%s/widest.yaml", dir);
    if (pb_workload_load(path, &wl, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(wl.nr_members, PB_WL_MAX_SUITE);
    pb_workload_free(&wl);
    snprintf(path, sizeof(path), "%s/too-wide.yaml", dir);
    assert_int_equal(pb_workload_load(path, &wl, err, sizeof(err)), -EINVAL);
    snprintf(expected, sizeof(expected),
             "%s/too-wide.yaml:19:5: 'suite[16]' is 'leaf', one member too many (expected at "
             "most 256)",
             dir);
    assert_string_equal(err, expected);

    remove_text(dir, "leaf");
    remove_text(dir, "wide");
    remove_text(dir, "widest");
    remove_text(dir, "too-wide");
    for (int i = 0; i <= PB_WL_MAX_NESTING; i++) {
        snprintf(name, sizeof(name), "nest%d", i);
        remove_text(dir, name);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* The example in FORMAT.md loads: the documentation and the loader agree. */
static void test_format_md_example(void **state)
{
    char dir[] = "/tmp/pb-workload-doc-XXXXXX", path[256], line[512], err[2048];
    FILE *md = fopen(SHIPPED "/FORMAT.md", "r"), *out;
    struct pb_workload wl;
    bool in = false, seen = false;

    (void)state;
    assert_non_null(md);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/example.yaml", dir);
    out = fopen(path, "w");
    assert_non_null(out);
    while (fgets(line, sizeof(line), md)) {
        if (strncmp(line, "```", 3) == 0) {
            seen |= in;
            in = !in && strncmp(line, "```yaml", 7) == 0 && !seen;
            continue;
        }
        if (in)
            fputs(line, out);
    }
    fclose(md);
    fclose(out);
    assert_true(seen);
    if (pb_workload_load(path, &wl, err, sizeof(err)))
        fail_msg("%s", err);
    assert_string_equal(wl.name, "example");
    assert_int_equal(wl.nr_domains, 4);
    pb_workload_free(&wl);
    unlink(path);
    rmdir(dir);
}

/* ---------------------------------------------------------------------------------------------
 * Binding a topology's machine
 */

static void test_bind_machine(void **state)
{
    struct pb_workload wl, stated;
    char err[1024];

    (void)state;
    load_fixture("good-topology", &wl);
    assert_true(wl.machine.from_topology);
    assert_int_equal(wl.machine.nodes, 0);
    assert_int_equal(wl.machine.backing, PB_WL_BACKING_REAL);

    /* Each failure names the file position at fault and changes nothing. */
    assert_int_equal(pb_workload_bind_machine(&wl, 2, PAGES(4 * GiB), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, FIXTURES "/good-topology.yaml:10:19: 'domains[0].affinity' names "
                                      "node 3 (expected a node from 0 to 1: the machine has 2 "
                                      "nodes)");
    assert_int_equal(wl.machine.nodes, 0);
    assert_int_equal(pb_workload_bind_machine(&wl, 4, PAGES(256 * MiB), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, FIXTURES "/good-topology.yaml:9:12: 'domains[0].claim' is 1536MiB, "
                                      "more than the machine's memory (expected at most 1GiB)");
    assert_int_equal(pb_workload_bind_machine(&wl, 4, PAGES(512 * MiB), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, FIXTURES "/good-topology.yaml:13:7: 'orders.18' is 1 but a node "
                                      "has 512MiB, less than one order-18 extent (expected 0: a "
                                      "buddy never crosses nodes)");
    assert_int_equal(pb_workload_bind_machine(&wl, 8, PAGES(255 * MiB), err, sizeof(err)), -EINVAL);
    assert_string_equal(err, FIXTURES "/good-topology.yaml:6:3: the domains need 2GiB in all, "
                                      "more than the machine's memory (expected at most 2040MiB: "
                                      "8 nodes of 255MiB)");
    assert_int_equal(wl.machine.nodes, 0);
    assert_int_equal(wl.machine.pages_per_node, 0);

    /* Bad arguments. */
    assert_int_equal(pb_workload_bind_machine(NULL, 4, PAGES(GiB), err, sizeof(err)), -EINVAL);
    assert_int_equal(pb_workload_bind_machine(&wl, 0, PAGES(GiB), err, sizeof(err)), -EINVAL);
    assert_int_equal(pb_workload_bind_machine(&wl, 65, PAGES(GiB), err, sizeof(err)), -EINVAL);
    assert_int_equal(pb_workload_bind_machine(&wl, 4, 0, err, sizeof(err)), -EINVAL);
    assert_int_equal(wl.machine.nodes, 0);

    assert_int_equal(pb_workload_bind_machine(&wl, 4, PAGES(GiB), err, sizeof(err)), 0);
    assert_int_equal(wl.machine.nodes, 4);
    assert_int_equal(wl.machine.pages_per_node, PAGES(GiB));
    pb_workload_free(&wl);

    /* A stated machine stays as it is. */
    load_fixture("good-ops", &stated);
    assert_int_equal(pb_workload_bind_machine(&stated, 8, PAGES(8 * GiB), err, sizeof(err)), 0);
    assert_int_equal(stated.machine.nodes, 1);
    assert_int_equal(stated.machine.pages_per_node, PAGES(GiB));
    pb_workload_free(&stated);

    /* A suite binds every member that asks for the topology. */
    load_fixture("good-suite", &wl);
    assert_int_equal(pb_workload_bind_machine(&wl, 2, PAGES(GiB), err, sizeof(err)), 0);
    for (unsigned i = 0; i < wl.nr_members; i++)
        assert_int_equal(wl.members[i].machine.nodes,
                         strcmp(wl.members[i].name, "good-ops") == 0 ? 1 : 2);
    pb_workload_free(&wl);
}

/* ---------------------------------------------------------------------------------------------
 * Finding and listing
 */

static void test_find(void **state)
{
    char path[512], err[1024], tiny[8];

    (void)state;
    assert_int_equal(pb_workload_find("balloon", SHIPPED, path, sizeof(path), err, sizeof(err)), 0);
    assert_string_equal(path, SHIPPED "/balloon.yaml");
    assert_int_equal(
        pb_workload_find(FIXTURES "/good-minimal.yaml", NULL, path, sizeof(path), err, sizeof(err)),
        0);
    assert_string_equal(path, FIXTURES "/good-minimal.yaml");
    assert_int_equal(pb_workload_find("nope", SHIPPED, path, sizeof(path), err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "no workload 'nope' in " SHIPPED " (expected one of: balloon, "
                             "balloon-scrub-domheap, bootstorm, bootstorm-used, claims, default, "
                             "fragmented, mixed-orders, numa-local, numa-spread, vnuma-storm)");
    assert_int_equal(pb_workload_find("./nope.yaml", SHIPPED, path, sizeof(path), err, sizeof(err)),
                     -ENOENT);
    assert_string_equal(err, "./nope.yaml: No such file or directory (expected a readable "
                             "workload file)");
    assert_int_equal(pb_workload_find("a b", SHIPPED, path, sizeof(path), err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "'a b' is not a workload name (expected letters, digits, '-', '_' "
                             "and '.', or a path to a .yaml file)");
    assert_int_equal(pb_workload_find(".hidden", SHIPPED, path, sizeof(path), err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(pb_workload_find("balloon", SHIPPED, tiny, sizeof(tiny), err, sizeof(err)),
                     -ENAMETOOLONG);
    assert_int_equal(pb_workload_find(NULL, SHIPPED, path, sizeof(path), err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(pb_workload_find("balloon", SHIPPED, NULL, 0, err, sizeof(err)), -EINVAL);
    assert_int_equal(pb_workload_find("balloon", NULL, path, sizeof(path), err, sizeof(err)),
                     -EINVAL);
}

static void test_list(void **state)
{
    struct pb_wl_info *infos;
    size_t nr;
    bool saw_good = false, saw_bad = false, saw_suite = false;

    (void)state;
    assert_int_equal(pb_workload_list(FIXTURES "/nonexistent", &infos, &nr), -ENOENT);
    assert_int_equal(pb_workload_list(NULL, &infos, &nr), -EINVAL);
    assert_int_equal(pb_workload_list(FIXTURES, &infos, &nr), 0);
    for (size_t i = 0; i < nr; i++) {
        char path[512];

        if (i)
            assert_true(strcmp(infos[i - 1].name, infos[i].name) < 0);
        snprintf(path, sizeof(path), "%s/%s.yaml", FIXTURES, infos[i].name);
        assert_string_equal(infos[i].path, path);
        if (strncmp(infos[i].name, "good-", 5) == 0) {
            assert_null(infos[i].error);
            assert_non_null(infos[i].description);
            saw_good = true;
        } else {
            /* bad-* and the cycle */
            assert_non_null(infos[i].error);
            assert_null(infos[i].description);
            assert_true(strncmp(infos[i].error, FIXTURES "/", strlen(FIXTURES "/")) == 0);
            saw_bad = true;
        }
        if (strcmp(infos[i].name, "good-suite") == 0) {
            assert_int_equal(infos[i].kind, PB_WL_SUITE);
            assert_int_equal(infos[i].nr_members, 4);
            saw_suite = true;
        }
    }
    assert_true(saw_good && saw_bad && saw_suite);
    pb_workload_list_free(infos, nr);
    pb_workload_list_free(NULL, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Dump
 */

static char *dump_string(const struct pb_workload *wl)
{
    char *s = NULL;
    size_t len;
    FILE *f = open_memstream(&s, &len);

    assert_non_null(f);
    assert_int_equal(pb_workload_dump(f, wl), 0);
    fclose(f);
    return s;
}

/* The dump of a workload, written to a file of the same name, loads to the same dump. */
static void check_round_trip(const char *path)
{
    char dir[] = "/tmp/pb-workload-dump-XXXXXX", copy[512], err[2048];
    struct pb_workload wl, again;
    char *first, *second;
    FILE *f;

    if (pb_workload_load(path, &wl, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(wl.kind, PB_WL_SINGLE);
    first = dump_string(&wl);
    assert_non_null(mkdtemp(dir));
    snprintf(copy, sizeof(copy), "%s/%s.yaml", dir, wl.name);
    f = fopen(copy, "w");
    assert_non_null(f);
    fputs(first, f);
    fclose(f);
    if (pb_workload_load(copy, &again, err, sizeof(err)))
        fail_msg("the dump of %s does not load: %s\n%s", path, err, first);
    second = dump_string(&again);
    assert_string_equal(first, second);
    free(first);
    free(second);
    pb_workload_free(&wl);
    pb_workload_free(&again);
    unlink(copy);
    rmdir(dir);
}

static void test_dump_round_trip(void **state)
{
    static const char *const fixtures[] = {"good-minimal", "good-ops", "good-everything",
                                           "good-topology", "good-node-claims"};
    char path[512];

    (void)state;
    for (size_t i = 0; i < PB_ARRAY_SIZE(shipped_names); i++) {
        if (strcmp(shipped_names[i], "default") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s.yaml", SHIPPED, shipped_names[i]);
        check_round_trip(path);
    }
    for (size_t i = 0; i < PB_ARRAY_SIZE(fixtures); i++) {
        snprintf(path, sizeof(path), "%s/%s.yaml", FIXTURES, fixtures[i]);
        check_round_trip(path);
    }
}

static void test_dump_suite(void **state)
{
    struct pb_workload wl;
    char *s;
    unsigned docs = 0;

    (void)state;
    load_fixture("good-suite", &wl);
    s = dump_string(&wl);
    for (const char *p = s; (p = strstr(p, "\n---\n")); p++)
        docs++;
    assert_int_equal(docs, wl.nr_members);
    assert_non_null(strstr(s, "name: \"good-ops\""));
    free(s);
    assert_int_equal(pb_workload_dump(NULL, &wl), -EINVAL);
    assert_int_equal(pb_workload_dump(stdout, NULL), -EINVAL);
    pb_workload_free(&wl);
}

/* ---------------------------------------------------------------------------------------------
 * Hostile files: types that block, names results cannot carry, nesting libyaml is slow on, and
 * machines the topology gives that the model cannot hold.
 */

#define DEADLINE_S 30 /* a load that blocks is killed after this, and the test fails */

static void load_in_child(void *arg, struct bounded_result *out)
{
    struct pb_workload wl;

    out->rc = pb_workload_load(arg, &wl, out->text, sizeof(out->text));
    if (out->rc == 0)
        pb_workload_free(&wl);
}

/* "name: error" or "name: description" per entry, one a line. */
static void list_in_child(void *arg, struct bounded_result *out)
{
    struct pb_wl_info *infos;
    size_t nr, used = 0;

    out->rc = pb_workload_list(arg, &infos, &nr);
    if (out->rc)
        return;
    for (size_t i = 0; i < nr && used < sizeof(out->text); i++)
        used +=
            (size_t)snprintf(out->text + used, sizeof(out->text) - used, "%s: %s\n", infos[i].name,
                             infos[i].error ? infos[i].error : infos[i].description);
    pb_workload_list_free(infos, nr);
}

/* Runs fn(arg) in a child with a deadline; the test fails if it blocks. */
static int call_bounded(void (*fn)(void *, struct bounded_result *), const char *arg, char *text,
                        size_t len)
{
    struct bounded_result r;
    int rc = bounded_call(fn, (void *)arg, DEADLINE_S, &r);

    if (rc == -ETIMEDOUT)
        fail_msg("the loader blocked on %s (killed after %d s)", arg, DEADLINE_S);
    assert_int_equal(rc, 0);
    snprintf(text, len, "%s", r.text);
    return r.rc;
}

static void expect_load_error(const char *path, int want_rc, const char *want)
{
    char err[4096];

    assert_int_equal(call_bounded(load_in_child, path, err, sizeof(err)), want_rc);
    assert_string_equal(err, want);
}

/* A FIFO, a device, a directory: refused with the path named, never read or waited on. */
static void test_file_types(void **state)
{
    char dir[] = "/tmp/pb-workload-types-XXXXXX", path[256], want[1024], list[4096];

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/fifo.yaml", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    snprintf(want, sizeof(want), "%s: is a FIFO (expected a workload file)", path);
    expect_load_error(path, -EINVAL, want);

    snprintf(path, sizeof(path), "%s/device.yaml", dir);
    assert_int_equal(symlink("/dev/zero", path), 0); /* read whole, it would never end */
    snprintf(want, sizeof(want), "%s: is a character device (expected a workload file)", path);
    expect_load_error(path, -EINVAL, want);
    expect_load_error("/dev/null", -EINVAL,
                      "/dev/null: is a character device (expected a workload file)");

    snprintf(path, sizeof(path), "%s/folder.yaml", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(want, sizeof(want), "%s: is a directory (expected a workload file)", path);
    expect_load_error(path, -EISDIR, want);

    /* A suite member that is a FIFO: the member's path, then the suite's position. */
    write_text(dir, "good", "description: x\ndomains:\n  - memory: 4MiB\n");
    write_text(dir, "suite", "description: x\nsuite:\n  - good\n  - fifo\n");
    snprintf(path, sizeof(path), "%s/suite.yaml", dir);
    snprintf(want, sizeof(want),
             "%s/fifo.yaml: is a FIFO (expected a workload file)\n"
             "%s/suite.yaml:4:5: note: included from suite 'suite'",
             dir, dir);
    expect_load_error(path, -EINVAL, want);

    /* Listing the directory names each of them with its error, and blocks on none. */
    assert_int_equal(call_bounded(list_in_child, dir, list, sizeof(list)), 0);
    snprintf(want, sizeof(want),
             "device: %s/device.yaml: is a character device (expected a workload file)\n"
             "fifo: %s/fifo.yaml: is a FIFO (expected a workload file)\n"
             "folder: %s/folder.yaml: is a directory (expected a workload file)\n"
             "good: x\n"
             "suite: %s/fifo.yaml: is a FIFO (expected a workload file)\n"
             "%s/suite.yaml:4:5: note: included from suite 'suite'\n",
             dir, dir, dir, dir, dir);
    assert_string_equal(list, want);

    remove_text(dir, "fifo");
    remove_text(dir, "device");
    remove_text(dir, "good");
    remove_text(dir, "suite");
    snprintf(path, sizeof(path), "%s/folder.yaml", dir);
    assert_int_equal(rmdir(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* More than PB_WL_MAX_FILE_BYTES: refused before it is parsed. */
static void test_file_size(void **state)
{
    char dir[] = "/tmp/pb-workload-size-XXXXXX", path[256], want[512], err[512];
    struct pb_workload wl;
    char *text = malloc(PB_WL_MAX_FILE_BYTES + 2);

    (void)state;
    assert_non_null(text);
    assert_non_null(mkdtemp(dir));
    /* One byte too many: a comment that fills the file. */
    memset(text, '#', PB_WL_MAX_FILE_BYTES + 1);
    text[PB_WL_MAX_FILE_BYTES + 1] = '\0';
    write_text(dir, "big", text);
    snprintf(path, sizeof(path), "%s/big.yaml", dir);
    assert_int_equal(pb_workload_load(path, &wl, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "%s: is larger than 1MiB (expected a workload file of at most 1MiB)", path);
    assert_string_equal(err, want);
    /* Exactly the limit is read (and found empty: it is all comment). */
    text[PB_WL_MAX_FILE_BYTES] = '\0';
    write_text(dir, "big", text);
    assert_int_equal(pb_workload_load(path, &wl, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":1:1: the file is empty"));
    remove_text(dir, "big");
    assert_int_equal(rmdir(dir), 0);
    free(text);
}

/* A file's stem is the workload's name: one that results could not carry is refused at load. */
static void test_bad_stems(void **state)
{
    char dir[] = "/tmp/pb-workload-stems-XXXXXX", path[256], want[1024];
    const char *body = "description: x\ndomains:\n  - memory: 4MiB\n";
    const char *rule = "letters, digits, '-', '_' and '.', at most 64, not first '.'";

    static const struct {
        const char *stem, *shown;
    } stems[] = {{"two words", "two words"}, {"tab\there", "tab?here"}, {".x", ".x"}};

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < PB_ARRAY_SIZE(stems); i++) {
        write_text(dir, stems[i].stem, body);
        snprintf(path, sizeof(path), "%s/%s.yaml", dir, stems[i].stem);
        snprintf(want, sizeof(want),
                 "%s: the file's name without .yaml, '%s', is not a workload name (expected %s: "
                 "rename the file)",
                 path, stems[i].shown, rule);
        expect_load_error(path, -EINVAL, want);
        remove_text(dir, stems[i].stem);
    }

    /* With a `name` key, the message points at it. */
    write_text(dir, "named", "name: two words\ndescription: x\ndomains:\n  - memory: 4MiB\n");
    snprintf(path, sizeof(path), "%s/named.yaml", dir);
    snprintf(want, sizeof(want), "%s:1:7: 'name' is 'two words' (expected a workload name: %s)",
             path, rule);
    expect_load_error(path, -EINVAL, want);

    remove_text(dir, "named");
    assert_int_equal(rmdir(dir), 0);
}

/* Nesting is refused at level PB_WL_MAX_DEPTH + 1, where it is found: the position proves that
 * the scan stopped there instead of reading 100,000 levels. */
static void test_deep_nesting(void **state)
{
    char dir[] = "/tmp/pb-workload-deep-XXXXXX", path[256], want[512];
    const size_t levels = 100000;
    char *text = malloc(levels * 5 + 64);
    size_t n;

    (void)state;
    assert_non_null(text);
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/deep.yaml", dir);

    /* Flow lists on one line: "domains: " then the brackets from column 10. The root mapping is
     * level 1, so the 64th bracket opens level 65. */
    n = (size_t)sprintf(text, "description: x\ndomains: ");
    memset(text + n, '[', levels);
    text[n + levels] = '\0';
    write_text(dir, "deep", text);
    snprintf(want, sizeof(want),
             "%s:2:%d: a list or mapping nested %d deep (expected at most %d levels)", path,
             9 + PB_WL_MAX_DEPTH, PB_WL_MAX_DEPTH + 1, PB_WL_MAX_DEPTH);
    expect_load_error(path, -EINVAL, want);

    /* Flow mappings, one a line: level k + 1 opens on line k + 1, column 2 after the first. */
    n = (size_t)sprintf(text, "description: x\ndomains: ");
    for (size_t i = 0; i < levels; i++)
        n += (size_t)sprintf(text + n, "{a:\n ");
    write_text(dir, "deep", text);
    snprintf(want, sizeof(want),
             "%s:%d:2: a list or mapping nested %d deep (expected at most %d levels)", path,
             PB_WL_MAX_DEPTH + 1, PB_WL_MAX_DEPTH + 1, PB_WL_MAX_DEPTH);
    expect_load_error(path, -EINVAL, want);

    /* Block mappings, each indented one more: level d starts at line d, column d. */
    n = 0;
    for (size_t i = 0; i < 100; i++)
        n += (size_t)sprintf(text + n, "%*sk%zu:\n", (int)i, "", i);
    write_text(dir, "deep", text);
    snprintf(want, sizeof(want),
             "%s:%d:%d: a list or mapping nested %d deep (expected at most %d levels)", path,
             PB_WL_MAX_DEPTH + 1, PB_WL_MAX_DEPTH + 1, PB_WL_MAX_DEPTH + 1, PB_WL_MAX_DEPTH);
    expect_load_error(path, -EINVAL, want);

    remove_text(dir, "deep");
    assert_int_equal(rmdir(dir), 0);
    free(text);
}

/* A machine from the topology meets the stated machine's limits when it is bound. */
static void test_bind_limits(void **state)
{
    char dir[] = "/tmp/pb-workload-bind-XXXXXX", path[256], want[1024], err[1024];
    struct pb_workload wl;

    (void)state;
    assert_non_null(mkdtemp(dir));
    write_text(dir, "scrubbed",
               "description: x\ndomains:\n  - memory: 64MiB\nscrub:\n  mode: background\n"
               "  workers_per_node: 64\n");
    snprintf(path, sizeof(path), "%s/scrubbed.yaml", dir);
    if (pb_workload_load(path, &wl, err, sizeof(err)))
        fail_msg("%s", err);

    /* Nodes without memory (numa(memory=0)): the file's top, the flag named, no function. */
    assert_int_equal(pb_workload_bind_machine(&wl, 2, 0, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "%s:1:1: the machine comes from the topology (--topology): 2 nodes of 0B (expected "
             "1 to 64 nodes of 1MiB to 16TiB, less than 16TiB in all: give --topology NUMA nodes "
             "with memory, e.g. [numa(memory=4GiB)], or state machine.nodes and "
             "machine.memory_per_node)",
             path);
    assert_string_equal(err, want);
    /* 2 x 8 TiB: 2^32 frames, one more than the model numbers. */
    assert_int_equal(pb_workload_bind_machine(&wl, 2, PAGES(UINT64_C(8) << 40), err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, ":1:1: the machine comes from the topology (--topology): 2 "
                                "nodes of 8TiB (expected"));
    /* 64 scrub workers on each of 17 nodes pass the thread budget; on 15 they fit. */
    assert_int_equal(pb_workload_bind_machine(&wl, 17, PAGES(GiB), err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "%s:6:21: 1088 scrub workers on the topology's 17 nodes make 1089 threads in all "
             "(expected at most %d: fewer scrub.workers_per_node)",
             path, PB_WL_MAX_THREADS);
    assert_string_equal(err, want);
    assert_int_equal(wl.machine.nodes, 0);
    assert_int_equal(pb_workload_bind_machine(&wl, 15, PAGES(GiB), err, sizeof(err)), 0);
    assert_int_equal(wl.machine.nodes, 15);
    pb_workload_free(&wl);

    /* A stated machine ignores what the topology says, even nodes without memory. */
    load_fixture("good-ops", &wl);
    assert_int_equal(pb_workload_bind_machine(&wl, 2, 0, err, sizeof(err)), 0);
    pb_workload_free(&wl);
    remove_text(dir, "scrubbed");
    assert_int_equal(rmdir(dir), 0);
}

/* ---------------------------------------------------------------------------------------------
 * Fuzz: truncated and garbled copies of the shipped files, in a directory holding all of them
 * so that suites resolve. Any outcome but a crash, a leak (under ASan) or a malformed message is
 * fine.
 */

struct fuzz_dir {
    char dir[64];
    char *text[PB_ARRAY_SIZE(shipped_names)];
    size_t len[PB_ARRAY_SIZE(shipped_names)];
    unsigned loaded, rejected;
};

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rng(void)
{
    return pb_splitmix64(&rng_state);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void fuzz_one(struct fuzz_dir *fz, const char *path, const char *text, size_t len)
{
    struct pb_workload wl;
    char err[2048];
    unsigned line, col;
    int rc, n = 0;

    write_file(path, text, len);
    err[0] = '\0';
    rc = pb_workload_load(path, &wl, err, sizeof(err));
    if (rc == 0) {
        FILE *null = fopen("/dev/null", "w");
        assert_int_equal(pb_workload_dump(null, &wl), 0);
        fclose(null);
        pb_workload_free(&wl);
        fz->loaded++;
        return;
    }
    if (rc != -EINVAL)
        fail_msg("rc %d: %s", rc, err);
    /* FILE:LINE:COL: text, FILE one of the fuzz directory's. */
    if (strncmp(err, fz->dir, strlen(fz->dir)) != 0 ||
        sscanf(strchr(err, ':') ? strchr(err, ':') : "", ":%u:%u: %n", &line, &col, &n) != 2 ||
        n == 0 || line == 0 || col == 0 || strchr(err, ':')[n] == '\0')
        fail_msg("malformed message: %s", err);
    assert_null(wl.name);
    fz->rejected++;
}

static void test_fuzz(void **state)
{
    static const char garbage[] = ":-[]{}&*!|>'\"#%@`,?~ \n\t0123456789abcxyz\\\x01\x80\xff";
    struct fuzz_dir fz = {.dir = "/tmp/pb-workload-fuzz-XXXXXX"};
    char path[256], src[512];

    (void)state;
    assert_non_null(mkdtemp(fz.dir));
    for (size_t i = 0; i < PB_ARRAY_SIZE(shipped_names); i++) {
        FILE *f;

        snprintf(src, sizeof(src), "%s/%s.yaml", SHIPPED, shipped_names[i]);
        f = fopen(src, "rb");
        assert_non_null(f);
        fz.text[i] = malloc(65536);
        fz.len[i] = fread(fz.text[i], 1, 65536, f);
        fclose(f);
        snprintf(path, sizeof(path), "%s/%s.yaml", fz.dir, shipped_names[i]);
        write_file(path, fz.text[i], fz.len[i]);
    }
    for (size_t i = 0; i < PB_ARRAY_SIZE(shipped_names); i++) {
        char *buf = malloc(2 * fz.len[i] + 64);
        snprintf(path, sizeof(path), "%s/%s.yaml", fz.dir, shipped_names[i]);

        /* Every prefix. */
        for (size_t cut = 0; cut <= fz.len[i]; cut++)
            fuzz_one(&fz, path, fz.text[i], cut);
        /* Garbled: a few random edits each. */
        for (int round = 0; round < 600; round++) {
            size_t len = fz.len[i];
            memcpy(buf, fz.text[i], len);
            for (int e = 1 + (int)(rng() % 4); e > 0; e--) {
                size_t at = len ? rng() % len : 0;
                switch (rng() % 4) {
                case 0: /* replace a byte */
                    if (len)
                        buf[at] = garbage[rng() % (sizeof(garbage) - 1)];
                    break;
                case 1: /* insert a byte */
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = garbage[rng() % (sizeof(garbage) - 1)];
                    len++;
                    break;
                case 2: { /* delete a run */
                    size_t run = rng() % 8;
                    if (at + run > len)
                        run = len - at;
                    memmove(buf + at, buf + at + run, len - at - run);
                    len -= run;
                    break;
                }
                default: { /* duplicate a run (repeats keys and lines) */
                    size_t run = rng() % 40, room = 2 * fz.len[i] + 64 - len;
                    if (at + run > len)
                        run = len - at;
                    if (run > room)
                        run = room;
                    memmove(buf + at + run, buf + at, len - at);
                    len += run;
                    break;
                }
                }
            }
            fuzz_one(&fz, path, buf, len);
        }
        write_file(path, fz.text[i], fz.len[i]); /* intact again for the other suites */
        free(buf);
    }
    /* Both outcomes occurred: the mutations are neither all harmless nor all fatal. */
    assert_true(fz.loaded > 0);
    assert_true(fz.rejected > 0);
    for (size_t i = 0; i < PB_ARRAY_SIZE(shipped_names); i++) {
        snprintf(path, sizeof(path), "%s/%s.yaml", fz.dir, shipped_names[i]);
        unlink(path);
        free(fz.text[i]);
    }
    rmdir(fz.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_files_load),
        cmocka_unit_test(test_default_suite),
        cmocka_unit_test(test_numa_pair),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_bad_files_all_checked),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_dependent_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_claim_split),
        cmocka_unit_test(test_vnuma_storm_shape),
        cmocka_unit_test(test_parse_size),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_suite_resolution),
        cmocka_unit_test(test_suite_seed_override),
        cmocka_unit_test(test_suite_limits),
        cmocka_unit_test(test_format_md_example),
        cmocka_unit_test(test_bind_machine),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_dump_round_trip),
        cmocka_unit_test(test_dump_suite),
        cmocka_unit_test(test_file_types),
        cmocka_unit_test(test_file_size),
        cmocka_unit_test(test_bad_stems),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_bind_limits),
        cmocka_unit_test(test_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
