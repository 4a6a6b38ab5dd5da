/*
 * scrub.c: everything scrub.h declares: the heap's side of scrubbing (clearing frames, settings,
 * verification, counters), domain-build scrubbing, the domain-build stash, and the background
 * scrub workers of both designs (the protocol and the designs are described in scrub.h; the
 * allocators' side of the handshake, stop_scrub, is in heap.c).
 */
#include "core/scrub.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/heap_impl.h"

/* ------------------------------------------------------------------------------------------
 * The heap's side: clearing frames, waking workers, settings, verification, counters.
 */

void pb_scrub_clear_frames(struct pb_heap *h, struct pb_node *nd, uint64_t mfn, uint64_t n,
                           enum pb_clear_method method)
{
    if (!nd->data)
        return;
#if POPBENCH_DEBUG >= 1
    for (uint64_t i = 0; i < n; i++)
        if (atomic_exchange_explicit(&pb_pg(h, mfn + i)->clearing, 1, memory_order_relaxed))
            atomic_fetch_add_explicit(&h->double_clears, 1, memory_order_relaxed);
#endif
    int rc = pb_clear(nd->data + (mfn - nd->start) * PB_PAGE_SIZE, n * PB_PAGE_SIZE, method);
    PB_BUG_ON(rc != 0);
#if POPBENCH_DEBUG >= 1
    for (uint64_t i = 0; i < n; i++)
        atomic_store_explicit(&pb_pg(h, mfn + i)->clearing, 0, memory_order_relaxed);
#else
    (void)h;
#endif
}

static long futex(_Atomic uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* Bump nd's wake word and wake every worker sleeping on it. */
static void wake_all(struct pb_node *nd)
{
    atomic_fetch_add_explicit(&nd->scrub_wake_seq, 1, memory_order_seq_cst);
    futex(&nd->scrub_wake_seq, FUTEX_WAKE_PRIVATE, INT_MAX);
}

/*
 * Sleepers announce themselves (seq_cst) before they look for work; here the new work is in
 * place (published by the heap lock) before the fence, so either we see a sleeper or it sees
 * the work.
 */
void pb_scrub_kick(struct pb_node *nd)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&nd->scrub_sleepers, memory_order_relaxed) == 0)
        return;
    wake_all(nd);
}

int pb_heap_set_clear_method(struct pb_heap *h, enum pb_clear_method method)
{
    if (!h || (unsigned)method >= PB_CLEAR_NR_METHODS)
        return -EINVAL;
    atomic_store_explicit(&h->clear_method, (int)method, memory_order_relaxed);
    return 0;
}

int pb_heap_set_no_scrub(struct pb_heap *h, bool no_scrub)
{
    if (!h)
        return -EINVAL;
    atomic_store_explicit(&h->no_scrub, no_scrub, memory_order_relaxed);
    return 0;
}

bool pb_heap_no_scrub(const struct pb_heap *h)
{
    return atomic_load_explicit(&h->no_scrub, memory_order_relaxed);
}

int pb_heap_set_verify(struct pb_heap *h, enum pb_verify_mode mode)
{
    if (!h || (unsigned)mode > PB_VERIFY_FULL)
        return -EINVAL;
    atomic_store_explicit(&h->verify_mode, (int)mode, memory_order_relaxed);
    return 0;
}

int pb_verify_extent(struct pb_heap *h, uint64_t mfn, unsigned order)
{
    struct pb_node *nd = pb_extent_node(h, mfn, order);
    if (!nd)
        return -EINVAL;
    int mode = atomic_load_explicit(&h->verify_mode, memory_order_relaxed);
    if (mode == PB_VERIFY_OFF || !nd->data)
        return 0;
    const uint64_t n = 1ull << order;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i++) {
        const void *p = nd->data + (mfn + i - nd->start) * PB_PAGE_SIZE;
        /* Sampled: the lines drawn differ per frame and per check. */
        uint64_t seed = ((mfn + i) << 20) ^ pb_now_ns();
        bool zero = mode == PB_VERIFY_FULL ? pb_page_is_zero(p) : pb_page_is_zero_sampled(p, seed);
        bad += !zero;
    }
    atomic_fetch_add_explicit(&nd->verified, n, memory_order_relaxed);
    if (!bad)
        return 0;
    atomic_fetch_add_explicit(&nd->verify_failures, bad, memory_order_relaxed);
    fprintf(stderr,
            "popbench: %" PRIu64 " of %" PRIu64 " frames at mfn %" PRIu64
            " do not read zero after scrubbing\n",
            bad, n, mfn);
    return -EIO;
}

