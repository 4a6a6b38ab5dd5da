/*
 * Scrubbing (XEN-MODEL.md §2 step 7, §3, §4; core/scrub.h): dirty frames carry data, scrub on
 * allocation, MEMF_no_scrub/keep_scrub, verification, domain-build scrubbing and its stash,
 * background scrubbers of both designs and the abort handshake, made deterministic by a hook
 * that pauses a scrubber after a given frame. Every heap here has real backing.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/clear.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/heap_impl.h" /* the handshake tests watch a buddy's scrub state */
#include "core/memflags.h"
#include "core/scrub.h"

#include "tests/common/heap_fixture.h"
#include "tests/common/wait.h"

/* nodes x frames with real backing: the frames hold data. */
static struct pb_heap *backed_machine(const char *variant, unsigned nodes, uint64_t frames)
{
    struct pb_heap *h = machine_of(variant, nodes, frames, PB_BACKING_REAL);
    assert_true(pb_heap_backed(h));
    return h;
}

/* Runs body on a fresh backed 2 x 1024 machine of every variant, then checks the heap. */
static void on_every_variant(void (*body)(struct pb_heap *h))
{
    FOR_EACH_VARIANT(v)
    {
        struct pb_heap *h = backed_machine(v, 2, 1024);
        body(h);
        assert_valid(h);
        pb_heap_destroy(h);
    }
}

static bool frame_zero(struct pb_heap *h, uint64_t mfn)
{
    return pb_page_is_zero(pb_frame_data(h, mfn));
}

static uint64_t zero_frames(struct pb_heap *h, uint64_t mfn, uint64_t n)
{
    uint64_t z = 0;
    for (uint64_t i = 0; i < n; i++)
        z += frame_zero(h, mfn + i);
    return z;
}

static struct pb_scrub_counters counters(struct pb_heap *h)
{
    struct pb_scrub_counters c;
    pb_scrub_read_counters(h, &c);
    return c;
}

static uint8_t scrub_state(struct pb_heap *h, uint64_t mfn)
{
    return atomic_load(&h->frames[mfn].scrub);
}

/* Node 1 of a 2 x 1024 machine is one order-10 buddy: make its upper half a dirty buddy. */
static void dirty_upper_half_of_node1(struct pb_heap *h, uint64_t *lower)
{
    uint64_t upper = alloc_ok(h, NULL, 9, EXACT(1));
    *lower = alloc_ok(h, NULL, 9, EXACT(1));
    assert_int_equal(upper, 1536);
    assert_int_equal(*lower, 1024);
    assert_int_equal(pb_free_heap_pages(h, upper, 9, true), 0);
}

/* ------------------------------------------------------------------------------------------
 * A gate the scrubber's after_frame hook passes: it can stop the worker at its n-th frame.
 */
struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned frames;     /* frames the hook saw */
    unsigned pause_at;   /* block at this frame count (0: never) */
    unsigned pauses;     /* pauses so far */
    bool paused, resume; /* the worker waits in the hook / may go on */
    uint64_t paused_mfn; /* the frame it cleared last */
};

static void gate_init(struct gate *g, unsigned pause_at)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->mu, NULL);
    pb_test_cond_init(&g->cv);
    g->pause_at = pause_at;
}

static void gate_hook(void *ctx, unsigned node, unsigned worker, uint64_t mfn)
{
    (void)node;
    (void)worker;
    struct gate *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (++g->frames == g->pause_at) {
        g->paused = true;
        g->pauses++;
        g->paused_mfn = mfn;
        pthread_cond_broadcast(&g->cv);
        const struct timespec deadline = pb_test_deadline();
        while (!g->resume)
            if (pb_test_cond_wait(&g->cv, &g->mu, &deadline))
                pb_test_hang("the test to resume the scrubber paused at frame %u", g->frames);
        g->resume = false;
        g->paused = false;
    }
    pthread_mutex_unlock(&g->mu);
}

