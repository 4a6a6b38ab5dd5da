/*
 * tsan.h: what ThreadSanitizer cannot see, stated for it.
 *
 * liburcu's grace periods are asm barriers and membarrier system calls, which TSan does not
 * instrument, so a free after synchronize_rcu (or in a call_rcu callback) looks like a race with
 * the readers the grace period waited for. PB_TSAN_READ_DONE(sync), last thing in a read-side
 * section, and PB_TSAN_GRACE_PASSED(sync), after the grace period, spell out the happens-before
 * edge RCU guarantees, on any object's address used as the sync point. No-ops in other builds;
 * PB_TSAN is 1 under TSan with gcc (__SANITIZE_THREAD__) or clang (__has_feature).
 */
#ifndef POPBENCH_CORE_TSAN_H
#define POPBENCH_CORE_TSAN_H

#if defined(__SANITIZE_THREAD__)
#define PB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PB_TSAN 1
#endif
#endif
#ifndef PB_TSAN
#define PB_TSAN 0
#endif

#if PB_TSAN
#include <sanitizer/tsan_interface.h>
#define PB_TSAN_READ_DONE(sync)    __tsan_release((void *)(sync))
#define PB_TSAN_GRACE_PASSED(sync) __tsan_acquire((void *)(sync))
#else
#define PB_TSAN_READ_DONE(sync)    ((void)(sync))
#define PB_TSAN_GRACE_PASSED(sync) ((void)(sync))
#endif

#endif
