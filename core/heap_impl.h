/*
 * heap_impl.h: the heap's internal structures, shared by the core/ files that implement the
 * heap: heap.c (the buddy allocator and its variants), claims.c (the host-wide counters and
 * claims), pcp.c (the per-CPU caches), machine.c (building the machine, accessors), domain.c,
 * validate.c and scrub.c. Nothing outside core/ includes this (tests aside).
 */
#ifndef POPBENCH_CORE_HEAP_IMPL_H
#define POPBENCH_CORE_HEAP_IMPL_H

#include <stdatomic.h>

#include "core/clear.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/m2p.h"
#include "core/memflags.h"

#define PB_NO_FRAME     UINT32_MAX /* list end */
#define PB_CLEAN        UINT32_MAX /* first_dirty of a clean buddy */
#define PB_OWNER_CACHED 0xfffeu    /* owner of a free frame held in a pcp cache */

enum pb_page_state {
    PGS_FREE = 0, /* in a free buddy */
    PGS_INUSE,    /* allocated (owned by a domain or by nobody) */
    PGS_OFFLINED, /* never in the heap (MFN 0) */
};

/*
 * The scrub handshake of a free buddy (its head's `scrub`; see scrub.h for the whole protocol).
 * Only a holder of the node's heap lock moves NONE -> SCRUBBING (a scrubber claiming it) and
 * SCRUBBING -> ABORT (stop_scrub in heap.c, which then waits for NONE without dropping the
 * lock). Only the scrubber moves SCRUBBING -> NONE or DONE and ABORT -> NONE, never holding
 * the lock, after publishing first_dirty (release). Whoever takes a DONE buddy under the lock
 * resets it to NONE; the scrubber, relocking, finds DONE only if nobody did.
 */
enum pb_scrub_state {
    PB_SCRUB_NONE = 0, /* not being scrubbed */
    PB_SCRUBBING,      /* a scrubber works on this free buddy outside the lock */
    PB_SCRUB_ABORT,    /* an allocator or a merge wants the buddy: scrubber, give it up */
    PB_SCRUB_DONE,     /* scrubbed clean outside the lock, still in the dirty part of its list */
};

/*
 * One frame: 24 bytes. Which lock protects a field depends on the frame's state:
 * free -> the heap lock of its node, except that while its buddy is SCRUBBING or ABORT the
 * scrubber owns need_scrub (and the head's first_dirty); free in a pcp cache (state PGS_INUSE,
 * owner PB_OWNER_CACHED, so that a merge sees it as taken without the cache's lock) -> that
 * cache's lock for owner and tlbflush_ts, the node lock as well for state; in use -> its owner's
 * page_alloc_lock (list, owner) or the thread that allocated it (need_scrub, until it is
 * assigned; the domain builder after that).
 */
struct pb_page {
    uint32_t next, prev;      /* free: buddy list (head only); in use: owner's page list */
    uint32_t first_dirty;     /* free buddy head: first possibly dirty frame, or PB_CLEAN */
    uint32_t tlbflush_ts;     /* clock + 1 when an owner freed it (0: no flush needed) */
    uint16_t owner;           /* in use: domain id or PB_DOMID_NONE */
    uint8_t order;            /* free buddy head: its order */
    uint8_t state;            /* enum pb_page_state */
    uint8_t need_scrub;       /* may hold a previous owner's data; a separate byte from state */
    _Atomic uint8_t scrub;    /* free buddy head: enum pb_scrub_state */
    uint8_t extra;            /* in use: counted in the owner's extra_pages (MEMF_no_refcount) */
    _Atomic uint8_t clearing; /* checked builds: a thread is zeroing this frame right now */
};

_Static_assert(sizeof(struct pb_page) == 24, "struct pb_page grew");

struct pb_list {
    uint32_t head, tail;
};

/* Per-node event counts; protected by: the node's heap lock. */
struct pb_node_counters {
    uint64_t allocs, frees, splits, merges;
    uint64_t dirty_alloc_pages, scrubbed_on_alloc, tlb_flushes, second_pass;
};