/* Wait for the n-th pause (counting from 1). */
static uint64_t gate_wait_paused(struct gate *g, unsigned n)
{
    const struct timespec deadline = pb_test_deadline();
    pthread_mutex_lock(&g->mu);
    while (!g->paused || g->pauses < n)
        if (pb_test_cond_wait(&g->cv, &g->mu, &deadline)) {
            pthread_mutex_unlock(&g->mu);
            pb_test_timed_out("pause %u of the scrubber (at frame count %u)", n, g->pause_at);
        }
    uint64_t mfn = g->paused_mfn;
    pthread_mutex_unlock(&g->mu);
    return mfn;
}

/* Let the paused worker go; it pauses again at frame count next_pause (0: never). */
static void gate_resume(struct gate *g, unsigned next_pause)
{
    pthread_mutex_lock(&g->mu);
    g->pause_at = next_pause;
    g->resume = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void gate_destroy(struct gate *g)
{
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv);
}

static struct pb_scrubber *start(struct pb_heap *h, unsigned workers, struct gate *g)
{
    struct pb_scrub_config cfg = {
        .workers_per_node = workers,
        .method = PB_CLEAR_MEMSET,
        .batch_frames = g ? 1 : 0, /* the gate counts on an abort check after every frame */
        .after_frame = g ? gate_hook : NULL,
        .ctx = g,
    };
    struct pb_scrubber *s = NULL;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
    return s;
}

static void wait_state(struct pb_heap *h, uint64_t mfn, uint8_t state)
{
    PB_WAIT_UNTIL(scrub_state(h, mfn) == state, "the buddy at mfn %lu to reach scrub state %u",
                  (unsigned long)mfn, state);
}

static void wait_drained(struct pb_heap *h)
{
    PB_WAIT_UNTIL(pb_scrub_backlog(h) == 0, "the scrubbers to drain the backlog (%lu frames left)",
                  (unsigned long)pb_scrub_backlog(h));
}

/* ------------------------------------------------------------------------------------------
 * Dirty frames, scrub on allocation, flags.
 */

static void dirty_free_writes_data_and_alloc_scrubs_it(struct pb_heap *h)
{
    uint64_t m = alloc_ok(h, NULL, 10, EXACT(1));
    assert_int_equal(zero_frames(h, m, 1024), 1024);
    assert_int_equal(pb_free_heap_pages(h, m, 10, true), 0);
    assert_int_equal(zero_frames(h, m, 1024), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 1024);
    assert_int_equal(pb_scrub_backlog(h), 1024);

    m = alloc_ok(h, NULL, 9, EXACT(1));
    assert_int_equal(zero_frames(h, m, 512), 512);
    /* The half left on the list keeps its data and its flags. */
    assert_int_equal(zero_frames(h, m - 512, 512), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);
    struct pb_scrub_counters c = counters(h);
    assert_int_equal(c.on_alloc, 512);
    assert_int_equal(c.background + c.domain_build, 0);
}

static void test_dirty_free_writes_data_and_alloc_scrubs_it(void **state)
{
    (void)state;
    on_every_variant(dirty_free_writes_data_and_alloc_scrubs_it);
}

static void scrub_on_alloc_with_each_clear_method(struct pb_heap *h)
{
    for (unsigned method = 0; method < PB_CLEAR_NR_METHODS; method++) {
        assert_int_equal(pb_heap_set_clear_method(h, (enum pb_clear_method)method), 0);
        uint64_t m = alloc_ok(h, NULL, 10, EXACT(1));
        assert_int_equal(pb_free_heap_pages(h, m, 10, true), 0);
        m = alloc_ok(h, NULL, 10, EXACT(1));
        assert_int_equal(zero_frames(h, m, 1024), 1024);
        assert_int_equal(pb_free_heap_pages(h, m, 10, false), 0);
    }
    assert_int_equal(counters(h).on_alloc, 1024 * PB_CLEAR_NR_METHODS);
    assert_int_equal(pb_heap_set_clear_method(h, PB_CLEAR_NR_METHODS), -EINVAL);
    assert_int_equal(pb_heap_set_clear_method(NULL, PB_CLEAR_MEMSET), -EINVAL);
}

