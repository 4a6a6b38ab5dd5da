/*
 * runner_impl.h: the runner's insides, shared by its files and nothing else (runner.h is the
 * interface).
 *
 * Files
 *   runner.c        the measuring thread: starting and releasing the workers, the phases,
 *                   parking every worker for the baselines, sampling, stopping; pb_run
 *   run_worker.c    a worker's thread: pinning, the start gate, the loop around its role's
 *                   step (checkpoints, parking, operation counts, pacing, idling)
 *   run_setup.c     the machine, its heap state, the slots, the workers and their roles
 *   run_slot.c      slots: a domain of the workload across its incarnations
 *   run_timed.c     the timed memory operations every role issues
 *   role_*.c        one worker role each: builder, balloon, p2m reader, recreate
 *   run_results.c   baselines, what was measured, the validator
 *   run_overhead.c  the harness's own cost (popbench run --self-test-overhead)
 *
 * A role is a table (struct pb_role_ops): its step does one operation or says why it did
 * none; the runner's part around it (checkpoints, operation counts, pacing, idling) is
 * worker_checkpoint and worker_after_step, which PB_ROLE_LOOP puts around the step in the
 * role's own file, so that the loop costs no more than the hand-written one of each role did.
 *
 * Waiting: workers never poll. One with nothing to do blocks on the event of its role until a
 * slot changes state (QUEUED, BUILDING or IDLE) or a p2m is published; a parked or pacing
 * worker blocks on the control event (pause, phase, stop). The measuring thread blocks on its
 * own event (every worker parked, every share of an operation count done, every build done)
 * until its next sample or its next look at the interrupt flag. Every store that ends a wait
 * is seq_cst and is followed by a signal of the event (bench/event.h).
 */
#ifndef POPBENCH_BENCH_RUNNER_IMPL_H
#define POPBENCH_BENCH_RUNNER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench/event.h"
#include "bench/hist.h"
#include "bench/runner.h"
#include "bench/stream.h"
#include "core/clock.h"
#include "core/domain.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/pb.h"
#include "core/preempt.h"
#include "core/prng.h"

#define NS_PER_MS       UINT64_C(1000000)
#define NS_PER_S        UINT64_C(1000000000)
#define MISS_BACKOFF_NS 50000 /* a reader whose pick has no domain, while others have one */
#define NO_SLOT         UINT32_MAX

/* ---------------------------------------------------------------------------------------------
 * Slots: one domain of the workload across its incarnations (run_slot.c).
 *
 * A slot's state says who may touch its domain: QUEUED (no domain; a builder may take it),
 * CREATING (one builder creates it), BUILDING (its builders populate it, serialised on
 * build_lock), IDLE (built; a balloon worker, the recreate thread or a cycling builder may take
 * it), BUSY (taken by one of those), DONE (until-built: a failed build, never rebuilt).
 * Transitions are CASes; the winner owns the fields marked "owner" until it moves the state on
 * with slot_release, which wakes the workers that wait for it.
 */

enum slot_state { SLOT_QUEUED, SLOT_CREATING, SLOT_BUILDING, SLOT_IDLE, SLOT_BUSY, SLOT_DONE };

struct slot {
    _Atomic int state;
    _Atomic uint64_t gen;          /* bumped when a build starts: builders sharing one compare */
    _Atomic(struct p2m *) p2m_pub; /* for readers, under RCU; NULL while there is no domain */
    _Atomic uint64_t built_at_ns;  /* last completed build (cycling picks the oldest) */

    /* Read-only after setup. */
    unsigned index, domid, group;
    bool running; /* start: running (balloon target; built meminit-style) */
    uint64_t memory, claim, gfn_space;
    uint64_t target;    /* pages a build populates: memory, less the VGA hole (toolstack) */
    bool node_claim;    /* the claim is split over the domain's own nodes */
    unsigned vnuma;     /* vNUMA nodes (calls carry the node of their gfn range), 0 = none */
    uint64_t own_nodes; /* a list of nodes: their mask; else 0 */
    struct pb_domain_config dcfg;
    enum pb_privilege privilege;

    /* Owner. */
    struct pb_domain *d;
    struct pb_balloon_state balloon;
    uint64_t build_start_ns;
    /* Lock statistics of destroyed incarnations (measure phase) and the live one's baseline. */
    struct pb_lock_stats dom_acc, p2m_acc, dom_base, p2m_base;

