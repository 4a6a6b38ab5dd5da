/*
 * test_memop_torture: reader threads translate random gfns of a domain, without a lock, while
 * a builder populates (on the build path, with preemptions, then live), replaces, marks PoD and
 * decreases it through memory_op.
 *
 * Every RAM translation a reader sees must be a (gfn, mfn) pair that memory_op really mapped
 * at some point: after each of its populate calls the builder (the only writer) looks each
 * extent up, checks that it maps one aligned run of the domain's in-use frames, in order, and
 * logs each pair. At the end every pair the readers saw is looked for in that log, so a torn
 * entry, a frame mapped at the wrong offset or a translation read out of a freed (poisoned)
 * node fails the test, and ASan sees any read of freed p2m memory. Bounded by operation counts.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/preempt.h"
#include "core/prng.h"

#ifndef TORTURE_OPS
#define TORTURE_OPS 20000
#endif
#define DOMID       7
#define MAX_GFN     8192u
#define READERS     2
#define MIN_READS   20000 /* per reader: it goes on until the builder is done, at least this */
#define READER_LOG  (1u << 18)
#define STALL_EVERY 32 /* lookups that follow a pointer per yield (checked builds) */

struct pair {
    uint64_t gfn, mfn;
};

struct pair_log {
    struct pair *p;
    size_t n, cap;
};

struct torture {
    struct pb_heap *h;
    struct pb_domain *d;
    _Atomic bool builder_done; /* atomic: set once by the builder */
    _Atomic uint64_t errors;   /* atomic: failed checks, all threads */
    struct pair_log mapped;    /* builder only until the readers are joined */
};

struct reader {
    struct torture *t;
    unsigned id;
    struct pair_log seen; /* this reader only until it is joined */
    uint64_t reads, ram_reads;
};

static void report(struct torture *t, const char *what, uint64_t gfn, uint64_t mfn)
{
    if (atomic_fetch_add(&t->errors, 1) < 10)
        fprintf(stderr, "memop torture: %s: gfn %#llx mfn %#llx\n", what, (unsigned long long)gfn,
                (unsigned long long)mfn);
}

static void log_add(struct pair_log *l, uint64_t gfn, uint64_t mfn)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 4096;
        l->p = realloc(l->p, l->cap * sizeof(*l->p));
        PB_BUG_ON(!l->p);
    }
    l->p[l->n++] = (struct pair){gfn, mfn};
}

static _Thread_local unsigned stall_tick;

static void stall(void)
{
    if (++stall_tick % STALL_EVERY == 0)
        sched_yield();
}

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    struct torture *t = r->t;
    struct p2m *p = pb_domain_p2m(t->d);
    uint64_t rng = 0x9e3779b97f4a7c15ull * (r->id + 1);

    pb_rcu_register_thread();
    while (!atomic_load_explicit(&t->builder_done, memory_order_acquire) || r->reads < MIN_READS) {
        uint64_t gfn = pb_splitmix64(&rng) % MAX_GFN;
        struct p2m_entry e;
        if (p2m_lookup(p, gfn, &e) != 0) {
            report(t, "lookup failed", gfn, 0);
            continue;
        }
        r->reads++;
        if (e.type == P2M_RAM_RW) {
            r->ram_reads++;
            if (e.mfn == 0 || e.mfn >= pb_heap_nr_frames(t->h))
                report(t, "mfn outside the machine", gfn, e.mfn);
            else if (r->seen.n < READER_LOG)
                log_add(&r->seen, gfn, e.mfn);
        } else if (e.type != P2M_POD && e.type != P2M_INVALID) {
            report(t, "bad type", gfn, e.type);
        }
    }
    pb_rcu_unregister_thread();
    return NULL;
}

/*
 * After a populate of RAM: the extent [gfn, gfn + 2^order) must map one 2^order-aligned run of
 * the domain's frames, in order. Log every pair.
 */
static void log_extent(struct torture *t, uint64_t gfn, unsigned order)
{
    struct p2m *p = pb_domain_p2m(t->d);
    uint64_t base = 0;
    for (uint64_t g = gfn; g < gfn + (1ull << order); g++) {
        struct p2m_entry e;
        PB_BUG_ON(p2m_lookup(p, g, &e) != 0);
        if (e.type != P2M_RAM_RW) {
            report(t, "populated gfn not RAM", g, e.type);
            continue;
        }
        if (g == gfn)
            base = e.mfn;
        if ((base & ((1ull << order) - 1)) || e.mfn != base + (g - gfn))
            report(t, "extent not one aligned run", g, e.mfn);
        unsigned owner = 0;
        if (!pb_heap_frame_in_use(t->h, e.mfn, &owner) || owner != DOMID)
            report(t, "mapped frame not the domain's", g, e.mfn);
        log_add(&t->mapped, g, e.mfn);
    }
}

/* Whether [g, g + 2^order) overlaps one of the n extents of gfns. */
static bool overlaps(const uint64_t *gfns, unsigned n, uint64_t g, unsigned order)
{
    for (unsigned j = 0; j < n; j++)
        if (gfns[j] < g + (1ull << order) && g < gfns[j] + (1ull << order))
            return true;
    return false;
}