static void test_scrub_on_alloc_with_each_clear_method(void **state)
{
    (void)state;
    on_every_variant(scrub_on_alloc_with_each_clear_method);
}

static void no_scrub_and_keep_scrub(struct pb_heap *h)
{
    uint64_t m = alloc_ok(h, NULL, 10, EXACT(1));
    assert_int_equal(pb_free_heap_pages(h, m, 10, true), 0);

    /* no_scrub: handed over dirty, flags dropped, nothing scrubbed. */
    uint64_t a = alloc_ok(h, NULL, 9, EXACT(1) | MEMF_no_scrub);
    assert_int_equal(zero_frames(h, a, 512), 0);
    for (unsigned i = 0; i < 512; i++)
        assert_false(pb_heap_frame_dirty(h, a + i));
    /* keep_scrub: dirty, flags kept for the caller. */
    uint64_t b = alloc_ok(h, NULL, 9, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    for (unsigned i = 0; i < 512; i++)
        assert_true(pb_heap_frame_dirty(h, b + i));
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 0);
    assert_int_equal(counters(h).on_alloc, 0);
    struct pb_heap_counters hc;
    pb_heap_read_counters(h, &hc);
    assert_int_equal(hc.dirty_alloc_pages, 1024);

    /* A frame never scrubbed stays dirty when freed clean. */
    assert_int_equal(pb_free_heap_pages(h, b, 9, false), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);
}

static void test_no_scrub_and_keep_scrub(void **state)
{
    (void)state;
    on_every_variant(no_scrub_and_keep_scrub);
}

/* ------------------------------------------------------------------------------------------
 * Verification.
 */

static void verify_counts_frames_and_reports_failures(struct pb_heap *h)
{
    /* Off: nothing counted. */
    uint64_t m = alloc_ok(h, NULL, 9, EXACT(1));
    assert_int_equal(counters(h).verified, 0);
    assert_int_equal(pb_free_heap_pages(h, m, 9, true), 0);

    assert_int_equal(pb_heap_set_verify(h, PB_VERIFY_FULL), 0);
    m = alloc_ok(h, NULL, 9, EXACT(1));
    assert_int_equal(counters(h).verified, 512);
    assert_int_equal(counters(h).verify_failures, 0);
    /* no_scrub extents are the caller's to scrub: not verified. */
    uint64_t d = alloc_ok(h, NULL, 9, EXACT(1) | MEMF_no_scrub);
    assert_int_equal(counters(h).verified, 512);

    /* A frame that should be clean but is not: the allocation fails with -EIO. */
    for (unsigned i = 0; i < 512; i++)
        pb_dirty_fill(pb_frame_data(h, d + i));
    assert_int_equal(pb_free_heap_pages(h, d, 9, false), 0); /* data left behind */
    uint64_t got = 0;
    assert_int_equal(pb_alloc_domheap_pages(h, NULL, 9, EXACT(1), &got), -EIO);
    assert_int_equal(counters(h).verify_failures, 512);
    /* ... and the extent went back dirty, so the next allocation scrubs it. */
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);
    got = alloc_ok(h, NULL, 9, EXACT(1));
    assert_int_equal(counters(h).verify_failures, 512);

    /* Sampled catches every dirty-filled frame; one stray byte only if its line is drawn. */
    assert_int_equal(pb_heap_set_verify(h, PB_VERIFY_SAMPLED), 0);
    assert_int_equal(pb_verify_extent(h, got, 9), 0);
    pb_dirty_fill(pb_frame_data(h, got + 3));
    uint64_t before = counters(h).verify_failures;
    assert_int_equal(pb_verify_extent(h, got, 9), -EIO);
    assert_int_equal(counters(h).verify_failures, before + 1);
    assert_int_equal(pb_heap_set_verify(h, PB_VERIFY_FULL), 0);
    memset(pb_frame_data(h, got + 3), 0, PB_PAGE_SIZE);
    ((unsigned char *)pb_frame_data(h, got + 5))[4095] = 1;
    assert_int_equal(pb_verify_extent(h, got, 9), -EIO);
    assert_int_equal(counters(h).verify_failures, before + 2);

    assert_int_equal(pb_verify_extent(h, got + 1, 9), -EINVAL);
    assert_int_equal(pb_verify_extent(h, 0, 0), -EINVAL);
    assert_int_equal(pb_verify_extent(h, 1024, 11), -EINVAL);
    assert_int_equal(pb_heap_set_verify(h, PB_VERIFY_FULL + 1), -EINVAL);
}