    /* BUILDING: protected by build_lock. */
    pthread_mutex_t build_lock;
    struct pb_build_cursor cur;
    unsigned inflight;
    bool finishing; /* one builder completes or fails the build */
};

/* ---------------------------------------------------------------------------------------------
 * Workers.
 */

enum phase { PHASE_WARMUP, PHASE_MEASURE };

/* Per-worker counters: written by the worker only (load + store, no RMW), read relaxed by the
 * measuring thread while the run goes on. Own cache line. */
struct worker_ctr {
    PB_CACHE_ALIGNED _Atomic uint64_t pages;
    _Atomic uint64_t extents, calls, continuations, dec_calls, dec_pages, lookups;
    _Atomic uint64_t built, build_failures, claim_failures, recreations;
    _Atomic uint64_t node_claim_fallbacks;
    _Atomic uint64_t loc_domains, loc_pages, loc_local; /* builds counted for locality */
};

/*
 * What a worker records per populate call. A call of one invocation (the common case) is one
 * sample of call1_h, which stands for both its call and its invocation; a call with
 * continuations records its invocations in invm_h and itself in callm_h. So the call
 * histogram is call1_h + callm_h and the invocation histogram call1_h + invm_h, and the common
 * case costs two clock reads, one histogram record and four counter updates.
 * Written by the worker; read by the measuring thread only while it is parked or joined.
 */
struct recorder {
    struct worker_ctr ctr;
    struct pb_hist *call1_h, *callm_h, *invm_h;
    struct pb_memop_counts mc;
};

/* What one step of a role did (IDLE and MISS last: the loop tests them with one compare). */
enum pb_step {
    PB_STEP_OP,   /* a populate or decrease call: it counts against an ops-bounded phase */
    PB_STEP_WORK, /* something else (a lookup, a recreation, a build opened or closed) */
    PB_STEP_IDLE, /* nothing to do: block until the role's event */
    PB_STEP_MISS, /* nothing this time, but there is work: back off briefly */
};

/* The events idle workers wait for, by role (runner.wake). */
enum pb_run_event {
    PB_EV_BUILD,   /* a slot QUEUED or BUILDING; IDLE too when builders cycle */
    PB_EV_BALLOON, /* a running slot IDLE */
    PB_EV_P2M,     /* a p2m published */
    PB_EV_CONTROL, /* pause, phase or stop changed: parked and pacing workers */
    PB_EV_NR,
};

struct worker;

/*
 * A worker role: one file each (role_*.c). step runs between two checkpoints, on the worker's
 * thread; init and phase_start are optional.
 */
struct pb_role_ops {
    const char *name;
    enum pb_run_event idle_event;           /* what an idle worker of this role waits for */
    int (*init)(struct worker *w);          /* setup, before the threads start: 0 or -errno */
    void (*phase_start)(struct worker *w);  /* its state at the start of each phase */
    enum pb_step (*step)(struct worker *w); /* one operation */
    void (*loop)(struct worker *w);         /* PB_ROLE_LOOP(loop, step) */
};

extern const struct pb_role_ops pb_role_builder, pb_role_balloon, pb_role_reader, pb_role_recreate;

struct runner;

struct worker {
    struct runner *rn;
    unsigned index;
    enum pb_worker_role role;
    const struct pb_role_ops *ops;
    unsigned vcpu, node;
    unsigned home; /* PER_DOMAIN builders: their domain's slot, else NO_SLOT */
    pthread_t tid;
    struct pb_rng rng;

    struct recorder rec;
    /* Written by the worker; read by the measuring thread only while it is parked or joined. */
    struct pb_hist *dec_h, *lookup_h, *build_h;
    double loc_min; /* the lowest locality of a build it counted (1 when none) */
    struct pb_preempt_counters pc;
    uint64_t cpu_start, cpu_ns;
    uint64_t quota; /* operations left in an ops-bounded phase (UINT64_MAX: unbounded) */
    int phase_seen; /* the phase the worker last ran in */
    /* Pacing (0 rate: none): after each step the runner adds the units the step did
     * (step_units) and sleeps until pace_units are due at pace_rate units per second. */
    uint64_t pace_rate, pace_t0, pace_units, step_units;
    struct pb_preempt_policy preempt; /* the workload's, configured on the worker's thread */
    uint64_t last_end_ns;
    int cpu_start_seen, cpu_end_seen;
    /* Noise (bench/noise.h), measure phase only: sched_getcpu() samples every
     * PB_NOISE_PROBE_EVERY steps and at every park against the PU it is pinned to, and its
     * involuntary switches (getrusage) from the phase's start to its exit. */
    unsigned probe_left;
    int pinned_os;
    uint64_t cpu_samples, migrations;
    bool probe_failed;
    bool rusage_ok;
    uint64_t nivcsw_start, nivcsw;
    char error[256]; /* first unexpected failure, empty if none */

