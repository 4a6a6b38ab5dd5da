/*
 * clock.c: calibration of the fast clock (see clock.h).
 */
#include "core/clock.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

#if PB_CLOCK_HAVE_TSC
#include <cpuid.h>
#endif

struct pb_clock_params pb_clock_params;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

#if PB_CLOCK_HAVE_TSC
static bool tsc_invariant(void)
{
    unsigned int a, b, c, d;

    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return false;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return d & (1u << 8);
}

/* One (tsc, ns) pair, the tsc taken as the midpoint around the clock_gettime. */
static void tsc_sample(uint64_t *tsc, uint64_t *ns)
{
    uint64_t t0 = __rdtsc();
    *ns = pb_now_ns();
    uint64_t t1 = __rdtsc();
    *tsc = t0 + (t1 - t0) / 2;
}
#endif

static void clock_calibrate(void)
{
#if PB_CLOCK_HAVE_TSC
    if (!tsc_invariant())
        return;
    uint64_t tsc0, ns0, tsc1, ns1;
    tsc_sample(&tsc0, &ns0);
    /* 10 ms keeps the error of the two samples (tens of ns each) near 1e-5. */
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
    while (nanosleep(&pause, &pause) != 0 && errno == EINTR)
        ;
    tsc_sample(&tsc1, &ns1);
    if (tsc1 <= tsc0 || ns1 <= ns0)
        return;
    pb_clock_params.mult = (uint64_t)(((unsigned __int128)(ns1 - ns0) << 32) / (tsc1 - tsc0));
    pb_clock_params.use_tsc = pb_clock_params.mult != 0;
#endif
}

void pb_clock_init(void)
{
    pthread_once(&clock_once, clock_calibrate);
}

uint64_t pb_clock_monotonic_ns(void)
{
    return pb_now_ns();
}

const char *pb_clock_source(void)
{
    return pb_clock_params.use_tsc ? "tsc" : "clock_gettime";
}
