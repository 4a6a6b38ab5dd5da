/*
 * wait.h: every wait in a test has a deadline and says what it waited for. The deadline
 * detects a hang, it is not a performance bound: PB_TEST_DEADLINE_S is far beyond what any wait
 * here takes, under the sanitizers on a busy machine included. Include after <cmocka.h>.
 *
 *   PB_WAIT_UNTIL(cond, "what", ...)   polls cond; fails the test when the deadline passes
 *   pb_test_cond_init(cv)              a condition variable on the monotonic clock, for
 *   pb_test_cond_wait(cv, mu, dl)      a wait until the deadline dl (pb_test_deadline())
 *   pb_test_join(t, "what", ...)       joins a thread, or fails the test after
 *                                      PB_TEST_JOIN_DEADLINE_S (a thread's whole work, a
 *                                      stress run's under ThreadSanitizer included)
 *
 * Threads other than the test's own cannot fail it (cmocka fails by longjmp on its thread):
 * there, pb_test_hang() prints what was waited for and aborts.
 */
#ifndef POPBENCH_TESTS_COMMON_WAIT_H
#define POPBENCH_TESTS_COMMON_WAIT_H

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PB_TEST_DEADLINE_S      60
#define PB_TEST_JOIN_DEADLINE_S 300    /* below ctest's timeout, so that the message shows */
#define PB_TEST_POLL_NS         100000 /* between two looks of PB_WAIT_UNTIL */

/* `seconds` from now on `clock`. */
static inline struct timespec pb_test_deadline_on(clockid_t clock, time_t seconds)
{
    struct timespec t;
    clock_gettime(clock, &t);
    t.tv_sec += seconds;
    return t;
}

static inline struct timespec pb_test_deadline(void)
{
    return pb_test_deadline_on(CLOCK_MONOTONIC, PB_TEST_DEADLINE_S);
}

static inline bool pb_test_past(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > deadline->tv_sec ||
           (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

/* The message of a wait that did not end: "waited N s for <what fmt says>: a hang". */
static inline void pb_test_vmsg(char *msg, size_t len, int seconds, const char *fmt, va_list ap)
{
    char what[256];
    vsnprintf(what, sizeof(what), fmt, ap);
    snprintf(msg, len, "waited %d s for %s: a hang", seconds, what);
}

/* Fails the test after PB_TEST_DEADLINE_S of waiting for what fmt says. */
static inline void pb_test_timed_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void pb_test_timed_out(const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    pb_test_vmsg(msg, sizeof(msg), PB_TEST_DEADLINE_S, fmt, ap);
    va_end(ap);
    fail_msg("%s", msg);
}

/* The same from a thread that is not the test's own: the message, then abort. */
static inline _Noreturn void pb_test_hang(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline _Noreturn void pb_test_hang(const char *fmt, ...)
{
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    pb_test_vmsg(msg, sizeof(msg), PB_TEST_DEADLINE_S, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", msg);
    abort();
}

static inline void pb_test_poll_pause(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = PB_TEST_POLL_NS};
    nanosleep(&ts, NULL);
}

#define PB_WAIT_UNTIL(cond, ...)                                                                   \
    do {                                                                                           \
        const struct timespec pb_wait_deadline_ = pb_test_deadline();                              \
        while (!(cond)) {                                                                          \
            if (pb_test_past(&pb_wait_deadline_))                                                  \
                pb_test_timed_out(__VA_ARGS__);                                                    \
            pb_test_poll_pause();                                                                  \
        }                                                                                          \
    } while (0)

static inline void pb_test_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &a);
    pthread_condattr_destroy(&a);
}

/* pthread_cond_timedwait until `deadline` (monotonic): 0, or ETIMEDOUT once it has passed. */
static inline int pb_test_cond_wait(pthread_cond_t *cv, pthread_mutex_t *mu,
                                    const struct timespec *deadline)
{
    return pthread_cond_timedwait(cv, mu, deadline);
}

static inline void pb_test_join(pthread_t t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void pb_test_join(pthread_t t, const char *fmt, ...)
{
    /* pthread_timedjoin_np takes a CLOCK_REALTIME deadline. */
    struct timespec deadline = pb_test_deadline_on(CLOCK_REALTIME, PB_TEST_JOIN_DEADLINE_S);
    if (pthread_timedjoin_np(t, NULL, &deadline) == 0)
        return;
    char msg[320];
    va_list ap;
    va_start(ap, fmt);
    pb_test_vmsg(msg, sizeof(msg), PB_TEST_JOIN_DEADLINE_S, fmt, ap);
    va_end(ap);
    fail_msg("%s", msg);
}

#endif