    /* Builders. */
    struct slot *cur;
    uint64_t cur_gen;
    double balloon_debt; /* ratio pacing: pages owed to the balloon */
    unsigned scan;       /* where the next slot search starts (builders, balloon workers) */

    uint64_t *gfns; /* extent list of one call (builders and balloon workers) */
    size_t gfns_len;
};

/* A worker's histograms, to allocate, empty and free them alike. */
#define WORKER_NR_HISTS 6
static inline void worker_hists(struct worker *w, struct pb_hist **hs[WORKER_NR_HISTS])
{
    hs[0] = &w->rec.call1_h;
    hs[1] = &w->rec.callm_h;
    hs[2] = &w->rec.invm_h;
    hs[3] = &w->dec_h;
    hs[4] = &w->lookup_h;
    hs[5] = &w->build_h;
}

/* ---------------------------------------------------------------------------------------------
 * The run.
 */

/* Read-only after setup unless a comment says otherwise. */
struct runner {
    const struct pb_run_config *cfg;
    const struct pb_workload *wl;
    struct pb_heap *h;
    struct pb_scrubber *scrubber;

    struct slot *slots;
    unsigned nr_slots, nr_building, nr_running;
    unsigned *running_idx; /* slot indexes of the running group */

    struct worker *w;
    unsigned nr_workers, nr_builders, nr_balloon, nr_readers, nr_recreate, nr_quota_workers;
    bool pool;        /* builders take any queued domain */
    bool cycle;       /* no recreate churn: builders may cycle (builders_cycle) */
    bool until_built; /* the measure phase ends when every building domain is built */
    struct pb_memop_caller builder_caller;

    /* The start gate: workers count themselves ready, then wait for go (protected by gate). */
    pthread_mutex_t gate;
    pthread_cond_t gate_cv;
    unsigned ready;
    bool go;

    /* Written by the measuring thread (phase only while every worker is parked). */
    _Atomic int phase;
    _Atomic bool pause, stop;
    uint64_t t_measure0;        /* read by nobody else */
    struct pb_wl_phase measure; /* the measure phase run: cfg's, with the floor applied */
    /* Counted by the workers (scrub_threads: by the scrubbers), read by the measuring thread. */
    _Atomic unsigned parked, quota_done, scrub_threads;
    unsigned *scrub_cpu_node;       /* xen's idle scrubbers: each modelled CPU's node (set-up) */
    _Atomic unsigned published;     /* slots whose p2m readers can see */
    _Atomic uint64_t built_measure; /* building-group builds finished (or failed) in measure */
    _Atomic uint64_t last_built_ns;
    _Atomic unsigned *pu_threads; /* threads per real PU */

    struct pb_event wake[PB_EV_NR]; /* what workers wait for */
    struct pb_event runner_ev;      /* what the measuring thread waits for */
};

static inline void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static inline uint64_t ctr_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static inline bool measuring(const struct runner *rn)
{
    return atomic_load_explicit(&rn->phase, memory_order_relaxed) == PHASE_MEASURE;
}

/*
 * Builders with nothing queued rebuild the domain built longest ago, in every time- or
 * ops-bounded phase (the warm-up before an until-built measure phase included) of a workload
 * without recreate churn. The phase changes only while every worker is parked.
 */
static inline bool builders_cycle(const struct runner *rn)
{
    return rn->cycle && (!rn->until_built || !measuring(rn));
}

/* run_worker.c: a worker's thread (pthread_create's start routine; arg: its struct worker). */
void *worker_main(void *arg);
/* The slow paths of a role's loop: held back (park, or true to exit), the share of an
 * ops-bounded phase done (park; true to exit), nothing to do (block; what a second look
 * did), paced (sleep until due). */