void pb_scrub_read_counters(const struct pb_heap *h, struct pb_scrub_counters *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        const struct pb_node *nd = h->nodes[n];
        out->on_alloc += pb_ld(&nd->scrub_on_alloc);
        out->background += pb_ld(&nd->scrub_background);
        out->domain_build += pb_ld(&nd->scrub_domain_build);
        out->aborts += pb_ld(&nd->scrub_aborts);
        out->verified += pb_ld(&nd->verified);
        out->verify_failures += pb_ld(&nd->verify_failures);
        out->idle_busy_skips += pb_ld(&nd->idle_busy_skips);
        out->idle_busy_yields += pb_ld(&nd->idle_busy_yields);
    }
    out->double_clears = pb_ld(&h->double_clears);
    out->stash_discards = pb_ld(&h->stash_discards);
}

uint64_t pb_scrub_backlog(const struct pb_heap *h)
{
    uint64_t sum = 0;
    for (unsigned n = 0; n < h->nr_nodes; n++)
        sum += pb_ld(&h->nodes[n]->need_scrub);
    return sum;
}

/* ------------------------------------------------------------------------------------------
 * Domain-build scrubbing.
 */

int pb_scrub_extent_preemptible(struct pb_heap *h, uint64_t mfn, unsigned order, uint64_t *progress,
                                bool (*preempt)(void *ctx), void *ctx)
{
    struct pb_node *nd = pb_extent_node(h, mfn, order);
    const uint64_t n = 1ull << order;
    if (!nd || !progress || *progress > n)
        return -EINVAL;
    for (uint64_t i = *progress; i < n; i++)
        if (h->frames[mfn + i].state != PGS_INUSE)
            return -EINVAL;

    const enum pb_clear_method method =
        (enum pb_clear_method)atomic_load_explicit(&h->clear_method, memory_order_relaxed);
    const uint64_t check_every = (uint64_t)pb_options_get(&h->opts, PB_OPT_SCRUB_PREEMPT_FRAMES);
    uint64_t cleared = 0, since_check = 0, i = *progress;
    int rc = 0;
    while (i < n) {
        if (!h->frames[mfn + i].need_scrub) {
            i++;
            continue;
        }
        /* A run of flagged frames, cut at the next preemption check. */
        uint64_t run = 0;
        while (i + run < n && h->frames[mfn + i + run].need_scrub &&
               since_check + run < check_every)
            h->frames[mfn + i + run++].need_scrub = 0;
        pb_scrub_clear_frames(h, nd, mfn + i, run, method);
        i += run;
        cleared += run;
        since_check += run;
        if (since_check == check_every && i < n) {
            since_check = 0;
            if (preempt && preempt(ctx)) {
                rc = -ERESTART;
                break;
            }
        }
    }
    *progress = rc ? i : n;
    if (cleared)
        atomic_fetch_add_explicit(&nd->scrub_domain_build, cleared, memory_order_relaxed);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * The domain-build stash.
 */

/* An extent the stash will not keep: nobody's, so it goes back dirty (free_domheap_pages). */
static void stash_discard(struct pb_domain *d, uint64_t mfn, unsigned order)
{
    atomic_fetch_add_explicit(&d->heap->stash_discards, 1, memory_order_relaxed);
    PB_BUG_ON(pb_free_domheap_pages(d->heap, NULL, mfn, order, true) != 0);
}

void pb_scrub_stash_put(struct pb_domain *d, uint64_t mfn, unsigned order, uint64_t progress)
{
    PB_BUG_ON(!d || order > PB_MAX_ORDER || progress > (1ull << order));
    pb_lock_acquire(&d->page_alloc_lock);
    /* stash_allocation: the stash already there, or a dying domain, wins over this extent. */
    bool keep = !d->stash_valid && !atomic_load(&d->dying);
    if (keep) {
        d->stash_valid = true;
        d->stash_mfn = mfn;
        d->stash_order = order;
        d->stash_progress = progress;
    } else {
        stash_discard(d, mfn, order);
    }
    pb_lock_release(&d->page_alloc_lock);
}

int pb_scrub_stash_take(struct pb_domain *d, unsigned order, int node, uint64_t *mfn,
                        uint64_t *progress)
{
    if (!d || !mfn || !progress || order > PB_MAX_ORDER || node < -1 || node >= PB_MAX_NODES)
        return -EINVAL;
    int rc = -ENOENT;
    pb_lock_acquire(&d->page_alloc_lock);
    if (d->stash_valid) {
        uint64_t m = d->stash_mfn;
        unsigned o = d->stash_order;
        if (o == order && (node < 0 || pb_mfn_to_node(d->heap, m) == node)) {
            *mfn = m;
            *progress = d->stash_progress;
            rc = 0;
        } else {
            stash_discard(d, m, o);
        }
        /* The caller owns it now, or it is freed: nobody else may take it. */
        d->stash_valid = false;
        d->stash_mfn = 0;
        d->stash_order = 0;
        d->stash_progress = 0;
    }
    pb_lock_release(&d->page_alloc_lock);
    return rc;
}

/* ------------------------------------------------------------------------------------------
 * Background scrubbing: jobs, workers, the two designs.
 */

#define JOB_OPEN (1u << 31)
/* xen: a scrubber whose CPU is busy, or that found nothing, looks again after this long (a
 * scheduler tick: Xen's idle loop runs when the CPU next goes idle). */
#define IDLE_TICK_NS 1000000L
/* xen: weights of scrub_free_pages' preemption count: a frame cleared, a frame passed over. */
#define IDLE_CNT_SCRUBBED 100u
#define IDLE_CNT_CLEAN    1u

/*
 * One claimed buddy. xen: only its owner works on it. pernode: the owner opens it to the
 * other workers of its node, which take chunks through the cursor.
 */
struct scrub_job {
    /* Written by the owner under the node's heap lock before it opens the job; read-only
     * while the job has participants. */
    uint64_t mfn;
    uint32_t end; /* 2^order */
    /* Atomic: the owner and its helpers. */
    _Atomic uint32_t refs;    /* JOB_OPEN while helpers may join | helpers inside */
    _Atomic uint32_t cursor;  /* first index of the next chunk to hand out */
    _Atomic uint32_t low;     /* lowest index a participant stopped at, or UINT32_MAX */
    _Atomic uint64_t cleared; /* frames cleared by helpers (the owner counts its own) */
};

struct scrub_worker {
    /* Read-only after start. */
    struct pb_scrubber *s;
    struct pb_node *nd; /* pernode: its node; xen: its CPU's node, the node it prefers */
    unsigned node, index;
    unsigned cpu; /* xen: the modelled CPU whose idle time it uses */
    pthread_t tid;
    bool started;
    /* Only this worker's thread: xen's scrub_free_pages state of the pass in progress. */
    struct pb_node *pass_nd; /* the node it is scrubbing */
    unsigned zone, order;    /* where its walk stands: zones upwards, orders downwards */
    uint64_t cnt;            /* preemption count (IDLE_CNT_*) */
    /* The job this worker owns; joined by other workers of its node (see scrub_job). */
    PB_CACHE_ALIGNED struct scrub_job job;
};

struct pb_scrubber {
    /* Read-only after start. */
    struct pb_heap *h;
    struct pb_scrub_config cfg;
    bool xen;             /* the xen design (else pernode) */
    unsigned per_node;    /* pernode: workers per node */
    unsigned batch;       /* frames cleared between two checks for ABORT */
    uint64_t preempt_cnt; /* xen: scrub_free_pages may stop for a busy CPU once cnt exceeds it */
    unsigned nr_workers;
    struct scrub_worker *workers; /* pernode: node n's are [n * per_node, (n + 1) * per_node);
                                     xen: one per modelled CPU */
    uint64_t cpu_nodes;           /* xen: nodes with at least one modelled CPU */
    /* xen: nodes some CPU is scrubbing (node_scrubbing): at most one CPU per node. Atomic. */
    _Atomic uint64_t node_scrubbing;
    /* Set once by pb_scrubber_stop. */
    _Atomic bool stop;
};

enum part_end {
    PART_DONE,    /* no chunk left */
    PART_ABORT,   /* an allocator or a merge wants the buddy */
    PART_STOP,    /* the scrubber is stopping */
    PART_PREEMPT, /* xen: the CPU has other work */
};

static bool stopping(const struct pb_scrubber *s)
{
    return atomic_load_explicit(&s->stop, memory_order_relaxed);
}

static inline void atomic_min_u32(_Atomic uint32_t *p, uint32_t v)
{
    uint32_t cur = atomic_load_explicit(p, memory_order_relaxed);
    while (v < cur && !atomic_compare_exchange_weak_explicit(p, &cur, v, memory_order_relaxed,
                                                             memory_order_relaxed))
        ;
}

/*
 * Clear the flagged frames of the job's chunks until none is left, the buddy is wanted, the
 * scrubber stops or (xen) the CPU has work and enough was done (Xen: cnt > 800, about 8
 * frames cleared); where it stopped goes into job->low. *cleared counts the frames cleared.
 * No lock held.
 */
static enum part_end participate(struct scrub_worker *w, struct scrub_job *job, uint32_t chunk,
                                 uint64_t *cleared)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    struct pb_page *head = &h->frames[job->mfn];
    struct pb_page *pg = head;
    for (;;) {
        uint64_t c = atomic_fetch_add_explicit(&job->cursor, chunk, memory_order_relaxed);
        if (c >= job->end)
            return PART_DONE;
        uint64_t e = c + chunk < job->end ? c + chunk : job->end;
        for (uint64_t i = c; i < e;) {
            enum part_end why = PART_DONE;
            if (atomic_load_explicit(&head->scrub, memory_order_relaxed) != PB_SCRUBBING)
                why = PART_ABORT;
            else if (stopping(s))
                why = PART_STOP;
            else if (s->xen && w->cnt > s->preempt_cnt && pb_cpu_busy(h, w->cpu))
                why = PART_PREEMPT;
            if (why != PART_DONE) {
                atomic_min_u32(&job->low, (uint32_t)i);
                return why;
            }
            /* The next run of flagged frames, at most a batch: one clear, then a check. */
            uint64_t skip = i;
            while (i < e && !pg[i].need_scrub)
                i++;
            w->cnt += (i - skip) * IDLE_CNT_CLEAN;
            uint64_t run = 0;
            while (run < s->batch && i + run < e && pg[i + run].need_scrub)
                pg[i + run++].need_scrub = 0;
            if (!run)
                break;
            pb_scrub_clear_frames(h, w->nd, job->mfn + i, run, s->cfg.method);
            *cleared += run;
            w->cnt += run * IDLE_CNT_SCRUBBED;
            if (s->cfg.after_frame)
                for (uint64_t k = 0; k < run; k++)
                    s->cfg.after_frame(s->cfg.ctx, w->node, w->index, job->mfn + i + k);
            i += run;
        }
    }
}