struct pb_node {
    /* pernode: this node's heap lock. xen: unused (heap_lock points at the global one). */
    struct pb_lock own_lock;
    struct pb_lock *heap_lock; /* read-only after init */

    /* Read-only after init. */
    uint64_t start, end; /* MFN range [start, end) */
    unsigned id;
    char lock_name[24];
    enum pb_node_memory memory;
    unsigned char *data; /* frame memory of [start, end), or NULL */
    size_t data_len;
    size_t alias_len; /* aliased backing: host memory behind data (mapped again and again over
                         data_len), else 0 */

    /* Protected by: *heap_lock. Counters are relaxed atomics so that samplers may read. */
    PB_CACHE_ALIGNED struct pb_list free[PB_NR_ZONES][PB_MAX_ORDER + 1];
    _Atomic uint64_t avail[PB_NR_ZONES];
    _Atomic uint64_t node_avail;
    _Atomic uint64_t need_scrub;
    struct pb_node_counters ctr;
    /*
     * Frames of this node that domains' node claims reserve: the sum of their node_claim[id].
     * Raised only under *heap_lock, after checking node_avail - claimed covers the rise, and
     * lowered by any thread (atomic read-modify-write), so that node_avail >= claimed holds
     * whenever the lock is free: no allocation takes a frame another domain's node claim holds.
     */
    _Atomic int64_t claimed;
    /*
     * pernode and pcp: the node's share of the host's accounting (xen keeps the host-wide
     * counters of struct pb_heap instead; see "Host-wide counters and claims" in claims.c), on
     * the node's own lines so that allocations and frees on different nodes share none.
     * credit: frames of the host's unclaimed free memory this node holds, borrowed from the
     * pool h->unclaimed in batches, taken by allocations on the node and given back by frees;
     * never negative. claims_retired: frames of claims that allocations on this node have
     * consumed (outstanding claims = h->outstanding_claims - the sum of these). Both atomic:
     * written mostly under *heap_lock, but also by a recall (any thread) and by pcp caches.
     * move_seq (pcp): odd while a refill or a drain moves frames between this node's lists and
     * a cache (written under *heap_lock), so that a reader of the free frames counts each once.
     */
    _Atomic int64_t credit;
    _Atomic int64_t claims_retired;
    _Atomic uint32_t move_seq;

    /* Scrub events (frames, aborts): atomic, written by allocators, scrub workers and domain
     * builders at once, one update per extent or buddy. */
    PB_CACHE_ALIGNED _Atomic uint64_t scrub_on_alloc, scrub_background, scrub_domain_build;
    _Atomic uint64_t scrub_aborts, verified, verify_failures;
    /* xen idle scrubbing, counted on the node of the CPU concerned (scrub.h). */
    _Atomic uint64_t idle_busy_skips, idle_busy_yields;
    /* Scrub workers sleeping on this node: a futex word bumped by whoever adds work for them,
     * and how many sleep (atomic; see pb_scrub_kick). */
    PB_CACHE_ALIGNED _Atomic uint32_t scrub_wake_seq;
    _Atomic uint32_t scrub_sleepers;
};

/*
 * pcp: one CPU's caches of free clean order-0 and order-PB_PCP_HI_ORDER frames, a FIFO ring
 * per node and order. Cached frames are free: they count in the public counters through the
 * per-node sums here, while the node and host-wide counters of struct pb_heap count only the
 * buddy lists (see heap.h). Protected by: lock.
 */
#define PB_PCP_ORDERS   2
#define PB_PCP_HI_ORDER 9
#define PB_PCP_CAP      256 /* ring size, > the highest high watermark */
#define PB_PCP_MAX_CPUS PB_MAX_CPUS

struct pb_pcp_list {
    uint32_t head, count;
    uint32_t ring[PB_PCP_CAP];
};

