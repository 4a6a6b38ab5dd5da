/*
 * run_results.c: what a run measured. The baselines are taken while every worker is parked
 * between the warm-up and the measure phase; after the workers are joined, everything is read
 * again and the differences, the merged histograms and the per-thread figures go into the
 * result. Then the validator.
 */
#include "bench/runner_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void collect_heap_lock(void *ctx, const struct pb_lock *lock)
{
    struct run_lockset *ls = ctx;
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

void run_read_counters(struct runner *rn, struct run_baseline *b)
{
    memset(b, 0, sizeof(*b));
    pb_heap_for_each_lock(rn->h, collect_heap_lock, &b->heap_locks);
    pb_scrub_read_counters(rn->h, &b->scrub);
    pb_heap_read_counters(rn->h, &b->heap);
    pb_clear_stats_read(&b->clear);
}

static void lock_sums_add(struct pb_lock_stats *base, const struct pb_lock_stats *from,
                          const struct pb_lock_stats *to)
{
    base->acquisitions += to->acquisitions - from->acquisitions;
    base->contended += to->contended - from->contended;
    base->wait_ns_total += to->wait_ns_total - from->wait_ns_total;
    base->hold_ns_total += to->hold_ns_total - from->hold_ns_total;
}

void run_baseline_skip(struct run_baseline *base, const struct run_baseline *from,
                       const struct run_baseline *to)
{
    for (unsigned i = 0; i < base->heap_locks.n && i < from->heap_locks.n && i < to->heap_locks.n;
         i++)
        lock_sums_add(&base->heap_locks.l[i].st, &from->heap_locks.l[i].st,
                      &to->heap_locks.l[i].st);
#define SKIP(s, f) base->s.f += to->s.f - from->s.f
    SKIP(scrub, on_alloc);
    SKIP(scrub, background);
    SKIP(scrub, domain_build);
    SKIP(scrub, aborts);
    SKIP(scrub, verified);
    SKIP(scrub, double_clears);
    SKIP(heap, allocs);
    SKIP(heap, frees);
    SKIP(heap, alloc_failures);
    SKIP(heap, splits);
    SKIP(heap, merges);
    SKIP(heap, dirty_alloc_pages);
    SKIP(heap, scrubbed_on_alloc);
    SKIP(heap, tlb_flushes);
    SKIP(heap, second_pass);
    SKIP(heap, pcp_refills);
    SKIP(heap, pcp_drains);
    SKIP(heap, dma_retries);
    SKIP(scrub, idle_busy_skips);
    SKIP(scrub, idle_busy_yields);
    SKIP(clear, calls);
    SKIP(clear, bytes);
    SKIP(clear, ns);
#undef SKIP
}

void run_take_baseline(struct runner *rn, struct run_baseline *b)
{
    run_read_counters(rn, b);
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        memset(&s->dom_acc, 0, sizeof(s->dom_acc));
        memset(&s->p2m_acc, 0, sizeof(s->p2m_acc));
        if (s->d)
            slot_lock_stats(s, &s->dom_base, &s->p2m_base);
    }
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        struct pb_hist **hs[WORKER_NR_HISTS];
        worker_hists(w, hs);
        for (int k = 0; k < WORKER_NR_HISTS; k++)
            pb_hist_reset(*hs[k]);
        memset(&w->rec.ctr, 0, sizeof(w->rec.ctr));
        w->loc_min = 1;
    }
}

static void lock_class_add(struct pb_run_result *res, const char *name,
                           const struct pb_lock_stats *st)
{
    if (res->nr_locks >= PB_RUN_MAX_LOCK_CLASSES)
        return;
    struct pb_run_lock_class *c = &res->locks[res->nr_locks++];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->st = *st;
}

/* Locks: each class summed, then the heap's own locks when there are several. */
static void collect_locks(struct runner *rn, const struct run_baseline *base,
                          struct pb_run_result *res)
{
    struct run_lockset end = {0}, diff = {0};
    struct pb_lock_stats heap = {0}, dom = {0}, p2m = {0};

