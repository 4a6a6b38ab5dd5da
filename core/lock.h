/*
 * lock.h: the one lock type popbench uses everywhere, with contention statistics.
 *
 * Two kinds, chosen at run time per lock: a ticket spinlock (FIFO, as Xen's spinlocks) and a
 * blocking mutex (for oversubscribed runs, where a spinning waiter could wait on a preempted
 * holder for a whole time slice).
 *
 * Statistics, per lock: acquisitions, contended acquisitions (the lock was not free at the
 * first attempt), wait ns (total, max; contended acquisitions only) and hold ns (total, max).
 * They are written only by the holder, so they need no atomic read-modify-write; they are
 * relaxed atomics so that a sampler may read them while the lock is in use (a snapshot may
 * mix fields of neighbouring acquisitions). They sit on their own cache line, away from the
 * lock word that waiters spin on. Timing a hold reads the clock at acquisition and at
 * release, which costs more than an uncontended acquire+release: a lock whose holds are too
 * short to be worth it (pcp's per-CPU caches) turns hold timing off at init
 * (pb_lock_set_hold_timing); it still counts acquisitions and contention and times waits,
 * and reads no clock when uncontended. Its statistics say so (hold_untimed).
 *
 * Lock ranks: every lock has a rank; a thread may only acquire a lock of a rank strictly
 * greater than every rank it holds. Checked builds (POPBENCH_DEBUG >= 1) keep a per-thread
 * record of held locks, report a violation through the failure hook (default: abort with both
 * lock names) and make pb_lock_held() exact; other builds make pb_lock_held() return true.
 */
#ifndef POPBENCH_CORE_LOCK_H
#define POPBENCH_CORE_LOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/pb.h"

enum pb_lock_kind {
    PB_LOCK_TICKET, /* FIFO ticket spinlock */
    PB_LOCK_MUTEX,  /* pthread mutex: sleeps when contended */
};

/* Lock order, outermost first. Equal ranks never nest. */
enum pb_lock_rank {
    PB_RANK_DOMTABLE = 1, /* the table of domains */
    PB_RANK_P2M,          /* one domain's p2m writer lock */
    PB_RANK_PAGE_ALLOC,   /* one domain's page_alloc_lock (tot_pages, page list, claim) */
    PB_RANK_PCP,          /* one CPU slot's pcp caches (refilled and drained under a heap lock) */
    PB_RANK_HEAP,         /* a heap lock: the global one (xen) or one node's (pernode) */
    PB_RANK_SCRUB,        /* scrub bookkeeping (stash, worker state) */
    PB_RANK_LEAF,         /* nothing is taken while holding it */
};

struct pb_lock_stats {
    uint64_t acquisitions;
    uint64_t contended;
    uint64_t wait_ns_total;
    uint64_t wait_ns_max;
    uint64_t hold_ns_total;
    uint64_t hold_ns_max;
    bool hold_untimed; /* holds of (some of) these locks are not timed: hold_ns counts none of them
                        */
};

struct pb_lock {
    /* The lock word: written by every acquirer; waiters spin here. */
    PB_CACHE_ALIGNED union {
        struct {
            _Atomic uint32_t next;  /* next ticket to hand out */
            _Atomic uint32_t owner; /* ticket now served */
        } ticket;
        pthread_mutex_t mutex;
    } u;

    /* Written only by the holder (protected by: this lock); read relaxed by samplers. */
    PB_CACHE_ALIGNED struct {
        _Atomic uint64_t acquisitions, contended;
        _Atomic uint64_t wait_ns_total, wait_ns_max;
        _Atomic uint64_t hold_ns_total, hold_ns_max;
        uint64_t acquired_at_ns; /* start of the current hold */
    } st;

    /* Read-only after pb_lock_init (and pb_lock_set_hold_timing, pb_lock_set_host_wide). */
    enum pb_lock_kind kind;
    enum pb_lock_rank rank;
    bool time_holds; /* hold times are measured (default) */
    bool
        host_wide; /* its lines are shared by every node: counted in POPBENCH_COUNT_SHARED builds */
    const char *name;
    _Atomic uint64_t holder; /* checked builds: the holding thread's id, 0 when free */
};

void pb_lock_init(struct pb_lock *l, const char *name, enum pb_lock_rank rank,
                  enum pb_lock_kind kind);
void pb_lock_destroy(struct pb_lock *l);
/* pb_lock_acquire(l), pb_lock_release(l): inline, at the end of this header. */

/* Checked builds: whether the calling thread holds l. Other builds: true. */
bool pb_lock_held(const struct pb_lock *l);
#define PB_ASSERT_HELD(l) PB_ASSERT(pb_lock_held(l))

/* A relaxed snapshot of the statistics; reset only while nobody uses the lock. */
void pb_lock_stats_read(const struct pb_lock *l, struct pb_lock_stats *out);
void pb_lock_stats_reset(struct pb_lock *l);
/* dst += src, keeping the max fields as maxima (to aggregate locks of one class). */
void pb_lock_stats_add(struct pb_lock_stats *dst, const struct pb_lock_stats *src);

