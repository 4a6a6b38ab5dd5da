/*
 * The preemption source's rules (core/preempt.h), each test named after its rule.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/pb.h"
#include "core/preempt.h"

static void configure_ok(struct pb_preempt_policy p)
{
    assert_int_equal(pb_preempt_configure(&p), 0);
}

/* Checks until one preempts; returns how many that took (the last included). */
static uint64_t checks_until_preempted(uint64_t limit)
{
    for (uint64_t i = 1; i <= limit; i++)
        if (pb_hypercall_preempt_check())
            return i;
    return 0;
}

static void test_bad_policies_return_einval_and_change_nothing(void **state)
{
    (void)state;
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = 2});
    const struct pb_preempt_policy bad[] = {
        {.kind = PB_PREEMPT_EVERY_N, .every_n = 0},
        {.kind = PB_PREEMPT_PROB, .probability = -0.1},
        {.kind = PB_PREEMPT_PROB, .probability = 1.5},
        {.kind = PB_PREEMPT_PROB, .probability = NAN},
        {.kind = PB_PREEMPT_TIMESLICE, .clock_stride = PB_PREEMPT_MAX_STRIDE + 1},
        {.kind = (enum pb_preempt_kind)42},
    };
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++)
        assert_int_equal(pb_preempt_configure(&bad[i]), -EINVAL);
    assert_int_equal(pb_preempt_configure(NULL), -EINVAL);
    struct pb_preempt_policy now;
    pb_preempt_policy_get(&now);
    assert_int_equal(now.kind, PB_PREEMPT_EVERY_N);
    assert_int_equal(now.every_n, 2);
    /* The count kept going from the configure above: the second check preempts. */
    assert_false(pb_hypercall_preempt_check());
    assert_true(pb_hypercall_preempt_check());
}

static void test_none_never_preempts_but_counts_checks(void **state)
{
    (void)state;
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    pb_preempt_counters_reset();
    for (int i = 0; i < 100000; i++)
        assert_false(pb_hypercall_preempt_check());
    struct pb_preempt_counters c;
    pb_preempt_counters_read(&c);
    assert_int_equal(c.checks, 100000);
    assert_int_equal(c.preemptions, 0);
}

static void test_every_n_preempts_exactly_every_nth_check(void **state)
{
    (void)state;
    for (uint64_t n = 1; n <= 7; n++) {
        configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = n});
        pb_preempt_counters_reset();
        for (uint64_t i = 1; i <= 10 * n; i++)
            assert_int_equal(pb_hypercall_preempt_check(), i % n == 0);
        struct pb_preempt_counters c;
        pb_preempt_counters_read(&c);
        assert_int_equal(c.checks, 10 * n);
        assert_int_equal(c.preemptions, 10);
    }
}

static void test_prob_zero_never_one_always(void **state)
{
    (void)state;
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_PROB, .probability = 0.0});
    for (int i = 0; i < 10000; i++)
        assert_false(pb_hypercall_preempt_check());
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_PROB, .probability = 1.0});
    for (int i = 0; i < 10000; i++)
        assert_true(pb_hypercall_preempt_check());
}

static void test_prob_is_seeded_and_repeats(void **state)
{
    (void)state;
    enum { N = 100000 };
    static bool first[N];
    struct pb_preempt_policy p = {.kind = PB_PREEMPT_PROB, .probability = 0.25, .seed = 7};
    configure_ok(p);
    unsigned yes = 0;
    for (int i = 0; i < N; i++)
        yes += first[i] = pb_hypercall_preempt_check();
    /* A fair generator lands within 2% of 25% over 100000 draws (about 15 sigma). */
    assert_in_range(yes, N / 4 - N / 50, N / 4 + N / 50);
    configure_ok(p);
    for (int i = 0; i < N; i++)
        assert_int_equal(pb_hypercall_preempt_check(), first[i]);
    p.seed = 8;
    configure_ok(p);
    unsigned same = 0;
    for (int i = 0; i < N; i++)
        same += pb_hypercall_preempt_check() == first[i];
    assert_true(same < N);
}

static void test_timeslice_never_preempts_before_the_slice(void **state)
{
    (void)state;
    const uint64_t slice = 1000000; /* 1 ms */
    for (unsigned stride = 0; stride <= 1; stride++) {
        /* The slice starts inside configure: after t0. */
        uint64_t t0 = pb_now_ns();
        configure_ok((struct pb_preempt_policy){
            .kind = PB_PREEMPT_TIMESLICE, .slice_ns = slice, .clock_stride = stride});
        /* The tick must come (the loop ends) and never early. */
        uint64_t before;
        do
            before = pb_now_ns();
        while (!pb_hypercall_preempt_check());
        assert_true(pb_now_ns() - t0 >= slice);
        /* The next slice starts at the preemption: inside the last check, after `before`. */
        while (!pb_hypercall_preempt_check())
            ;
        assert_true(pb_now_ns() - before >= slice);
    }
}

