/*
 * report.h: what `popbench run` measured, turned into a results document (results/FORMAT.md).
 *
 * One benchmark entry per finished run, named workload/variant/threads:N, with the flat
 * counters of the format, and a run section with the histograms, the lock classes, the time
 * series, the threads, the scrub counts, the rounds of the measure phase, its noise and the
 * validator's verdict. After the last run,
 * pb_report_finish() adds the thread-sweep figures (speed-up against the smallest thread count
 * and against linear) to every entry of a sweep.
 *
 * Threads: a report belongs to the thread that runs the runs.
 */
#ifndef POPBENCH_BENCH_REPORT_H
#define POPBENCH_BENCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "bench/ceiling.h"
#include "bench/runner.h"
#include "bench/topology.h"
#include "results/results.h"

struct pb_report_entry;

struct pb_report {
    struct pb_results *doc;
    struct pb_report_entry *entries;
    size_t nr, cap;
    struct pb_ceiling_table ceiling; /* the parallel ceiling's runs */
};

/* What names a run: its entry's identity. */
struct pb_report_id {
    const char *workload;
    const char *variant; /* its label: the variant's name, or a copy's (xen.2) */
    unsigned threads;
    unsigned repetition, repetitions;
    uint64_t inject_alloc_delay_ns; /* the copy's injected delay (0: none), recorded when set */
};

/* What the context records besides the environment. */
struct pb_report_setup {
    const struct pb_topology *topo;
    const char *git_commit, *build_type, *cflags;
    int argc;
    char **argv;
    bool jemalloc_active;
    const char *jemalloc_version; /* NULL when jemalloc is not active */
    const char *hwloc_version, *urcu_version, *sqlite_version;
    unsigned long long seed;
    const char *placement;
    const char *claim_mode; /* --claim-mode (pb_run_claim_mode_name); NULL: "workload" */
    /* The model's options: --option's (NULL: none), and the workloads run, for their own. */
    const struct pb_options *options;
    const struct pb_workload *const *workloads;
    size_t nr_workloads;
};

/* A document with its context filled in. 0 or a negative errno. */
int pb_report_init(struct pb_report *r, const struct pb_report_setup *setup);
void pb_report_free(struct pb_report *r);

/* Adds the entry of one finished run (and what the context learns from it). */
int pb_report_add(struct pb_report *r, const struct pb_report_id *id,
                  const struct pb_run_result *res);

/* Every entry of workload says `repetitions` (a run that repeats until it is precise enough
 * learns the count as it goes); entries of later repetitions are left alone. */
int pb_report_set_repetitions(struct pb_report *r, const char *workload, unsigned repetitions);

/* Adds a run of the parallel ceiling (bench/ceiling.h) at id's workload, threads and
 * repetition (id->variant is not used). */
int pb_report_add_ceiling(struct pb_report *r, const struct pb_report_id *id,
                          const struct pb_ceiling_result *res);

/*
 * Thread sweeps: speedup and scaling_efficiency (against linear) on each entry; where the
 * ceiling ran at the entry's thread count and at its base (the sweep's smallest count, else 1
 * thread): ceiling_speedup (same repetition), its spread over the repetitions, and
 * ceiling_efficiency = speedup / ceiling_speedup. partial marks an interrupted document.
 */
int pb_report_finish(struct pb_report *r, bool partial);

#endif
