/*
 * run_setup.c: a run before its threads start, unmeasured: the machine and its heap state, the
 * slots, the running domains (built by the toolstack's meminit_hvm), the workers and their
 * roles, the scrubbers. And its undoing.
 */
#include "bench/runner_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/heap_prep.h"
#include "core/scrub.h"
#include "bench/interrupt.h"
#include "core/toolstack.h"

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

#define CLEAR_HOST_TRIALS 5 /* rounds of the host's clear measurement */

double pb_run_clear_gbps(const struct pb_run_result *res)
{
    return res->clear.ns ? (double)res->clear.bytes / (double)res->clear.ns : 0;
}

double pb_run_clear_ratio(const struct pb_run_result *res)
{
    double host = res->clear_host_measured ? res->clear_host.gbps[res->clear_host.fastest] : 0;
    return host > 0 ? pb_run_clear_gbps(res) / host : 0;
}

int pb_run_measure_host(const struct pb_workload *const *wls, size_t nr,
                        const enum pb_wl_backing *override, char *err, size_t errlen)
{
    struct pb_clear_host host;
    bool clears = false;

    for (size_t i = 0; i < nr; i++)
        clears |= (override ? *override : wls[i]->machine.backing) != PB_WL_BACKING_NONE;
    if (!clears || pb_clear_host(&host))
        return 0;
    int rc = pb_clear_host_measure(0, 0, CLEAR_HOST_TRIALS, &host);
    if (rc)
        pb_errf(err, errlen, "cannot measure the host's clear bandwidth (%zu MiB buffer): %s",
                pb_clear_host_buffer_default() >> 20, strerror(-rc));
    return rc;
}

/* The machine's memory fits in half of this host's: what real backing may take. */
static bool real_fits(const struct pb_wl_machine *m)
{
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    uint64_t bytes = (uint64_t)m->nodes * m->pages_per_node * PB_PAGE_SIZE;
    return pages > 0 && psz > 0 && bytes <= (uint64_t)pages * (uint64_t)psz / 2;
}

int pb_run_backing(const struct pb_workload *wl, const enum pb_wl_backing *override,
                   enum pb_verify_mode verify, enum pb_backing *backing, char *err, size_t errlen)
{
    const struct pb_wl_machine *m = &wl->machine;
    struct pb_wl_pos at = m->backing_pos.line ? m->backing_pos : m->pos;
    const char *what = NULL;

    switch (override ? *override : m->backing) {
    case PB_WL_BACKING_REAL:
        *backing = PB_BACKING_REAL;
        return 0;
    case PB_WL_BACKING_NONE:
        *backing = PB_BACKING_NONE;
        return 0;
    case PB_WL_BACKING_ALIASED:
        *backing = PB_BACKING_ALIASED;
        if (verify == PB_VERIFY_OFF)
            return 0;
        what = "aliased: every node's frames share one buffer, so what a frame holds cannot be "
               "checked";
        break;
    case PB_WL_BACKING_AUTO:
        /* Aliased, unless verification needs every frame's own memory. */
        *backing = verify == PB_VERIFY_OFF ? PB_BACKING_ALIASED : PB_BACKING_REAL;
        if (verify == PB_VERIFY_OFF || real_fits(m))
            return 0;
        what = "auto, and real backing for --verify would take more than half of this host's "
               "memory";
        break;
    }
    if (override)
        pb_errf(err, errlen, "%s: --backing is %s (expected --backing real, or --verify off)",
                wl->path, what);
    else if (at.line)
        pb_errf(err, errlen,
                "%s:%u:%u: 'machine.backing' is %s (expected backing: real for --verify, or "
                "--verify off)",
                wl->path, at.line, at.col, what);
    else
        pb_errf(err, errlen,
                "%s: 'machine.backing' is %s (expected backing: real for --verify, or --verify "
                "off)",
                wl->path, what);
    return -EINVAL;
}

