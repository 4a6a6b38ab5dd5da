/*
 * test_lock: struct pb_lock, both kinds: mutual exclusion, exact statistics for known
 * sequences, timing off, kind names, and (checked builds) the rank rule and holder record.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/lock.h"

static const enum pb_lock_kind kinds[] = {PB_LOCK_TICKET, PB_LOCK_MUTEX};

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int reset_timing(void **state)
{
    (void)state;
    pb_lock_set_timing(true);
    pb_lock_set_rank_hook(NULL);
    return 0;
}

/* ---- mutual exclusion -------------------------------------------------------------------- */

/*
 * Ticket waiters spin, and a preempted one stalls the hand-offs behind it: the ticket run uses
 * one thread per CPU of a small machine (the stress test oversubscribes it).
 */
#define EXCL_THREADS_MAX 4
static const struct {
    enum pb_lock_kind kind;
    int threads, iterations;
} excl_runs[] = {{PB_LOCK_TICKET, 2, 100000}, {PB_LOCK_MUTEX, 4, 20000}};

struct excl {
    struct pb_lock lock;
    uint64_t counter;       /* protected by: lock */
    _Atomic int inside;     /* atomic: threads now inside the critical section */
    _Atomic int overlapped; /* atomic: times a thread found another one inside */
    int iterations;         /* read-only while the workers run */
};

static void *excl_worker(void *arg)
{
    struct excl *e = arg;

    for (int i = 0; i < e->iterations; i++) {
        pb_lock_acquire(&e->lock);
        if (atomic_fetch_add(&e->inside, 1) != 0)
            atomic_fetch_add(&e->overlapped, 1);
        e->counter++;
        atomic_fetch_sub(&e->inside, 1);
        pb_lock_release(&e->lock);
    }
    return NULL;
}

static void test_mutual_exclusion(void **state)
{
    (void)state;
    for (size_t r = 0; r < PB_ARRAY_SIZE(excl_runs); r++) {
        static struct excl e;
        const int nthreads = excl_runs[r].threads;
        pthread_t t[EXCL_THREADS_MAX];

        memset(&e, 0, sizeof(e));
        pb_lock_init(&e.lock, "excl", PB_RANK_LEAF, excl_runs[r].kind);
        e.iterations = excl_runs[r].iterations;
        for (int i = 0; i < nthreads; i++)
            assert_int_equal(pthread_create(&t[i], NULL, excl_worker, &e), 0);
        for (int i = 0; i < nthreads; i++)
            assert_int_equal(pthread_join(t[i], NULL), 0);

        struct pb_lock_stats s;
        pb_lock_stats_read(&e.lock, &s);
        assert_int_equal(atomic_load(&e.overlapped), 0);
        const uint64_t total = (uint64_t)nthreads * (uint64_t)e.iterations;
        assert_int_equal(e.counter, total);
        assert_int_equal(s.acquisitions, total);
        assert_true(s.contended <= s.acquisitions);
        assert_true(s.wait_ns_max <= s.wait_ns_total);
        assert_true(s.hold_ns_max <= s.hold_ns_total);
        pb_lock_destroy(&e.lock);
    }
}

/* ---- statistics of a known sequence ---------------------------------------------------------- */

static void test_stats_uncontended(void **state)
{
    (void)state;
    const uint64_t sleep = 1000000; /* 1 ms held each time */

    for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++) {
        struct pb_lock l;
        struct pb_lock_stats s;

        pb_lock_init(&l, "seq", PB_RANK_LEAF, kinds[k]);
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 0);
        assert_int_equal(s.hold_ns_total, 0);

        for (int i = 0; i < 3; i++) {
            pb_lock_acquire(&l);
            sleep_ns(sleep);
            pb_lock_release(&l);
        }
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 3);
        assert_int_equal(s.contended, 0);
        assert_int_equal(s.wait_ns_total, 0);
        assert_int_equal(s.wait_ns_max, 0);
        assert_true(s.hold_ns_max >= sleep);
        assert_true(s.hold_ns_total >= 3 * sleep);
        assert_true(s.hold_ns_total >= s.hold_ns_max);

        pb_lock_stats_reset(&l);
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 0);
        assert_int_equal(s.contended, 0);
        assert_int_equal(s.hold_ns_total, 0);
        assert_int_equal(s.hold_ns_max, 0);
        pb_lock_destroy(&l);
    }
}

