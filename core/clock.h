/*
 * clock.h: the one fast clock: rdtsc scaled to ns where the TSC is invariant.
 *
 * The harness times every populate call and invocation with two reads of this clock, and the
 * locks time every wait and hold with it, so its cost is most of what measuring adds.
 * Measured on the project's VMs (AMD EPYC, 2 vCPUs, kernel clocksource tsc, 3 x 20M reads):
 * clock_gettime(CLOCK_MONOTONIC) 24.0-25.2 ns, rdtsc 9.6-10.7 ns, rdtscp 19.1-19.3 ns; rdtsc
 * never went backwards on one thread, also across 20000 forced migrations between the CPUs. So:
 * rdtsc scaled to ns by a factor calibrated once against CLOCK_MONOTONIC where the CPU declares an
 * invariant TSC; CLOCK_MONOTONIC elsewhere. A difference of two readings that came out negative
 * (TSCs of two CPUs slightly apart, after a migration) counts as 0.
 */
#ifndef POPBENCH_CORE_CLOCK_H
#define POPBENCH_CORE_CLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pb.h"

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define PB_CLOCK_HAVE_TSC 1
#else
#define PB_CLOCK_HAVE_TSC 0
#endif

/* Written once by pb_clock_init (before any worker starts), read-only afterwards. */
extern struct pb_clock_params {
    bool use_tsc;
    uint64_t mult; /* ns = tsc * mult >> 32 */
} pb_clock_params;

/* Calibrates (10 ms); idempotent and thread-safe. */
void pb_clock_init(void);
/* "tsc" or "clock_gettime". */
const char *pb_clock_source(void);

/* CLOCK_MONOTONIC, out of line: the fallback of pb_clock_ns. */
uint64_t pb_clock_monotonic_ns(void);

static inline uint64_t pb_clock_ns(void)
{
#if PB_CLOCK_HAVE_TSC
    if (pb_likely(pb_clock_params.use_tsc))
        return (uint64_t)(((unsigned __int128)__rdtsc() * pb_clock_params.mult) >> 32);
#endif
    return pb_clock_monotonic_ns();
}

/* b - a, or 0 when the clock stepped back between them. */
static inline uint64_t pb_clock_diff(uint64_t a, uint64_t b)
{
    return b > a ? b - a : 0;
}

#endif
