/*
 * Stress: no frame reaches a domain unscrubbed. Threads allocate (scrubbed on allocation, or
 * dirty with MEMF_no_scrub|MEMF_keep_scrub and then scrubbed preemptibly through the
 * domain-build stash) and free (dirty or clean) on a 4-node machine with real backing while
 * the background scrubbers of the heap's design run, with verification FULL. Each thread
 * checks every frame it gets (once scrubbed) reads zero; afterwards no verification failure,
 * no frame cleared by two threads at once, the validator exact with every buddy's scrub state
 * NONE, and, left idle, the backlog drains to zero with every free frame reading zero.
 * Bounded by operation counts only; runs under ThreadSanitizer and ASan in CI.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/prng.h"

#include "core/clear.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/memflags.h"
#include "core/scrub.h"

#include "tests/common/wait.h"

#define NODES       4
#define NODE_FRAMES 4096u /* 16 MiB a node */
#define THREADS     4
#define HELD_MAX    48

#ifndef STRESS_OPS
#define STRESS_OPS 2500 /* per thread */
#endif

struct extent {
    uint64_t mfn;
    unsigned order;
    struct pb_domain *d; /* NULL: owned by nobody */
};

struct worker {
    pthread_t tid;
    struct pb_heap *h;
    struct pb_domain *d; /* this thread's domain: the only one that uses its stash */
    unsigned index;
    struct pb_rng rng;
    struct extent held[HELD_MAX];
    unsigned nheld;
    uint64_t allocs, built, restarts, discards, failures, violations;
};

/* Every frame must read zero; counted as violations otherwise. */
static void check_zero(struct worker *w, uint64_t mfn, unsigned order)
{
    for (uint64_t i = 0; i < (1ull << order); i++)
        if (!pb_page_is_zero(pb_frame_data(w->h, mfn + i)))
            w->violations++;
}

static bool preempt_sometimes(void *ctx)
{
    return pb_rng_next(ctx) % 2 == 0;
}

/* The domain-build path: allocate dirty (nobody's yet), scrub preemptibly, resuming through
 * the stash, then assign to the domain. */
static void build_extent(struct worker *w, unsigned order, unsigned flags)
{
    uint64_t mfn;
    int rc =
        pb_alloc_domheap_pages(w->h, w->d, order, flags | MEMF_no_scrub | MEMF_keep_scrub, &mfn);
    if (rc) {
        w->failures += rc == -ENOMEM || rc == -E2BIG;
        w->violations += rc != -ENOMEM && rc != -E2BIG;
        return;
    }
    uint64_t progress = 0;
    while ((rc = pb_scrub_extent_preemptible(w->h, mfn, order, &progress, preempt_sometimes,
                                             &w->rng)) == -ERESTART) {
        w->restarts++;
        int node = pb_mfn_to_node(w->h, mfn);
        pb_scrub_stash_put(w->d, mfn, order, progress);
        if (pb_rng_next(&w->rng) % 16 == 0) {
            /* A continuation for another order: the stash is freed dirty. */
            uint64_t m2, p2;
            if (pb_scrub_stash_take(w->d, order + 1, node, &m2, &p2) != -ENOENT)
                w->violations++;
            w->discards++;
            return;
        }
        uint64_t m2;
        if (pb_scrub_stash_take(w->d, order, pb_rng_next(&w->rng) & 1 ? node : -1, &m2,
                                &progress) ||
            m2 != mfn)
            w->violations++;
    }
    if (rc || pb_verify_extent(w->h, mfn, order))
        w->violations++;
    check_zero(w, mfn, order);
    rc = pb_assign_pages(w->d, mfn, order, 0);
    if (rc) {
        w->failures += rc == -E2BIG;
        w->violations += rc != -E2BIG;
        if (pb_free_domheap_pages(w->h, NULL, mfn, order, true))
            w->violations++;
        return;
    }
    w->held[w->nheld++] = (struct extent){mfn, order, w->d};
    w->built++;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    pb_set_current_node(w->index % NODES);
    for (unsigned op = 0; op < STRESS_OPS; op++) {
        uint64_t r = pb_rng_next(&w->rng);
        if (w->nheld == HELD_MAX || (w->nheld && (r & 1))) {
            unsigned i = (unsigned)(pb_rng_next(&w->rng) % w->nheld);
            struct extent e = w->held[i];
            w->held[i] = w->held[--w->nheld];
            if (pb_free_domheap_pages(w->h, e.d, e.mfn, e.order, (r >> 1) & 1))
                w->violations++;
            continue;
        }
        unsigned pick = (unsigned)(r >> 8) % 100;
        unsigned order = pick < 60 ? 0 : pick < 92 ? 4 : 9;
        unsigned flags = (r >> 16) % 4 == 0 ? MEMF_node((r >> 20) % NODES) : 0;
        if ((r >> 24) % 8 == 0) {
            build_extent(w, order, flags);
            continue;
        }
        struct pb_domain *d = (r >> 28) & 1 ? w->d : NULL;
        uint64_t mfn;
        int rc = pb_alloc_domheap_pages(w->h, d, order, flags, &mfn);
        if (rc == 0) {
            check_zero(w, mfn, order);
            w->held[w->nheld++] = (struct extent){mfn, order, d};
            w->allocs++;
        } else if (rc == -ENOMEM || rc == -E2BIG) {
            w->failures++;
        } else {
            w->violations++; /* -EIO included: verification failed */
        }
    }
    return NULL;
}