/* "real", "none", "aliased" or "mixed" for the whole machine, and a word per node. */
static void describe_backing(const struct pb_heap *h, struct pb_run_result *res)
{
    size_t o = 0;
    const char *all = NULL;

    res->backing_nodes[0] = '\0';
    for (unsigned n = 0; n < pb_heap_nr_nodes(h); n++) {
        struct pb_node_backing b;
        pb_heap_node_backing(h, n, &b);
        const char *kind = pb_backing_name(b.kind);
        all = !all || strcmp(all, kind) == 0 ? kind : "mixed";
        if (o < sizeof(res->backing_nodes))
            o += (size_t)snprintf(res->backing_nodes + o, sizeof(res->backing_nodes) - o,
                                  "%snode%u %s %" PRIu64 "MiB%s", n ? ", " : "", n, kind,
                                  b.bytes >> 20,
                                  b.memory == PB_NODE_MEM_NUMA    ? " numa"
                                  : b.memory == PB_NODE_MEM_PLAIN ? " plain"
                                                                  : "");
    }
    snprintf(res->backing, sizeof(res->backing), "%s", all ? all : "none");
}

/* The starting state as it came out: its name, its choices, and how much of it is dirty. */
static void describe_start(const struct runner *rn, struct pb_run_result *res)
{
    const struct pb_wl_heap *hs = &rn->wl->heap;
    uint64_t free = pb_heap_total_avail(rn->h), dirty = pb_scrub_backlog(rn->h);
    char how[64] = "";

    if (hs->state == PB_WL_HEAP_USED || hs->state == PB_WL_HEAP_FRAGMENTED)
        snprintf(how, sizeof(how), " (%u passes, seed %" PRIu64 ")", hs->ageing_passes, hs->seed);
    else if (hs->state == PB_WL_HEAP_DIRTY)
        snprintf(how, sizeof(how), " (fraction %g, seed %" PRIu64 ")", hs->dirty_fraction,
                 hs->seed);
    snprintf(res->start_state, sizeof(res->start_state), "%s%s: %.0f%% of free memory dirty",
             pb_workload_heap_state_name(hs->state), how,
             free ? 100.0 * (double)dirty / (double)free : 0);
}