/* Spin briefly, then give the CPU away: what we wait for may need it. */
static void wait_relax(unsigned *spins)
{
    if (++*spins % 256 == 0)
        sched_yield();
    else
        pb_cpu_relax();
}

/* Mark a list's tail buddy SCRUBBING if it is dirty and free for the taking (node's heap lock
 * held); passes over buddies other workers hold, stops at the first clean one. */
static uint32_t claim_from_tail(struct pb_heap *h, struct pb_list *l)
{
    for (uint32_t m = l->tail; m != PB_NO_FRAME; m = h->frames[m].prev) {
        struct pb_page *pg = &h->frames[m];
        if (atomic_load_explicit(&pg->scrub, memory_order_relaxed) != PB_SCRUB_NONE)
            continue;
        if (pg->first_dirty == PB_CLEAN)
            break;
        atomic_store_explicit(&pg->scrub, PB_SCRUBBING, memory_order_relaxed);
        return m;
    }
    return PB_NO_FRAME;
}

static void node_zones(const struct pb_node *nd, unsigned *zlo, unsigned *zhi)
{
    *zlo = pb_mfn_zone(nd->start ? nd->start : 1);
    *zhi = pb_mfn_zone(nd->end - 1);
}

/*
 * pernode: claim the dirty buddy a worker should take next on nd: lists of the highest zone
 * and order first (the memory allocations take first), each from its tail (dirty end). Node's
 * heap lock held. Returns its head, or PB_NO_FRAME.
 */