static void test_verify_counts_frames_and_reports_failures(void **state)
{
    (void)state;
    on_every_variant(verify_counts_frames_and_reports_failures);
}

/* ------------------------------------------------------------------------------------------
 * Domain-build scrubbing and the stash.
 */

static bool preempt_always(void *ctx)
{
    (*(unsigned *)ctx)++;
    return true;
}

/* An order-10 extent of d on node 1, taken with no_scrub|keep_scrub from a node freed with
 * every odd frame dirty: 512 flagged frames. */
static uint64_t half_dirty_extent(struct pb_heap *h, struct pb_domain *d)
{
    uint64_t m = alloc_ok(h, NULL, 10, EXACT(1));
    for (unsigned i = 0; i < 1024; i++)
        assert_int_equal(pb_free_heap_pages(h, m + i, 0, i & 1), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);
    uint64_t e = alloc_ok(h, d, 10, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    assert_int_equal(e, m);
    return e;
}

static void test_domain_build_scrub_preempted_and_resumed_equals_one_pass(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        struct pb_domain_config cfg = {.max_pages = 4096};
        /* One uninterrupted pass. */
        struct pb_heap *h1 = backed_machine(v, 2, 1024);
        struct pb_domain *d1;
        assert_int_equal(pb_domain_create(h1, 1, &cfg, &d1), 0);
        uint64_t e1 = half_dirty_extent(h1, d1);
        uint64_t p1 = 0;
        assert_int_equal(pb_scrub_extent_preemptible(h1, e1, 10, &p1, NULL, NULL), 0);
        assert_int_equal(p1, 1024);

        /* Preempted at every check, resumed from the stash each time. */
        struct pb_heap *h2 = backed_machine(v, 2, 1024);
        struct pb_domain *d2;
        assert_int_equal(pb_domain_create(h2, 1, &cfg, &d2), 0);
        uint64_t e2 = half_dirty_extent(h2, d2);
        uint64_t p2 = 0, mfn = e2;
        unsigned checks = 0, restarts = 0;
        int rc;
        while ((rc = pb_scrub_extent_preemptible(h2, mfn, 10, &p2, preempt_always, &checks)) ==
               -ERESTART) {
            restarts++;
            /* 256 dirty frames (every odd one) end at index 511. */
            assert_int_equal(p2, 512 * restarts);
            pb_scrub_stash_put(d2, mfn, 10, p2);
            assert_int_equal(pb_scrub_stash_take(d2, 10, 1, &mfn, &p2), 0);
            assert_int_equal(mfn, e2);
        }
        assert_int_equal(rc, 0);
        assert_int_equal(p2, 1024);
        /* Checked after each 256 dirty frames but the last batch. */
        assert_int_equal(checks, 1);
        assert_int_equal(restarts, 1);
        assert_int_equal(pb_scrub_stash_take(d2, 10, 1, &mfn, &p2), -ENOENT);

        for (unsigned i = 0; i < 1024; i++) {
            assert_true(frame_zero(h1, e1 + i));
            assert_true(frame_zero(h2, e2 + i));
            assert_false(pb_heap_frame_dirty(h1, e1 + i));
            assert_false(pb_heap_frame_dirty(h2, e2 + i));
        }
        assert_int_equal(counters(h1).domain_build, 512);
        assert_int_equal(counters(h2).domain_build, 512);
        assert_int_equal(pb_heap_set_verify(h2, PB_VERIFY_FULL), 0);
        assert_int_equal(pb_verify_extent(h2, e2, 10), 0);
        /* Resuming a finished extent does nothing. */
        assert_int_equal(pb_scrub_extent_preemptible(h2, e2, 10, &p2, preempt_always, &checks), 0);
        assert_int_equal(checks, 1);
        assert_valid(h1);
        assert_valid(h2);
        pb_heap_destroy(h1);
        pb_heap_destroy(h2);
    }
}

