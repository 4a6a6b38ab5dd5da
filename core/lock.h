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
 * lock word that waiters spin on.
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

    /* Read-only after pb_lock_init. */
    enum pb_lock_kind kind;
    enum pb_lock_rank rank;
    const char *name;
    _Atomic uint64_t holder; /* checked builds: the holding thread's id, 0 when free */
};

void pb_lock_init(struct pb_lock *l, const char *name, enum pb_lock_rank rank,
                  enum pb_lock_kind kind);
void pb_lock_destroy(struct pb_lock *l);
void pb_lock_acquire(struct pb_lock *l);
void pb_lock_release(struct pb_lock *l);

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

const char *pb_lock_kind_name(enum pb_lock_kind kind);
/* "ticket" or "mutex" -> 0, anything else -> -EINVAL. */
int pb_lock_kind_parse(const char *s, enum pb_lock_kind *out);

/* Checked builds: called on a rank violation instead of abort() when set (tests use it). */
typedef void (*pb_lock_rank_hook)(const struct pb_lock *held, const struct pb_lock *wanted);
void pb_lock_set_rank_hook(pb_lock_rank_hook hook);

#endif