static uint32_t claim_dirty_buddy(struct pb_heap *h, struct pb_node *nd)
{
    if (pb_ld(&nd->need_scrub) == 0)
        return PB_NO_FRAME;
    unsigned zlo, zhi;
    node_zones(nd, &zlo, &zhi);
    for (unsigned zone = zhi + 1; zone-- > zlo;) {
        if (pb_ld(&nd->avail[zone]) == 0)
            continue;
        for (unsigned order = PB_MAX_ORDER + 1; order-- > 0;) {
            uint32_t m = claim_from_tail(h, &nd->free[zone][order]);
            if (m != PB_NO_FRAME)
                return m;
        }
    }
    return PB_NO_FRAME;
}

/*
 * xen (scrub_free_pages' walk): from where this pass stands, zones from the lowest up and, in
 * each, orders from MAX_ORDER down, the tail buddy of each list while it is dirty. Node's heap
 * lock held.
 */
static uint32_t idle_claim_next(struct scrub_worker *w)
{
    struct pb_heap *h = w->s->h;
    struct pb_node *nd = w->pass_nd;
    unsigned zlo, zhi;
    node_zones(nd, &zlo, &zhi);
    if (w->zone < zlo)
        w->zone = zlo;
    for (; w->zone <= zhi; w->zone++, w->order = PB_MAX_ORDER) {
        if (pb_ld(&nd->avail[w->zone]) == 0)
            continue;
        for (;; w->order--) {
            uint32_t m = claim_from_tail(h, &nd->free[w->zone][w->order]);
            if (m != PB_NO_FRAME)
                return m;
            if (w->order == 0)
                break;
        }
    }
    return PB_NO_FRAME;
}