static void test_domain_build_scrub_bad_arguments(void **state)
{
    (void)state;
    struct pb_heap *h = backed_machine("pernode", 2, 1024);
    uint64_t m = alloc_ok(h, NULL, 9, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    uint64_t p = 513;
    assert_int_equal(pb_scrub_extent_preemptible(h, m, 9, &p, NULL, NULL), -EINVAL);
    p = 0;
    assert_int_equal(pb_scrub_extent_preemptible(h, m + 1, 9, &p, NULL, NULL), -EINVAL);
    assert_int_equal(pb_scrub_extent_preemptible(h, m, 9, NULL, NULL, NULL), -EINVAL);
    /* Not in use: the free lower half. */
    assert_int_equal(pb_scrub_extent_preemptible(h, m - 512, 9, &p, NULL, NULL), -EINVAL);
    /* Crosses into node 1 from node 0. */
    assert_int_equal(pb_scrub_extent_preemptible(h, 0, 11, &p, NULL, NULL), -EINVAL);
    assert_int_equal(p, 0);
    assert_int_equal(counters(h).domain_build, 0);
    pb_heap_destroy(h);
}

static void stash_of_another_order_or_node_is_discarded(struct pb_heap *h)
{
    struct pb_domain_config cfg = {.max_pages = 4096};
    struct pb_domain *d;
    assert_int_equal(pb_domain_create(h, 1, &cfg, &d), 0);
    uint64_t mfn, p;
    unsigned owner;
    assert_int_equal(pb_scrub_stash_take(d, 9, -1, &mfn, &p), -ENOENT);

    /* A stashed extent is nobody's yet. Another order: freed dirty, every frame, counted. */
    uint64_t e = alloc_ok(h, d, 9, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    assert_true(pb_heap_frame_in_use(h, e, &owner));
    assert_int_equal(owner, PB_DOMID_NONE);
    pb_scrub_stash_put(d, e, 9, 100);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    assert_int_equal(pb_scrub_stash_take(d, 8, -1, &mfn, &p), -ENOENT);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);
    assert_int_equal(zero_frames(h, e, 512), 0);
    assert_int_equal(counters(h).stash_discards, 1);
    assert_int_equal(pb_scrub_stash_take(d, 9, -1, &mfn, &p), -ENOENT);
    assert_valid(h);

    /* Another node likewise (an offline node id too); the right node (or any) takes it. */
    e = alloc_ok(h, d, 9, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    pb_scrub_stash_put(d, e, 9, 7);
    assert_int_equal(pb_scrub_stash_take(d, 9, 1, &mfn, &p), 0);
    assert_int_equal(mfn, e);
    assert_int_equal(p, 7);
    pb_scrub_stash_put(d, e, 9, 8);
    assert_int_equal(pb_scrub_stash_take(d, 9, -1, &mfn, &p), 0);
    assert_int_equal(p, 8);
    pb_scrub_stash_put(d, e, 9, 9);
    assert_int_equal(pb_scrub_stash_take(d, 9, 0, &mfn, &p), -ENOENT);
    assert_int_equal(counters(h).stash_discards, 2);
    e = alloc_ok(h, d, 9, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    pb_scrub_stash_put(d, e, 9, 9);
    assert_int_equal(pb_scrub_stash_take(d, 9, 2, &mfn, &p), -ENOENT);
    assert_int_equal(counters(h).stash_discards, 3);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 512);

    /* Bad arguments change nothing. */
    e = alloc_ok(h, d, 9, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    pb_scrub_stash_put(d, e, 9, 1);
    assert_int_equal(pb_scrub_stash_take(d, 9, PB_MAX_NODES, &mfn, &p), -EINVAL);
    assert_int_equal(pb_scrub_stash_take(d, PB_MAX_ORDER + 1, -1, &mfn, &p), -EINVAL);
    assert_int_equal(pb_scrub_stash_take(NULL, 9, -1, &mfn, &p), -EINVAL);

    /* stash_allocation: a second put keeps the first stash and frees the new extent. */
    uint64_t e2 = alloc_ok(h, d, 0, EXACT(0) | MEMF_no_scrub | MEMF_keep_scrub);
    pb_scrub_stash_put(d, e2, 0, 0);
    assert_int_equal(counters(h).stash_discards, 4);
    assert_false(pb_heap_frame_in_use(h, e2, &owner));
    assert_true(pb_heap_frame_dirty(h, e2));
    assert_int_equal(pb_domain_tot_pages(d), 0);

    /* Destroy with a stash: its frames go back once, dirty. */
    uint64_t before = pb_heap_total_avail(h);
    pb_domain_destroy(d);
    assert_int_equal(pb_heap_total_avail(h), before + 512);
    assert_int_equal(counters(h).stash_discards, 4);
    assert_valid(h);
}

static void test_stash_of_another_order_or_node_is_discarded(void **state)
{
    (void)state;
    on_every_variant(stash_of_another_order_or_node_is_discarded);
}

/* ------------------------------------------------------------------------------------------
 * Background scrubbers and the abort handshake.
 */

struct alloc_arg {
    struct pb_heap *h;
    unsigned order, flags;
    uint64_t mfn;
    int rc;
};

static void *alloc_thread(void *p)
{
    struct alloc_arg *a = p;
    a->rc = pb_alloc_domheap_pages(a->h, NULL, a->order, a->flags, &a->mfn);
    return NULL;
}

struct free_arg {
    struct pb_heap *h;
    uint64_t mfn;
    unsigned order;
    bool dirty;
    int rc;
};

static void *free_thread(void *p)
{
    struct free_arg *a = p;
    a->rc = pb_free_heap_pages(a->h, a->mfn, a->order, a->dirty);
    return NULL;
}

/* Node 1's upper half dirty, one scrubber on it, paused after its 10th frame (1536 + 9). */
static struct pb_scrubber *scrub_upper_half_until_frame_10(struct pb_heap *h, struct gate *g,
                                                           uint64_t *lower)
{
    dirty_upper_half_of_node1(h, lower);
    gate_init(g, 10);
    struct pb_scrubber *s = start(h, 1, g);
    assert_int_equal(gate_wait_paused(g, 1), 1536 + 9);
    return s;
}

static void allocation_aborts_a_background_scrub(struct pb_heap *h)
{
    uint64_t lower;
    struct gate g;
    struct pb_scrubber *s = scrub_upper_half_until_frame_10(h, &g, &lower);
    assert_int_equal(scrub_state(h, 1536), PB_SCRUBBING);

    /* The only order-9 buddy of node 1 is under the scrub: the allocation stops it. */
    struct alloc_arg a = {.h = h, .order = 9, .flags = EXACT(1)};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, alloc_thread, &a), 0);
    wait_state(h, 1536, PB_SCRUB_ABORT);
    gate_resume(&g, 0);
    pb_test_join(t, "the allocation that aborts the scrub to return");
    assert_int_equal(a.rc, 0);
    assert_int_equal(a.mfn, 1536);
    assert_int_equal(zero_frames(h, 1536, 512), 512);
    pb_scrubber_stop(s);

    /* 10 frames by the scrubber, the other 502 from first_dirty 10 by the allocator. */
    struct pb_scrub_counters c = counters(h);
    assert_int_equal(c.background, 10);
    assert_int_equal(c.on_alloc, 502);
    assert_int_equal(c.aborts, 1);
    assert_int_equal(c.double_clears, 0);
    struct pb_heap_counters hc;
    pb_heap_read_counters(h, &hc);
    assert_int_equal(hc.dirty_alloc_pages, 502);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 0);
    gate_destroy(&g);
}