static int machine_create(struct runner *rn, struct pb_run_result *res, char *err, size_t errlen)
{
    const struct pb_wl_machine *m = &rn->wl->machine;
    struct pb_machine_desc desc = {.nr_nodes = m->nodes};

    for (unsigned n = 0; n < m->nodes && n < PB_MAX_NODES; n++)
        desc.node_frames[n] = m->pages_per_node;
    int rc = pb_run_backing(rn->wl, rn->cfg->backing, rn->cfg->verify, &desc.backing, err, errlen);
    if (rc)
        return rc;
    rc = pb_heap_create(&desc, rn->cfg->variant, rn->cfg->lock_kind, &rn->h);
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
    /* Marks in frames freed dirty serve verification only: Xen writes nothing there. */
    pb_heap_set_dirty_marks(rn->h, rn->cfg->verify != PB_VERIFY_OFF);
    describe_backing(rn->h, res);
    const struct pb_wl_heap *hs = &rn->wl->heap;
    uint64_t heap_seed = hs->seed ? hs->seed : rn->cfg->seed;
    switch (hs->state) {
    case PB_WL_HEAP_CLEAN:
        break;
    case PB_WL_HEAP_BOOT_DIRTY:
        rc = pb_heap_prep_boot_dirty(rn->h);
        break;
    case PB_WL_HEAP_USED:
        rc = pb_heap_prep_used(rn->h, hs->ageing_passes, heap_seed, rn->cfg->lock_kind);
        break;
    case PB_WL_HEAP_DIRTY:
        rc = pb_heap_prep_dirty(rn->h, hs->dirty_fraction, heap_seed);
        break;
    case PB_WL_HEAP_FRAGMENTED:
        rc = pb_heap_prep_age(rn->h, hs->ageing_passes, heap_seed);
        break;
    }
    if (rc) {
        pb_errf(err, errlen, "cannot prepare the heap: %s", strerror(-rc));
        return rc;
    }
    describe_start(rn, res);
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

/* Whether the slot's domains are built by the toolstack (meminit_hvm) or by the harness's own
 * mix of orders. Running domains always are: their balloon works on libxl's layout. */
static bool slot_toolstack(const struct runner *rn, const struct slot *s)
{
    return s->running || rn->wl->orders.mode == PB_WL_ORDERS_MEMINIT;
}

int slot_cursor_init(const struct runner *rn, const struct slot *s, struct pb_build_cursor *c)
{
    uint64_t vnode_pages[PB_MAX_NODES];
    int vnode_node[PB_MAX_NODES];

    if (!slot_toolstack(rn, s)) {
        pb_build_cursor_init(c, s->memory, s->gfn_space);
        return 0;
    }
    /* vNUMA: the harness's equal split (the last vnode takes the rest), vnode v on node
     * v mod nodes, as xl's vnuma list would say. */
    for (unsigned v = 0; v < s->vnuma; v++) {
        vnode_pages[v] = s->memory / s->vnuma;
        vnode_node[v] = (int)(v % pb_heap_nr_nodes(rn->h));
    }
    if (s->vnuma)
        vnode_pages[s->vnuma - 1] += s->memory % s->vnuma;
    struct pb_hvm_guest g = {
        .memory_pages = s->memory,
        .nr_vnodes = s->vnuma,
        .vnode_pages = vnode_pages,
        .vnode_node = vnode_node,
        /* xl's claim_mode=1, unless the workload stakes a claim of its own or none at all. */
        .claim = s->claim == 0 && rn->cfg->claim_mode != PB_RUN_CLAIM_NONE,
    };
    return pb_build_cursor_init_toolstack(c, &g);
}

/* Slot i: the k-th domain of group g. */
static void slot_init(struct runner *rn, struct slot *s, unsigned i, unsigned g)
{
    const struct pb_wl_domain_group *grp = &rn->wl->groups[g];

    s->index = i;
    s->domid = i + 1;
    s->group = g;
    s->running = grp->start == PB_WL_START_RUNNING;
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
    /* A toolstack build leaves the VGA hole empty. */
    s->target = slot_toolstack(rn, s) ? s->memory - PB_HVM_VGA_HOLE_PAGES : s->memory;
    pthread_mutex_init(&s->build_lock, NULL);
    atomic_init(&s->state, SLOT_QUEUED);
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
            bool running = wl->groups[g].start == PB_WL_START_RUNNING;
            if (running != (pass == 1))
                continue;
            for (unsigned k = 0; k < wl->groups[g].count; k++, i++) {
                slot_init(rn, &rn->slots[i], i, g);
                if (k == 0 && slot_toolstack(rn, &rn->slots[i]) &&
                    slot_cursor_init(rn, &rn->slots[i], &rn->slots[i].cur) != 0) {
                    pb_errf(err, errlen,
                            "%s: domains[%u]: %" PRIu64
                            " pages cannot be laid out as an HVM guest (expected at least 1MiB "
                            "per vnode)",
                            wl->path, g, wl->groups[g].memory_pages);
                    rn->nr_slots = i + 1;
                    return -EINVAL;
                }
                if (running)
                    rn->running_idx[rn->nr_running++] = i;
                else
                    rn->nr_building++;
            }
        }
    rn->nr_slots = i;
    return 0;
}

