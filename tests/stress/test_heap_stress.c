/*
 * Stress: threads allocate and free random extents of orders 0, 9 and 18 for several domains
 * on a 4-node machine, some of them under host-wide claims, some under node claims that one
 * thread keeps releasing and staking again, for every variant and lock kind. Checks
 * that no frame is handed out twice while the threads run (each thread owns what it got and
 * checks ownership when it frees it), and that the validator finds the heap exact afterwards.
 * Bounded by operation counts only; runs under ThreadSanitizer in CI.
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

#include "core/domain.h"
#include "core/heap.h"
#include "core/memflags.h"

#include "tests/common/wait.h"

#define NODES       4
#define NODE_FRAMES (1u << 19) /* 2 GiB a node: room for order-18 buddies */
#define THREADS     4
#define DOMAINS     6
#define HELD_MAX    256

#ifndef STRESS_OPS
#define STRESS_OPS 3000 /* per thread */
#endif

struct extent {
    uint64_t mfn;
    unsigned order;
    struct pb_domain *d;
};

struct worker {
    pthread_t tid;
    struct pb_heap *h;
    struct pb_domain **doms;
    unsigned index;
    struct pb_rng rng;
    struct extent held[HELD_MAX];
    unsigned nheld;
    uint64_t allocs, failures, frees, violations, restaked;
};

/* What this thread got must still be in use and owned by the domain it went to. */
static void check_owned(struct worker *w, const struct extent *e)
{
    unsigned owner;
    for (uint64_t i = 0; i < (1ull << e->order); i += e->order ? 511 : 1) {
        if (!pb_heap_frame_in_use(w->h, e->mfn + i, &owner) || owner != pb_domain_id(e->d))
            w->violations++;
    }
}

/* Domains 2 and 5 claim on two nodes and host-wide. */
static int stake_node_claims(struct pb_domain *d, unsigned i)
{
    struct pb_claim parts[3] = {
        {(int)(i % NODES), 1u << 17},
        {(int)((i + 1) % NODES), 1u << 16},
        {PB_CLAIM_HOST, 1u << 16},
    };
    return pb_domain_claim_nodes(d, parts, 3);
}

static void *work(void *arg)
{
    struct worker *w = arg;
    pb_set_current_node(w->index % NODES);
    for (unsigned op = 0; op < STRESS_OPS; op++) {
        uint64_t r = pb_rng_next(&w->rng);
        if (w->index == 0 && op % 97 == 96) {
            /* Release a node claim while others allocate against it, then stake it again
             * (-EINVAL once the domain holds too much for it, -ENOMEM when memory is short). */
            unsigned i = (r >> 40) % 2 ? 2 : 5;
            if (pb_domain_claim_nodes(w->doms[i], NULL, 0) != 0)
                w->violations++;
            int rc = stake_node_claims(w->doms[i], i);
            if (rc != 0 && rc != -EINVAL && rc != -ENOMEM)
                w->violations++;
            w->restaked += rc == 0;
            continue;
        }
        bool do_free = w->nheld == HELD_MAX || (w->nheld && (r & 1));
        if (do_free) {
            unsigned i = (unsigned)(pb_rng_next(&w->rng) % w->nheld);
            struct extent e = w->held[i];
            w->held[i] = w->held[--w->nheld];
            check_owned(w, &e);
            bool dirty = pb_rng_next(&w->rng) & 1;
            if (pb_free_domheap_pages(w->h, e.d, e.mfn, e.order, dirty) != 0)
                w->violations++;
            w->frees++;
            continue;
        }
        unsigned pick = (unsigned)(r >> 8) % 100;
        unsigned order = pick < 80 ? 0 : pick < 98 ? 9 : 18;
        struct pb_domain *d = w->doms[(r >> 16) % DOMAINS];
        unsigned flags = 0;
        if ((r >> 24) % 4 == 0)
            flags |= MEMF_node((r >> 28) % NODES);
        if ((r >> 32) % 8 == 0)
            flags |= MEMF_exact_node;
        uint64_t mfn;
        int rc = pb_alloc_domheap_pages(w->h, d, order, flags, &mfn);
        if (rc == 0) {
            w->held[w->nheld++] = (struct extent){mfn, order, d};
            check_owned(w, &w->held[w->nheld - 1]);
            w->allocs++;
        } else if (rc == -ENOMEM || rc == -E2BIG) {
            w->failures++;
        } else {
            w->violations++;
        }
    }
    return NULL;
}

