/*
 * pb.h: what every part of popbench shares: the error convention, assertions, cache-line
 * alignment and the monotonic clock.
 *
 * Errors: functions return 0 (or a count) on success and a negative errno on failure, as Xen
 * does. An impossible state is a bug: PB_BUG_ON aborts with file and line in every build;
 * PB_ASSERT does the same only in checked builds (POPBENCH_DEBUG >= 1).
 */
#ifndef POPBENCH_CORE_PB_H
#define POPBENCH_CORE_PB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifndef POPBENCH_DEBUG
#define POPBENCH_DEBUG 0
#endif
/* Builds with POPBENCH_COUNT_SHARED=1 (CMake -DPOPBENCH_COUNT_SHARED=1) count, per thread,
 * the stores to cache lines that every NUMA node shares (heap_impl.h's PB_HOST_*, host-wide
 * locks): what per-node designs are meant to avoid. */
#ifndef POPBENCH_COUNT_SHARED
#define POPBENCH_COUNT_SHARED 0
#endif

#define PB_CACHELINE     64
#define PB_CACHE_ALIGNED _Alignas(PB_CACHELINE)

#define pb_likely(x) __builtin_expect(!!(x), 1)
/* For the few hot helpers that take a compile-time `global` flag: they must be specialised. */
#define PB_ALWAYS_INLINE inline __attribute__((always_inline))
/* For the rare half of a hot function (first use, a slow path), kept out of its fast path. */
#define PB_NOINLINE      __attribute__((noinline))
#define pb_unlikely(x)   __builtin_expect(!!(x), 0)
#define PB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

_Noreturn void pb_bug(const char *file, int line, const char *what);

/* Formats a one-line message into err (errlen bytes); does nothing when err is NULL or errlen 0.
 * The one formatter behind every "err, errlen" out-parameter in popbench. */
void pb_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define PB_BUG_ON(cond)                                                                            \
    do {                                                                                           \
        if (pb_unlikely(cond))                                                                     \
            pb_bug(__FILE__, __LINE__, #cond);                                                     \
    } while (0)

#if POPBENCH_DEBUG >= 1
#define PB_ASSERT(cond) PB_BUG_ON(!(cond))
#else
#define PB_ASSERT(cond) ((void)0)
#endif

/* The calling thread's stores to host-wide lines so far; 0 in builds that do not count. */
uint64_t pb_shared_writes(void);
#if POPBENCH_COUNT_SHARED
extern __thread uint64_t pb_shared_writes_tls;
#define PB_SHARED_WRITES(n) ((void)(pb_shared_writes_tls += (uint64_t)(n)))
#else
#define PB_SHARED_WRITES(n) ((void)0)
#endif

/* Spin-wait hint. */
static inline void pb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Monotonic nanoseconds: the one clock every timing in popbench reads. */
static inline uint64_t pb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