struct pb_pcp {
    /* Rank PB_RANK_PCP: taken before a node's heap lock (refill, drain), never after one. */
    struct pb_lock lock;
    unsigned cpu;       /* read-only */
    char lock_name[16]; /* "pcp.cpuN"; read-only */
    /* Written under lock, read relaxed by the counters' readers. */
    _Atomic uint64_t node_frames[PB_MAX_NODES]; /* frames cached per node, both orders */
    _Atomic uint64_t allocs, frees, tlb_flushes, refills, drains;
    struct pb_pcp_list lists[]; /* [node * PB_PCP_ORDERS + order index] */
};

struct pb_pcp_watermarks {
    unsigned batch, high;
};

struct pb_variant_ops;
struct p2m;

struct pb_cpu_load {
    PB_CACHE_ALIGNED _Atomic uint32_t busy;
};

struct pb_heap {
    const struct pb_variant_ops *ops; /* read-only after init */
    unsigned nr_nodes;
    uint64_t nr_frames;
    struct pb_page *frames; /* indexed by MFN */
    size_t frames_len;
    enum pb_lock_kind lock_kind;

    /* xen: the one heap lock. */
    struct pb_lock global_lock;

    /*
     * Host-wide counters: lines every node shares, so every store to them goes through
     * PB_HOST_* (counted in POPBENCH_COUNT_SHARED builds). xen: Xen's counters, protected by
     * global_lock (relaxed load+store): total_avail = free frames of the lists, unclaimed =
     * total_avail - outstanding_claims. pernode and pcp (atomic, no lock): total_avail is set
     * at creation and unused (the free frames are the nodes' sum); unclaimed is the pool of
     * unclaimed frames no node holds as credit, which nodes borrow from and new claims
     * reserve from with a compare-and-swap that never lets it go below zero (what keeps claims
     * from being over-committed); outstanding_claims counts the frames claims staked minus
     * what releases gave back, and the nodes' claims_retired what allocations consumed;
     * recalling: claims or allocations pulling every node's credit back into the pool, during
     * which nodes borrow only what they need.
     */
    PB_CACHE_ALIGNED _Atomic int64_t total_avail;
    PB_CACHE_ALIGNED _Atomic int64_t unclaimed;
    _Atomic int64_t outstanding_claims;
    _Atomic uint32_t recalling;
    _Atomic uint32_t tlbflush_clock; /* advanced by every flush */
    _Atomic uint64_t alloc_failures; /* atomic */

    /* Scrubbing settings: relaxed atomics, changed between runs (enum pb_clear_method,
     * enum pb_verify_mode, pb_heap_set_no_scrub). */
    _Atomic int clear_method, verify_mode;
    _Atomic bool no_scrub;
    bool dirty_marks; /* write pb_dirty_fill into frames freed dirty (read-only while in use) */
    _Atomic uint64_t double_clears;  /* checked builds: a frame zeroed by two threads at once */
    _Atomic uint64_t stash_discards; /* domain-build stashes freed unused */
    _Atomic bool scrubber_running;   /* a struct pb_scrubber is attached (at most one) */

    /* Read-only after create: the machine-to-guest table (its entries: m2p.h) and the DMA
     * zone (0: none; heap.h). */
    struct pb_m2p m2p;
    size_t m2p_len;
    unsigned dma_bitsize, dma_zone;
    _Atomic uint64_t dma_retries; /* atomic: alloc_domheap_pages' second searches */

    /* Each CPU slot's busy count (pb_cpu_busy_*): atomic, one cache line each. */
    struct pb_cpu_load *cpu_load; /* [PB_MAX_CPUS] */

    /* The domains; protected by: domtable_lock (lookups after create are unlocked reads). */
    struct pb_lock domtable_lock;
    struct pb_domain *_Atomic domains[PB_MAX_DOMAINS];

    struct pb_node *nodes[PB_MAX_NODES];

    /* pcp: each CPU slot's caches, created on first use (compare-and-swap), freed with the
     * heap; the watermarks per order index (from opts). */
    struct pb_pcp *_Atomic pcp[PB_PCP_MAX_CPUS];
    struct pb_pcp_watermarks pcp_wm[PB_PCP_ORDERS]; /* from opts, for the hot path */

