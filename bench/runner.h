/*
 * runner.h: one run of one workload: a machine, its domains, pinned threads, a warm-up that is
 * discarded, a measured phase, and what was measured.
 *
 * Glossary
 *   run          one workload x variant x thread count x repetition, from a fresh heap.
 *   worker       a thread the runner starts and pins: builders (populate domains through
 *                populate_physmap), balloon workers (decrease then re-populate running
 *                domains), p2m readers (lock-free gfn lookups), one recreate thread (destroys
 *                domains at churn.recreate_per_second for the builders to build again).
 *   primary      the workers the thread count is about: the builders when the workload
 *                builds domains, else the balloon workers. `threads:N` names N primaries.
 *   call         one populate_physmap request, all its continuations included. A vNUMA
 *                domain's calls never start extents in two vnodes: each names its vnode's node.
 *   invocation   one entry into pb_populate_physmap (a continuation is a new invocation).
 *   slot         one domain of the workload across its incarnations (destroyed, recreated).
 *
 * Phases: every worker starts at a barrier; the warm-up runs for its duration or operation
 * count; then every worker parks between two operations while the runner takes its baselines
 * (lock statistics, scrub and heap counters) and empties the workers' histograms and counters,
 * so nothing of the warm-up is counted. The measure phase ends on its duration (a stop flag,
 * checked between operations), when every memop worker has done its share of the operation
 * count, or when every building domain is built (until-built). A time-bounded phase keeps
 * builders busy: without recreate churn, a builder with nothing left to build destroys the
 * domain built longest ago and builds it again.
 *
 * The floor (floor_ns): no measured phase is shorter, so that it swamps scheduling noise. A
 * time-bounded phase shorter than the floor runs for the floor instead. An until-built phase
 * (a storm) that ends sooner runs again in rounds: every worker parks, every building domain
 * is destroyed (unmeasured: the baselines move past it), the storm starts again, until the
 * rounds together have measured the floor. An ops-bounded phase counts operations, not time:
 * it is never extended (its counts must repeat exactly), and the result says whether it met
 * the floor.
 *
 * Threads: pb_run() belongs to the calling thread; it starts and joins every worker itself.
 */
#ifndef POPBENCH_BENCH_RUNNER_H
#define POPBENCH_BENCH_RUNNER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/hist.h"
#include "bench/noise.h"
#include "bench/topology.h"
#include "core/clear.h"
#include "core/lock.h"
#include "core/scrub.h"
#include "workloads/workload.h"

#define PB_RUN_SAMPLE_MS        100    /* sampling interval of the time series */
#define PB_RUN_MAX_ROUNDS       100000 /* rounds of an until-built phase, at most (default) */
#define PB_RUN_MAX_LOCK_CLASSES 72

enum pb_worker_role {
    PB_ROLE_BUILDER,
    PB_ROLE_BALLOON,
    PB_ROLE_READER,
    PB_ROLE_RECREATE,
};
const char *pb_worker_role_name(enum pb_worker_role role);

/* How a run stakes the workload's claims (popbench run --claim-mode). */
enum pb_run_claim_mode {
    PB_RUN_CLAIM_WORKLOAD, /* each group's claim_mode */
    PB_RUN_CLAIM_HOST,     /* every claim host-wide (XENMEM_claim_pages) */
    PB_RUN_CLAIM_NODES,    /* every claim of a group with nodes of its own split over them;
                              groups with affinity all keep a host-wide claim */
    PB_RUN_CLAIM_NONE,     /* no claims */
};
const char *pb_run_claim_mode_name(enum pb_run_claim_mode mode);
/* "workload", "host", "nodes", "none": 0, or -EINVAL (and *mode unchanged). */
int pb_run_claim_mode_parse(const char *s, enum pb_run_claim_mode *mode);

