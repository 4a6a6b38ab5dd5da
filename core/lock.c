/*
 * lock.c: the ticket spinlock and the mutex behind struct pb_lock, their statistics, and the
 * lock-rank checker of checked builds.
 *
 * Statistics identities, per lock (while nobody holds it):
 *   contended <= acquisitions
 *   wait_ns_max <= wait_ns_total, hold_ns_max <= hold_ns_total
 *   with timing on for the whole run: wait_ns_total == 0 whenever contended == 0
 */
#include "core/lock.h"

#include <errno.h>
#include <sched.h>
#include <string.h>

#include "core/clock.h"

/* ---------------------------------------------------------------------------------------------
 * The statistics clock
 *
 * Two clock reads per uncontended timed acquire+release, so the clock is most of the cost:
 * core/clock.h's rdtsc-based clock. An uncontended timed acquire+release of a ticket lock
 * (Release build) took 20-29 ns with it, 59-83 ns with clock_gettime, 4-6 ns untimed. Both
 * reads of a wait or a hold are made by one thread; should it migrate between CPUs whose TSCs
 * are slightly skewed and see the clock step back, that difference counts as 0.
 * ------------------------------------------------------------------------------------------ */

/* Whether wait and hold times are measured: read relaxed on every acquisition. */
_Atomic bool pb_lock_timing = true;

/*
 * A ticket waiter spins with pause and yields its CPU once per this many spins (about 150 us
 * here, at 36-45 ns a pause). Waits that long are rare unless threads outnumber CPUs: then the
 * next ticket may belong to a preempted thread, and pure spinning made every waiter burn its
 * whole time slice per hand-off. Measured with the stress test (4 and 8 threads on 2 CPUs,
 * 3000 acquisitions, ThreadSanitizer), 20 runs each: pure spinning 0.4-0.8 s in 15 runs and
 * 16-88 s in 5; with the yield 0.4-3.8 s in all. Shorter waits, and FIFO order, are unchanged.
 */
#define TICKET_SPINS_BEFORE_YIELD 4096

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* ---------------------------------------------------------------------------------------------
 * Lock-rank checking (checked builds)
 * ------------------------------------------------------------------------------------------ */

static _Atomic(pb_lock_rank_hook) rank_hook;

void pb_lock_set_rank_hook(pb_lock_rank_hook hook)
{
    atomic_store_explicit(&rank_hook, hook, memory_order_relaxed);
}

#if POPBENCH_DEBUG >= 1

#define PB_LOCK_MAX_HELD 16

/* The locks this thread holds, in acquisition order (thread-local, so unprotected). */
static __thread struct {
    const struct pb_lock *locks[PB_LOCK_MAX_HELD];
    unsigned int n;
    uint64_t id; /* this thread's holder id: 0 until its first acquisition */
} held;

/* Hands out holder ids; 0 stays "free". */
static _Atomic uint64_t next_thread_id = 1;

static _Noreturn void lock_bug(const struct pb_lock *l, const char *what)
{
    fprintf(stderr, "popbench: lock %s (rank %d): %s\n", l->name, (int)l->rank, what);
    pb_bug(__FILE__, __LINE__, what);
}

static int held_index(const struct pb_lock *l)
{
    for (unsigned int i = 0; i < held.n; i++)
        if (held.locks[i] == l)
            return (int)i;
    return -1;
}