/* Builds a running domain before the phases, unmeasured, as the toolstack would. */
static int build_running(struct runner *rn, struct slot *s, char *err, size_t errlen)
{
    struct pb_meminit_report rep;
    int rc = slot_create(rn, s, NULL);

    if (rc) {
        pb_errf(err, errlen, "cannot create running domain %u: %s", s->domid, strerror(-rc));
        return rc;
    }
    PB_BUG_ON(slot_cursor_init(rn, s, &s->cur) != 0); /* checked by setup_slots */
    if (pb_setup_interrupted())
        return -EINTR;
    rc = pb_meminit_hvm(rn->h, &rn->builder_caller, s->domid, &s->cur.layout, &rep);
    if (rc) {
        pb_errf(err, errlen,
                "running domain %u does not fit: meminit_hvm populated %" PRIu64 " of %" PRIu64
                " pages: %s",
                s->domid, rep.frames, s->target, strerror(-rc));
        return rc;
    }
    slot_release(rn, s, SLOT_IDLE);
    return 0;
}

int worker_alloc_gfns(struct worker *w)
{
    const struct pb_workload *wl = w->rn->wl;
    size_t len = PB_MEMINIT_MAX_EXTENTS; /* a toolstack build's largest call */

    for (int i = 0; i < PB_WL_NR_ORDERS; i++)
        if (wl->orders.extents_per_call[i] > len)
            len = wl->orders.extents_per_call[i];
    if (wl->churn.balloon.extents_per_call > len)
        len = wl->churn.balloon.extents_per_call;
    w->gfns_len = len;
    w->gfns = malloc(len * sizeof(uint64_t));
    return w->gfns ? 0 : -ENOMEM;
}

/* The workload's preemption policy for worker w. */
static struct pb_preempt_policy preempt_policy(const struct runner *rn, const struct worker *w)
{
    const struct pb_wl_preemption *p = &rn->wl->preemption;

    switch (p->kind) {
    case PB_WL_PREEMPT_NONE:
        break;
    case PB_WL_PREEMPT_TIMESLICE:
        return (struct pb_preempt_policy){.kind = PB_PREEMPT_TIMESLICE,
                                          .slice_ns = p->timeslice_ns};
    case PB_WL_PREEMPT_EVERY:
        return (struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = p->every_extents};
    case PB_WL_PREEMPT_PROBABILITY:
        return (struct pb_preempt_policy){.kind = PB_PREEMPT_PROB,
                                          .probability = p->probability,
                                          .seed =
                                              pb_rng_stream_seed(rn->cfg->seed, 1000 + w->index)};
    }
    return (struct pb_preempt_policy){.kind = PB_PREEMPT_NONE};
}

static const struct pb_role_ops *const role_ops[] = {
    [PB_ROLE_BUILDER] = &pb_role_builder,
    [PB_ROLE_BALLOON] = &pb_role_balloon,
    [PB_ROLE_READER] = &pb_role_reader,
    [PB_ROLE_RECREATE] = &pb_role_recreate,
};

const char *pb_worker_role_name(enum pb_worker_role role)
{
    return (unsigned)role < PB_ARRAY_SIZE(role_ops) ? role_ops[role]->name : "?";
}

