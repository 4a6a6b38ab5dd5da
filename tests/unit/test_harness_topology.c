/*
 * test_harness_topology.c: virtual topologies, the vCPU -> real PU map, placement, binding.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bench/topology.h"
#include "bounded_call.h"

#define FOUR_NODES "pack:4 [numa(memory=1GB)] core:2 pu:1"

static void test_synthetic_four_nodes(void **state)
{
    (void)state;
    struct pb_topology t;
    char err[512] = "";

    assert_int_equal(pb_topology_load(FOUR_NODES, &t, err, sizeof(err)), 0);
    assert_true(t.is_virtual);
    assert_int_equal(t.nr_nodes, 4);
    assert_int_equal(t.nr_vcpus, 8);
    assert_true(t.nr_real_pus >= 1);
    for (unsigned n = 0; n < 4; n++) {
        assert_int_equal(t.node_cpus[n], 2);
        assert_int_equal(t.node_first[n], 2 * n);
        assert_int_equal(t.node_memory[n], 1000000000ull);
    }
    for (unsigned v = 0; v < 8; v++) {
        assert_int_equal(t.cpus[v].node, v / 2);
        /* The documented map: vCPU v on real PU v mod nreal. */
        assert_int_equal(t.cpus[v].real_pu, v % t.nr_real_pus);
    }
    assert_int_equal(pb_topology_oversubscribed(&t), 8 > t.nr_real_pus);
    assert_string_equal(t.spec, FOUR_NODES);
    assert_true(strlen(t.real_desc) > 0);
    pb_topology_free(&t);
}