/* Before waiting for l: the rank rule, then the record. */
void pb_lock_rank_check(struct pb_lock *l)
{
    const struct pb_lock *worst = NULL;

    for (unsigned int i = 0; i < held.n; i++)
        if (held.locks[i]->rank >= l->rank && (!worst || held.locks[i]->rank > worst->rank))
            worst = held.locks[i];
    if (worst) {
        pb_lock_rank_hook hook = atomic_load_explicit(&rank_hook, memory_order_relaxed);
        if (!hook) {
            fprintf(stderr,
                    "popbench: lock rank violation: acquiring %s (rank %d) while holding %s "
                    "(rank %d)\n",
                    l->name, (int)l->rank, worst->name, (int)worst->rank);
            fflush(stderr);
            abort();
        }
        hook(worst, l);
    }
    /* Even with a hook that returns, this would wait for ever. */
    if (held_index(l) >= 0)
        lock_bug(l, "acquired again by its holder");
    if (held.n == PB_LOCK_MAX_HELD)
        lock_bug(l, "too many locks held by one thread");
    if (!held.id)
        held.id = atomic_fetch_add_explicit(&next_thread_id, 1, memory_order_relaxed);
}

/* After acquiring l. */
void pb_lock_rank_note(struct pb_lock *l)
{
    held.locks[held.n++] = l;
    atomic_store_explicit(&l->holder, held.id, memory_order_relaxed);
}

/* Before releasing l. */
void pb_lock_rank_unnote(struct pb_lock *l)
{
    int i = held_index(l);

    if (i < 0)
        lock_bug(l, "released by a thread that does not hold it");
    PB_BUG_ON(atomic_load_explicit(&l->holder, memory_order_relaxed) != held.id);
    held.locks[i] = held.locks[--held.n];
    atomic_store_explicit(&l->holder, 0, memory_order_relaxed);
}

bool pb_lock_held(const struct pb_lock *l)
{
    return held_index(l) >= 0;
}

#else

bool pb_lock_held(const struct pb_lock *l)
{
    (void)l;
    return true;
}

#endif

/* ---------------------------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------------------------ */

void pb_lock_init(struct pb_lock *l, const char *name, enum pb_lock_rank rank,
                  enum pb_lock_kind kind)
{
    PB_BUG_ON(!l || !name);
    PB_BUG_ON(rank < PB_RANK_DOMTABLE || rank > PB_RANK_LEAF);
    PB_BUG_ON(kind != PB_LOCK_TICKET && kind != PB_LOCK_MUTEX);
    pb_clock_init();

    memset(l, 0, sizeof(*l));
    if (kind == PB_LOCK_TICKET) {
        atomic_init(&l->u.ticket.next, 0);
        atomic_init(&l->u.ticket.owner, 0);
    } else {
        PB_BUG_ON(pthread_mutex_init(&l->u.mutex, NULL) != 0);
    }
    pb_lock_stats_reset(l);
    l->st.acquired_at_ns = 0;
    l->kind = kind;
    l->rank = rank;
    l->time_holds = true;
    l->host_wide = false;
    l->name = name;
    atomic_init(&l->holder, 0);
}

void pb_lock_destroy(struct pb_lock *l)
{
    if (l->kind == PB_LOCK_TICKET) {
        /* Held or waited for: a bug of the caller. */
        PB_BUG_ON(atomic_load_explicit(&l->u.ticket.next, memory_order_relaxed) !=
                  atomic_load_explicit(&l->u.ticket.owner, memory_order_relaxed));
    } else {
        PB_BUG_ON(pthread_mutex_destroy(&l->u.mutex) != 0);
    }
    PB_BUG_ON(atomic_load_explicit(&l->holder, memory_order_relaxed) != 0);
}

/* ---------------------------------------------------------------------------------------------
 * Acquire and release
 * ------------------------------------------------------------------------------------------ */

/* The slow halves of pb_lock_acquire and pb_lock_release (lock.h has the fast paths). */

