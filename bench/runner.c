/*
 * runner.c: one run of a workload (see runner.h for the phases and roles).
 *
 * Sections: slots (domains across incarnations), timed memory operations, the worker roles,
 * the phase control of the measuring thread, setup (heap state, running domains), results.
 */
#define _LGPL_SOURCE /* inline liburcu's read side */
#include "bench/runner.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <urcu/urcu-memb.h>

#include "core/clock.h"
#include "core/pb.h"
#include "bench/stream.h"
#include "core/domain.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/preempt.h"
#include "core/tsan.h"

/*
 * Readers announce, last thing inside each read section, that they are done with what they
 * read, and a destroyer that has waited for a grace period takes that in (core/tsan.h).
 */
static char rcu_tsan_sync;
#define RCU_TSAN_READ_DONE()    PB_TSAN_READ_DONE(&rcu_tsan_sync)
#define RCU_TSAN_GRACE_PASSED() PB_TSAN_GRACE_PASSED(&rcu_tsan_sync)

#define NS_PER_MS     UINT64_C(1000000)
#define NS_PER_S      UINT64_C(1000000000)
#define IDLE_SLEEP_NS 50000 /* a worker with nothing to do sleeps this long */
#define PARK_SLEEP_NS 20000
#define NO_SLOT       UINT32_MAX

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / NS_PER_S), .tv_nsec = (long)(ns % NS_PER_S)};
    nanosleep(&ts, NULL); /* an early wake-up (a signal) is harmless: callers re-check */
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

const char *pb_run_claim_mode_name(enum pb_run_claim_mode mode)
{
    switch (mode) {
    case PB_RUN_CLAIM_WORKLOAD:
        return "workload";
    case PB_RUN_CLAIM_HOST:
        return "host";
    case PB_RUN_CLAIM_NODES:
        return "nodes";
    case PB_RUN_CLAIM_NONE:
        return "none";
    }
    return "?";
}

int pb_run_claim_mode_parse(const char *s, enum pb_run_claim_mode *mode)
{
    static const enum pb_run_claim_mode all[] = {PB_RUN_CLAIM_WORKLOAD, PB_RUN_CLAIM_HOST,
                                                 PB_RUN_CLAIM_NODES, PB_RUN_CLAIM_NONE};

    if (!s || !mode)
        return -EINVAL;
    for (size_t i = 0; i < PB_ARRAY_SIZE(all); i++)
        if (strcmp(s, pb_run_claim_mode_name(all[i])) == 0) {
            *mode = all[i];
            return 0;
        }
    return -EINVAL;
}

const char *pb_worker_role_name(enum pb_worker_role role)
{
    switch (role) {
    case PB_ROLE_BUILDER:
        return "builder";
    case PB_ROLE_BALLOON:
        return "balloon";
    case PB_ROLE_READER:
        return "p2m-reader";
    case PB_ROLE_RECREATE:
        return "recreate";
    }
    return "?";
}

/* ---------------------------------------------------------------------------------------------
 * Slots: one domain of the workload across its incarnations.
 *
 * A slot's state says who may touch its domain: QUEUED (no domain; a builder may take it),
 * CREATING (one builder creates it), BUILDING (its builders populate it, serialised on
 * build_lock), IDLE (built; a balloon worker, the recreate thread or a cycling builder may take
 * it), BUSY (taken by one of those), DONE (until-built: a failed build, never rebuilt).
 * Transitions are CASes; the winner owns the fields marked "owner" until it moves the state on.
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

struct runner;

struct worker {
    struct runner *rn;
    unsigned index;
    enum pb_worker_role role;
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
    uint64_t pace_t0, pace_units;
    uint64_t last_end_ns;
    int cpu_start_seen, cpu_end_seen;
    char error[256]; /* first unexpected failure, empty if none */

    /* Builders. */
    struct slot *cur;
    uint64_t cur_gen;
    double balloon_debt; /* ratio pacing: pages owed to the balloon */
    unsigned scan;       /* where the next slot search starts */

    uint64_t *gfns; /* extent list of one call */
    size_t gfns_len;
};

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
    bool cycle;       /* builders rebuild built domains when nothing is queued */
    bool until_built; /* the measure phase ends when every building domain is built */
    struct pb_memop_caller builder_caller;

    /* The start gate: workers count themselves ready, then wait for go (protected by gate). */
    pthread_mutex_t gate;
    pthread_cond_t gate_cv;
    unsigned ready;
    bool go;

    _Atomic int phase;
    _Atomic bool pause, stop;
    _Atomic unsigned parked, quota_done, scrub_threads;
    _Atomic uint64_t built_measure; /* building-group builds finished (or failed) in measure */
    _Atomic uint64_t last_built_ns;
    _Atomic uint64_t recreate_due; /* recreate thread: builds it has released */
    _Atomic unsigned *pu_threads;  /* threads per real PU */
    uint64_t t_measure0;
};

static void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

