/*
 * event.h: an event count, for threads that block until something changes (a futex word).
 *
 * A waiter announces itself, looks once more for what it waits for, and sleeps only while the
 * count has not moved since it announced itself:
 *
 *     uint32_t seen = pb_event_arm(ev);
 *     if (condition())
 *         pb_event_disarm(ev);
 *     else
 *         pb_event_wait(ev, seen, timeout_ns);    (returns disarmed; the caller looks again)
 *
 * A waker makes the condition true with a seq_cst store or read-modify-write, then calls
 * pb_event_signal(ev). Both sides are seq_cst, so either the waiter's second look sees the change
 * or the waker sees the waiter and bumps the count, which ends or prevents its sleep. A signal
 * nobody waits for costs one load of a line that only waiters write. Wake-ups can be spurious
 * (every waiter of the event wakes, and a timeout or signal ends a wait early): waiters loop.
 *
 * Threads: any. Every field is atomic; the two share a cache line of their own.
 */
#ifndef POPBENCH_BENCH_EVENT_H
#define POPBENCH_BENCH_EVENT_H

#include <stdatomic.h>
#include <stdint.h>

#include "core/pb.h"

#define PB_EVENT_FOREVER UINT64_MAX /* pb_event_wait without a timeout */

struct pb_event {
    PB_CACHE_ALIGNED _Atomic uint32_t
        seq;                  /* the futex word: bumped by a signal that saw a waiter */
    _Atomic uint32_t waiters; /* armed waiters */
};

/* Announces a waiter; returns the count to pass to pb_event_wait. */
static inline uint32_t pb_event_arm(struct pb_event *ev)
{
    uint32_t seen = atomic_load(&ev->seq);
    atomic_fetch_add(&ev->waiters, 1);
    return seen;
}

static inline void pb_event_disarm(struct pb_event *ev)
{
    atomic_fetch_sub(&ev->waiters, 1);
}

/* Bumps the count and wakes every waiter (pb_event_signal when one is armed). */
void pb_event_wake(struct pb_event *ev);

/* After the condition was made true (seq_cst): wakes the waiters, if any. */
static inline void pb_event_signal(struct pb_event *ev)
{
    if (atomic_load(&ev->waiters) != 0)
        pb_event_wake(ev);
}

/* Sleeps while the count is `seen`, at most timeout_ns (PB_EVENT_FOREVER: no limit); disarms. */
void pb_event_wait(struct pb_event *ev, uint32_t seen, uint64_t timeout_ns);

#endif