void pb_lock_acquire_slow(struct pb_lock *l, uint32_t me)
{
    bool timing = atomic_load_explicit(&pb_lock_timing, memory_order_relaxed);
    bool contended = false;
    uint64_t wait_from = 0;

    if (l->kind == PB_LOCK_TICKET) {
        contended = true;
        if (timing)
            wait_from = pb_clock_ns();
        for (unsigned int spins = 1;
             atomic_load_explicit(&l->u.ticket.owner, memory_order_acquire) != me; spins++) {
            cpu_relax();
            if (spins % TICKET_SPINS_BEFORE_YIELD == 0)
                sched_yield();
        }
    } else {
        int rc = pthread_mutex_trylock(&l->u.mutex);
        if (rc == EBUSY) {
            contended = true;
            if (timing)
                wait_from = pb_clock_ns();
            rc = pthread_mutex_lock(&l->u.mutex);
        }
        PB_BUG_ON(rc != 0);
    }
    pb_lock_note_acquired(l, timing, contended, wait_from);
    pb_lock_rank_note(l);
}

void pb_lock_mutex_release(struct pb_lock *l)
{
    PB_BUG_ON(pthread_mutex_unlock(&l->u.mutex) != 0);
}

/* ---------------------------------------------------------------------------------------------
 * Statistics and settings
 * ------------------------------------------------------------------------------------------ */

void pb_lock_stats_read(const struct pb_lock *l, struct pb_lock_stats *out)
{
    out->acquisitions = atomic_load_explicit(&l->st.acquisitions, memory_order_relaxed);
    out->contended = atomic_load_explicit(&l->st.contended, memory_order_relaxed);
    out->wait_ns_total = atomic_load_explicit(&l->st.wait_ns_total, memory_order_relaxed);
    out->wait_ns_max = atomic_load_explicit(&l->st.wait_ns_max, memory_order_relaxed);
    out->hold_ns_total = atomic_load_explicit(&l->st.hold_ns_total, memory_order_relaxed);
    out->hold_ns_max = atomic_load_explicit(&l->st.hold_ns_max, memory_order_relaxed);
    out->hold_untimed = !l->time_holds;
}

void pb_lock_stats_reset(struct pb_lock *l)
{
    atomic_store_explicit(&l->st.acquisitions, 0, memory_order_relaxed);
    atomic_store_explicit(&l->st.contended, 0, memory_order_relaxed);
    atomic_store_explicit(&l->st.wait_ns_total, 0, memory_order_relaxed);
    atomic_store_explicit(&l->st.wait_ns_max, 0, memory_order_relaxed);
    atomic_store_explicit(&l->st.hold_ns_total, 0, memory_order_relaxed);
    atomic_store_explicit(&l->st.hold_ns_max, 0, memory_order_relaxed);
}

void pb_lock_stats_add(struct pb_lock_stats *dst, const struct pb_lock_stats *src)
{
    dst->acquisitions += src->acquisitions;
    dst->contended += src->contended;
    dst->wait_ns_total += src->wait_ns_total;
    dst->hold_ns_total += src->hold_ns_total;
    if (src->wait_ns_max > dst->wait_ns_max)
        dst->wait_ns_max = src->wait_ns_max;
    if (src->hold_ns_max > dst->hold_ns_max)
        dst->hold_ns_max = src->hold_ns_max;
    dst->hold_untimed |= src->hold_untimed;
}

void pb_lock_set_timing(bool on)
{
    atomic_store_explicit(&pb_lock_timing, on, memory_order_relaxed);
}

void pb_lock_set_hold_timing(struct pb_lock *l, bool on)
{
    l->time_holds = on;
}

void pb_lock_set_host_wide(struct pb_lock *l)
{
    l->host_wide = true;
}

const char *pb_lock_kind_name(enum pb_lock_kind kind)
{
    switch (kind) {
    case PB_LOCK_TICKET:
        return "ticket";
    case PB_LOCK_MUTEX:
        return "mutex";
    }
    return "invalid";
}

int pb_lock_kind_parse(const char *s, enum pb_lock_kind *out)
{
    if (!s || !out)
        return -EINVAL;
    if (strcmp(s, "ticket") == 0)
        *out = PB_LOCK_TICKET;
    else if (strcmp(s, "mutex") == 0)
        *out = PB_LOCK_MUTEX;
    else
        return -EINVAL;
    return 0;
}
