/*
 * role_builder.c: builders build domains through populate_physmap: a toolstack build
 * (`orders: meminit`, and running domains) makes libxenguest's meminit_hvm calls from the plan
 * of core/toolstack.h, with xl's claim before and its cancel after; a mixed build makes the
 * harness's own calls of random orders.
 *
 * A builder without a build takes one: its own domain's (threads_per_domain), a queued one (a
 * pool, or a recreated running domain), or, when builders cycle (a time- or ops-bounded phase
 * without recreate churn), the domain built longest ago, destroyed to be built again. Builders
 * of one domain share its cursor under the slot's build_lock; the one that finds nothing left
 * to hand out and no call in flight closes the build. With churn.balloon.ratio, a builder also
 * balloons that many pages per page it populates.
 */
#include "bench/runner_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

/* The owner of a QUEUED slot (now CREATING) creates it and opens the build. */
static bool build_open(struct worker *w, struct slot *s)
{
    struct runner *rn = w->rn;
    int rc = slot_create(rn, s, w);

    if (rc) {
        worker_fail(w, "domain %u: create failed: %s", s->domid, strerror(-rc));
        slot_release(rn, s, SLOT_DONE);
        return false;
    }
    pthread_mutex_lock(&s->build_lock);
    rc = slot_cursor_init(rn, s, &s->cur);
    PB_BUG_ON(rc != 0); /* the layout was checked at setup */
    /* xl's claim_mode=1: the guest's pages are claimed before the first call. */
    if (s->cur.toolstack && s->cur.layout.claim &&
        pb_domain_claim_pages(s->d, pb_meminit_claim_pages(&s->cur.layout)) != 0) {
        ctr_add(&w->rec.ctr.claim_failures, 1);
        pb_build_fail(&s->cur);
    }
    s->inflight = 0;
    s->finishing = false;
    pthread_mutex_unlock(&s->build_lock);
    s->build_start_ns = pb_clock_ns();
    w->cur_gen = atomic_fetch_add(&s->gen, 1) + 1;
    w->cur = s;
    slot_release(rn, s, SLOT_BUILDING);
    return true;
}

/* p2m walk of a vNUMA domain: pages of each vnode's range against those on its node. */
struct locality_walk {
    const struct pb_heap *h;
    const struct slot *s;
    unsigned nodes;
    uint64_t pages, local;
};

/* The vnode of gfn and the end of its range: the toolstack layout's, or the harness's equal
 * split of a mixed build. */
static unsigned gfn_vnode(const struct slot *s, uint64_t gfn, uint64_t *range_end)
{
    const struct pb_meminit_config *l = &s->cur.layout;

    if (!s->cur.toolstack) {
        unsigned v = slot_vnode(s, gfn);
        *range_end = vnode_end(s, v);
        return v;
    }
    for (unsigned i = 0; i < l->nr_ranges; i++)
        if (gfn < l->ranges[i].end_gfn) {
            *range_end = l->ranges[i].end_gfn;
            return l->ranges[i].vnode;
        }
    PB_BUG_ON(1); /* the build populates nothing beyond its ranges */
}

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
        uint64_t range_end;
        unsigned v = gfn_vnode(lw->s, gfn, &range_end);
        uint64_t stop = range_end < end ? range_end : end;
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

    /* xl cancels the claim when the build is over, whatever happened. */
    if (s->cur.toolstack && (s->cur.layout.claim || s->claim))
        pb_domain_claim_pages(s->d, 0);
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
        if (atomic_fetch_add(&rn->built_measure, 1) + 1 >= rn->nr_building)
            pb_event_signal(&rn->runner_ev);
    }
    /* After the build's end time, before anyone else may take (and destroy) the domain. */
    if (ok && measuring(rn))
        count_locality(w, s);
    if (ok)
        slot_release(rn, s, SLOT_IDLE);
    else
        slot_release(rn, s, rn->until_built ? SLOT_DONE : SLOT_QUEUED);
}

/* One call of the build in w->cur, or closing it. */
static PB_ALWAYS_INLINE void build_step(struct worker *w)
{
    struct runner *rn = w->rn;
    struct slot *s = w->cur;
    struct pb_call call;
    const struct pb_wl_orders *orders = &rn->wl->orders;

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
    if (builders_cycle(rn)) {
        struct slot *s = take_oldest_built(w);
        if (s)
            return build_open(w, s);
    }
    return false;
}

static PB_ALWAYS_INLINE enum pb_step builder_step(struct worker *w)
{
    struct runner *rn = w->rn;
    const struct pb_wl_balloon *b = &rn->wl->churn.balloon;

    if (b->pacing == PB_WL_BALLOON_RATIO && rn->nr_running > 0 &&
        w->balloon_debt >= (double)((uint64_t)b->extents_per_call << b->order)) {
        w->balloon_debt -= (double)((uint64_t)b->extents_per_call << b->order);
        return balloon_call(w) ? PB_STEP_OP : PB_STEP_WORK;
    }
    if (w->cur) {
        uint64_t calls = ctr_get(&w->rec.ctr.calls);
        build_step(w);
        return ctr_get(&w->rec.ctr.calls) != calls ? PB_STEP_OP : PB_STEP_WORK;
    }
    return builder_find(w) ? PB_STEP_WORK : PB_STEP_IDLE;
}

static void builder_phase_start(struct worker *w)
{
    w->balloon_debt = 0;
}

PB_ROLE_LOOP(builder_loop, builder_step)

const struct pb_role_ops pb_role_builder = {
    .name = "builder",
    .idle_event = PB_EV_BUILD,
    .init = worker_alloc_gfns,
    .phase_start = builder_phase_start,
    .step = builder_step,
    .loop = builder_loop,
};