/*
 * pernode: join an open job of another worker of this node that still has chunks to hand
 * out. Node's heap lock held (owners open jobs under it, so mfn and end are stable here).
 */
static struct scrub_job *join_job(struct scrub_worker *w)
{
    struct pb_scrubber *s = w->s;
    struct scrub_worker *first = &s->workers[w->node * s->per_node];
    for (unsigned k = 0; k < s->per_node; k++) {
        struct scrub_job *job = &first[k].job;
        if (job == &w->job)
            continue;
        uint32_t r = atomic_load_explicit(&job->refs, memory_order_acquire);
        while ((r & JOB_OPEN) &&
               atomic_load_explicit(&job->cursor, memory_order_relaxed) < job->end) {
            if (atomic_compare_exchange_weak_explicit(&job->refs, &r, r + 1, memory_order_acq_rel,
                                                      memory_order_acquire))
                return job;
        }
    }
    return NULL;
}

static void help(struct scrub_worker *w, struct scrub_job *job)
{
    uint64_t mine = 0;
    participate(w, job, PB_SCRUB_CHUNK, &mine);
    atomic_fetch_add_explicit(&job->cleared, mine, memory_order_relaxed);
    /* Release: our frames and flags are the owner's to publish once it sees us gone. */
    atomic_fetch_sub_explicit(&job->refs, 1, memory_order_release);
}

/* Open a job on the buddy at m, just claimed (SCRUBBING) on nd. nd's heap lock held. */
static uint32_t job_open(struct scrub_worker *w, uint32_t m)
{
    struct pb_heap *h = w->s->h;
    struct scrub_job *job = &w->job;
    uint32_t fd = h->frames[m].first_dirty;
    job->mfn = m;
    job->end = 1u << h->frames[m].order;
    atomic_store_explicit(&job->cursor, fd, memory_order_relaxed);
    atomic_store_explicit(&job->low, UINT32_MAX, memory_order_relaxed);
    atomic_store_explicit(&job->cleared, 0, memory_order_relaxed);
    atomic_store_explicit(&job->refs, w->s->xen ? 0 : JOB_OPEN, memory_order_release);
    return fd;
}

/* Scrub the buddy this worker claimed on nd, give it back, account. No lock held on entry or
 * exit. */
