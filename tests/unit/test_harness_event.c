/*
 * test_harness_event.c: the event count workers block on (bench/event.h). A signal with nobody
 * armed leaves the count alone; one with a waiter armed moves it, so a wait that comes after
 * the signal does not sleep; a blocked waiter wakes on a signal; a timed wait ends by itself.
 * Also run under the sanitizers (labelled stress too).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "bench/event.h"

#include "tests/common/wait.h"

static void test_signal_without_waiter_costs_nothing(void **state)
{
    (void)state;
    struct pb_event ev = {0};
    pb_event_signal(&ev);
    assert_int_equal(atomic_load(&ev.seq), 0);
    assert_int_equal(atomic_load(&ev.waiters), 0);
}

static void test_signal_between_arm_and_wait_is_not_lost(void **state)
{
    (void)state;
    struct pb_event ev = {0};
    uint32_t seen = pb_event_arm(&ev);
    assert_int_equal(atomic_load(&ev.waiters), 1);
    pb_event_signal(&ev); /* the waiter's condition came true after it looked */
    assert_int_not_equal(atomic_load(&ev.seq), seen);
    /* The count moved, so the wait does not sleep; its timeout is only a hang detector. */
    pb_event_wait(&ev, seen, (uint64_t)PB_TEST_DEADLINE_S * 1000000000u);
    assert_int_equal(atomic_load(&ev.waiters), 0);
}

struct sleeper {
    struct pb_event ev;
    _Atomic bool flag;   /* the condition it waits for */
    uint64_t timeout_ns; /* PB_EVENT_FOREVER: wait for flag; else one timed wait */
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    if (s->timeout_ns != PB_EVENT_FOREVER) {
        pb_event_wait(&s->ev, pb_event_arm(&s->ev), s->timeout_ns);
        return NULL;
    }
    for (;;) {
        uint32_t seen = pb_event_arm(&s->ev);
        if (atomic_load(&s->flag)) {
            pb_event_disarm(&s->ev);
            return NULL;
        }
        pb_event_wait(&s->ev, seen, PB_EVENT_FOREVER);
    }
}

static void test_blocked_waiter_wakes_on_signal(void **state)
{
    (void)state;
    struct sleeper s = {.timeout_ns = PB_EVENT_FOREVER};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleeper_main, &s), 0);
    PB_WAIT_UNTIL(atomic_load(&s.ev.waiters) == 1, "the sleeper to arm the event");
    atomic_store(&s.flag, true);
    pb_event_signal(&s.ev);
    pb_test_join(t, "the sleeper to wake on the signal and end");
    assert_int_equal(atomic_load(&s.ev.waiters), 0);
}

static void test_timed_wait_ends_by_itself(void **state)
{
    (void)state;
    struct sleeper s = {.timeout_ns = 1000000}; /* nobody signals */
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sleeper_main, &s), 0);
    pb_test_join(t, "a 1 ms wait nobody signals to time out and end");
    assert_int_equal(atomic_load(&s.ev.seq), 0);
    assert_int_equal(atomic_load(&s.ev.waiters), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signal_without_waiter_costs_nothing),
        cmocka_unit_test(test_signal_between_arm_and_wait_is_not_lost),
        cmocka_unit_test(test_blocked_waiter_wakes_on_signal),
        cmocka_unit_test(test_timed_wait_ends_by_itself),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
