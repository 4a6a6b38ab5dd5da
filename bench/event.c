/*
 * event.c: the sleeping side of an event count (event.h), through liburcu's futex wrapper.
 */
#include "bench/event.h"

#include <limits.h>
#include <time.h>
#include <urcu/futex.h>

void pb_event_wake(struct pb_event *ev)
{
    atomic_fetch_add(&ev->seq, 1);
    futex_noasync((int32_t *)&ev->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void pb_event_wait(struct pb_event *ev, uint32_t seen, uint64_t timeout_ns)
{
    struct timespec ts, *tsp = NULL;

    if (timeout_ns != PB_EVENT_FOREVER) {
        ts = (struct timespec){.tv_sec = (time_t)(timeout_ns / 1000000000),
                               .tv_nsec = (long)(timeout_ns % 1000000000)};
        tsp = &ts;
    }
    /* The kernel sleeps only if the word still reads `seen`; EAGAIN, EINTR and ETIMEDOUT all
     * send the caller back to look again. */
    if (atomic_load(&ev->seq) == seen)
        futex_noasync((int32_t *)&ev->seq, FUTEX_WAIT, (int32_t)seen, tsp, NULL, 0);
    pb_event_disarm(ev);
}