static enum part_end own(struct scrub_worker *w, struct pb_node *nd, uint32_t first_dirty)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    struct scrub_job *job = &w->job;
    struct pb_page *head = &h->frames[job->mfn];

    uint64_t cleared = 0;
    enum part_end why = participate(w, job, s->xen ? job->end : PB_SCRUB_CHUNK, &cleared);
    if (!s->xen) {
        /* Close the job and wait for the helpers: each is at most a run from noticing. */
        atomic_fetch_and_explicit(&job->refs, ~JOB_OPEN, memory_order_relaxed);
        unsigned spins = 0;
        while (atomic_load_explicit(&job->refs, memory_order_acquire) != 0)
            wait_relax(&spins);
        cleared += atomic_load_explicit(&job->cleared, memory_order_relaxed);
    }

    /* Everything below the lowest stop, and below the chunks never handed out, is clean. */
    uint32_t fd = atomic_load_explicit(&job->low, memory_order_relaxed);
    uint32_t cur = atomic_load_explicit(&job->cursor, memory_order_relaxed);
    if (cur < fd)
        fd = cur;
    PB_ASSERT(fd >= first_dirty);
    (void)first_dirty;
    bool clean = fd >= job->end;
    head->first_dirty = clean ? PB_CLEAN : fd;
    uint8_t st = PB_SCRUBBING;
    bool aborted = !atomic_compare_exchange_strong_explicit(
        &head->scrub, &st, clean ? PB_SCRUB_DONE : PB_SCRUB_NONE, memory_order_release,
        memory_order_relaxed);
    if (aborted) {
        PB_BUG_ON(st != PB_SCRUB_ABORT);
        atomic_store_explicit(&head->scrub, PB_SCRUB_NONE, memory_order_release);
        why = PART_ABORT;
    }

    /* The buddy is out of our hands: now the lock, to account and file a clean one. */
    pb_lock_acquire(nd->heap_lock);
    pb_owned_add(&nd->need_scrub, -(int64_t)cleared);
    if (atomic_load_explicit(&head->scrub, memory_order_relaxed) == PB_SCRUB_DONE) {
        /* Nobody took it: still a free buddy of this order in the dirty part of its list. */
        struct pb_list *l = &nd->free[pb_mfn_zone(job->mfn)][head->order];
        pb_page_list_del(h, l, (uint32_t)job->mfn);
        pb_page_list_add_head(h, l, (uint32_t)job->mfn);
        atomic_store_explicit(&head->scrub, PB_SCRUB_NONE, memory_order_relaxed);
    }
    pb_lock_release(nd->heap_lock);
    if (cleared)
        atomic_fetch_add_explicit(&nd->scrub_background, cleared, memory_order_relaxed);
    if (aborted)
        atomic_fetch_add_explicit(&nd->scrub_aborts, 1, memory_order_relaxed);
    return why;
}

/* pernode: one round: claim a buddy (or join one) and scrub it. Whether there was work. */
static bool scrub_round(struct scrub_worker *w)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    struct pb_node *nd = w->nd;

    pb_lock_acquire(nd->heap_lock);
    uint32_t m = claim_dirty_buddy(h, nd);
    if (m != PB_NO_FRAME) {
        uint32_t fd = job_open(w, m);
        pb_lock_release(nd->heap_lock);
        /* More than one chunk: sleeping workers of this node can help. */
        if (w->job.end - fd > PB_SCRUB_CHUNK)
            pb_scrub_kick(nd);
        own(w, nd, fd);
        return true;
    }
    struct scrub_job *job = join_job(w);
    pb_lock_release(nd->heap_lock);
    if (!job)
        return false;
    help(w, job);
    return true;
}

/* ------------------------------------------------------------------------------------------
 * xen: Xen's idle scrubbing (scrub_free_pages, node_to_scrub), one worker per modelled CPU.
 */

static bool node_has_work(const struct pb_heap *h, unsigned node)
{
    return pb_ld(&h->nodes[node]->need_scrub) != 0;
}

/* Take node's scrubbing bit: false if another CPU holds it. */
static bool node_grab(struct pb_scrubber *s, unsigned node)
{
    uint64_t bit = 1ull << node;
    return !(atomic_fetch_or_explicit(&s->node_scrubbing, bit, memory_order_acquire) & bit);
}

static void node_release(struct pb_scrubber *s, unsigned node)
{
    atomic_fetch_and_explicit(&s->node_scrubbing, ~(1ull << node), memory_order_release);
}

/*
 * node_to_scrub: the CPU's own node if it has dirty memory (and, grab, nobody scrubs it),
 * else the first node without CPUs, cycling from its own, that has some (the model has no
 * distances: every other node is as close). With grab, the node's scrubbing bit is taken.
 * Returns the node or -1.
 */