static uint64_t ctr_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void worker_fail(struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void worker_fail(struct worker *w, const char *fmt, ...)
{
    va_list ap;

    if (w->error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof(w->error), fmt, ap);
    va_end(ap);
}

static bool measuring(const struct runner *rn)
{
    return atomic_load_explicit(&rn->phase, memory_order_relaxed) == PHASE_MEASURE;
}

static void stats_sub_into(struct pb_lock_stats *acc, const struct pb_lock_stats *now,
                           const struct pb_lock_stats *base)
{
    struct pb_lock_stats d = {
        .acquisitions = now->acquisitions - base->acquisitions,
        .contended = now->contended - base->contended,
        .wait_ns_total = now->wait_ns_total - base->wait_ns_total,
        .wait_ns_max = now->wait_ns_max,
        .hold_ns_total = now->hold_ns_total - base->hold_ns_total,
        .hold_ns_max = now->hold_ns_max,
    };
    pb_lock_stats_add(acc, &d);
}

static void slot_lock_stats(struct slot *s, struct pb_lock_stats *dom, struct pb_lock_stats *p2m)
{
    pb_lock_stats_read(pb_domain_lock(s->d), dom);
    p2m_lock_stats(pb_domain_p2m(s->d), p2m);
}

/*
 * The slot's claim as node claims over its own nodes. The workload's claim is the total the
 * domain claims, pages it holds included (XENMEM_claim_pages); node parts count only the
 * pages beyond those.
 */
static int stake_node_claim(struct runner *rn, struct slot *s)
{
    struct pb_wl_claim_part wp[PB_WL_MAX_NODES];
    struct pb_claim parts[PB_WL_MAX_NODES];
    uint64_t held = pb_domain_tot_pages(s->d);

    if (s->claim <= held)
        return -EINVAL; /* what XENMEM_claim_pages says to such a claim */
    int nr = pb_workload_claim_split(&rn->wl->groups[s->group], pb_heap_nr_nodes(rn->h),
                                     s->claim - held, wp);
    PB_BUG_ON(nr <= 0); /* setup gives node claims only to groups with nodes of their own */
    for (int i = 0; i < nr; i++)
        parts[i] = (struct pb_claim){.node = (int)wp[i].node, .pages = wp[i].pages};
    return pb_domain_claim_nodes(s->d, parts, (unsigned)nr);
}

/* Stakes the slot's claim, if it has one; w (NULL during setup) counts what went wrong. */
static void slot_claim(struct runner *rn, struct slot *s, struct worker *w)
{
    int rc;

    if (!s->claim)
        return;
    if (s->node_claim) {
        rc = stake_node_claim(rn, s);
        if (rc == -ENOMEM) {
            /* A node lacks the frames: the toolstack can still claim host-wide. */
            if (w)
                ctr_add(&w->rec.ctr.node_claim_fallbacks, 1);
            rc = pb_domain_claim_pages(s->d, s->claim);
        }
    } else {
        rc = pb_domain_claim_pages(s->d, s->claim);
    }
    if (rc && w)
        ctr_add(&w->rec.ctr.claim_failures, 1);
}

/* Creates the slot's domain (the caller owns the slot). 0 or a negative errno. */
static int slot_create(struct runner *rn, struct slot *s, struct worker *w)
{
    struct pb_domain *d;
    int rc =
        pb_memop_domain_create(rn->h, s->domid, &s->dcfg, s->gfn_space, rn->cfg->lock_kind, &d);
    if (rc)
        return rc;
    s->d = d;
    slot_claim(rn, s, w);
    memset(&s->dom_base, 0, sizeof(s->dom_base));
    memset(&s->p2m_base, 0, sizeof(s->p2m_base));
    pb_balloon_init(&s->balloon, &rn->wl->churn.balloon, s->memory);
    atomic_store_explicit(&s->p2m_pub, pb_domain_p2m(d), memory_order_release);
    return 0;
}

/* Destroys the slot's domain (the caller owns the slot). */
static void slot_destroy(struct runner *rn, struct slot *s)
{
    if (!s->d)
        return;
    atomic_store_explicit(&s->p2m_pub, NULL, memory_order_release);
#if PB_TSAN
    urcu_memb_synchronize_rcu(); /* p2m_destroy waits too; this one is for TSan's sake */
    RCU_TSAN_GRACE_PASSED();
#endif
    if (measuring(rn)) {
        struct pb_lock_stats dom, p2m;
        slot_lock_stats(s, &dom, &p2m);
        stats_sub_into(&s->dom_acc, &dom, &s->dom_base);
        stats_sub_into(&s->p2m_acc, &p2m, &s->p2m_base);
    }
    /* Waits for a grace period: readers that saw the p2m are done with it afterwards. */
    pb_memop_domain_destroy(rn->h, s->d);
    s->d = NULL;
}

/*
 * vNUMA: the gfn space is split in vnuma equal ranges of memory / vnuma pages; the last range
 * also takes the rest and everything above (1 GiB extents of mixed orders sit at the top).
 * The parser guarantees memory >= vnuma.
 */
static unsigned slot_vnode(const struct slot *s, uint64_t gfn)
{
    uint64_t v = gfn / (s->memory / s->vnuma);
    return v >= s->vnuma ? s->vnuma - 1 : (unsigned)v;
}

/* The first gfn past vnode v's range (UINT64_MAX for the last). */
static uint64_t vnode_end(const struct slot *s, unsigned v)
{
    return v + 1 < s->vnuma ? (uint64_t)(v + 1) * (s->memory / s->vnuma) : UINT64_MAX;
}

/* mem_flags of a call: a vNUMA domain's calls name the node backing their gfn range. */
static unsigned call_mem_flags(const struct runner *rn, const struct slot *s, uint64_t gfn)
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
static unsigned vnode_extents(const struct slot *s, uint64_t gfn, unsigned order, unsigned nr)
{
    if (!s->vnuma)
        return nr;
    uint64_t end = vnode_end(s, slot_vnode(s, gfn));
    if (end == UINT64_MAX)
        return nr;
    uint64_t ext = UINT64_C(1) << order, fit = (end - gfn + ext - 1) / ext;
    return fit < nr ? (unsigned)fit : nr;
}

/* ---------------------------------------------------------------------------------------------
 * Timed memory operations. One clock read before a call and one after each invocation: the
 * end of an invocation is the start of its continuation.
 */

static void fill_gfns(struct worker *w, const struct pb_call *call)
{
    uint64_t ext = UINT64_C(1) << call->order;
    PB_BUG_ON(call->nr > w->gfns_len);
    for (unsigned i = 0; i < call->nr; i++) {
        unsigned k = call->descending ? call->nr - 1 - i : i;
        w->gfns[i] = call->gfn + k * ext;
    }
}

/*
 * One populate_physmap call, continued from nr_done while it reports a preemption (what
 * pb_xc_domain_populate_physmap does, done here so that each invocation is timed). One clock
 * read before the call and one after each invocation: the end of an invocation is the start
 * of its continuation. Returns the result of the last invocation; *end_ns the call's end.
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

/* The reservation of one call: its gfns written into the worker's list. */
static struct pb_reservation call_reservation(struct worker *w, const struct slot *s,
                                              const struct pb_call *call, unsigned mem_flags)
{
    fill_gfns(w, call);
    return (struct pb_reservation){
        .extent_start = w->gfns,
        .extent_list_len = call->nr,
        .nr_extents = call->nr,
        .extent_order = call->order,
        .mem_flags = mem_flags,
        .domid = s->domid,
    };
}

/* Returns the extents populated; *error the reason of a short count. A vNUMA domain's call
 * that spans vnodes goes out as one call per vnode (vnode_extents). */
static unsigned timed_populate(struct worker *w, struct slot *s,
                               const struct pb_memop_caller *caller, const struct pb_call *call,
                               int *error)
{
    struct runner *rn = w->rn;
    unsigned done = 0;

    PB_BUG_ON(call->descending); /* populate calls ascend */
    *error = 0;
    while (done < call->nr) {
        struct pb_memop_result res;
        struct pb_call part = *call;
        part.gfn = call->gfn + ((uint64_t)done << call->order);
        part.nr = vnode_extents(s, part.gfn, call->order, call->nr - done);
        struct pb_reservation r = call_reservation(w, s, &part, call_mem_flags(rn, s, part.gfn));

        timed_call(&w->rec, rn->h, caller, &r, &res, &w->last_end_ns);
        done += (unsigned)res.nr_done;
        *error = res.error;
        if (res.nr_done < part.nr)
            break;
    }
    return done;
}

static unsigned timed_decrease(struct worker *w, struct slot *s,
                               const struct pb_memop_caller *caller, const struct pb_call *call,
                               int *error)
{
    struct runner *rn = w->rn;
    struct pb_memop_result res;
    struct pb_reservation r = call_reservation(w, s, call, 0);
    uint64_t start = 0, frames = 0;

    uint64_t t0 = pb_clock_ns();
    for (;;) {
        pb_decrease_reservation(rn->h, caller, &r, start, rn->wl->churn.balloon.free_dirty, &res);
        frames += res.c.frames;
        pb_memop_counts_add(&w->rec.mc, &res.c);
        if (!res.preempted)
            break;
        start = res.nr_done;
    }
    uint64_t t1 = pb_clock_ns();
    pb_hist_record(w->dec_h, pb_clock_diff(t0, t1));
    w->last_end_ns = t1;
    ctr_add(&w->rec.ctr.dec_pages, frames);
    ctr_add(&w->rec.ctr.dec_calls, 1);
    *error = res.error;
    return (unsigned)res.nr_done;
}

/* ---------------------------------------------------------------------------------------------
 * Parking: workers stop between two operations while the measuring thread changes phase.
 */

static void on_resume(struct worker *w)
{
    struct runner *rn = w->rn;
    int phase = atomic_load(&rn->phase);

    if (phase == w->phase_seen)
        return;
    w->phase_seen = phase;
    /* The measuring thread has emptied our histograms and counters; the rest is ours. */
    pb_preempt_counters_reset();
    memset(&w->rec.mc, 0, sizeof(w->rec.mc));
    w->cpu_start = thread_cpu_ns();
    w->pace_t0 = pb_clock_ns();
    w->pace_units = 0;
    w->balloon_debt = 0;
}

/* Parks until the pause is lifted (and, for a worker that has done its share, until the phase
 * changes). Returns true when the worker must exit. */
static bool park(struct worker *w, bool quota_done)
{
    struct runner *rn = w->rn;

    atomic_fetch_add(&rn->parked, 1);
    for (;;) {
        if (atomic_load(&rn->stop))
            break;
        if (!atomic_load(&rn->pause) && !(quota_done && atomic_load(&rn->phase) == w->phase_seen))
            break;
        sleep_ns(PARK_SLEEP_NS);
    }
    atomic_fetch_sub(&rn->parked, 1);
    if (atomic_load(&rn->stop))
        return true;
    on_resume(w);
    return false;
}

/* Between two operations: true when the worker must exit. */
static bool checkpoint(struct worker *w)
{
    struct runner *rn = w->rn;

    if (pb_likely(!atomic_load_explicit(&rn->pause, memory_order_relaxed) &&
                  !atomic_load_explicit(&rn->stop, memory_order_relaxed)))
        return false;
    if (atomic_load(&rn->stop))
        return true;
    return park(w, false);
}

/* Counts one memop operation against an ops-bounded phase; parks when the share is done. */
static bool count_op(struct worker *w)
{
    if (w->quota == UINT64_MAX)
        return false;
    if (w->quota > 0 && --w->quota > 0)
        return false;
    atomic_fetch_add(&w->rn->quota_done, 1);
    return park(w, true);
}

/* Rate pacing: sleeps until `units` done since the phase began are due. */
static void pace(struct worker *w, uint64_t units, uint64_t rate)
{
    if (rate == 0)
        return;
    w->pace_units += units;
    uint64_t due = pb_pace_due_ns(w->pace_t0, w->pace_units, rate);
    for (;;) {
        uint64_t now = pb_clock_ns();
        if (now >= due || atomic_load_explicit(&w->rn->stop, memory_order_relaxed) ||
            atomic_load_explicit(&w->rn->pause, memory_order_relaxed))
            return;
        sleep_ns(due - now < 10 * NS_PER_MS ? due - now : 10 * NS_PER_MS);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Builders.
 */

static bool slot_cas(struct slot *s, int from, int to)
{
    return atomic_compare_exchange_strong(&s->state, &from, to);
}

/* The owner of a QUEUED slot (now CREATING) creates it and opens the build. */
static bool build_open(struct worker *w, struct slot *s)
{
    struct runner *rn = w->rn;
    int rc = slot_create(rn, s, w);

    if (rc) {
        worker_fail(w, "domain %u: create failed: %s", s->domid, strerror(-rc));
        atomic_store(&s->state, SLOT_DONE);
        return false;
    }
    pthread_mutex_lock(&s->build_lock);
    pb_build_cursor_init(&s->cur, s->memory, s->gfn_space);
    s->inflight = 0;
    s->finishing = false;
    pthread_mutex_unlock(&s->build_lock);
    s->build_start_ns = pb_clock_ns();
    w->cur_gen = atomic_fetch_add(&s->gen, 1) + 1;
    w->cur = s;
    atomic_store(&s->state, SLOT_BUILDING);
    return true;
}

/* p2m walk of a vNUMA domain: pages of each vnode's range against those on its node. */
struct locality_walk {
    const struct pb_heap *h;
    const struct slot *s;
    unsigned nodes;
    uint64_t pages, local;
};

static int locality_visit(void *ctx, uint64_t gfn, uint64_t mfn, unsigned order, enum p2m_type type)
{
    struct locality_walk *lw = ctx;
    uint64_t end = gfn + (UINT64_C(1) << order);
    int node = pb_mfn_to_node(lw->h, mfn);

    if (type != P2M_RAM_RW)
        return 0;
    PB_BUG_ON(node < 0);
    /* An extent lies on one node (a buddy never crosses nodes) but may span vnodes. */
    while (gfn < end) {
        unsigned v = slot_vnode(lw->s, gfn);
        uint64_t stop = vnode_end(lw->s, v) < end ? vnode_end(lw->s, v) : end;
        lw->pages += stop - gfn;
        if (v % lw->nodes == (unsigned)node)
            lw->local += stop - gfn;
        gfn = stop;
    }
    return 0;
}

/*
 * Counts the locality of a build just completed (the caller owns the building slot, and no
 * call of it is in flight): pages on the domain's own nodes against all its pages. Domains
 * with affinity all have no nodes of their own and are not counted.
 */
static void count_locality(struct worker *w, struct slot *s)
{
    struct runner *rn = w->rn;
    uint64_t pages, local;

    if (s->vnuma) {
        struct locality_walk lw = {.h = rn->h, .s = s, .nodes = pb_heap_nr_nodes(rn->h)};
        PB_BUG_ON(p2m_for_each(pb_domain_p2m(s->d), locality_visit, &lw) != 0);
        pages = lw.pages;
        local = lw.local;
    } else if (s->own_nodes) {
        pages = pb_domain_tot_pages(s->d) + pb_domain_extra_pages(s->d);
        local = pb_domain_pages_on_nodes(s->d, s->own_nodes);
    } else {
        return;
    }
    PB_BUG_ON(local > pages);
    ctr_add(&w->rec.ctr.loc_domains, 1);
    ctr_add(&w->rec.ctr.loc_pages, pages);
    ctr_add(&w->rec.ctr.loc_local, local);
    double frac = pages ? (double)local / (double)pages : 1;
    if (frac < w->loc_min)
        w->loc_min = frac;
}

static void build_close(struct worker *w, struct slot *s, bool ok)
{
    struct runner *rn = w->rn;
    uint64_t now = pb_clock_ns();

    if (ok) {
        pb_memop_finish_creation(rn->h, s->d);
        pb_hist_record(w->build_h, pb_clock_diff(s->build_start_ns, now));
        ctr_add(&w->rec.ctr.built, 1);
    } else {
        ctr_add(&w->rec.ctr.build_failures, 1);
        slot_destroy(rn, s);
    }
    atomic_store(&s->built_at_ns, now);
    if (!s->running && measuring(rn)) {
        atomic_store(&rn->last_built_ns, now);
        atomic_fetch_add(&rn->built_measure, 1);
    }
    /* After the build's end time, before anyone else may take (and destroy) the domain. */
    if (ok && measuring(rn))
        count_locality(w, s);
    if (ok)
        atomic_store(&s->state, SLOT_IDLE);
    else if (rn->until_built)
        atomic_store(&s->state, SLOT_DONE);
    else
        atomic_store(&s->state, SLOT_QUEUED);
}

/* One call of the build in w->cur, or closing it. */
static void build_step(struct worker *w)
{
    struct runner *rn = w->rn;
    struct slot *s = w->cur;
    struct pb_call call;
    const struct pb_wl_orders *orders = &rn->wl->orders;
    struct pb_wl_orders meminit;

    if (s->running) {
        /* Running domains are built contiguously, so that their balloon finds every gfn. */
        meminit = *orders;
        meminit.mode = PB_WL_ORDERS_MEMINIT;
        orders = &meminit;
    }
    pthread_mutex_lock(&s->build_lock);
    if (atomic_load(&s->gen) != w->cur_gen || atomic_load(&s->state) != SLOT_BUILDING) {
        pthread_mutex_unlock(&s->build_lock);
        w->cur = NULL;
        return;
    }
    if (!pb_build_next(orders, pb_memop_max_order(&rn->builder_caller), &w->rng, &s->cur, &call)) {
        bool close = s->inflight == 0 && !s->finishing;
        bool ok = pb_build_complete(&s->cur);
        if (close)
            s->finishing = true;
        pthread_mutex_unlock(&s->build_lock);
        w->cur = NULL;
        if (close)
            build_close(w, s, ok);
        return;
    }
    s->inflight++;
    pthread_mutex_unlock(&s->build_lock);

    int error;
    unsigned done = timed_populate(w, s, &rn->builder_caller, &call, &error);
    if (done < call.nr && error != -ENOMEM)
        worker_fail(w,
                    "populate_physmap of domain %u (order %u, %u extents at gfn %#" PRIx64
                    ") stopped at %u: %s",
                    s->domid, call.order, call.nr, call.gfn, done, strerror(-error));

    pthread_mutex_lock(&s->build_lock);
    pb_build_done(&s->cur, &call, done);
    s->inflight--;
    pthread_mutex_unlock(&s->build_lock);
    w->balloon_debt += rn->wl->churn.balloon.ratio * (double)((uint64_t)done << call.order);
}

/* A cycling builder: the building domain built longest ago, destroyed for building again. */
static struct slot *take_oldest_built(struct worker *w)
{
    struct runner *rn = w->rn;
    struct slot *best = NULL;
    uint64_t best_at = UINT64_MAX;

    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        if (s->running || atomic_load(&s->state) != SLOT_IDLE)
            continue;
        if (w->home != NO_SLOT && s->index != w->home)
            continue;
        uint64_t at = atomic_load(&s->built_at_ns);
        if (at < best_at) {
            best_at = at;
            best = s;
        }
    }
    if (!best || !slot_cas(best, SLOT_IDLE, SLOT_BUSY))
        return NULL;
    slot_destroy(rn, best);
    atomic_store(&best->state, SLOT_CREATING);
    return best;
}

/* Finds work for a builder without a build: true when it found some. */
static bool builder_find(struct worker *w)
{
    struct runner *rn = w->rn;

    if (w->home != NO_SLOT) {
        struct slot *s = &rn->slots[w->home];
        int st = atomic_load(&s->state);
        if (st == SLOT_QUEUED && slot_cas(s, SLOT_QUEUED, SLOT_CREATING))
            return build_open(w, s);
        if (st == SLOT_BUILDING && atomic_load(&s->gen) != w->cur_gen) {
            w->cur_gen = atomic_load(&s->gen);
            w->cur = s;
            return true;
        }
    }
    /* Queued domains without builders of their own (pool, or recreated running domains). */
    for (unsigned k = 0; k < rn->nr_slots; k++) {
        struct slot *s = &rn->slots[(w->scan + k) % rn->nr_slots];
        bool mine = w->home == NO_SLOT || s->running;
        if (mine && atomic_load(&s->state) == SLOT_QUEUED &&
            slot_cas(s, SLOT_QUEUED, SLOT_CREATING)) {
            w->scan = s->index + 1;
            return build_open(w, s);
        }
    }
    if (rn->cycle) {
        struct slot *s = take_oldest_built(w);
        if (s)
            return build_open(w, s);
    }
    return false;
}

static bool balloon_step(struct worker *w);

static void builder_loop(struct worker *w)
{
    struct runner *rn = w->rn;
    const struct pb_wl_balloon *b = &rn->wl->churn.balloon;

    while (!checkpoint(w)) {
        if (b->pacing == PB_WL_BALLOON_RATIO && rn->nr_running > 0 &&
            w->balloon_debt >= (double)((uint64_t)b->extents_per_call << b->order)) {
            w->balloon_debt -= (double)((uint64_t)b->extents_per_call << b->order);
            if (balloon_step(w) && count_op(w))
                break;
            continue;
        }
        if (w->cur) {
            uint64_t calls = ctr_get(&w->rec.ctr.calls);
            build_step(w);
            if (ctr_get(&w->rec.ctr.calls) != calls && count_op(w))
                break;
            continue;
        }
        if (!builder_find(w))
            sleep_ns(IDLE_SLEEP_NS);
    }
}

/* ---------------------------------------------------------------------------------------------
 * Balloon workers, p2m readers, the recreate thread.
 */

/* One balloon call on a running domain that is free; false when none was. */
static bool balloon_step(struct worker *w)
{
    struct runner *rn = w->rn;
    const struct pb_wl_balloon *b = &rn->wl->churn.balloon;
    struct slot *s = NULL;

    for (unsigned k = 0; k < rn->nr_running; k++) {
        struct slot *c = &rn->slots[rn->running_idx[(w->scan + k) % rn->nr_running]];
        if (atomic_load(&c->state) == SLOT_IDLE && slot_cas(c, SLOT_IDLE, SLOT_BUSY)) {
            s = c;
            w->scan += k + 1;
            break;
        }
    }
    if (!s)
        return false;

    struct pb_call call;
    bool decrease;
    int error;
    struct pb_memop_caller caller = {.privilege = s->privilege};
    pb_balloon_next(&s->balloon, b, &call, &decrease);
    unsigned done = decrease ? timed_decrease(w, s, &caller, &call, &error)
                             : timed_populate(w, s, &caller, &call, &error);
    if (done < call.nr && (decrease || error != -ENOMEM))
        worker_fail(w,
                    "%s of domain %u (order %u, %u extents at gfn %#" PRIx64 ") stopped at %u: %s",
                    decrease ? "decrease_reservation" : "populate_physmap", s->domid, call.order,
                    call.nr, call.gfn, done, strerror(-error));
    pb_balloon_done(&s->balloon, &call, decrease, done);
    atomic_store(&s->state, SLOT_IDLE);
    return true;
}

static void balloon_loop(struct worker *w)
{
    const struct pb_wl_balloon *b = &w->rn->wl->churn.balloon;

    while (!checkpoint(w)) {
        if (!balloon_step(w)) {
            sleep_ns(IDLE_SLEEP_NS);
            continue;
        }
        if (count_op(w))
            break;
        pace(w, (uint64_t)b->extents_per_call << b->order, b->pages_per_second);
    }
}

static void reader_loop(struct worker *w)
{
    struct runner *rn = w->rn;
    uint64_t rate = rn->wl->p2m_readers.lookups_per_second;
    struct p2m_entry e;

    while (!checkpoint(w)) {
        struct slot *s = &rn->slots[pb_rng_below(&w->rng, rn->nr_slots)];
        uint64_t gfn = pb_rng_below(&w->rng, s->memory);
        urcu_memb_read_lock();
        struct p2m *p = atomic_load_explicit(&s->p2m_pub, memory_order_acquire);
        if (p) {
            uint64_t t0 = pb_clock_ns();
            p2m_lookup(p, gfn, &e);
            uint64_t t1 = pb_clock_ns();
            pb_hist_record(w->lookup_h, pb_clock_diff(t0, t1));
            ctr_add(&w->rec.ctr.lookups, 1);
        }
        RCU_TSAN_READ_DONE(); /* inside the section: a grace period ends after it */
        urcu_memb_read_unlock();
        if (!p)
            sleep_ns(IDLE_SLEEP_NS);
        pace(w, 1, rate);
    }
}

static void recreate_loop(struct worker *w)
{
    struct runner *rn = w->rn;
    double rate = rn->wl->churn.recreate_per_second;

    while (!checkpoint(w)) {
        uint64_t due = w->pace_t0 + (uint64_t)((double)(w->pace_units + 1) * 1e9 / rate);
        uint64_t now = pb_clock_ns();
        if (now < due) {
            sleep_ns(due - now < 10 * NS_PER_MS ? due - now : 10 * NS_PER_MS);
            continue;
        }
        w->pace_units++;
        /* A few random picks among the domains that are idle. */
        for (unsigned tries = 0; tries < 4 * rn->nr_slots; tries++) {
            struct slot *s = &rn->slots[pb_rng_below(&w->rng, rn->nr_slots)];
            if (atomic_load(&s->state) != SLOT_IDLE || !slot_cas(s, SLOT_IDLE, SLOT_BUSY))
                continue;
            slot_destroy(rn, s);
            ctr_add(&w->rec.ctr.recreations, 1);
            atomic_store(&s->state, SLOT_QUEUED);
            break;
        }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct runner *rn = w->rn;
    const struct pb_workload *wl = rn->wl;
    int rc = pb_topology_bind(rn->cfg->topo, w->vcpu);

    if (rc)
        worker_fail(w, "cannot pin to vCPU %u: %s", w->vcpu, strerror(-rc));
    w->cpu_start_seen = sched_getcpu();
    pb_set_current_node(w->node);
    /* pcp: the cache slot of the vCPU we are pinned to, not whichever CPU sched_getcpu() saw
     * first, so that a run of a fixed seed uses the same caches every time. */
    pb_set_current_cpu(w->vcpu);
    pb_rcu_register_thread();

    struct pb_preempt_policy pol = {.kind = PB_PREEMPT_NONE};
    switch (wl->preemption.kind) {
    case PB_WL_PREEMPT_NONE:
        break;
    case PB_WL_PREEMPT_TIMESLICE:
        pol = (struct pb_preempt_policy){.kind = PB_PREEMPT_TIMESLICE,
                                         .slice_ns = wl->preemption.timeslice_ns};
        break;
    case PB_WL_PREEMPT_EVERY:
        pol = (struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N,
                                         .every_n = wl->preemption.every_extents};
        break;
    case PB_WL_PREEMPT_PROBABILITY:
        pol =
            (struct pb_preempt_policy){.kind = PB_PREEMPT_PROB,
                                       .probability = wl->preemption.probability,
                                       .seed = pb_rng_stream_seed(rn->cfg->seed, 1000 + w->index)};
        break;
    }
    if (pb_preempt_configure(&pol) != 0)
        worker_fail(w, "bad preemption policy");

    w->phase_seen = PHASE_WARMUP;
    w->cpu_start = thread_cpu_ns();
    pthread_mutex_lock(&rn->gate);
    rn->ready++;
    pthread_cond_broadcast(&rn->gate_cv);
    while (!rn->go)
        pthread_cond_wait(&rn->gate_cv, &rn->gate);
    pthread_mutex_unlock(&rn->gate);
    w->pace_t0 = pb_clock_ns();

    switch (w->role) {
    case PB_ROLE_BUILDER:
        builder_loop(w);
        break;
    case PB_ROLE_BALLOON:
        balloon_loop(w);
        break;
    case PB_ROLE_READER:
        reader_loop(w);
        break;
    case PB_ROLE_RECREATE:
        recreate_loop(w);
        break;
    }
    /* Whatever we were building stays as it is: the measuring thread tears it down. */
    w->cpu_ns = thread_cpu_ns() - w->cpu_start;
    pb_preempt_counters_read(&w->pc);
    w->cpu_end_seen = sched_getcpu();
    pb_rcu_unregister_thread();
    return NULL;
}

/* ---------------------------------------------------------------------------------------------
 * Setup.
 */

unsigned pb_run_default_threads(const struct pb_workload *wl)
{
    unsigned building = 0;
    for (unsigned i = 0; i < wl->nr_groups; i++)
        if (wl->groups[i].start == PB_WL_START_BUILD)
            building += wl->groups[i].count;
    if (building > 0 || wl->churn.recreate_per_second > 0) {
        if (wl->builders.kind == PB_WL_BUILDERS_POOL)
            return wl->builders.threads;
        return wl->builders.threads * (building ? building : 1);
    }
    if (wl->churn.balloon.pacing == PB_WL_BALLOON_RATE)
        return wl->churn.balloon.threads;
    return wl->p2m_readers.threads ? wl->p2m_readers.threads : 1;
}

static bool has_builders(const struct pb_workload *wl)
{
    for (unsigned i = 0; i < wl->nr_groups; i++)
        if (wl->groups[i].start == PB_WL_START_BUILD)
            return true;
    return wl->churn.recreate_per_second > 0;
}

/* Workers by role for `threads` primaries. */
static void role_counts(const struct pb_workload *wl, unsigned threads, unsigned *builders,
                        unsigned *balloon, unsigned *readers, unsigned *recreate)
{
    bool build = has_builders(wl);
    bool rate = wl->churn.balloon.pacing == PB_WL_BALLOON_RATE;

    *builders = build ? threads : 0;
    *balloon = rate ? (build ? wl->churn.balloon.threads : threads) : 0;
    *readers = (!build && !rate) ? threads : wl->p2m_readers.threads;
    *recreate = wl->churn.recreate_per_second > 0 ? 1 : 0;
}

unsigned pb_run_total_threads(const struct pb_workload *wl, unsigned threads)
{
    unsigned b, bl, r, rc;
    role_counts(wl, threads, &b, &bl, &r, &rc);
    unsigned scrub = wl->scrub.mode == PB_WL_SCRUB_BACKGROUND
                         ? wl->scrub.workers_per_node * wl->machine.nodes
                         : 0;
    return b + bl + r + rc + scrub;
}

/* Gives `dirty_fraction` of the free memory need_scrub, in 2 MiB chunks chosen by the seed. */
static int heap_make_dirty(struct pb_heap *h, double fraction, uint64_t seed)
{
    uint64_t cap = pb_heap_nr_frames(h) / 512 + 64 * PB_MAX_NODES * 10, n = 0;
    uint64_t *mfn = malloc(cap * sizeof(*mfn));
    uint8_t *ord = malloc(cap);
    struct pb_rng rng;

    if (!mfn || !ord) {
        free(mfn);
        free(ord);
        return -ENOMEM;
    }
    /* Take everything, node by node, largest pieces first. */
    for (unsigned node = 0; node < pb_heap_nr_nodes(h); node++)
        for (int o = 9; o >= 0; o--)
            while (n < cap &&
                   pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, (unsigned)o,
                                       MEMF_node(node) | MEMF_exact_node, NULL, &mfn[n]) == 0)
                ord[n++] = (uint8_t)o;
    pb_rng_seed(&rng, seed);
    for (uint64_t i = n; i > 1; i--) {
        uint64_t j = pb_rng_below(&rng, i);
        uint64_t t = mfn[i - 1];
        mfn[i - 1] = mfn[j];
        mfn[j] = t;
        uint8_t to = ord[i - 1];
        ord[i - 1] = ord[j];
        ord[j] = to;
    }
    uint64_t total = 0, dirty = 0;
    for (uint64_t i = 0; i < n; i++)
        total += UINT64_C(1) << ord[i];
    uint64_t want = (uint64_t)(fraction * (double)total);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t pages = UINT64_C(1) << ord[i];
        bool make_dirty = dirty < want;
        if (make_dirty) {
            dirty += pages;
            for (uint64_t k = 0; k < pages; k++) {
                void *data = pb_frame_data(h, mfn[i] + k);
                if (data)
                    pb_dirty_fill(data);
            }
        }
        PB_BUG_ON(pb_free_heap_pages(h, mfn[i], ord[i], make_dirty) != 0);
    }
    free(mfn);
    free(ord);
    return 0;
}

/*
 * Ages the heap: each pass fills it to 95% with chunks of order 0..6 (seeded) and frees a
 * random 3/4 of what is held; after the last pass a quarter of the memory stays allocated,
 * owned by nobody, scattered so that large buddies are scarce.
 */
static int heap_fragment(struct pb_heap *h, unsigned passes, uint64_t seed)
{
    uint64_t frames = pb_heap_nr_frames(h);
    uint64_t cap = frames, n = 0, held = 0;
    uint64_t *mfn = malloc(cap * sizeof(*mfn));
    uint8_t *ord = malloc(cap);
    struct pb_rng rng;

    if (!mfn || !ord) {
        free(mfn);
        free(ord);
        return -ENOMEM;
    }
    pb_rng_seed(&rng, seed);
    unsigned nodes = pb_heap_nr_nodes(h);
    for (unsigned p = 0; p < passes; p++) {
        while (n < cap && held < frames / 100 * 95) {
            unsigned o = (unsigned)pb_rng_below(&rng, 7);
            unsigned node = (unsigned)pb_rng_below(&rng, nodes);
            if (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, o, MEMF_node(node), NULL, &mfn[n]) != 0)
                break;
            ord[n++] = (uint8_t)o;
            held += UINT64_C(1) << o;
        }
        for (uint64_t i = n; i > 1; i--) {
            uint64_t j = pb_rng_below(&rng, i);
            uint64_t t = mfn[i - 1];
            mfn[i - 1] = mfn[j];
            mfn[j] = t;
            uint8_t to = ord[i - 1];
            ord[i - 1] = ord[j];
            ord[j] = to;
        }
        while (n > 0 && held > frames / 4) {
            n--;
            PB_BUG_ON(pb_free_heap_pages(h, mfn[n], ord[n], false) != 0);
            held -= UINT64_C(1) << ord[n];
        }
    }
    free(mfn);
    free(ord);
    return 0;
}