struct pb_run_config {
    const struct pb_workload *wl; /* a PB_WL_SINGLE with its machine bound */
    const char *variant;
    enum pb_lock_kind lock_kind;
    unsigned threads; /* primaries; 0 = the workload's own (builders become a pool when set) */
    const struct pb_topology *topo;
    enum pb_placement placement;
    uint64_t seed;             /* this run's seed (the workload's + repetition) */
    struct pb_wl_phase warmup; /* the phases to run (the workload's, or overridden) */
    struct pb_wl_phase measure;
    enum pb_verify_mode verify;
    enum pb_clear_method clear;
    enum pb_run_claim_mode claim_mode;
    const enum pb_wl_backing *backing; /* --backing for every workload; NULL: each one's own */
    /* --option: the options given win over the workload's `options:`; NULL: none given. */
    const struct pb_options *options;
    /* Raised (by a signal handler) to stop the run early; the result is then incomplete. */
    const _Atomic bool *interrupt;
    /* Test hook: raise SIGINT once the measure phase has started. */
    bool raise_sigint_in_measure;
    /* Called about every PB_RUN_SAMPLE_MS from the measuring thread; may be NULL. */
    void (*progress)(void *ctx, uint64_t elapsed_ns, uint64_t pages);
    void *progress_ctx;
    /* The shortest measured phase (above); 0: none. */
    uint64_t floor_ns;
    /* Rounds of an until-built phase at most (0: PB_RUN_MAX_ROUNDS), and at least (0: 1). */
    unsigned max_rounds, min_rounds;
    /* Where the noise probes read (tests); NULL: the system's own. */
    const struct pb_noise_paths *noise_paths;
};

struct pb_run_thread {
    unsigned index;
    enum pb_worker_role role;
    unsigned vcpu, node, pu; /* pu: OS index of the real PU it is pinned to */
    int cpu_seen;            /* sched_getcpu() at start and end (-1: unknown) */
    bool cpu_ok;             /* ran where it was pinned */
    uint64_t pages, calls;   /* measure phase: pages populated, populate calls */
    uint64_t lookups;        /* readers */
};

struct pb_run_lock_class {
    char name[32];
    struct pb_lock_stats st;
};

struct pb_run_result {
    bool completed;      /* false: interrupted before the measure phase ended */
    bool valid;          /* the validator and the workers found nothing wrong */
    char validator[512]; /* "ok" or the first problem */

    unsigned threads;       /* primaries */
    unsigned total_threads; /* workers + scrub workers */
    unsigned max_threads_per_pu;
    enum pb_lock_kind lock_kind;

    uint64_t measure_ns;   /* measured time, every round together */
    unsigned rounds;       /* rounds of the measure phase (1 unless until-built repeated) */
    uint64_t *round_ns;    /* [rounds]: the measured time of each */
    uint64_t floor_ns;     /* the floor it was run with (cfg->floor_ns) */
    bool floor_met;        /* measure_ns >= the floor */
    struct pb_noise noise; /* what disturbed the measure phase (noise.h) */
    uint64_t pages, extents, calls, invocations, continuations;
    uint64_t decrease_calls, decrease_pages;
    uint64_t lookups;
    uint64_t domains_built, build_failures, claim_failures, recreations;
    uint64_t node_claim_fallbacks; /* node claims refused (-ENOMEM), staked host-wide instead */
    /*
     * Locality of the domains with nodes of their own (vNUMA, or a list of nodes) whose build
     * completed in the measure phase, taken as each build completes: pages on their own nodes
     * (vNUMA: the pages of vnode v's gfn range on node v mod nodes) against all their pages.
     */
    bool locality_counted;     /* the workload builds domains with nodes of their own */
    uint64_t locality_domains; /* builds counted */
    uint64_t locality_pages, local_pages;
    double locality_min; /* the lowest fraction of one build (1 when none was counted) */
    uint64_t cpu_ns;     /* CPU time of the memop workers in the measure phase */
    uint64_t preempt_checks, preemptions;
    uint64_t scrub_preemptions, stash_hits, released_frames;
    double thread_pps_min, thread_pps_max; /* pages/s of the least and most productive primary */

    struct pb_hist *call_h, *invocation_h, *decrease_h, *lookup_h, *build_h;

    struct pb_run_lock_class locks[PB_RUN_MAX_LOCK_CLASSES]; /* classes first, then heap locks */
    unsigned nr_lock_classes; /* "heap", "domain.page_alloc", "p2m" */
    unsigned nr_locks;