static void run_stress(const char *variant, enum pb_lock_kind kind)
{
    struct pb_machine_desc desc = {.nr_nodes = NODES, .backing = PB_BACKING_NONE};
    for (unsigned n = 0; n < NODES; n++)
        desc.node_frames[n] = NODE_FRAMES;
    struct pb_heap *h;
    assert_int_equal(pb_heap_create(&desc, variant, kind, &h), 0);

    struct pb_domain *doms[DOMAINS];
    for (unsigned i = 0; i < DOMAINS; i++) {
        struct pb_domain_config cfg = {
            .max_pages = (i % 3 == 0) ? (1u << 20) : (3u << 18),
            .node_affinity = (i % 2) ? (1u << (i % NODES)) | (1u << ((i + 1) % NODES)) : 0,
        };
        assert_int_equal(pb_domain_create(h, i + 1, &cfg, &doms[i]), 0);
        if (i % 3 == 1)
            assert_int_equal(pb_domain_claim_pages(doms[i], 1u << 18), 0);
        if (i % 3 == 2)
            assert_int_equal(stake_node_claims(doms[i], i), 0);
    }

    struct worker w[THREADS];
    memset(w, 0, sizeof(w));
    for (unsigned t = 0; t < THREADS; t++) {
        w[t].h = h;
        w[t].doms = doms;
        w[t].index = t;
        pb_rng_seed(&w[t].rng, pb_rng_stream_seed(0x9e3779b97f4a7c15ull, t));
        assert_int_equal(pthread_create(&w[t].tid, NULL, work, &w[t]), 0);
    }
    uint64_t allocs = 0, violations = 0;
    for (unsigned t = 0; t < THREADS; t++) {
        pb_test_join(w[t].tid, "stress thread %u (%s/%s) to finish its operations", t, variant,
                     pb_lock_kind_name(kind));
        allocs += w[t].allocs;
        violations += w[t].violations;
    }
    assert_int_equal(violations, 0);
    assert_true(w[0].restaked > 0); /* the release/stake race really ran */
    assert_true(allocs > THREADS * STRESS_OPS / 4);

    char msg[256] = "";
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("%s/%s after the run: %s", variant, pb_lock_kind_name(kind), msg);
    /* Claims never over-committed, and exact once everything is given back. */
    assert_true(pb_heap_outstanding_claims(h) <= pb_heap_total_avail(h));
    for (unsigned t = 0; t < THREADS; t++)
        for (unsigned i = 0; i < w[t].nheld; i++)
            assert_int_equal(pb_free_domheap_pages(h, w[t].held[i].d, w[t].held[i].mfn,
                                                   w[t].held[i].order, false),
                             0);
    for (unsigned i = 0; i < DOMAINS; i++) {
        assert_int_equal(pb_domain_tot_pages(doms[i]), 0);
        assert_int_equal(pb_domain_claim_pages(doms[i], 0), 0);
    }
    for (unsigned n = 0; n < NODES; n++)
        assert_int_equal(pb_heap_node_claims(h, n), 0);
    assert_int_equal(pb_heap_total_avail(h), NODES * NODE_FRAMES - 1);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("%s/%s after freeing: %s", variant, pb_lock_kind_name(kind), msg);
    pb_heap_destroy(h);
}

static void test_stress_every_variant_and_lock_kind(void **state)
{
    (void)state;
    for (const char *const *vp = pb_variant_names(), *v; (v = *vp) != NULL; vp++) {
        run_stress(v, PB_LOCK_TICKET);
        run_stress(v, PB_LOCK_MUTEX);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_every_variant_and_lock_kind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