struct waiter {
    struct pb_lock *lock;
    _Atomic int started; /* atomic: the waiter is about to acquire */
    _Atomic int done;    /* atomic: the waiter has acquired and released */
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;

    atomic_store(&w->started, 1);
    pb_lock_acquire(w->lock);
    pb_lock_release(w->lock);
    atomic_store(&w->done, 1);
    return NULL;
}

/* Whether another thread has queued on l (which the caller holds). */
static bool waiter_queued(struct pb_lock *l)
{
    if (l->kind == PB_LOCK_TICKET)
        return atomic_load(&l->u.ticket.next) - atomic_load(&l->u.ticket.owner) >= 2;
#ifdef __GLIBC__
    /* glibc marks a locked mutex 2 once a thread sleeps on it: it failed trylock and waits. */
    return __atomic_load_n(&l->u.mutex.__data.__lock, __ATOMIC_RELAXED) == 2;
#else
    return true;
#endif
}

/* The holder keeps l while a second thread is made to wait on it, then releases. */
static void hold_while_other_waits(struct pb_lock *l, uint64_t sleep)
{
    struct waiter w = {.lock = l};
    pthread_t t;

    pb_lock_acquire(l);
    sleep_ns(sleep);
    assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
    /* A waiter that got through while we hold the lock is a failure the caller sees. */
    while (!atomic_load(&w.done) && (!atomic_load(&w.started) || !waiter_queued(l)))
        sleep_ns(100000);
    sleep_ns(sleep);
    pb_lock_release(l);
    assert_int_equal(pthread_join(t, NULL), 0);
}

static void test_stats_contended(void **state)
{
    (void)state;
    const uint64_t sleep = 20000000; /* 20 ms, twice while held */

    for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++) {
        struct pb_lock l;
        struct pb_lock_stats s;

        pb_lock_init(&l, "contended", PB_RANK_LEAF, kinds[k]);
        hold_while_other_waits(&l, sleep);
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 2);
        assert_int_equal(s.contended, 1);
        assert_true(s.wait_ns_total > 0);
        assert_int_equal(s.wait_ns_max, s.wait_ns_total);
        /* The holder slept twice; the margin absorbs any TSC/CLOCK_MONOTONIC rate difference. */
        assert_true(s.hold_ns_max >= sleep);
        assert_true(s.hold_ns_total >= s.hold_ns_max);
        pb_lock_destroy(&l);
    }
}

static void test_timing_off(void **state)
{
    (void)state;
    for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++) {
        struct pb_lock l;
        struct pb_lock_stats s;

        pb_lock_init(&l, "untimed", PB_RANK_LEAF, kinds[k]);
        pb_lock_set_timing(false);
        hold_while_other_waits(&l, 1000000);
        pb_lock_acquire(&l);
        pb_lock_release(&l);
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 3);
        assert_int_equal(s.contended, 1);
        assert_int_equal(s.wait_ns_total, 0);
        assert_int_equal(s.wait_ns_max, 0);
        assert_int_equal(s.hold_ns_total, 0);
        assert_int_equal(s.hold_ns_max, 0);

        /* Turned on while held: that hold had no start, so it is not counted. */
        pb_lock_acquire(&l);
        pb_lock_set_timing(true);
        pb_lock_release(&l);
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 4);
        assert_int_equal(s.hold_ns_total, 0);

        pb_lock_acquire(&l);
        sleep_ns(1000000);
        pb_lock_release(&l);
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 5);
        assert_true(s.hold_ns_total >= 1000000);
        pb_lock_destroy(&l);
    }
}

/*
 * A lock whose holds are not timed (pcp's per-CPU caches): it counts acquisitions and
 * contention, times waits, reads no clock when uncontended, and its statistics say that
 * its hold times are not measured.
 */