    /* The tunables (options.h); changed only while the heap is quiescent. */
    struct pb_options opts;
};

struct pb_domain {
    struct pb_heap *heap; /* read-only after create */
    unsigned domid;
    enum pb_privilege privilege;
    uint64_t node_affinity; /* node mask, read-only after create; never 0 */

    /* Protected by: page_alloc_lock. */
    struct pb_lock page_alloc_lock;
    uint64_t tot_pages, extra_pages, max_pages;
    struct pb_list pages; /* every frame it owns, through pb_page.next/prev */

    /* Set once by the memop layer before the domain is used; read-only after. */
    struct p2m *p2m;

    /* Domain build: one allocated, partly scrubbed extent kept across continuations, owned by
     * nobody until it is scrubbed and assigned (pb_scrub_stash_*). Protected by: page_alloc_lock.
     */
    bool stash_valid;
    unsigned stash_order;
    uint64_t stash_mfn, stash_progress;

    /* Atomic: consumed by allocations without page_alloc_lock. `claim` is the host-wide part
     * of the claim; node_claim[n] the part reserved on node n (raised only under node n's heap
     * lock, see pb_node.claimed) and node_claims their sum. */
    PB_CACHE_ALIGNED _Atomic int64_t claim;
    _Atomic int64_t node_claims;
    _Atomic unsigned last_alloc_node; /* a hint; racy updates are harmless */
    _Atomic bool dying;
    _Atomic bool creation_finished; /* false while the domain is being built */
    _Atomic int64_t node_claim[PB_MAX_NODES];
};

/* The operations a variant provides (the table behind its name). */
struct pb_variant_ops {
    const char *name;
    bool global_lock; /* one heap lock for all nodes */
    int (*alloc_heap_pages)(struct pb_heap *h, unsigned zone_lo, unsigned zone_hi, unsigned order,
                            unsigned memflags, struct pb_domain *d, uint64_t *mfn);
    void (*free_heap_pages)(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub);
    /* Stake a claim of parts (checked by domain.c), all or nothing; release every part. */
    int (*claim)(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts, unsigned nr);
    void (*unclaim)(struct pb_heap *h, struct pb_domain *d);
};

static inline uint64_t pb_ld(const _Atomic uint64_t *p)
{
    return atomic_load_explicit(p, memory_order_relaxed);
}

/* Add to a counter its writer owns exclusively (under a lock): no read-modify-write. */
static inline void pb_owned_add(_Atomic uint64_t *p, int64_t delta)
{
    atomic_store_explicit(p, pb_ld(p) + (uint64_t)delta, memory_order_relaxed);
}

/* The same, ordered after the writer's earlier stores (pcp's moves, see node_free_frames). */
static inline void pb_owned_add_release(_Atomic uint64_t *p, int64_t delta)
{
    atomic_store_explicit(p, pb_ld(p) + (uint64_t)delta, memory_order_release);
}

static inline struct pb_node *pb_node_of(const struct pb_heap *h, uint64_t mfn)
{
    for (unsigned n = 0; n < h->nr_nodes; n++)
        if (mfn < h->nodes[n]->end)
            return h->nodes[n];
    return NULL;
}

/* The node of an aligned block of 2^order frames within one node (MFN 0 excluded), else NULL. */
static inline struct pb_node *pb_extent_node(const struct pb_heap *h, uint64_t mfn, unsigned order)
{
    if (!h || order > PB_MAX_ORDER || mfn == 0 || (mfn & ((1ull << order) - 1)))
        return NULL;
    struct pb_node *nd = pb_node_of(h, mfn);
    return nd && mfn + (1ull << order) <= nd->end ? nd : NULL;
}

static inline struct pb_page *pb_pg(const struct pb_heap *h, uint64_t mfn)
{
    return &h->frames[mfn];
}

/* ------------------------------------------------------------------------------------------
 * What the buddy paths (heap.c) and the pcp caches (pcp.c) both inline: node order and the
 * claims arithmetic an allocation does outside claims_reserve (the rest of the claims
 * accounting: reserve in heap.c, stake in claims.c). None of them takes a lock.
 */