static void test_timeslice_default_is_one_ms_and_an_hour_never_comes(void **state)
{
    (void)state;
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_TIMESLICE});
    struct pb_preempt_policy p;
    pb_preempt_policy_get(&p);
    assert_int_equal(p.slice_ns, 0); /* 0 stands for PB_PREEMPT_DEFAULT_SLICE_NS */
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_TIMESLICE,
                                            .slice_ns = 3600ull * 1000000000ull});
    assert_int_equal(checks_until_preempted(200000), 0);
}

static void test_timeslice_adaptive_stride_reads_the_clock_rarely(void **state)
{
    (void)state;
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_TIMESLICE,
                                            .slice_ns = 3600ull * 1000000000ull});
    pb_preempt_counters_reset();
    for (int i = 0; i < 100000; i++)
        (void)pb_hypercall_preempt_check();
    struct pb_preempt_counters c;
    pb_preempt_counters_read(&c);
    assert_int_equal(c.checks, 100000);
    /* Back-to-back checks are far closer than slice/64: the stride climbs to its cap. */
    assert_true(c.clock_reads * 64 <= c.checks);

    configure_ok((struct pb_preempt_policy){
        .kind = PB_PREEMPT_TIMESLICE, .slice_ns = 3600ull * 1000000000ull, .clock_stride = 1});
    pb_preempt_counters_reset();
    for (int i = 0; i < 1000; i++)
        (void)pb_hypercall_preempt_check();
    pb_preempt_counters_read(&c);
    assert_int_equal(c.clock_reads, 1000);
}

static void test_raise_preempts_the_next_check_once(void **state)
{
    (void)state;
    const struct pb_preempt_policy kinds[] = {
        {.kind = PB_PREEMPT_NONE},
        {.kind = PB_PREEMPT_EVERY_N, .every_n = 1000},
        {.kind = PB_PREEMPT_TIMESLICE, .slice_ns = 3600ull * 1000000000ull},
        {.kind = PB_PREEMPT_PROB, .probability = 0.0},
    };
    for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++) {
        configure_ok(kinds[k]);
        pb_preempt_counters_reset();
        pb_preempt_raise();
        assert_true(pb_hypercall_preempt_check());
        assert_false(pb_hypercall_preempt_check());
        struct pb_preempt_counters c;
        pb_preempt_counters_read(&c);
        assert_int_equal(c.preemptions, 1);
    }
}

static void test_configure_clears_a_pending_preemption(void **state)
{
    (void)state;
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    pb_preempt_raise();
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_NONE});
    assert_false(pb_hypercall_preempt_check());
}

static void *other_thread(void *arg)
{
    struct pb_preempt_counters *c = arg;
    struct pb_preempt_policy p;
    pb_preempt_policy_get(&p);
    PB_BUG_ON(p.kind != PB_PREEMPT_NONE);
    pb_preempt_counters_read(c);
    for (int i = 0; i < 10; i++)
        PB_BUG_ON(pb_hypercall_preempt_check());
    return NULL;
}

static void test_policy_and_counters_are_per_thread(void **state)
{
    (void)state;
    configure_ok((struct pb_preempt_policy){.kind = PB_PREEMPT_EVERY_N, .every_n = 1});
    pb_preempt_counters_reset();
    assert_true(pb_hypercall_preempt_check());
    struct pb_preempt_counters theirs = {.checks = 99};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, other_thread, &theirs), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(theirs.checks, 0);
    assert_int_equal(theirs.preemptions, 0);
    struct pb_preempt_counters mine;
    pb_preempt_counters_read(&mine);
    assert_int_equal(mine.checks, 1);
    assert_int_equal(mine.preemptions, 1);
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(pb_preempt_kind_name(PB_PREEMPT_NONE), "none");
    assert_string_equal(pb_preempt_kind_name(PB_PREEMPT_TIMESLICE), "timeslice");
    assert_string_equal(pb_preempt_kind_name(PB_PREEMPT_EVERY_N), "every_n");
    assert_string_equal(pb_preempt_kind_name(PB_PREEMPT_PROB), "prob");
    assert_null(pb_preempt_kind_name((enum pb_preempt_kind)42));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_policies_return_einval_and_change_nothing),
        cmocka_unit_test(test_none_never_preempts_but_counts_checks),
        cmocka_unit_test(test_every_n_preempts_exactly_every_nth_check),
        cmocka_unit_test(test_prob_zero_never_one_always),
        cmocka_unit_test(test_prob_is_seeded_and_repeats),
        cmocka_unit_test(test_timeslice_never_preempts_before_the_slice),
        cmocka_unit_test(test_timeslice_default_is_one_ms_and_an_hour_never_comes),
        cmocka_unit_test(test_timeslice_adaptive_stride_reads_the_clock_rarely),
        cmocka_unit_test(test_raise_preempts_the_next_check_once),
        cmocka_unit_test(test_configure_clears_a_pending_preemption),
        cmocka_unit_test(test_policy_and_counters_are_per_thread),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