    pb_heap_for_each_lock(rn->h, collect_heap_lock, &end);
    /* The same locks in the same order, but pcp's entry may be new since the baseline. */
    diff.n = end.n;
    for (unsigned i = 0; i < diff.n; i++) {
        static const struct pb_lock_stats none;
        diff.l[i] = end.l[i];
        memset(&diff.l[i].st, 0, sizeof(diff.l[i].st));
        stats_sub_into(&diff.l[i].st, &end.l[i].st,
                       i < base->heap_locks.n ? &base->heap_locks.l[i].st : &none);
        pb_lock_stats_add(&heap, &diff.l[i].st);
    }
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
}

static void collect_counters(struct runner *rn, const struct run_baseline *base,
                             struct pb_run_result *res)
{
    struct pb_scrub_counters sc;
    struct pb_heap_counters hc;

    pb_scrub_read_counters(rn->h, &sc);
    pb_heap_read_counters(rn->h, &hc);
#define SCRUB(f) .f = sc.f - base->scrub.f
#define HEAP(f)  .f = hc.f - base->heap.f
    res->scrub = (struct pb_scrub_counters){
        SCRUB(on_alloc),      SCRUB(background),      SCRUB(domain_build),
        SCRUB(aborts),        SCRUB(verified),        SCRUB(verify_failures),
        SCRUB(double_clears), SCRUB(idle_busy_skips), SCRUB(idle_busy_yields)};
    res->heap = (struct pb_heap_counters){HEAP(allocs),
                                          HEAP(frees),
                                          HEAP(alloc_failures),
                                          HEAP(splits),
                                          HEAP(merges),
                                          HEAP(dirty_alloc_pages),
                                          HEAP(scrubbed_on_alloc),
                                          HEAP(tlb_flushes),
                                          HEAP(second_pass),
                                          HEAP(pcp_refills),
                                          HEAP(pcp_drains),
                                          HEAP(dma_retries)};
#undef SCRUB
#undef HEAP
}

static bool is_primary(const struct runner *rn, const struct worker *w)
{
    if (rn->nr_builders)
        return w->role == PB_ROLE_BUILDER;
    return w->role == (rn->nr_balloon ? PB_ROLE_BALLOON : PB_ROLE_READER);
}

/* Worker i's line of the result. */
static struct pb_run_thread thread_of(const struct runner *rn, struct worker *w)
{
    const struct pb_topo_cpu *c = &rn->cfg->topo->cpus[w->vcpu];
    return (struct pb_run_thread){
        .index = w->index,
        .role = w->role,
        .vcpu = w->vcpu,
        .node = c->node,
        .pu = c->real_os,
        .cpu_seen = w->cpu_end_seen,
        .cpu_ok = w->cpu_start_seen == (int)c->real_os && w->cpu_end_seen == (int)c->real_os,
        .pages = ctr_get(&w->rec.ctr.pages),
        .calls = ctr_get(&w->rec.ctr.calls),
        .lookups = ctr_get(&w->rec.ctr.lookups),
    };
}

static void collect_worker(struct pb_run_result *res, struct worker *w)
{
    struct worker_ctr *c = &w->rec.ctr;

    if (res->call_h) {
        pb_hist_merge(res->call_h, w->rec.call1_h);
        pb_hist_merge(res->call_h, w->rec.callm_h);
        pb_hist_merge(res->invocation_h, w->rec.call1_h);
        pb_hist_merge(res->invocation_h, w->rec.invm_h);
        pb_hist_merge(res->decrease_h, w->dec_h);
        pb_hist_merge(res->lookup_h, w->lookup_h);
        pb_hist_merge(res->build_h, w->build_h);
    }
    res->pages += ctr_get(&c->pages);
    res->extents += ctr_get(&c->extents);
    res->calls += ctr_get(&c->calls);
    res->continuations += ctr_get(&c->continuations);
    res->decrease_calls += ctr_get(&c->dec_calls);
    res->decrease_pages += ctr_get(&c->dec_pages);
    res->lookups += ctr_get(&c->lookups);
    res->domains_built += ctr_get(&c->built);
    res->build_failures += ctr_get(&c->build_failures);
    res->claim_failures += ctr_get(&c->claim_failures);
    res->node_claim_fallbacks += ctr_get(&c->node_claim_fallbacks);
    res->locality_domains += ctr_get(&c->loc_domains);
    res->locality_pages += ctr_get(&c->loc_pages);
    res->local_pages += ctr_get(&c->loc_local);
    if (ctr_get(&c->loc_domains) && w->loc_min < res->locality_min)
        res->locality_min = w->loc_min;
    res->recreations += ctr_get(&c->recreations);
    res->preempt_checks += w->pc.checks;
    res->preemptions += w->pc.preemptions;
    res->scrub_preemptions += w->rec.mc.scrub_preemptions;
    res->stash_hits += w->rec.mc.stash_hits;
    res->released_frames += w->rec.mc.released_frames;
    if (w->role == PB_ROLE_BUILDER || w->role == PB_ROLE_BALLOON)
        res->cpu_ns += w->cpu_ns;
}