static void test_hold_timing_off(void **state)
{
    (void)state;
    for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++) {
        struct pb_lock l;
        struct pb_lock_stats s;

        pb_lock_init(&l, "untimed-holds", PB_RANK_LEAF, kinds[k]);
        pb_lock_stats_read(&l, &s);
        assert_false(s.hold_untimed);
        pb_lock_set_hold_timing(&l, false);
        for (int i = 0; i < 3; i++) {
            pb_lock_acquire(&l);
            /* No start of the hold was taken: the clock was not read. */
            assert_int_equal(l.st.acquired_at_ns, 0);
            sleep_ns(1000000);
            pb_lock_release(&l);
        }
        pb_lock_stats_read(&l, &s);
        assert_true(s.hold_untimed);
        assert_int_equal(s.acquisitions, 3);
        assert_int_equal(s.contended, 0);
        assert_int_equal(s.wait_ns_total, 0);
        assert_int_equal(s.hold_ns_total, 0);
        assert_int_equal(s.hold_ns_max, 0);

        /* Contended: counted, and the wait is timed. */
        hold_while_other_waits(&l, 1000000);
        pb_lock_stats_read(&l, &s);
        assert_int_equal(s.acquisitions, 5);
        assert_int_equal(s.contended, 1);
        assert_true(s.wait_ns_total > 0);
        assert_int_equal(s.wait_ns_max, s.wait_ns_total);
        assert_int_equal(s.hold_ns_total, 0);
        assert_true(s.hold_untimed);
        pb_lock_destroy(&l);
    }
}

static void test_stats_add(void **state)
{
    (void)state;
    struct pb_lock_stats dst = {1, 2, 3, 10, 5, 7, false};
    const struct pb_lock_stats src = {4, 5, 6, 8, 7, 9, false};

    pb_lock_stats_add(&dst, &src);
    assert_int_equal(dst.acquisitions, 5);
    assert_int_equal(dst.contended, 7);
    assert_int_equal(dst.wait_ns_total, 9);
    assert_int_equal(dst.wait_ns_max, 10);
    assert_int_equal(dst.hold_ns_total, 12);
    assert_int_equal(dst.hold_ns_max, 9);
    assert_false(dst.hold_untimed);

    struct pb_lock_stats zero = {0};
    pb_lock_stats_add(&zero, &src);
    assert_int_equal(zero.acquisitions, src.acquisitions);
    assert_int_equal(zero.contended, src.contended);
    assert_int_equal(zero.wait_ns_total, src.wait_ns_total);
    assert_int_equal(zero.wait_ns_max, src.wait_ns_max);
    assert_int_equal(zero.hold_ns_total, src.hold_ns_total);
    assert_int_equal(zero.hold_ns_max, src.hold_ns_max);
    assert_false(zero.hold_untimed);

    /* A class with one lock whose holds are not timed says so. */
    const struct pb_lock_stats untimed = {3, 1, 2, 2, 0, 0, true};
    pb_lock_stats_add(&dst, &untimed);
    assert_true(dst.hold_untimed);
    assert_int_equal(dst.hold_ns_total, 12);
}

/* ---- kind names ---------------------------------------------------------------------------- */

static void test_kind_names(void **state)
{
    (void)state;
    enum pb_lock_kind k = PB_LOCK_MUTEX;

    assert_int_equal(pb_lock_kind_parse("ticket", &k), 0);
    assert_int_equal(k, PB_LOCK_TICKET);
    assert_int_equal(pb_lock_kind_parse("mutex", &k), 0);
    assert_int_equal(pb_lock_kind_parse(pb_lock_kind_name(PB_LOCK_TICKET), &k), 0);
    assert_int_equal(k, PB_LOCK_TICKET);
    assert_int_equal(pb_lock_kind_parse(pb_lock_kind_name(PB_LOCK_MUTEX), &k), 0);
    assert_int_equal(k, PB_LOCK_MUTEX);
    assert_string_equal(pb_lock_kind_name(PB_LOCK_TICKET), "ticket");
    assert_string_equal(pb_lock_kind_name(PB_LOCK_MUTEX), "mutex");

    const char *bad[] = {"", "Ticket", "mutexx", "tick", "spin", " mutex"};
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++) {
        assert_int_equal(pb_lock_kind_parse(bad[i], &k), -EINVAL);
        assert_int_equal(k, PB_LOCK_MUTEX); /* unchanged */
    }
    assert_int_equal(pb_lock_kind_parse(NULL, &k), -EINVAL);
    assert_int_equal(pb_lock_kind_parse("ticket", NULL), -EINVAL);
    assert_int_equal(k, PB_LOCK_MUTEX);
}

/* ---- checked builds: holder record and ranks ----------------------------------------------------
 */