static void assert_valid(struct pb_heap *h, const char *variant, const char *when)
{
    char msg[256] = "";
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("%s %s: %s", variant, when, msg);
}

static void run_stress(const char *variant, enum pb_lock_kind kind)
{
    struct pb_machine_desc desc = {.nr_nodes = NODES, .backing = PB_BACKING_REAL};
    for (unsigned n = 0; n < NODES; n++)
        desc.node_frames[n] = NODE_FRAMES;
    struct pb_heap *h;
    assert_int_equal(pb_heap_create(&desc, variant, kind, &h), 0);
    assert_true(pb_heap_backed(h));
    assert_int_equal(pb_heap_set_verify(h, PB_VERIFY_FULL), 0);

    struct pb_scrub_config cfg = {.workers_per_node = 2, .method = PB_CLEAR_AUTO};
    struct pb_scrubber *s;
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);

    struct worker w[THREADS];
    memset(w, 0, sizeof(w));
    for (unsigned t = 0; t < THREADS; t++) {
        struct pb_domain_config dc = {.max_pages = NODES * NODE_FRAMES};
        assert_int_equal(pb_domain_create(h, t + 1, &dc, &w[t].d), 0);
        w[t].h = h;
        w[t].index = t;
        pb_rng_seed(&w[t].rng, pb_rng_stream_seed(0x9e3779b97f4a7c15ull, t));
        assert_int_equal(pthread_create(&w[t].tid, NULL, work, &w[t]), 0);
    }
    uint64_t allocs = 0, built = 0, restarts = 0, violations = 0;
    for (unsigned t = 0; t < THREADS; t++) {
        pb_test_join(w[t].tid, "stress thread %u (%s/%s) to finish its operations", t, variant,
                     pb_lock_kind_name(kind));
        allocs += w[t].allocs;
        built += w[t].built;
        restarts += w[t].restarts;
        violations += w[t].violations;
    }
    pb_scrubber_stop(s);
    assert_int_equal(violations, 0);
    assert_true(allocs > THREADS * STRESS_OPS / 4);
    assert_true(built > 0);

    struct pb_scrub_counters c;
    pb_scrub_read_counters(h, &c);
    assert_int_equal(c.verify_failures, 0);
    assert_int_equal(c.double_clears, 0);
    assert_true(c.verified > 0);
    assert_true(c.background > 0);
    assert_valid(h, variant, "after the run");
    print_message("%s/%s: %lu allocs, %lu built (%lu restarts); frames scrubbed on alloc %lu, "
                  "background %lu, domain build %lu; %lu aborts; %lu verified\n",
                  variant, pb_lock_kind_name(kind), (unsigned long)allocs, (unsigned long)built,
                  (unsigned long)restarts, (unsigned long)c.on_alloc, (unsigned long)c.background,
                  (unsigned long)c.domain_build, (unsigned long)c.aborts,
                  (unsigned long)c.verified);

    /* Give everything back dirty, then let the scrubbers drain an idle machine. */
    for (unsigned t = 0; t < THREADS; t++)
        for (unsigned i = 0; i < w[t].nheld; i++)
            assert_int_equal(pb_free_domheap_pages(h, w[t].held[i].d, w[t].held[i].mfn,
                                                   w[t].held[i].order, true),
                             0);
    assert_int_equal(pb_scrubber_start(h, &cfg, &s), 0);
    PB_WAIT_UNTIL(pb_scrub_backlog(h) == 0,
                  "the scrubbers to drain an idle %s/%s machine (%lu frames left)", variant,
                  pb_lock_kind_name(kind), (unsigned long)pb_scrub_backlog(h));
    pb_scrubber_stop(s);
    assert_int_equal(pb_heap_total_avail(h), NODES * NODE_FRAMES - 1);
    for (uint64_t m = 1; m < NODES * NODE_FRAMES; m++)
        if (!pb_page_is_zero(pb_frame_data(h, m)))
            fail_msg("%s: free frame %lu does not read zero", variant, (unsigned long)m);
    pb_scrub_read_counters(h, &c);
    assert_int_equal(c.double_clears, 0);
    assert_valid(h, variant, "after draining");
    pb_heap_destroy(h);
}

static void test_stress_every_variant(void **state)
{
    (void)state;
    for (const char *const *v = pb_variant_names(); *v; v++) {
        run_stress(*v, PB_LOCK_TICKET);
        run_stress(*v, PB_LOCK_MUTEX);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_every_variant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