/* Workers in role order: builders, balloon workers, readers, the recreate thread. */
static enum pb_worker_role role_of(const struct runner *rn, unsigned i)
{
    if (i < rn->nr_builders)
        return PB_ROLE_BUILDER;
    if (i < rn->nr_builders + rn->nr_balloon)
        return PB_ROLE_BALLOON;
    if (i < rn->nr_builders + rn->nr_balloon + rn->nr_readers)
        return PB_ROLE_READER;
    return PB_ROLE_RECREATE;
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
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        w->rn = rn;
        w->index = i;
        w->role = role_of(rn, i);
        w->ops = role_ops[w->role];
        w->home = w->role == PB_ROLE_BUILDER && !rn->pool ? i / wl->builders.threads : NO_SLOT;
        w->vcpu = pb_topology_place(cfg->topo, cfg->placement, i);
        w->node = cfg->topo->cpus[w->vcpu].node % pb_heap_nr_nodes(rn->h);
        w->scan = i;
        w->quota = UINT64_MAX;
        w->loc_min = 1;
        w->cpu_start_seen = w->cpu_end_seen = -1;
        pb_rng_seed(&w->rng, pb_rng_stream_seed(cfg->seed, i));
        w->preempt = preempt_policy(rn, w);
        struct pb_hist **hs[WORKER_NR_HISTS];
        worker_hists(w, hs);
        for (int k = 0; k < WORKER_NR_HISTS; k++)
            if (!(*hs[k] = pb_hist_alloc()))
                return -ENOMEM;
        int rc = w->ops->init ? w->ops->init(w) : 0;
        if (rc)
            return rc;
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

int runner_setup(struct runner *rn, const struct pb_run_config *cfg, struct pb_run_result *res,
                 char *err, size_t errlen)
{
    int rc;

    *rn = (struct runner){
        .cfg = cfg,
        .wl = cfg->wl,
        .gate = PTHREAD_MUTEX_INITIALIZER,
        .gate_cv = PTHREAD_COND_INITIALIZER,
        .builder_caller = {.privilege = PB_PRIV_CONTROL},
        .until_built = cfg->measure.unit == PB_WL_PHASE_UNTIL_BUILT,
    };
    rn->cycle = cfg->wl->churn.recreate_per_second == 0;
    rn->pu_threads = calloc(cfg->topo->nr_real_pus, sizeof(*rn->pu_threads));
    if (!rn->pu_threads)
        return -ENOMEM;
    /* The host's clear bandwidth (pb_run_measure_host) to compare the run's clearing with;
     * clearing is timed from here on. */
    res->clear_host_measured = pb_clear_host(&res->clear_host);
    pb_clear_stats_enable(true);
    if ((rc = machine_create(rn, res, err, errlen)) != 0)
        return rc;
    res->backed = pb_heap_backed(rn->h);
    res->numa_backed = pb_heap_node_memory(rn->h, 0) == PB_NODE_MEM_NUMA;
    if ((rc = setup_slots(rn, err, errlen)) != 0)
        return rc;
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        const struct slot *s = &rn->slots[i];
        if ((s->vnuma || s->own_nodes) && (!s->running || cfg->wl->churn.recreate_per_second > 0))
            res->locality_counted = true;
    }
    for (unsigned i = 0; i < rn->nr_running; i++)
        if ((rc = build_running(rn, &rn->slots[rn->running_idx[i]], err, errlen)) != 0)
            return rc;
    if ((rc = setup_workers(rn)) != 0) {
        pb_errf(err, errlen, "cannot set up the workers: %s", strerror(-rc));
        return rc;
    }
    res->threads = cfg->threads ? cfg->threads : pb_run_default_threads(cfg->wl);

    if (cfg->wl->scrub.mode == PB_WL_SCRUB_BACKGROUND) {
        struct pb_scrub_config sc = {
            .workers_per_node = cfg->wl->scrub.workers_per_node,
            .method = cfg->clear,
            .thread_init = scrub_thread_init,
            .ctx = rn,
        };
        if ((rc = pb_scrubber_start(rn->h, &sc, &rn->scrubber)) != 0) {
            pb_errf(err, errlen, "cannot start the scrubbers: %s", strerror(-rc));
            return rc;
        }
    }
    return 0;
}

void runner_teardown(struct runner *rn)
{
    if (rn->scrubber) {
        pb_scrubber_stop(rn->scrubber);
        rn->scrubber = NULL;
    }
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
            struct pb_hist **hs[WORKER_NR_HISTS];
            worker_hists(&rn->w[i], hs);
            for (int k = 0; k < WORKER_NR_HISTS; k++)
                pb_hist_free(*hs[k]);
            free(rn->w[i].gfns);
        }
        free(rn->w);
    }
    free((void *)rn->pu_threads);
    /* No pb_rcu_barrier: p2m nodes still queued for call_rcu do not point into the heap, and
     * liburcu frees them in its own time. */
    if (rn->h)
        pb_heap_destroy(rn->h);
}