/* Whether hold and wait times are measured (default on). Counts are always kept. */
void pb_lock_set_timing(bool on);
/* Per lock, before anyone uses it: whether its holds are timed (default on; off: waits only). */
void pb_lock_set_hold_timing(struct pb_lock *l, bool on);
/* Per lock, before anyone uses it: every node's threads take it (xen's heap lock). */
void pb_lock_set_host_wide(struct pb_lock *l);

const char *pb_lock_kind_name(enum pb_lock_kind kind);
/* "ticket" or "mutex" -> 0, anything else -> -EINVAL. */
int pb_lock_kind_parse(const char *s, enum pb_lock_kind *out);

/* Checked builds: called on a rank violation instead of abort() when set (tests use it). */
typedef void (*pb_lock_rank_hook)(const struct pb_lock *held, const struct pb_lock *wanted);
void pb_lock_set_rank_hook(pb_lock_rank_hook hook);

/* ---- The fast paths: an uncontended ticket acquire, a ticket release (lock.c has the rest) ----
 */

extern _Atomic bool pb_lock_timing; /* pb_lock_set_timing */
void pb_lock_acquire_slow(struct pb_lock *l, uint32_t ticket);
void pb_lock_mutex_release(struct pb_lock *l);
#if POPBENCH_DEBUG >= 1
void pb_lock_rank_check(struct pb_lock *l);  /* before waiting: the rank rule */
void pb_lock_rank_note(struct pb_lock *l);   /* after acquiring: the holder record */
void pb_lock_rank_unnote(struct pb_lock *l); /* before releasing */
#else
static inline void pb_lock_rank_check(struct pb_lock *l)
{
    (void)l;
}
static inline void pb_lock_rank_note(struct pb_lock *l)
{
    (void)l;
}
static inline void pb_lock_rank_unnote(struct pb_lock *l)
{
    (void)l;
}
#endif

/* Statistics are written only by the holder: a relaxed load and store, no read-modify-write. */
static inline void pb_lock_stat_add(_Atomic uint64_t *field, uint64_t v)
{
    atomic_store_explicit(field, atomic_load_explicit(field, memory_order_relaxed) + v,
                          memory_order_relaxed);
}

static inline void pb_lock_stat_max(_Atomic uint64_t *field, uint64_t v)
{
    if (v > atomic_load_explicit(field, memory_order_relaxed))
        atomic_store_explicit(field, v, memory_order_relaxed);
}

/* Writes to a host-wide lock's word and statistics lines, each counted as one line written. */
#define PB_LOCK_SHARED_WRITES(l, n) ((l)->host_wide ? PB_SHARED_WRITES(n) : (void)0)

/* Held from here: the statistics are ours. No clock read unless a wait or a hold is timed. */
static PB_ALWAYS_INLINE void pb_lock_note_acquired(struct pb_lock *l, bool timing, bool contended,
                                                   uint64_t wait_from)
{
    bool hold = timing && l->time_holds;
    uint64_t now = hold || (timing && contended) ? pb_clock_ns() : 0;
    PB_LOCK_SHARED_WRITES(l, 2); /* the ticket (or mutex) word, the statistics */
    pb_lock_stat_add(&l->st.acquisitions, 1);
    if (contended) {
        pb_lock_stat_add(&l->st.contended, 1);
        if (timing) {
            uint64_t wait = pb_clock_diff(wait_from, now);
            pb_lock_stat_add(&l->st.wait_ns_total, wait);
            pb_lock_stat_max(&l->st.wait_ns_max, wait);
        }
    }
    l->st.acquired_at_ns = hold ? now : 0;
}

static PB_ALWAYS_INLINE void pb_lock_acquire(struct pb_lock *l)
{
    pb_lock_rank_check(l);
    uint32_t me = 0;
    if (pb_likely(l->kind == PB_LOCK_TICKET)) {
        me = atomic_fetch_add_explicit(&l->u.ticket.next, 1, memory_order_relaxed);
        if (pb_likely(atomic_load_explicit(&l->u.ticket.owner, memory_order_acquire) == me)) {
            pb_lock_note_acquired(l, atomic_load_explicit(&pb_lock_timing, memory_order_relaxed),
                                  false, 0);
            pb_lock_rank_note(l);
            return;
        }
    }
    pb_lock_acquire_slow(l, me);
}

static PB_ALWAYS_INLINE void pb_lock_release(struct pb_lock *l)
{
    pb_lock_rank_unnote(l);
    /* 0: the hold is not timed (a clock in ns since boot or reset never reads 0). */
    uint64_t from = l->st.acquired_at_ns;
    if (from && atomic_load_explicit(&pb_lock_timing, memory_order_relaxed)) {
        uint64_t hold = pb_clock_diff(from, pb_clock_ns());
        pb_lock_stat_add(&l->st.hold_ns_total, hold);
        pb_lock_stat_max(&l->st.hold_ns_max, hold);
    }
    PB_LOCK_SHARED_WRITES(l, 2); /* the statistics, the word */
    if (pb_likely(l->kind == PB_LOCK_TICKET)) {
        /* Only the holder writes owner: no read-modify-write needed. */
        uint32_t owner = atomic_load_explicit(&l->u.ticket.owner, memory_order_relaxed);
        atomic_store_explicit(&l->u.ticket.owner, owner + 1, memory_order_release);
    } else {
        pb_lock_mutex_release(l);
    }
}

#endif