static struct {
    int calls;
    const struct pb_lock *held, *wanted;
} hook_seen;

static void record_hook(const struct pb_lock *held, const struct pb_lock *wanted)
{
    hook_seen.calls++;
    hook_seen.held = held;
    hook_seen.wanted = wanted;
}

static void *held_elsewhere(void *arg)
{
    return (void *)(intptr_t)pb_lock_held(arg);
}

static void test_held(void **state)
{
    (void)state;
    if (POPBENCH_DEBUG == 0)
        skip();
    for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++) {
        struct pb_lock l;
        pthread_t t;
        void *other;

        pb_lock_init(&l, "held", PB_RANK_HEAP, kinds[k]);
        assert_false(pb_lock_held(&l));
        assert_int_equal(atomic_load(&l.holder), 0);
        pb_lock_acquire(&l);
        assert_true(pb_lock_held(&l));
        PB_ASSERT_HELD(&l);
        assert_int_not_equal(atomic_load(&l.holder), 0);
        assert_int_equal(pthread_create(&t, NULL, held_elsewhere, &l), 0);
        assert_int_equal(pthread_join(t, &other), 0);
        assert_null(other);
        pb_lock_release(&l);
        assert_false(pb_lock_held(&l));
        assert_int_equal(atomic_load(&l.holder), 0);
        pb_lock_destroy(&l);
    }
}

static void test_rank_hook(void **state)
{
    (void)state;
    if (POPBENCH_DEBUG == 0)
        skip();
    struct pb_lock p2m, heap, heap2, leaf;

    pb_lock_init(&p2m, "p2m", PB_RANK_P2M, PB_LOCK_TICKET);
    pb_lock_init(&heap, "heap", PB_RANK_HEAP, PB_LOCK_MUTEX);
    pb_lock_init(&heap2, "heap2", PB_RANK_HEAP, PB_LOCK_TICKET);
    pb_lock_init(&leaf, "leaf", PB_RANK_LEAF, PB_LOCK_TICKET);
    memset(&hook_seen, 0, sizeof(hook_seen));
    pb_lock_set_rank_hook(record_hook);

    /* In rank order: no report, and release order is free. */
    pb_lock_acquire(&p2m);
    pb_lock_acquire(&heap);
    pb_lock_acquire(&leaf);
    pb_lock_release(&heap);
    pb_lock_release(&leaf);
    pb_lock_release(&p2m);
    assert_int_equal(hook_seen.calls, 0);

    /* Lower rank under a higher one: reported with the highest-ranked held lock. */
    pb_lock_acquire(&p2m);
    pb_lock_acquire(&leaf);
    pb_lock_acquire(&heap);
    assert_int_equal(hook_seen.calls, 1);
    assert_ptr_equal(hook_seen.held, &leaf);
    assert_ptr_equal(hook_seen.wanted, &heap);
    assert_true(pb_lock_held(&heap));
    pb_lock_release(&heap);
    pb_lock_release(&leaf);
    pb_lock_release(&p2m);

    /* Equal ranks never nest. */
    pb_lock_acquire(&heap);
    pb_lock_acquire(&heap2);
    assert_int_equal(hook_seen.calls, 2);
    assert_ptr_equal(hook_seen.held, &heap);
    assert_ptr_equal(hook_seen.wanted, &heap2);
    pb_lock_release(&heap2);
    pb_lock_release(&heap);

    /* Once released, any order starts afresh. */
    pb_lock_acquire(&leaf);
    pb_lock_release(&leaf);
    pb_lock_acquire(&p2m);
    pb_lock_release(&p2m);
    assert_int_equal(hook_seen.calls, 2);

    pb_lock_destroy(&p2m);
    pb_lock_destroy(&heap);
    pb_lock_destroy(&heap2);
    pb_lock_destroy(&leaf);
}

/*
 * Runs fn in a child process; returns whether it died of SIGABRT and copies what it wrote to
 * stderr into err.
 */
