/*
 * test_lock_stress: many threads increment a plain shared counter under one pb_lock, for both
 * kinds. The total and the acquisition count must come out exact, and under ThreadSanitizer
 * the plain counter shows that the lock gives release/acquire ordering between holders.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>

#include <cmocka.h>

#include "core/lock.h"

#include "tests/common/wait.h"

#define MAX_THREADS 8

struct shared {
    struct pb_lock lock;
    uint64_t counter;     /* protected by: lock */
    uint64_t last_writer; /* protected by: lock: the thread index that wrote counter last */
    uint64_t handoffs;    /* protected by: lock: writes right after another thread's */
    int iterations;       /* read-only while the workers run */
    pthread_barrier_t start;
};

struct worker {
    struct shared *sh;
    uint64_t index;
    uint64_t seen_held; /* this thread only: critical sections where pb_lock_held() said yes */
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;

    pthread_barrier_wait(&sh->start);
    for (int i = 0; i < sh->iterations; i++) {
        pb_lock_acquire(&sh->lock);
        w->seen_held += pb_lock_held(&sh->lock);
        sh->counter++;
        if (sh->last_writer != UINT64_MAX && sh->last_writer != w->index)
            sh->handoffs++; /* the first write of all follows nobody's */
        sh->last_writer = w->index;
        pb_lock_release(&sh->lock);
    }
    return NULL;
}

static void run(enum pb_lock_kind kind, int nthreads, int iterations)
{
    static struct shared sh;
    struct worker w[MAX_THREADS];
    pthread_t t[MAX_THREADS];

    assert_true(nthreads <= MAX_THREADS);
    memset(&sh, 0, sizeof(sh));
    pb_lock_init(&sh.lock, "stress", PB_RANK_LEAF, kind);
    sh.iterations = iterations;
    sh.last_writer = UINT64_MAX;
    assert_int_equal(pthread_barrier_init(&sh.start, NULL, (unsigned)nthreads), 0);
    for (int i = 0; i < nthreads; i++) {
        w[i] = (struct worker){.sh = &sh, .index = (uint64_t)i};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < nthreads; i++)
        pb_test_join(t[i], "locker %d of %d (%s) to finish", i, nthreads, pb_lock_kind_name(kind));

    const uint64_t total = (uint64_t)nthreads * (uint64_t)iterations;
    struct pb_lock_stats s;
    pb_lock_stats_read(&sh.lock, &s);
    assert_int_equal(sh.counter, total);
    assert_int_equal(s.acquisitions, total);
    assert_true(s.contended <= s.acquisitions);
    assert_true(s.wait_ns_max <= s.wait_ns_total);
    assert_true(s.hold_ns_max <= s.hold_ns_total);
    /* The lock passed between threads at least once per thread after the first: every thread
     * wrote, and each one's first write followed another thread's, except the very first. */
    assert_true(sh.handoffs >= (uint64_t)nthreads - 1);
    for (int i = 0; i < nthreads; i++)
        assert_int_equal(w[i].seen_held, (uint64_t)iterations);

    assert_int_equal(pthread_barrier_destroy(&sh.start), 0);
    pb_lock_destroy(&sh.lock);
}

/*
 * The ticket lock hands over in FIFO order, so with more threads than CPUs a preempted waiter
 * stalls everyone queued behind it until it runs again (waiters yield only after a long spin):
 * fewer rounds keep that case short on a small machine.
 */
static void test_ticket_4(void **state)
{
    (void)state;
    run(PB_LOCK_TICKET, 4, 1000);
}

static void test_ticket_8(void **state)
{
    (void)state;
    run(PB_LOCK_TICKET, 8, 500);
}

static void test_mutex_4(void **state)
{
    (void)state;
    run(PB_LOCK_MUTEX, 4, 100000);
}

static void test_mutex_8(void **state)
{
    (void)state;
    run(PB_LOCK_MUTEX, 8, 50000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ticket_4),
        cmocka_unit_test(test_ticket_8),
        cmocka_unit_test(test_mutex_4),
        cmocka_unit_test(test_mutex_8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