bool worker_checkpoint_slow(struct worker *w);
bool worker_share_done(struct worker *w);
enum pb_step worker_wait_for_work(struct worker *w, enum pb_step r);
void worker_pace(struct worker *w);
/* One noise sample: where the worker runs against where it is pinned. */
void worker_probe(struct worker *w);

/* Between two operations: true when the worker must exit. */
static inline bool worker_checkpoint(struct worker *w)
{
    if (pb_likely(!atomic_load_explicit(&w->rn->pause, memory_order_relaxed) &&
                  !atomic_load_explicit(&w->rn->stop, memory_order_relaxed)))
        return false;
    return worker_checkpoint_slow(w);
}

/* The runner's part after each step; true when the worker must exit. */
static inline bool worker_after_step(struct worker *w, enum pb_step r)
{
    if (pb_unlikely(r >= PB_STEP_IDLE))
        r = worker_wait_for_work(w, r);
    if (pb_unlikely(--w->probe_left == 0))
        worker_probe(w);
    if (r == PB_STEP_OP && w->quota != UINT64_MAX && (w->quota == 0 || --w->quota == 0) &&
        worker_share_done(w))
        return true;
    if (w->pace_rate)
        worker_pace(w);
    return false;
}

/*
 * A role's loop: its step between two checkpoints, the runner's part after each. Generated in
 * the role's file, where the step is PB_ALWAYS_INLINE, so that a loop costs what a hand-written
 * one would.
 */
#define PB_ROLE_LOOP(loop, step)                                                                   \
    static void loop(struct worker *w)                                                             \
    {                                                                                              \
        while (!worker_checkpoint(w))                                                              \
            if (worker_after_step(w, step(w)))                                                     \
                return;                                                                            \
    }