void run_collect(struct runner *rn, const struct run_baseline *base, struct pb_run_result *res)
{
    uint64_t pages_min = UINT64_MAX, pages_max = 0;

    res->locality_min = 1;
    pb_clear_stats_read(&res->clear);
    res->clear.calls -= base->clear.calls;
    res->clear.bytes -= base->clear.bytes;
    res->clear.ns -= base->clear.ns;
    collect_locks(rn, base, res);
    collect_counters(rn, base, res);
    res->call_h = pb_hist_alloc();
    res->invocation_h = pb_hist_alloc();
    res->decrease_h = pb_hist_alloc();
    res->lookup_h = pb_hist_alloc();
    res->build_h = pb_hist_alloc();
    res->thr = calloc(rn->nr_workers, sizeof(*res->thr));
    res->nr_thr = res->thr ? rn->nr_workers : 0;
    for (unsigned i = 0; i < rn->nr_workers; i++) {
        struct worker *w = &rn->w[i];
        uint64_t pages = ctr_get(&w->rec.ctr.pages);
        collect_worker(res, w);
        if (is_primary(rn, w)) {
            pages_min = pages < pages_min ? pages : pages_min;
            pages_max = pages > pages_max ? pages : pages_max;
        }
        if (res->thr)
            res->thr[i] = thread_of(rn, w);
    }
    res->invocations = res->calls + res->continuations;
    double secs = (double)res->measure_ns / 1e9;
    if (secs > 0 && pages_min != UINT64_MAX) {
        res->thread_pps_min = (double)pages_min / secs;
        res->thread_pps_max = (double)pages_max / secs;
    }
}

/* Writes the first problem into msg (true when there is one): a worker's error, scrub
 * verification, each domain's p2m and size, the heap's identities. */
static bool find_problem(struct runner *rn, const struct pb_run_result *res, char *msg, size_t len)
{
    char m[400];

    for (unsigned i = 0; i < rn->nr_workers; i++)
        if (rn->w[i].error[0]) {
            snprintf(msg, len, "worker %u (%s): %s", i, pb_worker_role_name(rn->w[i].role),
                     rn->w[i].error);
            return true;
        }
    if (res->scrub.verify_failures) {
        snprintf(msg, len, "%" PRIu64 " frames handed out scrubbed did not read zero",
                 res->scrub.verify_failures);
        return true;
    }
    for (unsigned i = 0; i < rn->nr_slots; i++) {
        struct slot *s = &rn->slots[i];
        if (!s->d)
            continue;
        if (p2m_validate(pb_domain_p2m(s->d)) != 0) {
            snprintf(msg, len, "domain %u: p2m_validate failed", s->domid);
            return true;
        }
        if (atomic_load(&s->state) != SLOT_IDLE)
            continue;
        uint64_t want = s->target - (s->running ? s->balloon.out : 0);
        uint64_t tot = pb_domain_tot_pages(s->d);
        if (tot != want) {
            snprintf(msg, len, "domain %u: tot_pages %" PRIu64 " but %" PRIu64 " populated",
                     s->domid, tot, want);
            return true;
        }
    }
    if (pb_heap_validate(rn->h, m, sizeof(m)) != 0) {
        snprintf(msg, len, "heap: %s", m);
        return true;
    }
    return false;
}

void run_validate(struct runner *rn, struct pb_run_result *res)
{
    res->valid = !find_problem(rn, res, res->validator, sizeof(res->validator));
    if (res->valid)
        snprintf(res->validator, sizeof(res->validator), "ok");
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
    free(res->round_ns);
    memset(res, 0, sizeof(*res));
}