/* Builds a running domain before the phases, unmeasured. */
static int build_running(struct runner *rn, struct slot *s, char *err, size_t errlen)
{
    struct pb_build_cursor cur;
    struct pb_wl_orders o = rn->wl->orders;
    struct pb_call call;
    struct pb_rng rng;
    int rc = slot_create(rn, s, NULL);

    if (rc) {
        pb_errf(err, errlen, "cannot create running domain %u: %s", s->domid, strerror(-rc));
        return rc;
    }
    o.mode = PB_WL_ORDERS_MEMINIT;
    pb_rng_seed(&rng, s->domid);
    pb_build_cursor_init(&cur, s->memory, s->gfn_space);
    uint64_t *gfns = malloc(sizeof(uint64_t) * (1u << 10));
    if (!gfns)
        return -ENOMEM;
    while (pb_build_next(&o, pb_memop_max_order(&rn->builder_caller), &rng, &cur, &call)) {
        for (unsigned done = 0; done < call.nr;) {
            struct pb_call part = call;
            part.gfn = call.gfn + ((uint64_t)done << call.order);
            part.nr = vnode_extents(s, part.gfn, call.order,
                                    call.nr - done < 1024 ? call.nr - done : 1024);
            for (unsigned i = 0; i < part.nr; i++)
                gfns[i] = part.gfn + ((uint64_t)i << part.order);
            struct pb_reservation r = {.extent_start = gfns,
                                       .extent_list_len = part.nr,
                                       .nr_extents = part.nr,
                                       .extent_order = part.order,
                                       .mem_flags = call_mem_flags(rn, s, part.gfn),
                                       .domid = s->domid};
            struct pb_memop_result res;
            uint64_t start = 0;
            do {
                pb_populate_physmap(rn->h, &rn->builder_caller, &r, start, &res);
                start = res.nr_done;
            } while (res.preempted);
            done += (unsigned)res.nr_done;
            if (res.nr_done < part.nr) {
                pb_build_done(&cur, &call, done);
                if (cur.failed) {
                    free(gfns);
                    pb_errf(err, errlen,
                            "running domain %u does not fit: populate_physmap stopped at %" PRIu64
                            " of %" PRIu64 " pages: %s",
                            s->domid, cur.issued, cur.target, strerror(-res.error));
                    return -ENOMEM;
                }
                goto next;
            }
        }
        pb_build_done(&cur, &call, call.nr);
    next:;
    }
    free(gfns);
    pb_memop_finish_creation(rn->h, s->d);
    atomic_store(&s->state, SLOT_IDLE);
    return 0;
}