static int node_to_scrub(struct scrub_worker *w, bool grab)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    unsigned local = w->node;
    if (node_has_work(h, local) && (!grab || node_grab(s, local)))
        return (int)local;
    for (unsigned i = 1; i < h->nr_nodes; i++) {
        unsigned node = (local + i) % h->nr_nodes;
        if ((s->cpu_nodes & (1ull << node)) || !node_has_work(h, node))
            continue;
        if (!grab || node_grab(s, node))
            return (int)node;
    }
    return -1;
}

/*
 * scrub_free_pages: on the node node_to_scrub gives, take dirty buddies in the walk's order
 * and clear them, until the node is clean or the CPU has other work (after about 8 frames).
 * Whether there is more to scrub, somewhere this CPU may.
 */
static bool scrub_free_pages(struct scrub_worker *w)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    int node = node_to_scrub(w, true);
    if (node < 0)
        return false;
    struct pb_node *nd = h->nodes[node];
    w->pass_nd = nd;
    w->zone = 0;
    w->order = PB_MAX_ORDER;
    w->cnt = 0;
    bool preempted = false;
    for (;;) {
        pb_lock_acquire(nd->heap_lock);
        uint32_t m = pb_ld(&nd->need_scrub) ? idle_claim_next(w) : PB_NO_FRAME;
        if (m == PB_NO_FRAME) {
            pb_lock_release(nd->heap_lock);
            break;
        }
        uint32_t fd = job_open(w, m);
        pb_lock_release(nd->heap_lock);
        enum part_end why = own(w, nd, fd);
        if (why == PART_PREEMPT) {
            preempted = true;
            atomic_fetch_add_explicit(&h->nodes[w->node]->idle_busy_yields, 1,
                                      memory_order_relaxed);
        }
        /* Someone took the buddy (ABORT): Xen's scrubber drops everything and returns. */
        if (why != PART_DONE)
            break;
    }
    node_release(s, (unsigned)node);
    return !preempted && node_to_scrub(w, false) >= 0;
}

static void sleep_tick(void)
{
    struct timespec ts = {0, IDLE_TICK_NS};
    nanosleep(&ts, NULL);
}

/* The idle loop of one modelled CPU: scrub while the CPU is idle. */
static void idle_loop(struct scrub_worker *w)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    while (!stopping(s)) {
        if (pb_cpu_busy(h, w->cpu)) {
            if (node_to_scrub(w, false) >= 0)
                atomic_fetch_add_explicit(&h->nodes[w->node]->idle_busy_skips, 1,
                                          memory_order_relaxed);
            sleep_tick();
            continue;
        }
        if (!scrub_free_pages(w))
            sleep_tick(); /* nothing (or the CPU got busy): look again a tick later */
    }
}

static void *worker_main(void *arg)
{
    struct scrub_worker *w = arg;
    struct pb_scrubber *s = w->s;
    struct pb_node *nd = w->nd;
    if (s->xen && s->cfg.cpu_init)
        s->cfg.cpu_init(s->cfg.ctx, w->cpu);
    else if (s->cfg.thread_init)
        s->cfg.thread_init(s->cfg.ctx, w->node, w->index);
    pb_set_current_node(w->node);
    if (s->xen) {
        pb_set_current_cpu(w->cpu);
        idle_loop(w);
        return NULL;
    }

    while (!stopping(s)) {
        if (scrub_round(w))
            continue;
        /*
         * Nothing to claim: announce ourselves, look once more, sleep. Whoever adds work
         * (pb_scrub_kick) or stops us bumps the word after making it visible, so the second
         * look or the wait's value check sees it (see pb_scrub_kick).
         */
        uint32_t seq = atomic_load_explicit(&nd->scrub_wake_seq, memory_order_seq_cst);
        atomic_fetch_add_explicit(&nd->scrub_sleepers, 1, memory_order_seq_cst);
        if (!atomic_load_explicit(&s->stop, memory_order_seq_cst) && !scrub_round(w))
            futex(&nd->scrub_wake_seq, FUTEX_WAIT_PRIVATE, seq);
        atomic_fetch_sub_explicit(&nd->scrub_sleepers, 1, memory_order_relaxed);
    }
    return NULL;
}

static void stop_workers(struct pb_scrubber *s)
{
    atomic_store_explicit(&s->stop, true, memory_order_seq_cst);
    for (unsigned n = 0; n < s->h->nr_nodes; n++)
        wake_all(s->h->nodes[n]);
    for (unsigned i = 0; i < s->nr_workers; i++)
        if (s->workers[i].started)
            pthread_join(s->workers[i].tid, NULL);
}