static void builder(struct torture *t)
{
    static const unsigned orders[] = {0, 0, 0, 2, 4, 9, 9};
    const struct pb_memop_caller caller = {.privilege = PB_PRIV_CONTROL};
    uint64_t rng = 0x2545f4914f6cdd1dull;
    uint64_t gfns[4];
    struct pb_preempt_policy prob = {.kind = PB_PREEMPT_PROB, .probability = 0.3, .seed = 5};
    PB_BUG_ON(pb_preempt_configure(&prob) != 0);

    for (unsigned op = 0; op < TORTURE_OPS; op++) {
        if (op == TORTURE_OPS / 2)
            PB_BUG_ON(pb_memop_finish_creation(t->h, t->d) != 0);
        unsigned order = orders[pb_splitmix64(&rng) % PB_ARRAY_SIZE(orders)];
        unsigned nr = 1 + pb_splitmix64(&rng) % 4;
        /* Disjoint extents, so that each is intact when the call returns. */
        for (unsigned i = 0; i < nr;) {
            uint64_t g = (pb_splitmix64(&rng) % MAX_GFN) & ~((1ull << order) - 1);
            if (pb_splitmix64(&rng) % 8 == 0) /* misaligned now and then: smaller entries */
                g = (g + 1 + pb_splitmix64(&rng) % 64) % (MAX_GFN - (1ull << order));
            if (!overlaps(gfns, i, g, order))
                gfns[i++] = g;
        }
        unsigned what = pb_splitmix64(&rng) % 10;
        struct pb_reservation r = {.extent_start = gfns,
                                   .extent_list_len = nr,
                                   .nr_extents = nr,
                                   .extent_order = order,
                                   .domid = DOMID};
        struct pb_memop_result res;
        uint64_t start = 0;
        do {
            long rc;
            if (what < 6) {
                rc = pb_populate_physmap(t->h, &caller, &r, start, &res);
            } else if (what < 7) {
                r.mem_flags = XENMEMF_populate_on_demand;
                rc = pb_populate_physmap(t->h, &caller, &r, start, &res);
            } else {
                rc = pb_decrease_reservation(t->h, &caller, &r, start, what == 9, &res);
            }
            PB_BUG_ON(rc < 0);
            /* Short counts are expected (PoD over RAM, holes, a full domain): log and go on. */
            if (what < 6)
                for (uint64_t i = start; i < res.nr_done; i++)
                    log_extent(t, gfns[i], order);
            start = res.nr_done;
        } while (res.preempted);
    }
    struct pb_preempt_policy none = {.kind = PB_PREEMPT_NONE};
    PB_BUG_ON(pb_preempt_configure(&none) != 0);
}

static int pair_cmp(const void *a, const void *b)
{
    const struct pair *x = a, *y = b;
    if (x->gfn != y->gfn)
        return x->gfn < y->gfn ? -1 : 1;
    return x->mfn < y->mfn ? -1 : x->mfn > y->mfn;
}

static void torture(const char *variant)
{
    struct pb_machine_desc desc = {.nr_nodes = 2, .backing = PB_BACKING_NONE};
    desc.node_frames[0] = desc.node_frames[1] = 4096;
    struct torture t = {0};
    assert_int_equal(pb_heap_create(&desc, variant, PB_LOCK_MUTEX, &t.h), 0);
    struct pb_domain_config cfg = {.max_pages = 6000};
    pb_rcu_register_thread();
    assert_int_equal(pb_memop_domain_create(t.h, DOMID, &cfg, MAX_GFN, PB_LOCK_MUTEX, &t.d), 0);
    (void)p2m_set_lookup_hook(stall); /* -ENOTSUP outside checked builds: then no stalls */

    struct reader rd[READERS];
    pthread_t tid[READERS];
    for (unsigned i = 0; i < READERS; i++) {
        rd[i] = (struct reader){.t = &t, .id = i};
        assert_int_equal(pthread_create(&tid[i], NULL, reader_main, &rd[i]), 0);
    }
    builder(&t);
    atomic_store_explicit(&t.builder_done, true, memory_order_release);
    uint64_t ram_reads = 0;
    for (unsigned i = 0; i < READERS; i++) {
        assert_int_equal(pthread_join(tid[i], NULL), 0);
        ram_reads += rd[i].ram_reads;
    }
    (void)p2m_set_lookup_hook(NULL);

    qsort(t.mapped.p, t.mapped.n, sizeof(*t.mapped.p), pair_cmp);
    uint64_t checked = 0;
    for (unsigned i = 0; i < READERS; i++) {
        for (size_t k = 0; k < rd[i].seen.n; k++) {
            if (!bsearch(&rd[i].seen.p[k], t.mapped.p, t.mapped.n, sizeof(*t.mapped.p), pair_cmp))
                report(&t, "reader saw a pair never mapped", rd[i].seen.p[k].gfn,
                       rd[i].seen.p[k].mfn);
            checked++;
        }
        free(rd[i].seen.p);
    }
    fprintf(stderr, "memop torture: %zu pairs mapped, %llu RAM reads, %llu checked\n", t.mapped.n,
            (unsigned long long)ram_reads, (unsigned long long)checked);
    assert_int_equal(atomic_load(&t.errors), 0);
    assert_true(checked > 0);
    assert_int_equal(p2m_validate(pb_domain_p2m(t.d)), 0);

    uint64_t avail = pb_heap_total_avail(t.h) + pb_domain_tot_pages(t.d);
    pb_memop_domain_destroy(t.h, t.d);
    assert_int_equal(pb_heap_total_avail(t.h), avail);
    char msg[256] = "";
    if (pb_heap_validate(t.h, msg, sizeof(msg)))
        fail_msg("validator: %s", msg);
    pb_rcu_barrier();
    pb_rcu_unregister_thread();
    free(t.mapped.p);
    pb_heap_destroy(t.h);
}

static void test_readers_only_see_frames_memop_mapped(void **state)
{
    (void)state;
    for (const char *const *v = pb_variant_names(); *v; v++)
        torture(*v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_readers_only_see_frames_memop_mapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
