/*
 * run_fixture.h: what the runner's tests share (test_harness_runner.c, test_harness_roles.c):
 * a virtual 2-node topology of 4 vCPUs, workloads written to a temporary directory and loaded,
 * and a run configuration of a workload's own phases. Include after <cmocka.h>; pass
 * run_fixture_setup and run_fixture_teardown to cmocka_run_group_tests.
 */
#ifndef POPBENCH_TESTS_COMMON_RUN_FIXTURE_H
#define POPBENCH_TESTS_COMMON_RUN_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "bench/runner.h"
#include "bench/topology.h"
#include "workloads/workload.h"

static struct pb_topology topo;
static char workload_dir[] = "/tmp/pb-runner-XXXXXX";

static int run_fixture_setup(void **state)
{
    char err[512];
    (void)state;
    if (!mkdtemp(workload_dir))
        return -1;
    return pb_topology_load("pack:2 [numa(memory=1GB)] core:2 pu:1", &topo, err, sizeof(err));
}

static int run_fixture_teardown(void **state)
{
    char cmd[128];
    (void)state;
    pb_topology_free(&topo);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", workload_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Writes NAME.yaml with the given body (a description is added) and loads it. */
static inline void load(const char *name, const char *body, struct pb_workload *wl)
{
    char path[256], err[1024];
    snprintf(path, sizeof(path), "%s/%s.yaml", workload_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "description: %s\n%s", name, body);
    fclose(f);
    int rc = pb_workload_load(path, wl, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
}

/* The workload's own phases and seed, mutex locks, compact placement, sampled verification. */
static inline struct pb_run_config config(const struct pb_workload *wl, const char *variant)
{
    return (struct pb_run_config){
        .wl = wl,
        .variant = variant,
        .lock_kind = PB_LOCK_MUTEX,
        .topo = &topo,
        .placement = PB_PLACE_COMPACT,
        .seed = wl->seed,
        .warmup = wl->phases.warmup,
        .measure = wl->phases.measure,
        .verify = PB_VERIFY_SAMPLED,
        .clear = PB_CLEAR_AUTO,
    };
}

#endif