/* xen: one worker per modelled CPU of the map (default: CPU n on node n, one per node). */
static int xen_workers(struct pb_scrubber *s, const struct pb_scrub_config *cfg)
{
    struct pb_heap *h = s->h;
    unsigned nr = cfg->nr_cpus ? cfg->nr_cpus : h->nr_nodes;
    for (unsigned c = 0; c < nr; c++) {
        struct scrub_worker *w = &s->workers[c];
        unsigned node = cfg->nr_cpus ? cfg->cpu_node[c] : c;
        if (node >= h->nr_nodes)
            return -EINVAL;
        unsigned index = 0; /* this CPU's place among its node's CPUs */
        for (unsigned k = 0; k < c; k++)
            index += (cfg->nr_cpus ? cfg->cpu_node[k] : k) == node;
        *w = (struct scrub_worker){
            .s = s, .nd = h->nodes[node], .node = node, .index = index, .cpu = c};
        s->cpu_nodes |= 1ull << node;
    }
    s->nr_workers = nr;
    return 0;
}

int pb_scrubber_start(struct pb_heap *h, const struct pb_scrub_config *cfg,
                      struct pb_scrubber **out)
{
    if (!h || !cfg || !out || (unsigned)cfg->method >= PB_CLEAR_NR_METHODS)
        return -EINVAL;
    bool xen = h->ops->global_lock;
    if (!xen && (cfg->workers_per_node == 0 || cfg->workers_per_node > 1024 ||
                 cfg->batch_frames > PB_SCRUB_CHUNK))
        return -EINVAL;
    if (xen && (cfg->nr_cpus > PB_MAX_CPUS || (cfg->nr_cpus && !cfg->cpu_node)))
        return -EINVAL;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&h->scrubber_running, &expected, true))
        return -EBUSY;

    struct pb_scrubber *s = calloc(1, sizeof(*s));
    unsigned per_node = xen ? 1 : cfg->workers_per_node;
    unsigned slots = xen ? (cfg->nr_cpus ? cfg->nr_cpus : h->nr_nodes) : h->nr_nodes * per_node;
    size_t bytes = (size_t)slots * sizeof(struct scrub_worker);
    struct scrub_worker *ws = s ? aligned_alloc(PB_CACHELINE, bytes) : NULL;
    if (!ws) {
        free(s);
        atomic_store(&h->scrubber_running, false);
        return -ENOMEM;
    }
    memset(ws, 0, bytes);
    s->h = h;
    s->cfg = *cfg;
    /* Workers clear cold memory that nobody is about to touch: AUTO's pick for cold memory
     * (what measured fastest on this host, nt until measured). */
    if (s->cfg.method == PB_CLEAR_AUTO)
        s->cfg.method = pb_clear_auto_cold_method();
    s->xen = xen;
    s->per_node = per_node;
    s->batch = xen                 ? 1
               : cfg->batch_frames ? cfg->batch_frames
                                   : (unsigned)pb_options_get(&h->opts, PB_OPT_SCRUB_BATCH_FRAMES);
    s->preempt_cnt =
        (uint64_t)pb_options_get(&h->opts, PB_OPT_SCRUB_XEN_YIELD_FRAMES) * IDLE_CNT_SCRUBBED;
    s->workers = ws;
    int rc = 0;
    if (xen) {
        rc = xen_workers(s, cfg);
    } else {
        s->nr_workers = slots;
        for (unsigned i = 0; i < s->nr_workers; i++) {
            struct scrub_worker *w = &ws[i];
            w->s = s;
            w->node = i / per_node;
            w->index = i % per_node;
            w->nd = h->nodes[w->node];
        }
    }
    for (unsigned i = 0; i < s->nr_workers && !rc; i++)
        atomic_init(&ws[i].job.low, UINT32_MAX);
    for (unsigned i = 0; i < s->nr_workers && !rc; i++) {
        rc = -pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
        ws[i].started = rc == 0;
    }
    if (rc) {
        stop_workers(s);
        free(ws);
        free(s);
        atomic_store(&h->scrubber_running, false);
        return rc;
    }
    *out = s;
    return 0;
}

void pb_scrubber_stop(struct pb_scrubber *s)
{
    if (!s)
        return;
    stop_workers(s);
    atomic_store(&s->h->scrubber_running, false);
    free(s->workers);
    free(s);
}