    struct pb_scrub_counters scrub;
    struct pb_heap_counters heap;
    uint64_t scrub_backlog_max;
    bool backed; /* the heap's frames have memory */
    bool numa_backed;
    char backing[16];        /* real, none, aliased or mixed: what backs the frames */
    char backing_nodes[512]; /* per node: its backing, the host memory behind it, numa/plain */
    char start_state[128];   /* the heap's starting state (workload `heap.state`), as set up */
    /* The host's clear bandwidth (measured once per process, at the first run's setup) and
     * what the measure phase's clearing cost: the model's clear rate is clear.bytes /
     * clear.ns, to be read against host.gbps[host.fastest]. */
    bool clear_host_measured;
    struct pb_clear_host clear_host;
    struct pb_clear_stats clear;

    uint64_t *t_ms, *ts_pages, *ts_backlog;
    size_t nr_samples;

    struct pb_run_thread *thr;
    unsigned nr_thr;
};

/*
 * Runs it. Returns 0 with *res filled (check res->completed and res->valid), or a negative
 * errno with a message when the run could not be set up (bad machine, out of memory, domains
 * that do not fit). Free res with pb_run_result_free either way.
 */
int pb_run(const struct pb_run_config *cfg, struct pb_run_result *res, char *err, size_t errlen);
void pb_run_result_free(struct pb_run_result *res);

/*
 * What backs the frames of a run of wl: the workload's `machine.backing` (or *override, from
 * --backing), `auto` resolved (aliased, or real when verification is on). -EINVAL with a
 * message naming the file and line (or --backing) when verification cannot work there
 * (aliased; auto too big for real).
 */
int pb_run_backing(const struct pb_workload *wl, const enum pb_wl_backing *override,
                   enum pb_verify_mode verify, enum pb_backing *backing, char *err, size_t errlen);

/*
 * Measures the host's clear bandwidth once per process (pb_clear_host_measure: a sweep of each
 * clear method over a buffer larger than the last-level cache, about a second) when any of the
 * workloads has frames to clear (a backing other than none; *override, from --backing, when
 * given) and no measurement was made yet.
 * It installs AUTO's choice for cold memory, and each run records it and compares its own
 * clearing with it. Call it before the runs, outside any measurement. 0, or -ENOMEM with a
 * message.
 */
int pb_run_measure_host(const struct pb_workload *const *wls, size_t nr,
                        const enum pb_wl_backing *override, char *err, size_t errlen);

/* The run's clear rate, GB/s: bytes cleared / time spent clearing (0: nothing cleared). */
double pb_run_clear_gbps(const struct pb_run_result *res);
/* That rate over the host's (its fastest method's): above 1 is faster than this host can clear
 * memory, a figure no real host would show. 0 when either is unknown. */
double pb_run_clear_ratio(const struct pb_run_result *res);

/* The primaries a workload runs with when the thread count is not overridden. */
unsigned pb_run_default_threads(const struct pb_workload *wl);
/* Every thread a run starts (workers and scrub workers) for `threads` primaries. */
unsigned pb_run_total_threads(const struct pb_workload *wl, unsigned threads);

/* The harness's own cost per timed call (best of 7 alternating loops of n frames each). */
#define PB_RUN_OVERHEAD_BATCH 512 /* extents of the workloads' default order-0 call */
struct pb_run_overhead {
    double op_ns;        /* an order-0 one-extent populate_physmap call, untimed */
    double timed_op_ns;  /* the same call timed and recorded as workers do */
    double recording_ns; /* the timing and recording alone (two clock reads, one histogram
                            record, the counters), with no call between the clock reads */
    double batch_op_ns;  /* an order-0 call of PB_RUN_OVERHEAD_BATCH extents, untimed */
};

/* Measures it on a fresh one-node heap of the variant. 0 or a negative errno. */
int pb_run_self_test_overhead(const char *variant, enum pb_lock_kind lock_kind, uint64_t n,
                              struct pb_run_overhead *out, char *err, size_t errlen);

#endif