/* The calling thread's node (pb_set_current_node); heap.c defines it. */
extern __thread unsigned pb_current_node_tls;

static inline uint64_t pb_online_nodes(const struct pb_heap *h)
{
    return h->nr_nodes == 64 ? ~0ull : (1ull << h->nr_nodes) - 1;
}

/* The next node of `mask` after `node`, wrapping. mask != 0. */
static inline unsigned pb_cycle_node(unsigned node, uint64_t mask, unsigned nr_nodes)
{
    for (unsigned i = 1; i <= nr_nodes; i++) {
        unsigned n = (node + i) % nr_nodes;
        if (mask & (1ull << n))
            return n;
    }
    PB_BUG_ON(1);
}

/*
 * Stores to host-wide fields (struct pb_heap's counters, lines that every node shares), counted
 * per thread in POPBENCH_COUNT_SHARED builds (pb_shared_writes()). Relaxed: the counters order
 * nothing. A compare-and-swap counts whether or not it succeeds: it takes the line either way.
 */
#define PB_HOST_STORE(p, v)                                                                        \
    (PB_SHARED_WRITES(1), atomic_store_explicit((p), (v), memory_order_relaxed))
#define PB_HOST_ADD(p, v)                                                                          \
    (PB_SHARED_WRITES(1), atomic_fetch_add_explicit((p), (v), memory_order_relaxed))
#define PB_HOST_CAS(p, expected, v)                                                                \
    (PB_SHARED_WRITES(1), atomic_compare_exchange_weak_explicit(                                   \
                              (p), (expected), (v), memory_order_relaxed, memory_order_relaxed))

/* A counter that the global lock protects under xen (global: a relaxed load and store) and
 * that any thread updates atomically otherwise. pb_host_add: the same for a host-wide one. */
static inline void pb_ctr_add(_Atomic int64_t *c, int64_t delta, const bool global)
{
    if (global)
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(c, delta, memory_order_relaxed);
}

static inline void pb_host_add(_Atomic int64_t *c, int64_t delta, const bool global)
{
    PB_SHARED_WRITES(1);
    pb_ctr_add(c, delta, global);
}

/* Take n frames from the unclaimed pool, never below zero (xen: its unclaimed counter). */
static inline bool pb_pool_take(struct pb_heap *h, int64_t n, const bool global)
{
    int64_t u = atomic_load_explicit(&h->unclaimed, memory_order_relaxed);
    for (;;) {
        if (u < n)
            return false;
        if (global) {
            PB_HOST_STORE(&h->unclaimed, u - n);
            return true;
        }
        if (PB_HOST_CAS(&h->unclaimed, &u, u - n))
            return true;
    }
}

/*
 * pernode and pcp: a node's credit of unclaimed frames (struct pb_node). pb_credit_take takes
 * `need` frames of it, borrowing what it lacks from the pool (pb_credit_borrow in claims.c,
 * with a batch more unless the pool is low or a recall runs); false, with nothing taken, when
 * the node's credit and the pool together fall short. pb_credit_give gives frames back to the
 * node; above PB_CREDIT_HIGH it returns all but PB_CREDIT_BATCH to the pool. Either way at
 * most one host-wide write per batch, none while the credit stays between 0 and the high mark.
 */
#define PB_CREDIT_BATCH 1024                  /* frames borrowed beyond the need: 4 MiB */
#define PB_CREDIT_HIGH  (8 * PB_CREDIT_BATCH) /* frames a node keeps before returning some */

bool pb_credit_borrow(struct pb_heap *h, struct pb_node *nd, int64_t need);
void pb_credit_return(struct pb_heap *h, struct pb_node *nd);