static void test_allocation_aborts_a_background_scrub(void **state)
{
    (void)state;
    on_every_variant(allocation_aborts_a_background_scrub);
}

static void merge_aborts_a_background_scrub(struct pb_heap *h)
{
    /* pcp would cache the clean order-9 free (cached frames merge only when drained):
     * this rule is about the merge, so its caches pass every extent through. */
    if (!strcmp(pb_heap_variant(h), "pcp"))
        assert_int_equal(pb_pcp_set_watermarks(h, 9, 1, 0), 0);
    uint64_t lower;
    struct gate g;
    struct pb_scrubber *s = scrub_upper_half_until_frame_10(h, &g, &lower);

    /* Freeing the clean lower half merges with the buddy under the scrub. */
    struct free_arg f = {.h = h, .mfn = lower, .order = 9, .dirty = false};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, free_thread, &f), 0);
    wait_state(h, 1536, PB_SCRUB_ABORT);
    gate_resume(&g, 11);
    /* The scrubber gave up at 10 and took the merged buddy from first_dirty 512 + 10. */
    assert_int_equal(gate_wait_paused(&g, 2), 1024 + 522);
    pb_test_join(t, "the free that merges with the buddy under the scrub to return");
    assert_int_equal(f.rc, 0);
    assert_int_equal(h->frames[1024].order, 10);
    assert_int_equal(h->frames[1024].first_dirty, 522);
    assert_int_equal(scrub_state(h, 1024), PB_SCRUBBING);
    assert_int_equal(pb_heap_node_need_scrub(h, 1), 502);
    struct pb_scrub_counters c = counters(h);
    assert_int_equal(c.background, 10);
    assert_int_equal(c.aborts, 1);

    gate_resume(&g, 0);
    wait_drained(h);
    pb_scrubber_stop(s);
    unsigned order;
    uint32_t fd;
    assert_true(pb_heap_free_buddy_at(h, 1024, &order, &fd));
    assert_int_equal(order, 10);
    assert_int_equal(fd, CLEAN);
    assert_int_equal(zero_frames(h, 1024, 1024), 1024);
    c = counters(h);
    assert_int_equal(c.background, 512);
    assert_int_equal(c.aborts, 1);
    assert_int_equal(c.on_alloc, 0);
    gate_destroy(&g);
}