static void test_placement(void **state)
{
    (void)state;
    struct pb_topology t;
    char err[512];

    assert_int_equal(pb_topology_load(FOUR_NODES, &t, err, sizeof(err)), 0);
    /* compact fills node 0 first; scatter goes round the nodes. */
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(pb_topology_place(&t, PB_PLACE_COMPACT, i), i);
    assert_int_equal(pb_topology_place(&t, PB_PLACE_COMPACT, 9), 1);
    unsigned want_scatter[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    for (unsigned i = 0; i < 8; i++)
        assert_int_equal(pb_topology_place(&t, PB_PLACE_SCATTER, i), want_scatter[i]);
    assert_int_equal(pb_topology_node_cpu(&t, 2, 0), 4);
    assert_int_equal(pb_topology_node_cpu(&t, 2, 3), 5);
    /* Background threads fill a node from its last vCPU. */
    assert_int_equal(pb_topology_node_cpu_from_end(&t, 2, 0), 5);
    assert_int_equal(pb_topology_node_cpu_from_end(&t, 2, 1), 4);
    assert_int_equal(pb_topology_node_cpu_from_end(&t, 2, 2), 5);

    enum pb_placement p;
    assert_int_equal(pb_placement_parse("scatter", &p), 0);
    assert_int_equal(p, PB_PLACE_SCATTER);
    assert_int_equal(pb_placement_parse("spread", &p), -EINVAL);
    pb_topology_free(&t);
}

static void test_memory_only_node(void **state)
{
    (void)state;
    struct pb_topology t;
    char err[512];

    /* Two packages with a node each, plus a node with no CPUs attached to the machine. */
    int rc = pb_topology_load("[numa(memory=1GB)] pack:2 [numa(memory=1GB)] core:1 pu:1", &t, err,
                              sizeof(err));
    if (rc) {
        /* Not every hwloc accepts memory at the top; nothing else to check then. */
        skip();
    }
    unsigned with_cpus = 0, total = 0;
    for (unsigned n = 0; n < t.nr_nodes; n++) {
        total += t.node_cpus[n];
        with_cpus += t.node_cpus[n] > 0;
    }
    assert_int_equal(total, t.nr_vcpus);
    assert_true(with_cpus >= 1);
    /* A node without CPUs still gets a vCPU for its scrubbers. */
    for (unsigned n = 0; n < t.nr_nodes; n++)
        assert_true(pb_topology_node_cpu(&t, n, 0) < t.nr_vcpus);
    pb_topology_free(&t);
}

static void test_bad_specs(void **state)
{
    (void)state;
    struct pb_topology t;
    char err[512];

    err[0] = '\0';
    assert_int_equal(pb_topology_load("bogus:3 nothing", &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--topology"));
    assert_non_null(strstr(err, "bogus:3 nothing"));
    assert_non_null(strstr(err, "expected"));
    err[0] = '\0';
    assert_int_equal(pb_topology_load("/nonexistent/machine.xml", &t, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/nonexistent/machine.xml"));
    err[0] = '\0';
    assert_int_equal(pb_topology_load("", &t, err, sizeof(err)), -EINVAL);
    assert_true(strlen(err) > 0);
    assert_int_equal(pb_topology_load(NULL, &t, err, sizeof(err)), -EINVAL);
}

static void load_in_child(void *arg, struct bounded_result *out)
{
    struct pb_topology t;

    out->rc = pb_topology_load(arg, &t, out->text, sizeof(out->text));
    if (out->rc == 0)
        pb_topology_free(&t);
}

/* Loads spec in a child that is killed if it blocks or runs out of memory; the message. */
static int load_bounded(const char *spec, char *err, size_t errlen)
{
    struct bounded_result r;
    int rc = bounded_call(load_in_child, (void *)spec, 60, &r);

    if (rc == -ETIMEDOUT)
        fail_msg("pb_topology_load(%s) blocked or ran away (killed after 60 s)", spec);
    if (rc)
        fail_msg("pb_topology_load(%s) crashed", spec);
    snprintf(err, errlen, "%s", r.text);
    return r.rc;
}

/* A synthetic description is counted before hwloc builds it: 10^6 PUs are refused, not built. */
static void test_synthetic_size(void **state)
{
    static const struct {
        const char *spec, *message;
    } bad[] = {
        {"pack:1000 core:1000 pu:1", "has 1000000 PUs (expected at most 4096)"},
        {"pack:99999999999999999999 pu:1", "has more than 2^40 PUs (expected at most 4096)"},
        /* hwloc reads counts with strtoul base 0: 0x1000 is 4096. */
        {"pack:0x1000 core:2 pu:1", "has 8192 PUs (expected at most 4096)"},
        {"pack:65 [numa(memory=1GB)] pu:1", "has 65 NUMA nodes (expected at most 64)"},
        {"numa:65 pu:1", "has 65 NUMA nodes (expected at most 64)"},
    };
    char err[sizeof(((struct bounded_result *)0)->text)], want[512];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(load_bounded(bad[i].spec, err, sizeof(err)), -EINVAL);
        snprintf(want, sizeof(want), "--topology: '%s' %s", bad[i].spec, bad[i].message);
        assert_string_equal(err, want);
    }
    /* The largest there may be load. */
    assert_int_equal(load_bounded("pack:64 [numa(memory=1GB)] core:64 pu:1", err, sizeof(err)), 0);
}

/* A topology file that is not a regular file is refused before anything reads it. */
static void test_xml_file_types(void **state)
{
    (void)state;
    char dir[] = "/tmp/pb-topo-types-XXXXXX", path[256], want[512],
         err[sizeof(((struct bounded_result *)0)->text)];
    FILE *f;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/fifo.xml", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(load_bounded(path, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "--topology: '%s' is a FIFO (expected a hwloc XML file)", path);
    assert_string_equal(err, want);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(load_bounded("/dev/zero", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "--topology: '/dev/zero' is a character device (expected a hwloc "
                             "XML file)");
    assert_int_equal(load_bounded(dir, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want), "--topology: '%s' is a directory (expected a hwloc XML file)",
             dir);
    assert_string_equal(err, want);

    /* Empty, or not XML: the flag and the file, never a function of hwloc's. */
    snprintf(path, sizeof(path), "%s/empty.xml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(load_bounded(path, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "--topology: '%s' is empty (expected a hwloc XML file, the output of lstopo --of "
             "xml)",
             path);
    assert_string_equal(err, want);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not xml at all\n", f);
    fclose(f);
    assert_int_equal(load_bounded(path, err, sizeof(err)), -EINVAL);
    snprintf(want, sizeof(want),
             "--topology: '%s' is not a hwloc XML topology (expected the output of lstopo --of "
             "xml)",
             path);
    assert_string_equal(err, want);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void test_xml_round_trip(void **state)
{
    (void)state;
    struct pb_topology a, b;
    char err[512], path[] = "/tmp/pb-topo-XXXXXX.xml";
    int fd = mkstemps(path, 4);

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(pb_topology_load(FOUR_NODES, &a, err, sizeof(err)), 0);
    assert_int_equal(hwloc_topology_export_xml(a.virt, path, 0), 0);
    assert_int_equal(pb_topology_load(path, &b, err, sizeof(err)), 0);
    assert_int_equal(b.nr_nodes, 4);
    assert_int_equal(b.nr_vcpus, 8);
    assert_int_equal(b.node_memory[3], a.node_memory[3]);
    pb_topology_free(&a);
    pb_topology_free(&b);
    unlink(path);
}

static void test_bind_real(void **state)
{
    (void)state;
    struct pb_topology t;
    char err[512];

    /* Binding goes through the real topology even when the modelled one is virtual. */
    assert_int_equal(pb_topology_load(FOUR_NODES, &t, err, sizeof(err)), 0);
    for (unsigned v = 0; v < t.nr_vcpus; v++) {
        assert_int_equal(pb_topology_bind(&t, v), 0);
        sched_yield();
        assert_int_equal(sched_getcpu(), (int)t.cpus[v].real_os);
    }
    assert_int_equal(pb_topology_bind(&t, t.nr_vcpus), -EINVAL);
    pb_topology_free(&t);

    assert_int_equal(pb_topology_load("real", &t, err, sizeof(err)), 0);
    assert_false(t.is_virtual);
    assert_false(pb_topology_oversubscribed(&t));
    assert_int_equal(t.nr_vcpus, t.nr_real_pus);
    pb_topology_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_four_nodes), cmocka_unit_test(test_placement),
        cmocka_unit_test(test_memory_only_node),     cmocka_unit_test(test_bad_specs),
        cmocka_unit_test(test_xml_round_trip),       cmocka_unit_test(test_bind_real),
        cmocka_unit_test(test_synthetic_size),       cmocka_unit_test(test_xml_file_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
