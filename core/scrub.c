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

static void stash_discard(struct pb_domain *d, uint64_t mfn, unsigned order)
{
    atomic_fetch_add_explicit(&d->heap->stash_discards, 1, memory_order_relaxed);
    /* Its frames were the domain's since the stash was put: anything else is a bug. */
    PB_BUG_ON(pb_free_domheap_pages(d->heap, d, mfn, order, true) != 0);
}

void pb_scrub_stash_put(struct pb_domain *d, uint64_t mfn, unsigned order, uint64_t progress)
{
    PB_BUG_ON(!d || order > PB_MAX_ORDER || progress > (1ull << order));
    pb_lock_acquire(&d->page_alloc_lock);
    bool had = d->stash_valid;
    uint64_t old_mfn = d->stash_mfn;
    unsigned old_order = d->stash_order;
    d->stash_valid = true;
    d->stash_mfn = mfn;
    d->stash_order = order;
    d->stash_progress = progress;
    pb_lock_release(&d->page_alloc_lock);
    if (had)
        stash_discard(d, old_mfn, old_order);
}

int pb_scrub_stash_take(struct pb_domain *d, unsigned order, int node, uint64_t *mfn,
                        uint64_t *progress)
{
    if (!d || !mfn || !progress || order > PB_MAX_ORDER || node < -1 ||
        node >= (int)d->heap->nr_nodes)
        return -EINVAL;
    pb_lock_acquire(&d->page_alloc_lock);
    if (!d->stash_valid) {
        pb_lock_release(&d->page_alloc_lock);
        return -ENOENT;
    }
    uint64_t m = d->stash_mfn, p = d->stash_progress;
    unsigned o = d->stash_order;
    d->stash_valid = false;
    pb_lock_release(&d->page_alloc_lock);

    if (o == order && (node < 0 || pb_mfn_to_node(d->heap, m) == node)) {
        *mfn = m;
        *progress = p;
        return 0;
    }
    stash_discard(d, m, o);
    return -ENOENT;
}

/* ------------------------------------------------------------------------------------------
 * Background scrubbing: jobs, workers, the two designs.
 */

#define JOB_OPEN (1u << 31)

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
    struct pb_node *nd;
    unsigned node, index;
    pthread_t tid;
    bool started;
    /* The job this worker owns; joined by other workers of its node (see scrub_job). */
    PB_CACHE_ALIGNED struct scrub_job job;
};

struct pb_scrubber {
    /* Read-only after start. */
    struct pb_heap *h;
    struct pb_scrub_config cfg;
    bool xen;             /* the xen design (else pernode) */
    unsigned per_node;    /* workers per node */
    unsigned batch;       /* frames cleared between two checks for ABORT */
    uint64_t yield_every; /* xen: frames cleared between two checks for other work */
    unsigned nr_workers;
    struct scrub_worker *workers; /* node n's are [n * per_node, (n + 1) * per_node) */
    /* Set once by pb_scrubber_stop. */
    _Atomic bool stop;
};