static enum pb_privilege privilege_of(enum pb_wl_privilege p)
{
    switch (p) {
    case PB_WL_PRIV_CONTROL:
        return PB_PRIV_CONTROL;
    case PB_WL_PRIV_HARDWARE:
        return PB_PRIV_HARDWARE;
    case PB_WL_PRIV_DOMU:
        break;
    }
    return PB_PRIV_DOMU;
}

static int setup_slots(struct runner *rn, char *err, size_t errlen)
{
    const struct pb_workload *wl = rn->wl;

    if (wl->nr_domains >= PB_MAX_DOMAINS) {
        pb_errf(err, errlen, "%s: %u domains (the model has room for %u)", wl->path, wl->nr_domains,
                PB_MAX_DOMAINS - 1);
        return -EINVAL;
    }
    rn->slots = calloc(wl->nr_domains, sizeof(*rn->slots));
    rn->running_idx = calloc(wl->nr_domains, sizeof(*rn->running_idx));
    if (!rn->slots || !rn->running_idx)
        return -ENOMEM;
    unsigned i = 0;
    /* Building domains first, so that per-domain builder i / T finds its home at slot i / T. */
    for (int pass = 0; pass < 2; pass++)
        for (unsigned g = 0; g < wl->nr_groups; g++) {
            const struct pb_wl_domain_group *grp = &wl->groups[g];
            bool running = grp->start == PB_WL_START_RUNNING;
            if (running != (pass == 1))
                continue;
            for (unsigned k = 0; k < grp->count; k++, i++) {
                struct slot *s = &rn->slots[i];
                s->index = i;
                s->domid = i + 1;
                s->group = g;
                s->running = running;
                s->memory = grp->memory_pages;
                s->claim = grp->claim_pages;
                s->node_claim = grp->claim_mode == PB_WL_CLAIM_NODES;
                switch (rn->cfg->claim_mode) {
                case PB_RUN_CLAIM_WORKLOAD:
                    break;
                case PB_RUN_CLAIM_HOST:
                    s->node_claim = false;
                    break;
                case PB_RUN_CLAIM_NODES:
                    s->node_claim = grp->affinity != PB_WL_AFFINITY_ALL;
                    break;
                case PB_RUN_CLAIM_NONE:
                    s->claim = 0;
                    break;
                }
                s->gfn_space = pb_stream_gfn_space(grp->max_pages);
                s->privilege = privilege_of(grp->privilege);
                s->dcfg = (struct pb_domain_config){
                    .max_pages = grp->max_pages,
                    .node_affinity = grp->affinity == PB_WL_AFFINITY_NODES ? grp->node_mask : 0,
                    .privilege = s->privilege,
                };
                s->vnuma = grp->affinity == PB_WL_AFFINITY_VNUMA ? grp->vnuma_nodes : 0;
                s->own_nodes = grp->affinity == PB_WL_AFFINITY_NODES ? grp->node_mask : 0;
                pthread_mutex_init(&s->build_lock, NULL);
                atomic_init(&s->state, SLOT_QUEUED);
                if (running)
                    rn->running_idx[rn->nr_running++] = i;
                else
                    rn->nr_building++;
            }
        }
    rn->nr_slots = i;
    return 0;
}

