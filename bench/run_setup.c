/*
 * run_setup.c: a run before its threads start, unmeasured: the machine and its heap state, the
 * slots, the running domains (built meminit-style), the workers and their roles, the
 * scrubbers. And its undoing.
 */
#include "bench/runner_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bench/heap_prep.h"
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

static int machine_create(struct runner *rn, char *err, size_t errlen)
{
    const struct pb_wl_machine *m = &rn->wl->machine;
    struct pb_machine_desc desc = {.nr_nodes = m->nodes};

    for (unsigned n = 0; n < m->nodes && n < PB_MAX_NODES; n++)
        desc.node_frames[n] = m->pages_per_node;
    desc.backing = m->backing == PB_WL_BACKING_REAL   ? PB_BACKING_REAL
                   : m->backing == PB_WL_BACKING_NONE ? PB_BACKING_NONE
                                                      : PB_BACKING_AUTO;
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
    const struct pb_wl_heap *hs = &rn->wl->heap;
    uint64_t heap_seed = hs->seed ? hs->seed : rn->cfg->seed;
    if (hs->state == PB_WL_HEAP_DIRTY)
        rc = pb_heap_prep_dirty(rn->h, hs->dirty_fraction, heap_seed);
    else if (hs->state == PB_WL_HEAP_FRAGMENTED)
        rc = pb_heap_prep_age(rn->h, hs->ageing_passes, heap_seed);
    if (rc)
        pb_errf(err, errlen, "cannot prepare the heap: %s", strerror(-rc));
    return rc;
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
                if (running)
                    rn->running_idx[rn->nr_running++] = i;
                else
                    rn->nr_building++;
            }
        }
    rn->nr_slots = i;
    return 0;
}

#define RUNNING_BATCH 1024u /* extents per call when building running domains */

/* Builds a running domain before the phases, unmeasured, as the toolstack would. */
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
    uint64_t *gfns = malloc(sizeof(uint64_t) * RUNNING_BATCH);
    if (!gfns)
        return -ENOMEM;
    while (pb_build_next(&o, pb_memop_max_order(&rn->builder_caller), &rng, &cur, &call)) {
        unsigned done = 0;
        if (pb_setup_interrupted()) {
            free(gfns);
            return -EINTR;
        }
        while (done < call.nr) {
            struct pb_call part = call;
            struct pb_xc_stats st = {0};
            part.gfn = call.gfn + ((uint64_t)done << call.order);
            part.nr =
                vnode_extents(s, part.gfn, call.order,
                              call.nr - done < RUNNING_BATCH ? call.nr - done : RUNNING_BATCH);
            for (unsigned i = 0; i < part.nr; i++)
                gfns[i] = part.gfn + ((uint64_t)i << part.order);
            long n = pb_xc_domain_populate_physmap(rn->h, &rn->builder_caller, s->domid, part.nr,
                                                   part.order, call_mem_flags(rn, s, part.gfn),
                                                   gfns, &st);
            done += n > 0 ? (unsigned)n : 0;
            if (n == (long)part.nr)
                continue;
            /* Short: the cursor redoes the rest one order down, unless that was order 0. */
            if (!pb_build_done(&cur, &call, done)) {
                free(gfns);
                pb_errf(err, errlen,
                        "running domain %u does not fit: populate_physmap stopped at %" PRIu64
                        " of %" PRIu64 " pages: %s",
                        s->domid, cur.issued, cur.target, strerror(-st.last_error));
                return -ENOMEM;
            }
            break;
        }
        if (done == call.nr)
            pb_build_done(&cur, &call, call.nr);
    }
    free(gfns);
    pb_memop_finish_creation(rn->h, s->d);
    slot_release(rn, s, SLOT_IDLE);
    return 0;
}

int worker_alloc_gfns(struct worker *w)
{
    const struct pb_workload *wl = w->rn->wl;
    size_t len = 1;

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
    if ((rc = machine_create(rn, err, errlen)) != 0)
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
