/*
 * Stress: threads allocate and free random extents of orders 0, 9 and 18 for several domains
 * on a 4-node machine, some of them under host-wide claims, some under node claims that one
 * thread keeps releasing and staking again, for every variant and lock kind. Checks
 * that no frame is handed out twice while the threads run (each thread owns what it got and
 * checks ownership when it frees it), and that the validator finds the heap exact afterwards.
 *
 * Near exhaustion: claims race allocations on a machine with a few hundred frames left (one
 * node with a handful), many domains, phase after phase; after every phase the validator's
 * identities hold (pernode's and pcp's pool and node credits among them) and every domain
 * still gets every frame it claimed: no allocation without a claim took claimed memory.
 *
 * Host-wide figures read while threads allocate (and then free) never show more free memory
 * than exists: the free frames read, plus the frames the threads are known to hold, never
 * exceed the machine (pcp's refills and drains move frames between lists and caches
 * meanwhile).
 *
 * Bounded by operation counts only; runs under ThreadSanitizer in CI.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
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

/* What a thread got must still be in use and owned by the domain it went to. */
static void check_owned(const struct extent *e, const struct pb_heap *h, uint64_t *violations)
{
    unsigned owner;
    for (uint64_t i = 0; i < (1ull << e->order); i += e->order ? 511 : 1) {
        if (!pb_heap_frame_in_use(h, e->mfn + i, &owner) || owner != pb_domain_id(e->d))
            (*violations)++;
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
            check_owned(&e, w->h, &w->violations);
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
            check_owned(&w->held[w->nheld - 1], w->h, &w->violations);
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

static void run_stress_both_lock_kinds(const char *variant)
{
    run_stress(variant, PB_LOCK_TICKET);
    run_stress(variant, PB_LOCK_MUTEX);
}

static void every_variant(void (*run)(const char *variant))
{
    for (const char *const *vp = pb_variant_names(), *v; (v = *vp) != NULL; vp++)
        run(v);
}

static void test_stress_every_variant_and_lock_kind(void **state)
{
    (void)state;
    every_variant(run_stress_both_lock_kinds);
}

/* ---- Claims racing allocations near exhaustion ---- */

#define EX_NODES       2
#define EX_NODE_FRAMES (1u << 14) /* 64 MiB a node */
#define EX_LEFT0       600        /* frames left free on node 0 ... */
#define EX_LEFT1       12         /* ... and on node 1 */
#define EX_DOMAINS     16
#define EX_CLAIMANTS   8 /* domains 0..7 claim; 8..15 never do */
#define EX_THREADS     4
#define EX_HELD        64
#define EX_PHASES      4

struct ex_worker {
    pthread_t tid;
    struct pb_heap *h;
    struct pb_domain **doms;
    unsigned index, phase;
    struct pb_rng rng;
    struct extent held[EX_HELD];
    unsigned nheld;
    uint64_t allocs, claims, violations;
};

/* Stake, release or restake a claimant's claim: host-wide, or on node 1 (the full one). */
static void ex_claim_op(struct ex_worker *w, uint64_t r)
{
    struct pb_domain *d = w->doms[(r >> 8) % EX_CLAIMANTS];
    uint64_t k = 1 + (r >> 16) % 48;
    int rc;
    switch ((r >> 40) % 4) {
    case 0:
        rc = pb_domain_claim_pages(d, 0);
        break;
    case 1:
        rc = pb_domain_claim_pages(d, pb_domain_tot_pages(d) + k);
        break;
    case 2: {
        struct pb_claim part = {1, k};
        rc = pb_domain_claim_nodes(d, &part, 1);
        break;
    }
    default: {
        struct pb_claim parts[2] = {{1, 1 + k % 6}, {PB_CLAIM_HOST, k}};
        rc = pb_domain_claim_nodes(d, parts, 2);
    }
    }
    /* -EINVAL: a claim is already staked (or max_pages is reached); -ENOMEM: memory is short. */
    if (rc != 0 && rc != -EINVAL && rc != -ENOMEM)
        w->violations++;
    w->claims += rc == 0;
}

static void *ex_work(void *arg)
{
    struct ex_worker *w = arg;
    pb_set_current_node(w->index % EX_NODES);
    pb_set_current_cpu(w->index);
    for (unsigned op = 0; op < STRESS_OPS; op++) {
        uint64_t r = pb_rng_next(&w->rng);
        if (w->index == 0 && r % 3 != 0) {
            ex_claim_op(w, r);
            continue;
        }
        if (w->nheld == EX_HELD || (w->nheld && (r & 1))) {
            unsigned i = (unsigned)((r >> 1) % w->nheld);
            struct extent e = w->held[i];
            w->held[i] = w->held[--w->nheld];
            check_owned(&e, w->h, &w->violations);
            if (pb_free_domheap_pages(w->h, e.d, e.mfn, e.order, false) != 0)
                w->violations++;
            continue;
        }
        /* Claimants and others alike, any node or node 1 exactly, now and then 2 MiB. */
        struct pb_domain *d = w->doms[(r >> 8) % EX_DOMAINS];
        unsigned order = (r >> 20) % 64 == 0 ? 9 : 0;
        unsigned flags = (r >> 28) % 4 == 0 ? MEMF_node(1) | MEMF_exact_node : 0;
        uint64_t mfn;
        int rc = pb_alloc_domheap_pages(w->h, d, order, flags, &mfn);
        if (rc == 0) {
            w->held[w->nheld++] = (struct extent){mfn, order, d};
            w->allocs++;
        } else if (rc != -ENOMEM && rc != -E2BIG) {
            w->violations++;
        }
    }
    return NULL;
}

/* Every claimant gets every frame it still claims; given back afterwards. */
static void ex_claims_honoured(struct pb_heap *h, struct pb_domain **doms, const char *what)
{
    static uint64_t got[EX_NODES * EX_NODE_FRAMES];
    for (unsigned i = 0; i < EX_CLAIMANTS; i++) {
        uint64_t want = pb_domain_claim(doms[i]), n = 0;
        for (; n < want; n++)
            if (pb_alloc_domheap_pages(h, doms[i], 0, 0, &got[n]) != 0)
                fail_msg("%s: domain %u got %" PRIu64 " of the %" PRIu64 " frames it claimed", what,
                         i, n, want);
        assert_int_equal(pb_domain_claim(doms[i]), 0);
        for (uint64_t k = 0; k < n; k++)
            assert_int_equal(pb_free_domheap_pages(h, doms[i], got[k], 0, false), 0);
    }
}

static void run_near_exhaustion(const char *variant)
{
    struct pb_machine_desc desc = {.nr_nodes = EX_NODES, .backing = PB_BACKING_NONE};
    for (unsigned n = 0; n < EX_NODES; n++)
        desc.node_frames[n] = EX_NODE_FRAMES;
    struct pb_heap *h;
    assert_int_equal(pb_heap_create(&desc, variant, PB_LOCK_TICKET, &h), 0);
    /* Ballast, owned by nobody: node 1 keeps a handful of frames, node 0 a few hundred. */
    static uint64_t ballast[EX_NODES * EX_NODE_FRAMES];
    size_t nb = 0;
    const uint64_t left[EX_NODES] = {EX_LEFT0, EX_LEFT1};
    for (unsigned n = 0; n < EX_NODES; n++)
        while (pb_heap_node_avail(h, n) > left[n])
            assert_int_equal(pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0,
                                                 MEMF_node(n) | MEMF_exact_node, NULL,
                                                 &ballast[nb++]),
                             0);
    struct pb_domain *doms[EX_DOMAINS];
    for (unsigned i = 0; i < EX_DOMAINS; i++) {
        struct pb_domain_config cfg = {.max_pages = 4096};
        assert_int_equal(pb_domain_create(h, i + 1, &cfg, &doms[i]), 0);
    }
    char msg[256] = "", what[96];
    struct ex_worker w[EX_THREADS];
    memset(w, 0, sizeof(w));
    for (unsigned phase = 0; phase < EX_PHASES; phase++) {
        for (unsigned t = 0; t < EX_THREADS; t++) {
            w[t].h = h;
            w[t].doms = doms;
            w[t].index = t;
            w[t].phase = phase;
            pb_rng_seed(&w[t].rng, pb_rng_stream_seed(0x5eed + phase, t));
            assert_int_equal(pthread_create(&w[t].tid, NULL, ex_work, &w[t]), 0);
        }
        for (unsigned t = 0; t < EX_THREADS; t++)
            pb_test_join(w[t].tid, "near-exhaustion thread %u (%s, phase %u)", t, variant, phase);
        snprintf(what, sizeof(what), "%s near exhaustion, phase %u", variant, phase);
        for (unsigned t = 0; t < EX_THREADS; t++)
            assert_int_equal(w[t].violations, 0);
        if (pb_heap_validate(h, msg, sizeof(msg)))
            fail_msg("%s: %s", what, msg);
        assert_true(pb_heap_outstanding_claims(h) <= pb_heap_total_avail(h));
        ex_claims_honoured(h, doms, what);
        if (pb_heap_validate(h, msg, sizeof(msg)))
            fail_msg("%s, claims taken and given back: %s", what, msg);
    }
    /* The race ran: claims were staked, allocations made, and memory was short. */
    assert_true(w[0].claims > 0);
    assert_true(w[1].allocs + w[2].allocs + w[3].allocs > 0);
    for (unsigned t = 0; t < EX_THREADS; t++)
        for (unsigned i = 0; i < w[t].nheld; i++)
            assert_int_equal(pb_free_domheap_pages(h, w[t].held[i].d, w[t].held[i].mfn,
                                                   w[t].held[i].order, false),
                             0);
    for (size_t i = 0; i < nb; i++)
        assert_int_equal(pb_free_heap_pages(h, ballast[i], 0, false), 0);
    for (unsigned i = 0; i < EX_DOMAINS; i++)
        assert_int_equal(pb_domain_claim_pages(doms[i], 0), 0);
    assert_int_equal(pb_heap_total_avail(h), EX_NODES * EX_NODE_FRAMES - 1);
    assert_int_equal(pb_heap_outstanding_claims(h), 0);
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("%s near exhaustion, all given back: %s", variant, msg);
    pb_heap_destroy(h);
}

static void test_claims_race_allocations_near_exhaustion(void **state)
{
    (void)state;
    every_variant(run_near_exhaustion);
}

/* ---- Host-wide figures read while threads allocate ---- */

#define RD_NODES       2
#define RD_NODE_FRAMES (1u << 13)
#define RD_THREADS     4

struct rd_worker {
    pthread_t tid;
    struct pb_heap *h;
    unsigned index;
    _Atomic bool freeing;  /* phase 2: give everything back */
    _Atomic uint64_t held; /* published: <= the frames it holds at every moment */
    _Atomic bool done;     /* phase 1 over: memory is exhausted for it */
    uint64_t mfns[RD_NODES * RD_NODE_FRAMES];
    uint64_t n;
};

static void *rd_work(void *arg)
{
    struct rd_worker *w = arg;
    unsigned node = w->index % RD_NODES;
    pb_set_current_node(node);
    /* pcp: the last cache slots, which a reader reaches last, well after the lists. */
    pb_set_current_cpu(1020 + w->index);
    /* Allocate on the own node until it is exhausted: held grows after each success. */
    while (pb_alloc_heap_pages(w->h, 1, PB_NR_ZONES - 1, 0, MEMF_node(node) | MEMF_exact_node, NULL,
                               &w->mfns[w->n]) == 0)
        atomic_store_explicit(&w->held, ++w->n, memory_order_release);
    atomic_store(&w->done, true);
    while (!atomic_load(&w->freeing))
        sched_yield();
    /* Free everything: held shrinks before each free. */
    while (w->n) {
        atomic_store_explicit(&w->held, --w->n, memory_order_release);
        if (pb_free_heap_pages(w->h, w->mfns[w->n], 0, false) != 0)
            pb_test_hang("rd_work: a frame it allocated would not free");
    }
    return NULL;
}

static uint64_t rd_held(struct rd_worker *w, unsigned node)
{
    uint64_t sum = 0;
    for (unsigned t = 0; t < RD_THREADS; t++)
        if (node == RD_NODES || t % RD_NODES == node)
            sum += atomic_load_explicit(&w[t].held, memory_order_acquire);
    return sum;
}

/*
 * One look: allocating, the threads' holdings are read first (they only grow), freeing, last
 * (they only shrink), so that either way free frames read + frames held <= all frames.
 */
static uint64_t rd_check(struct pb_heap *h, struct rd_worker *w, bool freeing, const char *v)
{
    uint64_t frames[RD_NODES + 1] = {RD_NODE_FRAMES - 1, RD_NODE_FRAMES,
                                     RD_NODES * RD_NODE_FRAMES - 1};
    uint64_t looks = 0;
    for (unsigned node = 0; node <= RD_NODES; node++) {
        uint64_t held = freeing ? 0 : rd_held(w, node);
        uint64_t free_read =
            node == RD_NODES ? pb_heap_total_avail(h) : pb_heap_node_avail(h, node);
        if (freeing)
            held = rd_held(w, node);
        if (free_read + held > frames[node])
            fail_msg("%s, %s: %s shows %" PRIu64 " free frames while threads hold %" PRIu64
                     " of %" PRIu64,
                     v, freeing ? "freeing" : "allocating",
                     node == RD_NODES ? "the host"
                     : node           ? "node 1"
                                      : "node 0",
                     free_read, held, frames[node]);
        looks++;
    }
    return looks;
}

static void run_readers(const char *variant)
{
    struct pb_machine_desc desc = {.nr_nodes = RD_NODES, .backing = PB_BACKING_NONE};
    for (unsigned n = 0; n < RD_NODES; n++)
        desc.node_frames[n] = RD_NODE_FRAMES;
    struct pb_heap *h;
    assert_int_equal(pb_heap_create(&desc, variant, PB_LOCK_TICKET, &h), 0);
    /* pcp: big batches, so that a refill or a drain moves many frames at once. */
    if (strcmp(variant, "pcp") == 0)
        assert_int_equal(pb_pcp_set_watermarks(h, 0, 200, 250), 0);
    static struct rd_worker w[RD_THREADS];
    memset(w, 0, sizeof(w));
    for (unsigned t = 0; t < RD_THREADS; t++) {
        w[t].h = h;
        w[t].index = t;
        assert_int_equal(pthread_create(&w[t].tid, NULL, rd_work, &w[t]), 0);
    }
    uint64_t looks = 0;
    for (bool all_done = false; !all_done;) {
        looks += rd_check(h, w, false, variant);
        all_done = true;
        for (unsigned t = 0; t < RD_THREADS; t++)
            all_done &= atomic_load(&w[t].done);
    }
    /* Exhausted: no frame left but those the threads hold (and, pcp, in caches). */
    uint64_t held = rd_held(w, RD_NODES);
    assert_int_equal(held + pb_heap_total_avail(h), RD_NODES * RD_NODE_FRAMES - 1);
    for (unsigned t = 0; t < RD_THREADS; t++)
        atomic_store(&w[t].freeing, true);
    for (bool all_freed = false; !all_freed;) {
        looks += rd_check(h, w, true, variant);
        all_freed = rd_held(w, RD_NODES) == 0;
    }
    for (unsigned t = 0; t < RD_THREADS; t++)
        pb_test_join(w[t].tid, "reader-test thread %u (%s)", t, variant);
    assert_true(looks > 2 * (RD_NODES + 1)); /* the figures were read in both phases */
    assert_int_equal(pb_heap_total_avail(h), RD_NODES * RD_NODE_FRAMES - 1);
    char msg[256] = "";
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("%s after the readers: %s", variant, msg);
    pb_heap_destroy(h);
}

static void test_figures_read_while_threads_allocate(void **state)
{
    (void)state;
    every_variant(run_readers);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stress_every_variant_and_lock_kind),
        cmocka_unit_test(test_claims_race_allocations_near_exhaustion),
        cmocka_unit_test(test_figures_read_while_threads_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