static int setup_workers(struct runner *rn)
{
    const struct pb_run_config *cfg = rn->cfg;
    const struct pb_workload *wl = rn->wl;
    unsigned threads = cfg->threads ? cfg->threads : pb_run_default_threads(wl);

    role_counts(wl, threads, &rn->nr_builders, &rn->nr_balloon, &rn->nr_readers, &rn->nr_recreate);
    rn->nr_workers = rn->nr_builders + rn->nr_balloon + rn->nr_readers + rn->nr_recreate;
    rn->nr_quota_workers = rn->nr_builders + rn->nr_balloon;
    rn->pool =
        cfg->threads != 0 || wl->builders.kind == PB_WL_BUILDERS_POOL || rn->nr_building == 0;
    rn->w = calloc(rn->nr_workers, sizeof(*rn->w));
    if (!rn->w)
        return -ENOMEM;

    size_t gfns_len = 1;
    for (int i = 0; i < PB_WL_NR_ORDERS; i++)
        if (wl->orders.extents_per_call[i] > gfns_len)
            gfns_len = wl->orders.extents_per_call[i];
    if (wl->churn.balloon.extents_per_call > gfns_len)
        gfns_len = wl->churn.balloon.extents_per_call;

    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        w->rn = rn;
        w->index = i;
        w->home = NO_SLOT;
        if (i < rn->nr_builders) {
            w->role = PB_ROLE_BUILDER;
            if (!rn->pool)
                w->home = i / wl->builders.threads;
        } else if (i < rn->nr_builders + rn->nr_balloon) {
            w->role = PB_ROLE_BALLOON;
        } else if (i < rn->nr_builders + rn->nr_balloon + rn->nr_readers) {
            w->role = PB_ROLE_READER;
        } else {
            w->role = PB_ROLE_RECREATE;
        }
        w->vcpu = pb_topology_place(cfg->topo, cfg->placement, i);
        w->node = cfg->topo->cpus[w->vcpu].node % pb_heap_nr_nodes(rn->h);
        w->scan = i;
        w->quota = UINT64_MAX;
        w->loc_min = 1;
        w->cpu_start_seen = w->cpu_end_seen = -1;
        pb_rng_seed(&w->rng, pb_rng_stream_seed(cfg->seed, i));
        w->gfns_len = gfns_len;
        w->gfns = malloc(gfns_len * sizeof(uint64_t));
        w->rec.call1_h = pb_hist_alloc();
        w->rec.callm_h = pb_hist_alloc();
        w->rec.invm_h = pb_hist_alloc();
        w->dec_h = pb_hist_alloc();
        w->lookup_h = pb_hist_alloc();
        w->build_h = pb_hist_alloc();
        if (!w->gfns || !w->rec.call1_h || !w->rec.callm_h || !w->rec.invm_h || !w->dec_h ||
            !w->lookup_h || !w->build_h)
            return -ENOMEM;
        atomic_fetch_add(&rn->pu_threads[cfg->topo->cpus[w->vcpu].real_pu], 1);
    }
    return 0;
}

static void scrub_thread_init(void *ctx, unsigned node, unsigned worker)
{
    struct runner *rn = ctx;
    unsigned vcpu = pb_topology_node_cpu_from_end(rn->cfg->topo, node, worker);

    pb_topology_bind(rn->cfg->topo, vcpu);
    pb_set_current_node(node);
    atomic_fetch_add(&rn->scrub_threads, 1);
    atomic_fetch_add(&rn->pu_threads[rn->cfg->topo->cpus[vcpu].real_pu], 1);
}

/* ---------------------------------------------------------------------------------------------
 * Phase control (the measuring thread).
 */

static bool interrupted(const struct runner *rn)
{
    return rn->cfg->interrupt && atomic_load(rn->cfg->interrupt);
}

/* Pauses every worker between two operations. */
static void pause_all(struct runner *rn)
{
    atomic_store(&rn->pause, true);
    while (atomic_load(&rn->parked) < rn->nr_workers)
        sleep_ns(PARK_SLEEP_NS);
}

static void set_quotas(struct runner *rn, const struct pb_wl_phase *ph)
{
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        w->quota = UINT64_MAX;
        if (ph->unit != PB_WL_PHASE_OPS || i >= rn->nr_quota_workers)
            continue;
        /* Worker i's share of the count; a worker with no share does one operation. */
        uint64_t share = ph->ops / rn->nr_quota_workers + (i < ph->ops % rn->nr_quota_workers);
        w->quota = share ? share : 1;
    }
    atomic_store(&rn->quota_done, 0);
}

struct lockset {
    struct pb_run_lock_class l[PB_RUN_MAX_LOCK_CLASSES];
    unsigned n;
};

static void collect_heap_lock(void *ctx, const struct pb_lock *lock)
{
    struct lockset *ls = ctx;
    struct pb_lock_stats st;
    pb_lock_stats_read(lock, &st);
    /* pcp's per-CPU cache locks come last, as many as CPUs have used the heap: one entry. */
    if (lock->rank == PB_RANK_PCP && ls->n > 0 && !strcmp(ls->l[ls->n - 1].name, "pcp")) {
        pb_lock_stats_add(&ls->l[ls->n - 1].st, &st);
        return;
    }
    if (ls->n >= PB_RUN_MAX_LOCK_CLASSES)
        return;
    snprintf(ls->l[ls->n].name, sizeof(ls->l[ls->n].name), "%s",
             lock->rank == PB_RANK_PCP ? "pcp" : lock->name);
    ls->l[ls->n++].st = st;
}

/* Everything the measure phase is measured against, taken while every worker is parked. */
struct baseline {
    struct lockset heap_locks;
    struct pb_scrub_counters scrub;
    struct pb_heap_counters heap;
};