static inline bool pb_credit_take(struct pb_heap *h, struct pb_node *nd, int64_t need)
{
    int64_t c = atomic_load_explicit(&nd->credit, memory_order_relaxed), t;
    do {
        t = c < need ? c : need;
    } while (t > 0 && !atomic_compare_exchange_weak_explicit(
                          &nd->credit, &c, c - t, memory_order_relaxed, memory_order_relaxed));
    if (pb_likely(t == need) || pb_credit_borrow(h, nd, need - t))
        return true;
    if (t > 0)
        atomic_fetch_add_explicit(&nd->credit, t, memory_order_relaxed);
    return false;
}

static inline void pb_credit_give(struct pb_heap *h, struct pb_node *nd, int64_t n)
{
    if (pb_unlikely(atomic_fetch_add_explicit(&nd->credit, n, memory_order_relaxed) + n >
                    PB_CREDIT_HIGH))
        pb_credit_return(h, nd);
}

/* Frames of nd's lists that no node claim holds. Exact under nd's heap lock (claimed only
 * grows under it); elsewhere a lower bound. */
static inline int64_t pb_node_unclaimed(const struct pb_node *nd)
{
    return (int64_t)pb_ld(&nd->node_avail) -
           atomic_load_explicit(&nd->claimed, memory_order_relaxed);
}

static inline bool pb_domain_has_node_claims(const struct pb_domain *d, unsigned memflags)
{
    return d && !(memflags & MEMF_no_refcount) &&
           atomic_load_explicit(&d->node_claims, memory_order_relaxed) > 0;
}

/* Take up to `need` frames of d's claim on node n; returns how many. */
static inline int64_t pb_node_claim_take(struct pb_domain *d, unsigned n, int64_t need)
{
    int64_t c = atomic_load_explicit(&d->node_claim[n], memory_order_relaxed);
    while (c > 0) {
        int64_t t = c < need ? c : need;
        if (atomic_compare_exchange_weak_explicit(&d->node_claim[n], &c, c - t,
                                                  memory_order_relaxed, memory_order_relaxed))
            return t;
    }
    return 0;
}

/* Frames of claims that an allocation on nd consumed leave the outstanding claims: the host's
 * counter (xen, under the global lock) or the node's claims_retired (pernode, pcp). */
static inline void pb_claims_retire(struct pb_heap *h, struct pb_node *nd, int64_t t,
                                    const bool global)
{
    if (global)
        pb_host_add(&h->outstanding_claims, -t, true);
    else if (t)
        atomic_fetch_add_explicit(&nd->claims_retired, t, memory_order_relaxed);
}

/* Frames taken from d's claim on nd are allocated now: they leave the node's claims and the
 * outstanding claims. */
static inline void pb_node_claim_retire(struct pb_heap *h, struct pb_domain *d, struct pb_node *nd,
                                        int64_t t, const bool global)
{
    if (!t)
        return;
    atomic_fetch_sub_explicit(&nd->claimed, t, memory_order_relaxed);
    atomic_fetch_sub_explicit(&d->node_claims, t, memory_order_relaxed);
    pb_claims_retire(h, nd, t, global);
}

/*
 * Hand [mfn, mfn + n) over in use, owned by nobody (alloc_heap_pages step 6: per frame, as Xen
 * does), filtering TLB flushes by their timestamps unless MEMF_no_tlbflush; true when a flush was
 * needed (the clock has advanced). The frames come free off the lists (their node's heap lock
 * held) or, `cached`, from a pcp cache (its lock held: already in use as far as merges see).
 */
static PB_ALWAYS_INLINE bool pb_frames_hand_over(struct pb_heap *h, uint64_t mfn, int64_t n,
                                                 unsigned memflags, const bool cached)
{
    uint32_t clock = atomic_load_explicit(&h->tlbflush_clock, memory_order_relaxed);
    bool need_flush = false;
    /* The domain build's own filter may read the stamps later (option build_tlb_flush 1);
     * otherwise they are overwritten here, as Xen's allocation overwrites them. */
    const bool keep_stamp =
        (memflags & MEMF_no_tlbflush) && pb_options_get(&h->opts, PB_OPT_BUILD_TLB_FLUSH) != 0;
    for (int64_t i = 0; i < n; i++) {
        struct pb_page *pg = pb_pg(h, mfn + (uint64_t)i);
        if (cached) {
            PB_ASSERT(pg->owner == PB_OWNER_CACHED && !pg->need_scrub);
        } else {
            PB_BUG_ON(pg->state != PGS_FREE);
            pg->state = PGS_INUSE;
        }
        pg->owner = PB_DOMID_NONE;
        if (!(memflags & MEMF_no_tlbflush) && pg->tlbflush_ts > clock)
            need_flush = true;
        if (!keep_stamp)
            pg->tlbflush_ts = 0;
    }
    if (need_flush)
        PB_HOST_ADD(&h->tlbflush_clock, 1);
    return need_flush;
}