enum part_end {
    PART_DONE,  /* no chunk left */
    PART_ABORT, /* an allocator or a merge wants the buddy */
    PART_STOP,  /* the scrubber is stopping */
    PART_YIELD, /* xen: other work is pending */
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
 * scrubber stops or (xen) other work is pending; where it stopped goes into job->low.
 * *cleared counts the frames cleared. No lock held.
 */
static enum part_end participate(struct scrub_worker *w, struct scrub_job *job, uint32_t chunk,
                                 uint64_t *cleared)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    struct pb_page *head = &h->frames[job->mfn];
    struct pb_page *pg = head;
    uint64_t since_yield = 0;
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
            else if (s->xen && since_yield >= s->yield_every) {
                since_yield = 0;
                if (atomic_load_explicit(&h->allocs_in_flight, memory_order_relaxed))
                    why = PART_YIELD;
            }
            if (why != PART_DONE) {
                atomic_min_u32(&job->low, (uint32_t)i);
                return why;
            }
            /* The next run of flagged frames, at most a batch: one clear, then a check. */
            while (i < e && !pg[i].need_scrub)
                i++;
            uint64_t run = 0;
            while (run < s->batch && i + run < e && pg[i + run].need_scrub)
                pg[i + run++].need_scrub = 0;
            if (!run)
                break;
            pb_scrub_clear_frames(h, w->nd, job->mfn + i, run, s->cfg.method);
            *cleared += run;
            since_yield += run;
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

/*
 * Claim the dirty buddy a scrubber should take next on nd: lists of the highest zone and
 * order first, each from its tail (dirty end), passing over buddies other workers hold, up to
 * the first clean one. Node's heap lock held. Returns its head, or PB_NO_FRAME.
 */
static uint32_t claim_dirty_buddy(struct pb_heap *h, struct pb_node *nd)
{
    if (pb_ld(&nd->need_scrub) == 0)
        return PB_NO_FRAME;
    unsigned zlo = pb_mfn_zone(nd->start ? nd->start : 1), zhi = pb_mfn_zone(nd->end - 1);
    for (unsigned zone = zhi + 1; zone-- > zlo;) {
        if (pb_ld(&nd->avail[zone]) == 0)
            continue;
        for (unsigned order = PB_MAX_ORDER + 1; order-- > 0;) {
            for (uint32_t m = nd->free[zone][order].tail; m != PB_NO_FRAME; m = h->frames[m].prev) {
                struct pb_page *pg = &h->frames[m];
                if (atomic_load_explicit(&pg->scrub, memory_order_relaxed) != PB_SCRUB_NONE)
                    continue;
                if (pg->first_dirty == PB_CLEAN)
                    break;
                atomic_store_explicit(&pg->scrub, PB_SCRUBBING, memory_order_relaxed);
                return m;
            }
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

/* Scrub the buddy this worker claimed, give it back, account. No lock held on entry/exit. */
static enum part_end own(struct scrub_worker *w, uint32_t first_dirty)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    struct pb_node *nd = w->nd;
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

/* One round: claim a buddy (or, pernode, join one) and scrub it. Whether there was work. */
static bool scrub_round(struct scrub_worker *w)
{
    struct pb_scrubber *s = w->s;
    struct pb_heap *h = s->h;
    struct pb_node *nd = w->nd;

    pb_lock_acquire(nd->heap_lock);
    uint32_t m = claim_dirty_buddy(h, nd);
    if (m != PB_NO_FRAME) {
        struct scrub_job *job = &w->job;
        uint32_t fd = h->frames[m].first_dirty;
        job->mfn = m;
        job->end = 1u << h->frames[m].order;
        atomic_store_explicit(&job->cursor, fd, memory_order_relaxed);
        atomic_store_explicit(&job->low, UINT32_MAX, memory_order_relaxed);
        atomic_store_explicit(&job->cleared, 0, memory_order_relaxed);
        atomic_store_explicit(&job->refs, s->xen ? 0 : JOB_OPEN, memory_order_release);
        pb_lock_release(nd->heap_lock);
        /* More than one chunk: sleeping workers of this node can help. */
        if (!s->xen && job->end - fd > PB_SCRUB_CHUNK)
            pb_scrub_kick(nd);
        if (own(w, fd) == PART_YIELD)
            sched_yield(); /* xen: let the pending work run */
        return true;
    }
    struct scrub_job *job = s->xen ? NULL : join_job(w);
    pb_lock_release(nd->heap_lock);
    if (!job)
        return false;
    help(w, job);
    return true;
}

static void *worker_main(void *arg)
{
    struct scrub_worker *w = arg;
    struct pb_scrubber *s = w->s;
    struct pb_node *nd = w->nd;
    if (s->cfg.thread_init)
        s->cfg.thread_init(s->cfg.ctx, w->node, w->index);
    pb_set_current_node(w->node);

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

int pb_scrubber_start(struct pb_heap *h, const struct pb_scrub_config *cfg,
                      struct pb_scrubber **out)
{
    if (!h || !cfg || !out || (unsigned)cfg->method >= PB_CLEAR_NR_METHODS)
        return -EINVAL;
    bool xen = h->ops->global_lock;
    if (!xen && (cfg->workers_per_node == 0 || cfg->workers_per_node > 1024 ||
                 cfg->batch_frames > PB_SCRUB_CHUNK))
        return -EINVAL;
    bool expected = false;
    if (!atomic_compare_exchange_strong(&h->scrubber_running, &expected, true))
        return -EBUSY;

    struct pb_scrubber *s = calloc(1, sizeof(*s));
    unsigned per_node = xen ? 1 : cfg->workers_per_node;
    size_t bytes = (size_t)h->nr_nodes * per_node * sizeof(struct scrub_worker);
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
    s->yield_every = (uint64_t)pb_options_get(&h->opts, PB_OPT_SCRUB_XEN_YIELD_FRAMES);
    s->nr_workers = h->nr_nodes * per_node;
    s->workers = ws;
    int rc = 0;
    for (unsigned i = 0; i < s->nr_workers; i++) {
        struct scrub_worker *w = &ws[i];
        w->s = s;
        w->node = i / per_node;
        w->index = i % per_node;
        w->nd = h->nodes[w->node];
        atomic_init(&w->job.low, UINT32_MAX);
    }
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