static void take_baseline(struct runner *rn, struct baseline *b)
{
    memset(b, 0, sizeof(*b));
    pb_heap_for_each_lock(rn->h, collect_heap_lock, &b->heap_locks);
    pb_scrub_read_counters(rn->h, &b->scrub);
    pb_heap_read_counters(rn->h, &b->heap);
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        memset(&s->dom_acc, 0, sizeof(s->dom_acc));
        memset(&s->p2m_acc, 0, sizeof(s->p2m_acc));
        if (s->d)
            slot_lock_stats(s, &s->dom_base, &s->p2m_base);
    }
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        pb_hist_reset(w->rec.call1_h);
        pb_hist_reset(w->rec.callm_h);
        pb_hist_reset(w->rec.invm_h);
        pb_hist_reset(w->dec_h);
        pb_hist_reset(w->lookup_h);
        pb_hist_reset(w->build_h);
        memset(&w->rec.ctr, 0, sizeof(w->rec.ctr));
        w->loc_min = 1;
    }
}

/* until-built after a warm-up: the builds start again from nothing. */
static void requeue_building(struct runner *rn)
{
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        if (s->running)
            continue;
        slot_destroy(rn, s);
        atomic_fetch_add(&s->gen, 1); /* builders holding it let go */
        atomic_store(&s->state, SLOT_QUEUED);
    }
}

static uint64_t sum_pages(struct runner *rn)
{
    uint64_t p = 0;
    for (unsigned i = 0; i < rn->nr_workers; i++)
        p += ctr_get(&rn->w[i].rec.ctr.pages);
    return p;
}

struct series {
    uint64_t *t, *pages, *backlog;
    size_t n, cap;
};

static void series_add(struct series *s, uint64_t t, uint64_t pages, uint64_t backlog)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        uint64_t *a = realloc(s->t, cap * sizeof(uint64_t));
        if (a)
            s->t = a;
        uint64_t *b = realloc(s->pages, cap * sizeof(uint64_t));
        if (b)
            s->pages = b;
        uint64_t *c = realloc(s->backlog, cap * sizeof(uint64_t));
        if (c)
            s->backlog = c;
        if (!a || !b || !c)
            return; /* a sample lost to memory pressure; the series stays consistent */
        s->cap = cap;
    }
    s->t[s->n] = t;
    s->pages[s->n] = pages;
    s->backlog[s->n] = backlog;
    s->n++;
}

/* Runs the warm-up; false when interrupted. */
static bool run_warmup(struct runner *rn)
{
    const struct pb_wl_phase *ph = &rn->cfg->warmup;
    uint64_t t0 = pb_clock_ns();

    if (ph->unit == PB_WL_PHASE_OPS && ph->ops > 0) {
        while (atomic_load(&rn->quota_done) < rn->nr_quota_workers) {
            if (interrupted(rn))
                return false;
            sleep_ns(NS_PER_MS);
        }
    } else if (ph->unit == PB_WL_PHASE_TIME) {
        while (pb_clock_ns() - t0 < ph->ns) {
            if (interrupted(rn))
                return false;
            uint64_t left = ph->ns - (pb_clock_ns() - t0);
            sleep_ns(left < 10 * NS_PER_MS ? left : 10 * NS_PER_MS);
        }
    }
    return true;
}

/* Runs the measure phase, sampling; false when interrupted. */
static bool run_measure(struct runner *rn, struct series *ser, uint64_t *backlog_max)
{
    const struct pb_run_config *cfg = rn->cfg;
    const struct pb_wl_phase *ph = &cfg->measure;
    uint64_t t0 = rn->t_measure0, next = t0 + PB_RUN_SAMPLE_MS * NS_PER_MS, last_pages = 0;

    if (cfg->raise_sigint_in_measure)
        raise(SIGINT);
    for (;;) {
        uint64_t now = pb_clock_ns();
        bool done = false;
        if (ph->unit == PB_WL_PHASE_TIME)
            done = now - t0 >= ph->ns;
        else if (ph->unit == PB_WL_PHASE_OPS)
            done = atomic_load(&rn->quota_done) >= rn->nr_quota_workers;
        else
            done = atomic_load(&rn->built_measure) >= rn->nr_building;
        if (done)
            return true;
        if (interrupted(rn))
            return false;
        if (now >= next) {
            uint64_t pages = sum_pages(rn), backlog = pb_scrub_backlog(rn->h);
            series_add(ser, (next - t0) / NS_PER_MS, pages - last_pages, backlog);
            if (backlog > *backlog_max)
                *backlog_max = backlog;
            last_pages = pages;
            if (cfg->progress)
                cfg->progress(cfg->progress_ctx, now - t0, pages);
            next += PB_RUN_SAMPLE_MS * NS_PER_MS;
        }
        uint64_t until = next;
        if (ph->unit == PB_WL_PHASE_TIME && t0 + ph->ns < until)
            until = t0 + ph->ns;
        now = pb_clock_ns();
        if (until > now) {
            uint64_t d = until - now;
            /* Ops and until-built phases end on the workers' progress: look every ms. */
            sleep_ns(ph->unit == PB_WL_PHASE_TIME ? d : (d < NS_PER_MS ? d : NS_PER_MS));
        }
    }
}

/* ---------------------------------------------------------------------------------------------
 * Results.
 */

static void lock_class_add(struct pb_run_result *res, const char *name,
                           const struct pb_lock_stats *st)
{
    if (res->nr_locks >= PB_RUN_MAX_LOCK_CLASSES)
        return;
    struct pb_run_lock_class *c = &res->locks[res->nr_locks++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->st = *st;
}

static void collect(struct runner *rn, const struct baseline *base, struct pb_run_result *res)
{
    struct lockset end = {0};
    struct pb_lock_stats heap = {0}, dom = {0}, p2m = {0};
    uint64_t call_pages_min = UINT64_MAX, call_pages_max = 0;

    res->locality_min = 1;
    /* Locks: each class summed, then the heap's own locks when there are several. */
    pb_heap_for_each_lock(rn->h, collect_heap_lock, &end);
    struct lockset diff = {0};
    /* The same locks in the same order, but pcp's entry may be new since the baseline. */
    for (unsigned i = 0; i < end.n; i++) {
        static const struct pb_lock_stats none;
        diff.l[i] = end.l[i];
        memset(&diff.l[i].st, 0, sizeof(diff.l[i].st));
        stats_sub_into(&diff.l[i].st, &end.l[i].st,
                       i < base->heap_locks.n ? &base->heap_locks.l[i].st : &none);
        pb_lock_stats_add(&heap, &diff.l[i].st);
    }
    diff.n = end.n;
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        pb_lock_stats_add(&dom, &s->dom_acc);
        pb_lock_stats_add(&p2m, &s->p2m_acc);
        if (s->d) {
            struct pb_lock_stats d, p;
            slot_lock_stats(s, &d, &p);
            stats_sub_into(&dom, &d, &s->dom_base);
            stats_sub_into(&p2m, &p, &s->p2m_base);
        }
    }
    lock_class_add(res, "heap", &heap);
    lock_class_add(res, "domain.page_alloc", &dom);
    lock_class_add(res, "p2m", &p2m);
    res->nr_lock_classes = res->nr_locks;
    if (diff.n > 1)
        for (unsigned i = 0; i < diff.n; i++)
            lock_class_add(res, diff.l[i].name, &diff.l[i].st);

    struct pb_scrub_counters sc;
    pb_scrub_read_counters(rn->h, &sc);
    res->scrub = (struct pb_scrub_counters){
        .on_alloc = sc.on_alloc - base->scrub.on_alloc,
        .background = sc.background - base->scrub.background,
        .domain_build = sc.domain_build - base->scrub.domain_build,
        .aborts = sc.aborts - base->scrub.aborts,
        .verified = sc.verified - base->scrub.verified,
        .verify_failures = sc.verify_failures - base->scrub.verify_failures,
        .double_clears = sc.double_clears - base->scrub.double_clears,
    };
    struct pb_heap_counters hc;
    pb_heap_read_counters(rn->h, &hc);
    res->heap = (struct pb_heap_counters){
        .allocs = hc.allocs - base->heap.allocs,
        .frees = hc.frees - base->heap.frees,
        .alloc_failures = hc.alloc_failures - base->heap.alloc_failures,
        .splits = hc.splits - base->heap.splits,
        .merges = hc.merges - base->heap.merges,
        .dirty_alloc_pages = hc.dirty_alloc_pages - base->heap.dirty_alloc_pages,
        .scrubbed_on_alloc = hc.scrubbed_on_alloc - base->heap.scrubbed_on_alloc,
        .tlb_flushes = hc.tlb_flushes - base->heap.tlb_flushes,
        .second_pass = hc.second_pass - base->heap.second_pass,
    };

    res->call_h = pb_hist_alloc();
    res->invocation_h = pb_hist_alloc();
    res->decrease_h = pb_hist_alloc();
    res->lookup_h = pb_hist_alloc();
    res->build_h = pb_hist_alloc();
    res->thr = calloc(rn->nr_workers, sizeof(*res->thr));
    res->nr_thr = res->thr ? rn->nr_workers : 0;
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        if (res->call_h) {
            pb_hist_merge(res->call_h, w->rec.call1_h);
            pb_hist_merge(res->call_h, w->rec.callm_h);
            pb_hist_merge(res->invocation_h, w->rec.call1_h);
            pb_hist_merge(res->invocation_h, w->rec.invm_h);
            pb_hist_merge(res->decrease_h, w->dec_h);
            pb_hist_merge(res->lookup_h, w->lookup_h);
            pb_hist_merge(res->build_h, w->build_h);
        }
        uint64_t pages = ctr_get(&w->rec.ctr.pages);
        res->pages += pages;
        res->extents += ctr_get(&w->rec.ctr.extents);
        res->calls += ctr_get(&w->rec.ctr.calls);
        res->continuations += ctr_get(&w->rec.ctr.continuations);
        res->decrease_calls += ctr_get(&w->rec.ctr.dec_calls);
        res->decrease_pages += ctr_get(&w->rec.ctr.dec_pages);
        res->lookups += ctr_get(&w->rec.ctr.lookups);
        res->domains_built += ctr_get(&w->rec.ctr.built);
        res->build_failures += ctr_get(&w->rec.ctr.build_failures);
        res->claim_failures += ctr_get(&w->rec.ctr.claim_failures);
        res->node_claim_fallbacks += ctr_get(&w->rec.ctr.node_claim_fallbacks);
        res->locality_domains += ctr_get(&w->rec.ctr.loc_domains);
        res->locality_pages += ctr_get(&w->rec.ctr.loc_pages);
        res->local_pages += ctr_get(&w->rec.ctr.loc_local);
        if (ctr_get(&w->rec.ctr.loc_domains) && w->loc_min < res->locality_min)
            res->locality_min = w->loc_min;
        res->recreations += ctr_get(&w->rec.ctr.recreations);
        res->preempt_checks += w->pc.checks;
        res->preemptions += w->pc.preemptions;
        res->scrub_preemptions += w->rec.mc.scrub_preemptions;
        res->stash_hits += w->rec.mc.stash_hits;
        res->released_frames += w->rec.mc.released_frames;
        if (w->role == PB_ROLE_BUILDER || w->role == PB_ROLE_BALLOON)
            res->cpu_ns += w->cpu_ns;
        bool primary = rn->nr_builders ? w->role == PB_ROLE_BUILDER
                                       : (rn->nr_balloon ? w->role == PB_ROLE_BALLOON
                                                         : w->role == PB_ROLE_READER);
        if (primary) {
            call_pages_min = pages < call_pages_min ? pages : call_pages_min;
            call_pages_max = pages > call_pages_max ? pages : call_pages_max;
        }
        if (res->thr) {
            const struct pb_topo_cpu *c = &rn->cfg->topo->cpus[w->vcpu];
            res->thr[i] = (struct pb_run_thread){
                .index = i,
                .role = w->role,
                .vcpu = w->vcpu,
                .node = c->node,
                .pu = c->real_os,
                .cpu_seen = w->cpu_end_seen,
                .cpu_ok =
                    w->cpu_start_seen == (int)c->real_os && w->cpu_end_seen == (int)c->real_os,
                .pages = pages,
                .calls = ctr_get(&w->rec.ctr.calls),
                .lookups = ctr_get(&w->rec.ctr.lookups),
            };
        }
    }
    res->invocations = res->calls + res->continuations;
    double secs = (double)res->measure_ns / 1e9;
    if (secs > 0 && call_pages_min != UINT64_MAX) {
        res->thread_pps_min = (double)call_pages_min / secs;
        res->thread_pps_max = (double)call_pages_max / secs;
    }
}