static void test_merge_aborts_a_background_scrub(void **state)
{
    (void)state;
    on_every_variant(merge_aborts_a_background_scrub);
}

/* Allocate every frame of h in order-0 frames, then free them all dirty. */
static uint64_t dirty_everything(struct pb_heap *h)
{
    uint64_t n = pb_heap_nr_frames(h), count = 0;
    uint64_t *got = malloc(n * sizeof(*got));
    assert_non_null(got);
    uint64_t mfn;
    while (pb_alloc_domheap_pages(h, NULL, 0, 0, &mfn) == 0)
        got[count++] = mfn;
    for (uint64_t i = 0; i < count; i++)
        assert_int_equal(pb_free_heap_pages(h, got[i], 0, true), 0);
    free(got);
    assert_int_equal(pb_scrub_backlog(h), count);
    return count;
}

static void assert_free_frames_zero(struct pb_heap *h)
{
    unsigned owner;
    for (uint64_t m = 1; m < pb_heap_nr_frames(h); m++)
        if (!pb_heap_frame_in_use(h, m, &owner) && !frame_zero(h, m))
            fail_msg("free frame %lu does not read zero", (unsigned long)m);
}

static void test_idle_backlog_drains_and_stop_leaves_nothing_half_owned(void **state)
{
    (void)state;
    FOR_EACH_VARIANT(v)
    {
        for (unsigned workers = 1; workers <= 2; workers++) {
            struct pb_heap *h = backed_machine(v, 2, 4096);
            uint64_t dirty = dirty_everything(h);
            struct pb_scrubber *s = start(h, workers, NULL);
            wait_drained(h);
            pb_scrubber_stop(s);
            struct pb_scrub_counters c = counters(h);
            assert_int_equal(c.background, dirty);
            assert_int_equal(c.aborts, 0);
            assert_int_equal(c.double_clears, 0);
            assert_free_frames_zero(h);
            assert_valid(h);
            /* Everything is on the clean side: an order-12 allocation needs no scrub. */
            alloc_ok(h, NULL, 12, EXACT(1));
            assert_int_equal(counters(h).on_alloc, 0);

            /* Stopped in the middle of a buddy: progress published, state NONE, exact. */
            uint64_t dirty1 = dirty;
            dirty = dirty_everything(h);
            struct gate g;
            gate_init(&g, 100);
            s = start(h, workers, &g);
            gate_wait_paused(&g, 1);
            gate_resume(&g, 0);
            pb_scrubber_stop(s);
            c = counters(h);
            assert_int_equal(c.background - dirty1 + pb_scrub_backlog(h), dirty);
            assert_int_equal(c.double_clears, 0);
            assert_valid(h);
            /* Flagged frames still hold their data; every other frame reads zero. */
            uint64_t flagged = 0;
            for (uint64_t m = 1; m < pb_heap_nr_frames(h); m++) {
                bool fl = pb_heap_frame_dirty(h, m);
                flagged += fl;
                if (fl == frame_zero(h, m))
                    fail_msg("frame %lu: flagged %d, reads zero %d", (unsigned long)m, fl, !fl);
            }
            assert_int_equal(flagged, pb_scrub_backlog(h));
            gate_destroy(&g);
            pb_heap_destroy(h);
        }
    }
}