/* ------------------------------------------------------------------------------------------
 * Lists of frames, linked by MFN through pb_page.next/prev. The caller holds the lock of the
 * list: its node's heap lock for a free list, the domain's page_alloc_lock for its page list.
 */

/* Link mfn between prev and next (either may be PB_NO_FRAME: the list's end). */
static inline void pb_page_list_link(struct pb_heap *h, struct pb_list *l, uint32_t mfn,
                                     uint32_t prev, uint32_t next)
{
    struct pb_page *pg = pb_pg(h, mfn);
    pg->prev = prev;
    pg->next = next;
    if (prev == PB_NO_FRAME)
        l->head = mfn;
    else
        pb_pg(h, prev)->next = mfn;
    if (next == PB_NO_FRAME)
        l->tail = mfn;
    else
        pb_pg(h, next)->prev = mfn;
}

static inline void pb_page_list_add_tail(struct pb_heap *h, struct pb_list *l, uint32_t mfn)
{
    pb_page_list_link(h, l, mfn, l->tail, PB_NO_FRAME);
}

static inline void pb_page_list_add_head(struct pb_heap *h, struct pb_list *l, uint32_t mfn)
{
    pb_page_list_link(h, l, mfn, PB_NO_FRAME, l->head);
}

static inline void pb_page_list_del(struct pb_heap *h, struct pb_list *l, uint32_t mfn)
{
    struct pb_page *pg = pb_pg(h, mfn);
    if (pg->prev == PB_NO_FRAME)
        l->head = pg->next;
    else
        pb_pg(h, pg->prev)->next = pg->next;
    if (pg->next == PB_NO_FRAME)
        l->tail = pg->prev;
    else
        pb_pg(h, pg->next)->prev = pg->prev;
    pg->next = pg->prev = PB_NO_FRAME;
}

/* ------------------------------------------------------------------------------------------
 * Functions shared between the heap's files, with what each expects held.
 */

/* heap.c. */
const struct pb_variant_ops *pb_variant_lookup(const char *name);
/* heap.c: hand every frame of a new node (MFN 0 excepted) to its free lists, clean, and count
 * them in its counters. pb_heap_create only, before the heap is shared: no lock. */
void pb_heap_init_node(struct pb_heap *h, struct pb_node *nd);
/*
 * heap.c, for the pcp caches. The caller holds the cache's lock (rank PB_RANK_PCP); these take
 * and release nd's heap lock, move the frames and their count in `cached` (the cache's frames of
 * nd) within one odd period of nd->move_seq, and leave the credit to the caller.
 * pb_heap_cache_take: move up to nr clean blocks of 2^order frames from nd's free lists (any
 * zone above the DMA zone, split from the top as an allocation would, never frames a node
 * claim holds) to the tail
 * of l, marked cached. Returns the frames moved.
 * pb_heap_cache_give: move the nr oldest blocks of l back to nd's free lists, merging them.
 */
int64_t pb_heap_cache_take(struct pb_heap *h, struct pb_node *nd, struct pb_pcp_list *l,
                           unsigned order, unsigned nr, _Atomic uint64_t *cached);
void pb_heap_cache_give(struct pb_heap *h, struct pb_node *nd, struct pb_pcp_list *l,
                        unsigned order, unsigned nr, _Atomic uint64_t *cached);