/* The validator: the heap's identities, scrub verification, each domain's p2m and size. */
static void validate(struct runner *rn, struct pb_run_result *res)
{
    char m[400];

    snprintf(res->validator, sizeof(res->validator), "ok");
    res->valid = true;
    for (unsigned i = 0; i < rn->nr_workers; i++)
        if (rn->w[i].error[0]) {
            snprintf(res->validator, sizeof(res->validator), "worker %u (%s): %s", i,
                     pb_worker_role_name(rn->w[i].role), rn->w[i].error);
            res->valid = false;
            return;
        }
    if (res->scrub.verify_failures) {
        snprintf(res->validator, sizeof(res->validator),
                 "%" PRIu64 " frames handed out scrubbed did not read zero",
                 res->scrub.verify_failures);
        res->valid = false;
        return;
    }
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        int st = atomic_load(&s->state);
        if (!s->d)
            continue;
        if (p2m_validate(pb_domain_p2m(s->d)) != 0) {
            snprintf(res->validator, sizeof(res->validator), "domain %u: p2m_validate failed",
                     s->domid);
            res->valid = false;
            return;
        }
        if (st != SLOT_IDLE)
            continue;
        uint64_t want = s->memory - (s->running ? s->balloon.out : 0);
        uint64_t tot = pb_domain_tot_pages(s->d);
        if (tot != want) {
            snprintf(res->validator, sizeof(res->validator),
                     "domain %u: tot_pages %" PRIu64 " but %" PRIu64 " populated", s->domid, tot,
                     want);
            res->valid = false;
            return;
        }
    }
    if (pb_heap_validate(rn->h, m, sizeof(m)) != 0) {
        snprintf(res->validator, sizeof(res->validator), "heap: %s", m);
        res->valid = false;
    }
}

/* ---------------------------------------------------------------------------------------------
 * The run.
 */

static void runner_teardown(struct runner *rn)
{
    if (rn->slots) {
        for (unsigned i = 0; i < rn->nr_slots; i++) {
            slot_destroy(rn, &rn->slots[i]);
            pthread_mutex_destroy(&rn->slots[i].build_lock);
        }
        free(rn->slots);
    }
    free(rn->running_idx);
    if (rn->w) {
        for (unsigned i = 0; i < rn->nr_workers; i++) {
            struct worker *w = &rn->w[i];
            free(w->gfns);
            pb_hist_free(w->rec.call1_h);
            pb_hist_free(w->rec.callm_h);
            pb_hist_free(w->rec.invm_h);
            pb_hist_free(w->dec_h);
            pb_hist_free(w->lookup_h);
            pb_hist_free(w->build_h);
        }
        free(rn->w);
    }
    free((void *)rn->pu_threads);
    /* No pb_rcu_barrier: p2m nodes still queued for call_rcu do not point into the heap, and
     * liburcu frees them in its own time. */
    if (rn->h)
        pb_heap_destroy(rn->h);
}

static int machine_create(struct runner *rn, char *err, size_t errlen)
{
    const struct pb_wl_machine *m = &rn->wl->machine;
    struct pb_machine_desc desc = {.nr_nodes = m->nodes};

    for (unsigned n = 0; n < m->nodes && n < PB_MAX_NODES; n++)
        desc.node_frames[n] = m->pages_per_node;
    desc.backing = m->backing == PB_WL_BACKING_REAL   ? PB_BACKING_REAL
                   : m->backing == PB_WL_BACKING_NONE ? PB_BACKING_NONE
                                                      : PB_BACKING_AUTO;
    desc.dma_zone = m->dma_zone_off ? PB_DMA_ZONE_OFF : PB_DMA_ZONE_XEN;
    int rc = pb_heap_create(&desc, rn->cfg->variant, rn->cfg->lock_kind, &rn->h);
    if (rc) {
        pb_errf(err, errlen,
                "%s: cannot build the machine (%u nodes of %" PRIu64 " pages, variant %s): %s",
                rn->wl->path, m->nodes, m->pages_per_node, rn->cfg->variant, strerror(-rc));
        return rc;
    }
    /* The model's options: defaults, the workload's, then --option's. */
    struct pb_options opts;
    pb_options_init(&opts);
    pb_options_merge(&opts, &rn->wl->options);
    if (rn->cfg->options)
        pb_options_merge(&opts, rn->cfg->options);
    if ((rc = pb_heap_set_options(rn->h, &opts)) != 0 ||
        (rc = pb_heap_set_no_scrub(rn->h, rn->wl->scrub.mode == PB_WL_SCRUB_NONE)) != 0 ||
        (rc = pb_heap_set_verify(rn->h, rn->cfg->verify)) != 0 ||
        (rc = pb_heap_set_clear_method(rn->h, rn->cfg->clear)) != 0) {
        pb_errf(err, errlen,
                "cannot set the heap's options, scrubbing, verify mode or clear method: %s",
                strerror(-rc));
        return rc;
    }
    return 0;
}