/* Records the worker's first unexpected failure (the validator reports it). */
void worker_fail(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Sleeps until `deadline` (pb_clock_ns) unless the runner pauses or stops the workers first:
 * true when the deadline was reached. */
bool worker_sleep_until(struct worker *w, uint64_t deadline);

/* run_setup.c: everything pb_run needs before the threads start, and its undoing; a role's
 * init that needs an extent list for its calls. */
int runner_setup(struct runner *rn, const struct pb_run_config *cfg, struct pb_run_result *res,
                 char *err, size_t errlen);
void runner_teardown(struct runner *rn);
int worker_alloc_gfns(struct worker *w);
/* Starts the cursor of a build of the slot's domain: a toolstack build (libxl's layout of the
 * guest, xl's claim unless the workload stakes one) or a mixed one. 0 or -EINVAL. */
int slot_cursor_init(const struct runner *rn, const struct slot *s, struct pb_build_cursor *c);

/*
 * Readers announce, last thing inside each read section, that they are done with what they
 * read, and a destroyer that has waited for a grace period takes that in (core/tsan.h).
 */
extern char run_rcu_tsan_sync;

/* run_slot.c (the caller owns the slot unless said otherwise). */
bool slot_cas(struct slot *s, int from, int to);
/* Moves the slot to `state` (seq_cst) and wakes whoever waits for such a slot. */
void slot_release(struct runner *rn, struct slot *s, enum slot_state state);
/* Creates the slot's domain and stakes its claim; w (NULL in setup) counts what went wrong. */
int slot_create(struct runner *rn, struct slot *s, struct worker *w);
void slot_destroy(struct runner *rn, struct slot *s);
void slot_lock_stats(struct slot *s, struct pb_lock_stats *dom, struct pb_lock_stats *p2m);
/* acc += now - base (the max fields: now's). */
void stats_sub_into(struct pb_lock_stats *acc, const struct pb_lock_stats *now,
                    const struct pb_lock_stats *base);

/*
 * vNUMA: the gfn space is split in vnuma equal ranges of memory / vnuma pages; the last range
 * also takes the rest and everything above (1 GiB extents of mixed orders sit at the top).
 * The parser guarantees memory >= vnuma.
 */
static inline unsigned slot_vnode(const struct slot *s, uint64_t gfn)
{
    uint64_t v = gfn / (s->memory / s->vnuma);
    return v >= s->vnuma ? s->vnuma - 1 : (unsigned)v;
}

static inline uint64_t vnode_end(const struct slot *s, unsigned v)
{
    return v + 1 < s->vnuma ? (uint64_t)(v + 1) * (s->memory / s->vnuma) : UINT64_MAX;
}

static inline unsigned call_mem_flags(const struct runner *rn, const struct slot *s, uint64_t gfn)
{
    if (!s->vnuma)
        return 0;
    return XENMEMF_node(slot_vnode(s, gfn) % pb_heap_nr_nodes(rn->h));
}

/*
 * How many of `nr` extents of `order` from gfn one call may carry: a vNUMA domain's calls stop
 * where an extent would start in the next vnode, as the toolstack populates each vnode with
 * calls of its own node.
 */
static inline unsigned vnode_extents(const struct slot *s, uint64_t gfn, unsigned order,
                                     unsigned nr)
{
    if (!s->vnuma)
        return nr;
    uint64_t end = vnode_end(s, slot_vnode(s, gfn));
    if (end == UINT64_MAX)
        return nr;
    uint64_t ext = UINT64_C(1) << order, fit = (end - gfn + ext - 1) / ext;
    return fit < nr ? (unsigned)fit : nr;
}

/* run_timed.c: timed calls into the worker's recorder and histograms. Return the extents
 * done; *error the reason of a short count. */
unsigned timed_populate(struct worker *w, struct slot *s, const struct pb_memop_caller *caller,
                        const struct pb_call *call, int *error);
unsigned timed_decrease(struct worker *w, struct slot *s, const struct pb_memop_caller *caller,
                        const struct pb_call *call, int *error);

/*
 * One populate_physmap call, continued from nr_done while it reports a preemption (what
 * pb_xc_domain_populate_physmap does, done here so that each invocation is timed). One clock
 * read before the call and one after each invocation: the end of an invocation is the start
 * of its continuation. Returns the result of the last invocation; *end_ns the call's end.
 * Inline: it is every worker's hot path, and the overhead calibration times it too.
 */
static inline void timed_call(struct recorder *rec, struct pb_heap *h,
                              const struct pb_memop_caller *caller, const struct pb_reservation *r,
                              struct pb_memop_result *res, uint64_t *end_ns)
{
    uint64_t t0 = pb_clock_ns();
    pb_populate_physmap(h, caller, r, 0, res);
    uint64_t t1 = pb_clock_ns();
    uint64_t frames = res->c.frames;

    pb_memop_counts_add(&rec->mc, &res->c);
    if (pb_likely(!res->preempted)) {
        pb_hist_record(rec->call1_h, pb_clock_diff(t0, t1));
    } else {
        uint64_t inv = 1, t = t1;
        pb_hist_record(rec->invm_h, pb_clock_diff(t0, t1));
        while (res->preempted) {
            pb_populate_physmap(h, caller, r, res->nr_done, res);
            t1 = pb_clock_ns();
            pb_hist_record(rec->invm_h, pb_clock_diff(t, t1));
            t = t1;
            inv++;
            frames += res->c.frames;
            pb_memop_counts_add(&rec->mc, &res->c);
        }
        pb_hist_record(rec->callm_h, pb_clock_diff(t0, t1));
        ctr_add(&rec->ctr.continuations, inv - 1);
    }
    ctr_add(&rec->ctr.pages, frames);
    ctr_add(&rec->ctr.extents, res->nr_done);
    ctr_add(&rec->ctr.calls, 1);
    *end_ns = t1;
}

/* role_balloon.c: one balloon call on a running domain that is free; false when none was
 * (builders balloon too, with churn.balloon.ratio). */
bool balloon_call(struct worker *w);

/* run_results.c: everything the measure phase is measured against, taken while every worker
 * is parked; what was measured; the validator. */
struct run_lockset {
    struct pb_run_lock_class l[PB_RUN_MAX_LOCK_CLASSES];
    unsigned n;
};
struct run_baseline {
    struct run_lockset heap_locks;
    struct pb_scrub_counters scrub;
    struct pb_heap_counters heap;
    struct pb_clear_stats clear;
};
void run_take_baseline(struct runner *rn, struct run_baseline *b);
/* The counters alone (no worker is reset); and the baseline moved past what happened between
 * two such readings (the teardown between two rounds of a storm), so it is not counted. */
void run_read_counters(struct runner *rn, struct run_baseline *b);
void run_baseline_skip(struct run_baseline *base, const struct run_baseline *from,
                       const struct run_baseline *to);
void run_collect(struct runner *rn, const struct run_baseline *base, struct pb_run_result *res);
void run_validate(struct runner *rn, struct pb_run_result *res);

#endif