/*
 * claims.c, the host-wide figures, summed when read (no lock; any thread):
 * pb_heap_free_frames: free frames of a node, or of all (node PB_MAX_NODES), cached ones
 * included; while other threads allocate and free it never counts a frame twice, so it never
 * shows more free memory than there is. pb_heap_claims_outstanding: the frames all claims
 * still reserve. pb_heap_unclaimed_credit: the pool plus every node's credit (pernode, pcp;
 * xen: its unclaimed counter), = the lists' free frames - outstanding claims when quiescent.
 * pb_credit_recall: move every node's credit back into the pool (pernode, pcp); the caller
 * raised h->recalling and lowers it when done with the pool.
 */
uint64_t pb_heap_free_frames(const struct pb_heap *h, unsigned node);
int64_t pb_heap_claims_outstanding(const struct pb_heap *h);
int64_t pb_heap_unclaimed_credit(const struct pb_heap *h);
void pb_credit_recall(struct pb_heap *h);
/* heap.c: the pernode variant's allocation and free, which pcp falls back on; claims.c: each
 * variant's claims (XENMEM_claim_pages and per-node claims). No lock held. */
int pb_pernode_alloc(struct pb_heap *h, unsigned zone_lo, unsigned zone_hi, unsigned order,
                     unsigned memflags, struct pb_domain *d, uint64_t *mfn);
void pb_pernode_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub);
int pb_xen_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts, unsigned nr);
void pb_xen_unclaim(struct pb_heap *h, struct pb_domain *d);
int pb_pernode_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts,
                     unsigned nr);
void pb_pernode_unclaim(struct pb_heap *h, struct pb_domain *d);

/*
 * pcp.c: the pcp variant's operations (no lock held), and what the rest of the heap asks of the
 * caches. pb_pcp_cached_frames: frames cached on a node by all CPUs (node PB_MAX_NODES: every
 * node), relaxed reads; pb_pcp_cached_zone: the same within one zone, taking each cache's lock
 * in turn (call with no heap lock held); pb_pcp_destroy_all: free every cache (pb_heap_destroy,
 * nobody else using the heap); pb_pcp_add_counters: add the caches' event counts to *out
 * (relaxed reads); pb_pcp_for_each_lock: visit every cache's lock (those made so far). All
 * are 0 or no-ops for the other variants. pb_pcp_apply_options: the watermarks from h->opts
 * (heap quiescent).
 */
int pb_pcp_alloc(struct pb_heap *h, unsigned zone_lo, unsigned zone_hi, unsigned order,
                 unsigned memflags, struct pb_domain *d, uint64_t *mfn);
void pb_pcp_free(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub);
int pb_pcp_claim(struct pb_heap *h, struct pb_domain *d, const struct pb_claim *parts, unsigned nr);
uint64_t pb_pcp_cached_frames(const struct pb_heap *h, unsigned node);
uint64_t pb_pcp_cached_zone(const struct pb_heap *h, unsigned node, unsigned zone);
void pb_pcp_destroy_all(struct pb_heap *h);
void pb_pcp_add_counters(const struct pb_heap *h, struct pb_heap_counters *out);
void pb_pcp_for_each_lock(const struct pb_heap *h, pb_lock_visitor visit, void *ctx);
void pb_pcp_apply_options(struct pb_heap *h);

/*
 * scrub.c: the heap's side of scrubbing.
 * pb_scrub_clear_frames: zero the backing of [mfn, mfn + n) (one node; no-op without backing)
 * with `method`; the caller owns the frames (in use, or its buddy is SCRUBBING), no lock needed.
 * Checked builds mark each frame while zeroing it and count in h->double_clears any frame found
 * marked.
 * pb_scrub_kick: wake the scrub workers sleeping on nd, if any (call after adding dirty frames
 * to its free lists, lock released or held).
 */
void pb_scrub_clear_frames(struct pb_heap *h, struct pb_node *nd, uint64_t mfn, uint64_t n,
                           enum pb_clear_method method);
void pb_scrub_kick(struct pb_node *nd);

#endif