int pb_run(const struct pb_run_config *cfg, struct pb_run_result *res, char *err, size_t errlen)
{
    struct runner rn = {
        .cfg = cfg,
        .gate = PTHREAD_MUTEX_INITIALIZER,
        .gate_cv = PTHREAD_COND_INITIALIZER,
    };
    struct baseline base;
    struct series ser = {0};
    int rc;

    if (!cfg || !res || !cfg->wl || !cfg->topo || !cfg->variant || cfg->wl->kind != PB_WL_SINGLE ||
        (unsigned)cfg->claim_mode > PB_RUN_CLAIM_NONE)
        return -EINVAL;
    memset(res, 0, sizeof(*res));
    rn.wl = cfg->wl;
    res->lock_kind = cfg->lock_kind;
    pb_clock_init();
    rn.builder_caller = (struct pb_memop_caller){.privilege = PB_PRIV_CONTROL};
    rn.until_built = cfg->measure.unit == PB_WL_PHASE_UNTIL_BUILT;
    rn.cycle = !rn.until_built && cfg->wl->churn.recreate_per_second == 0;
    rn.pu_threads = calloc(cfg->topo->nr_real_pus, sizeof(*rn.pu_threads));
    if (!rn.pu_threads)
        return -ENOMEM;

    pb_rcu_register_thread();
    pb_set_current_node(0);
    /* The measuring thread's setup and teardown use a fixed pcp slot (see worker_main). */
    pb_set_current_cpu(0);
    if ((rc = machine_create(&rn, err, errlen)) != 0)
        goto out;
    res->backed = pb_heap_backed(rn.h);
    res->numa_backed = pb_heap_node_memory(rn.h, 0) == PB_NODE_MEM_NUMA;

    const struct pb_wl_heap *hs = &cfg->wl->heap;
    uint64_t heap_seed = hs->seed ? hs->seed : cfg->seed;
    if (hs->state == PB_WL_HEAP_DIRTY)
        rc = heap_make_dirty(rn.h, hs->dirty_fraction, heap_seed);
    else if (hs->state == PB_WL_HEAP_FRAGMENTED)
        rc = heap_fragment(rn.h, hs->ageing_passes, heap_seed);
    if (rc) {
        pb_errf(err, errlen, "cannot prepare the heap: %s", strerror(-rc));
        goto out;
    }
    if ((rc = setup_slots(&rn, err, errlen)) != 0)
        goto out;
    for (unsigned i = 0; i < rn.nr_slots; i++) {
        const struct slot *s = &rn.slots[i];
        if ((s->vnuma || s->own_nodes) && (!s->running || cfg->wl->churn.recreate_per_second > 0))
            res->locality_counted = true;
    }
    for (unsigned i = 0; i < rn.nr_running; i++)
        if ((rc = build_running(&rn, &rn.slots[rn.running_idx[i]], err, errlen)) != 0)
            goto out;
    if ((rc = setup_workers(&rn)) != 0) {
        pb_errf(err, errlen, "cannot set up the workers: %s", strerror(-rc));
        goto out;
    }
    res->threads = cfg->threads ? cfg->threads : pb_run_default_threads(cfg->wl);

    if (cfg->wl->scrub.mode == PB_WL_SCRUB_BACKGROUND) {
        struct pb_scrub_config sc = {
            .workers_per_node = cfg->wl->scrub.workers_per_node,
            .method = cfg->clear,
            .thread_init = scrub_thread_init,
            .ctx = &rn,
        };
        if ((rc = pb_scrubber_start(rn.h, &sc, &rn.scrubber)) != 0) {
            pb_errf(err, errlen, "cannot start the scrubbers: %s", strerror(-rc));
            goto out;
        }
    }

    set_quotas(&rn, &cfg->warmup);
    bool no_warmup = (cfg->warmup.unit == PB_WL_PHASE_TIME && cfg->warmup.ns == 0) ||
                     (cfg->warmup.unit == PB_WL_PHASE_OPS && cfg->warmup.ops == 0);
    /* Without a warm-up the workers start parked: left running until pause_all() sees them,
     * they would do a racy number of operations before the measure phase. */
    if (no_warmup)
        atomic_store(&rn.pause, true);
    unsigned started = 0;
    for (; started < rn.nr_workers; started++)
        if ((rc = -pthread_create(&rn.w[started].tid, NULL, worker_main, &rn.w[started])) != 0)
            break;
    /* Every worker starts at once, when all are pinned and ready. */
    pthread_mutex_lock(&rn.gate);
    while (rn.ready < started)
        pthread_cond_wait(&rn.gate_cv, &rn.gate);
    rn.go = true;
    pthread_cond_broadcast(&rn.gate_cv);
    pthread_mutex_unlock(&rn.gate);
    if (rc) {
        pb_errf(err, errlen, "cannot start worker %u: %s", started, strerror(-rc));
        atomic_store(&rn.stop, true);
        for (unsigned i = 0; i < started; i++)
            pthread_join(rn.w[i].tid, NULL);
        goto out;
    }

    bool ok = no_warmup || run_warmup(&rn);
    uint64_t backlog_max = 0;
    if (ok) {
        pause_all(&rn);
        if (rn.until_built)
            requeue_building(&rn);
        take_baseline(&rn, &base);
        set_quotas(&rn, &cfg->measure);
        atomic_store(&rn.built_measure, 0);
        rn.t_measure0 = pb_clock_ns();
        atomic_store(&rn.phase, PHASE_MEASURE);
        atomic_store(&rn.pause, false);
        ok = run_measure(&rn, &ser, &backlog_max);
    }
    uint64_t t_stop = pb_clock_ns();
    atomic_store(&rn.stop, true);
    for (unsigned i = 0; i < started; i++)
        pthread_join(rn.w[i].tid, NULL);
    if (rn.scrubber) {
        pb_scrubber_stop(rn.scrubber);
        rn.scrubber = NULL;
    }

    if (atomic_load(&rn.phase) == PHASE_MEASURE) {
        /* The phase ends with the last operation that finished (until-built: the last build). */
        uint64_t end = t_stop;
        if (rn.until_built && ok) {
            end = atomic_load(&rn.last_built_ns);
        } else {
            for (unsigned i = 0; i < rn.nr_workers; i++)
                if (rn.w[i].last_end_ns > end)
                    end = rn.w[i].last_end_ns;
        }
        res->measure_ns = end > rn.t_measure0 ? end - rn.t_measure0 : 0;
        collect(&rn, &base, res);
        res->scrub_backlog_max = backlog_max;
        res->t_ms = ser.t;
        res->ts_pages = ser.pages;
        res->ts_backlog = ser.backlog;
        res->nr_samples = ser.n;
        ser = (struct series){0};
    }
    res->completed = ok;
    res->total_threads = rn.nr_workers + atomic_load(&rn.scrub_threads);
    for (unsigned i = 0; i < cfg->topo->nr_real_pus; i++)
        if (rn.pu_threads[i] > res->max_threads_per_pu)
            res->max_threads_per_pu = rn.pu_threads[i];
    validate(&rn, res);
    rc = 0;
out:
    if (rn.scrubber)
        pb_scrubber_stop(rn.scrubber);
    free(ser.t);
    free(ser.pages);
    free(ser.backlog);
    runner_teardown(&rn);
    pb_rcu_unregister_thread();
    return rc;
}

void pb_run_result_free(struct pb_run_result *res)
{
    if (!res)
        return;
    pb_hist_free(res->call_h);
    pb_hist_free(res->invocation_h);
    pb_hist_free(res->decrease_h);
    pb_hist_free(res->lookup_h);
    pb_hist_free(res->build_h);
    free(res->t_ms);
    free(res->ts_pages);
    free(res->ts_backlog);
    free(res->thr);
    memset(res, 0, sizeof(*res));
}

/* ---------------------------------------------------------------------------------------------
 * The harness's own cost.
 */

/* Calls of `extents` order-0 extents, n frames in all, into a fresh domain, each through
 * timed_call when `timed`. Returns the mean ns per call. */
static double overhead_loop(struct pb_heap *h, uint64_t n, unsigned extents, bool timed,
                            struct recorder *rec, uint64_t *gfns)
{
    struct pb_domain *d;
    struct pb_domain_config dc = {.max_pages = n, .privilege = PB_PRIV_DOMU};
    struct pb_memop_caller caller = {.privilege = PB_PRIV_CONTROL};
    struct pb_memop_result res;
    uint64_t end, calls = n / extents;
    struct pb_reservation r = {
        .extent_start = gfns, .extent_list_len = extents, .nr_extents = extents, .domid = 1};

    PB_BUG_ON(pb_memop_domain_create(h, 1, &dc, pb_stream_gfn_space(n), PB_LOCK_TICKET, &d) != 0);
    pb_memop_finish_creation(h, d); /* a running guest's calls: no build-path scrubbing */
    /* The whole loop is timed: clock reads around each call would be part of what it costs.
     * Filling the list is ~0.2 ns per extent against the hundreds a call costs. */
    uint64_t t_begin = pb_clock_ns();
    for (uint64_t c = 0; c < calls; c++) {
        for (unsigned i = 0; i < extents; i++)
            gfns[i] = c * extents + i;
        if (timed)
            timed_call(rec, h, &caller, &r, &res, &end);
        else
            pb_populate_physmap(h, &caller, &r, 0, &res);
    }
    uint64_t elapsed = pb_clock_ns() - t_begin;
    pb_memop_domain_destroy(h, d);
    return (double)elapsed / (double)calls;
}

/* What timed_call adds, alone: two clock reads, one record, the counters. */
static double recording_cost(struct recorder *rec, uint64_t n)
{
    struct pb_memop_result res = {.nr_done = 1, .c = {.extents = 1, .frames = 1}};
    uint64_t t_begin = pb_clock_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = pb_clock_ns();
        __asm__ __volatile__("" : : "r"(&res) : "memory"); /* the call would be here */
        uint64_t t1 = pb_clock_ns();
        pb_memop_counts_add(&rec->mc, &res.c);
        pb_hist_record(rec->call1_h, pb_clock_diff(t0, t1));
        ctr_add(&rec->ctr.pages, res.c.frames);
        ctr_add(&rec->ctr.extents, res.nr_done);
        ctr_add(&rec->ctr.calls, 1);
    }
    return (double)(pb_clock_ns() - t_begin) / (double)n;
}

int pb_run_self_test_overhead(const char *variant, enum pb_lock_kind lock_kind, uint64_t n,
                              struct pb_run_overhead *out, char *err, size_t errlen)
{
    struct pb_machine_desc desc = {.nr_nodes = 1, .backing = PB_BACKING_NONE};
    struct pb_heap *h;
    struct recorder rec = {0};
    int rc;

    if (!out || n == 0 || !variant)
        return -EINVAL;
    rec.call1_h = pb_hist_alloc();
    rec.callm_h = pb_hist_alloc();
    rec.invm_h = pb_hist_alloc();
    if (!rec.call1_h || !rec.callm_h || !rec.invm_h) {
        rc = -ENOMEM;
        goto out_hist;
    }
    pb_clock_init();
    n = (n + PB_RUN_OVERHEAD_BATCH - 1) / PB_RUN_OVERHEAD_BATCH * PB_RUN_OVERHEAD_BATCH;
    desc.node_frames[0] = 2 * n + 1024;
    rc = pb_heap_create(&desc, variant, lock_kind, &h);
    if (rc) {
        pb_errf(err, errlen, "cannot build the machine: %s", strerror(-rc));
        goto out_hist;
    }
    pb_rcu_register_thread();
    /* Alternate the loops; the best of each filters out interference from other processes. */
    uint64_t gfns[PB_RUN_OVERHEAD_BATCH];
    double best_plain = 1e300, best_timed = 1e300, best_rec = 1e300, best_batch = 1e300;
    for (int rep = 0; rep < 7; rep++) {
        double p = overhead_loop(h, n, 1, false, &rec, gfns);
        double t = overhead_loop(h, n, 1, true, &rec, gfns);
        double c = recording_cost(&rec, n);
        double b = overhead_loop(h, n, PB_RUN_OVERHEAD_BATCH, false, &rec, gfns);
        best_plain = p < best_plain ? p : best_plain;
        best_timed = t < best_timed ? t : best_timed;
        best_rec = c < best_rec ? c : best_rec;
        best_batch = b < best_batch ? b : best_batch;
    }
    out->op_ns = best_plain;
    out->timed_op_ns = best_timed;
    out->recording_ns = best_rec;
    out->batch_op_ns = best_batch;
    pb_heap_destroy(h);
    pb_rcu_unregister_thread();
out_hist:
    pb_hist_free(rec.call1_h);
    pb_hist_free(rec.callm_h);
    pb_hist_free(rec.invm_h);
    return rc;
}