static void test_scrubber_start_errors(void **state)
{
    (void)state;
    struct pb_heap *h = backed_machine("pernode", 2, 1024);
    struct pb_scrub_config cfg = {.workers_per_node = 0, .method = PB_CLEAR_MEMSET};
    struct pb_scrubber *s = NULL;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), -EINVAL);
    cfg.workers_per_node = 1;
    cfg.batch_frames = PB_SCRUB_CHUNK + 1;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), -EINVAL);
    cfg.batch_frames = 0;
    cfg.method = PB_CLEAR_NR_METHODS;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), -EINVAL);
    assert_int_equal(pb_scrubber_start(NULL, &cfg, &s), -EINVAL);
    cfg.method = PB_CLEAR_AUTO;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
    struct pb_scrubber *s2 = NULL;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s2), -EBUSY);
    pb_scrubber_stop(s);
    assert_int_equal(pb_scrubber_start(h, &cfg, &s2), 0);
    pb_scrubber_stop(s2);
    pb_scrubber_stop(NULL);
    assert_valid(h);
    pb_heap_destroy(h);
}

static void test_double_clear_is_detected(void **state)
{
    (void)state;
#if POPBENCH_DEBUG >= 1
    struct pb_heap *h = backed_machine("pernode", 2, 1024);
    uint64_t m = alloc_ok(h, NULL, 0, EXACT(1) | MEMF_no_scrub | MEMF_keep_scrub);
    h->frames[m].need_scrub = 1;
    /* As if another thread were zeroing the frame right now. */
    atomic_store(&h->frames[m].clearing, 1);
    uint64_t p = 0;
    assert_int_equal(pb_scrub_extent_preemptible(h, m, 0, &p, NULL, NULL), 0);
    assert_int_equal(counters(h).double_clears, 1);
    assert_int_equal(atomic_load(&h->frames[m].clearing), 0);
    pb_heap_destroy(h);
#else
    skip();
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dirty_free_writes_data_and_alloc_scrubs_it),
        cmocka_unit_test(test_scrub_on_alloc_with_each_clear_method),
        cmocka_unit_test(test_no_scrub_and_keep_scrub),
        cmocka_unit_test(test_verify_counts_frames_and_reports_failures),
        cmocka_unit_test(test_domain_build_scrub_preempted_and_resumed_equals_one_pass),
        cmocka_unit_test(test_domain_build_scrub_bad_arguments),
        cmocka_unit_test(test_stash_of_another_order_or_node_is_discarded),
        cmocka_unit_test(test_allocation_aborts_a_background_scrub),
        cmocka_unit_test(test_merge_aborts_a_background_scrub),
        cmocka_unit_test(test_idle_backlog_drains_and_stop_leaves_nothing_half_owned),
        cmocka_unit_test(test_scrubber_start_errors),
        cmocka_unit_test(test_double_clear_is_detected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