static bool child_aborts(void (*fn)(void), char *err, size_t errlen)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit nocore = {0, 0};
        setrlimit(RLIMIT_CORE, &nocore);
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        fn();
        _exit(0);
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < errlen && (r = read(fds[0], err + n, errlen - 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        assert_true(r > 0);
        n += (size_t)r;
    }
    err[n] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void violate_without_hook(void)
{
    static struct pb_lock scrub, domtable;

    pb_lock_set_rank_hook(NULL);
    pb_lock_init(&scrub, "scrub_lock", PB_RANK_SCRUB, PB_LOCK_TICKET);
    pb_lock_init(&domtable, "domtable_lock", PB_RANK_DOMTABLE, PB_LOCK_MUTEX);
    pb_lock_acquire(&scrub);
    pb_lock_acquire(&domtable);
}

static void release_never_acquired(void)
{
    static struct pb_lock l;

    pb_lock_init(&l, "idle_lock", PB_RANK_LEAF, PB_LOCK_TICKET);
    pb_lock_release(&l);
}

static void release_twice(void)
{
    static struct pb_lock l;

    pb_lock_init(&l, "twice_lock", PB_RANK_LEAF, PB_LOCK_MUTEX);
    pb_lock_acquire(&l);
    pb_lock_release(&l);
    pb_lock_release(&l);
}

static void *acquire_and_leave(void *arg)
{
    pb_lock_acquire(arg);
    return NULL;
}

static void release_others(void)
{
    static struct pb_lock l;
    pthread_t t;

    pb_lock_init(&l, "others_lock", PB_RANK_LEAF, PB_LOCK_TICKET);
    pthread_create(&t, NULL, acquire_and_leave, &l);
    pthread_join(t, NULL);
    pb_lock_release(&l);
}

static void ignore_hook(const struct pb_lock *held, const struct pb_lock *wanted)
{
    (void)held;
    (void)wanted;
}

static void hold_too_many(void)
{
    static struct pb_lock l[17];

    pb_lock_set_rank_hook(ignore_hook);
    for (int i = 0; i < 17; i++) {
        pb_lock_init(&l[i], "many_lock", PB_RANK_LEAF, PB_LOCK_TICKET);
        pb_lock_acquire(&l[i]);
    }
}

static void hold_sixteen(void)
{
    static struct pb_lock l[16];

    pb_lock_set_rank_hook(ignore_hook);
    for (int i = 0; i < 16; i++) {
        pb_lock_init(&l[i], "many_lock", PB_RANK_LEAF, PB_LOCK_TICKET);
        pb_lock_acquire(&l[i]);
    }
    for (int i = 0; i < 16; i++)
        pb_lock_release(&l[i]);
}

static void test_rank_default_aborts(void **state)
{
    (void)state;
    if (POPBENCH_DEBUG == 0)
        skip();
    char err[1024];

    assert_true(child_aborts(violate_without_hook, err, sizeof(err)));
    assert_non_null(strstr(err, "scrub_lock"));
    assert_non_null(strstr(err, "domtable_lock"));
}

static void test_release_not_held(void **state)
{
    (void)state;
    if (POPBENCH_DEBUG == 0)
        skip();
    char err[1024];

    assert_true(child_aborts(release_never_acquired, err, sizeof(err)));
    assert_non_null(strstr(err, "idle_lock"));
    assert_true(child_aborts(release_twice, err, sizeof(err)));
    assert_non_null(strstr(err, "twice_lock"));
    assert_true(child_aborts(release_others, err, sizeof(err)));
    assert_non_null(strstr(err, "others_lock"));
}

static void test_held_record_bounded(void **state)
{
    (void)state;
    if (POPBENCH_DEBUG == 0)
        skip();
    char err[1024];

    assert_false(child_aborts(hold_sixteen, err, sizeof(err)));
    assert_true(child_aborts(hold_too_many, err, sizeof(err)));
    assert_non_null(strstr(err, "many_lock"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_mutual_exclusion, reset_timing),
        cmocka_unit_test_teardown(test_stats_uncontended, reset_timing),
        cmocka_unit_test_teardown(test_stats_contended, reset_timing),
        cmocka_unit_test_teardown(test_timing_off, reset_timing),
        cmocka_unit_test_teardown(test_hold_timing_off, reset_timing),
        cmocka_unit_test(test_stats_add),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test_teardown(test_held, reset_timing),
        cmocka_unit_test_teardown(test_rank_hook, reset_timing),
        cmocka_unit_test(test_rank_default_aborts),
        cmocka_unit_test(test_release_not_held),
        cmocka_unit_test(test_held_record_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
