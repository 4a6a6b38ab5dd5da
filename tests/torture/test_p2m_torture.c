/*
 * test_p2m_torture: readers look up random gfns without a lock while two writers map, replace
 * (orders 0, 9 and 18 over each other, a few others) and remove over the same 4 GiB domain.
 *
 * Every frame a writer maps names its gfn: mfn = MARK | seq | writer | write order | gfn. So
 * any RAM entry a reader sees must translate gfn g to an mfn whose low 32 bits are g, with the
 * mark set and a write order no smaller than the entry's order; a torn entry, a half-filled
 * node or a freed (poisoned) node fails that check or the p2m's own PB_BUG_ON, and ASan sees a
 * read of freed memory. The first 1 GiB is mapped before the threads start and only ever
 * replaced with RAM, so a lookup there that finds no frame saw a change half-made (a split
 * node published before it was filled, say). Every release must name writers' frames too, and
 * the frames minted, the frames released and the frames still mapped must balance. Bounded by
 * operation counts. In checked builds some lookups yield the CPU half-way through their walk,
 * so that writers retire (and, were the grace period broken, free) the node they are about to
 * read.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/p2m.h"
#include "core/prng.h"

#define GB          (1ull << 18)
#define MAX_GFN     (4 * GB)
#define READERS     4
#define WRITERS     2
#define WRITER_OPS  4000
#define MIN_READS   20000 /* per reader: it goes on until the writers are done, at least this */
#define ALWAYS_RAM  GB    /* [0, ALWAYS_RAM) is RAM from start to end */
#define STALL_EVERY 16    /* lookups that follow a pointer per stall (checked builds) */

#define MFN_MARK       (1ull << 50)
#define MFN_GFN_MASK   0xffffffffull
#define MFN_ORDER(mfn) ((unsigned int)((mfn) >> 32) & 31)

struct torture {
    struct p2m *p;
    _Atomic int writers_running; /* atomic: writers not yet done */
    _Atomic uint64_t errors;     /* atomic: failed checks, all threads */
    _Atomic uint64_t minted;     /* atomic: RAM frames mapped by successful p2m_set calls */
    _Atomic uint64_t released;   /* atomic: frames passed to release callbacks */
    _Atomic uint64_t reads;      /* atomic: lookups done while a writer ran */
    uint64_t always_ram_found;   /* main thread only: RAM frames below ALWAYS_RAM at the end */
};

struct writer {
    struct torture *t;
    unsigned int id;
};

static void report(struct torture *t, const char *what, uint64_t gfn, uint64_t mfn, unsigned order)
{
    if (atomic_fetch_add(&t->errors, 1) < 10)
        fprintf(stderr, "torture: %s: gfn %#llx mfn %#llx order %u\n", what,
                (unsigned long long)gfn, (unsigned long long)mfn, order);
}

/* Whether mfn is one a writer produced for gfn, by a write of order >= order. */
static bool mfn_matches(uint64_t gfn, uint64_t mfn, unsigned int order)
{
    return (mfn & MFN_MARK) && mfn < (MFN_MARK << 1) && (mfn & MFN_GFN_MASK) == gfn &&
           MFN_ORDER(mfn) <= P2M_MAX_ORDER && MFN_ORDER(mfn) >= order;
}

static uint64_t mfn_make(uint64_t gfn, unsigned int order, unsigned int writer, uint64_t seq)
{
    return MFN_MARK | (seq & 0xfff) << 38 | (uint64_t)writer << 37 | (uint64_t)order << 32 | gfn;
}

static void check_release(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order)
{
    struct torture *t = ctx;

    if ((order != 0 && order != 9 && order != 18) || (gfn & ((1ull << order) - 1)) ||
        !mfn_matches(gfn, mfn, order))
        report(t, "bad release", gfn, mfn, order);
    atomic_fetch_add(&t->released, 1ull << order);
}

static void *writer_main(void *arg)
{
    static const unsigned int orders[] = {0, 0, 0, 0, 9, 9, 9, 18, 18, 4, 12};
    struct writer *w = arg;
    struct torture *t = w->t;
    uint64_t rng = 0x2545f4914f6cdd1dull * (w->id + 1);

    pb_rcu_register_thread();
    for (uint64_t op = 0; op < WRITER_OPS; op++) {
        unsigned int order = orders[pb_splitmix64(&rng) % PB_ARRAY_SIZE(orders)];
        uint64_t gfn = (pb_splitmix64(&rng) % MAX_GFN) & ~((1ull << order) - 1);
        unsigned int what = pb_splitmix64(&rng) % 10;
        uint64_t mfn = mfn_make(gfn, order, w->id, op);
        int rc;

        if (gfn < ALWAYS_RAM)
            what = 0;
        if (what < 6)
            rc = p2m_set(t->p, gfn, mfn, order, P2M_RAM_RW, check_release, t);
        else if (what < 7)
            rc = p2m_set(t->p, gfn, 0, order, P2M_POD, check_release, t);
        else
            rc = p2m_remove(t->p, gfn, order, check_release, t);
        if (rc != 0)
            report(t, "write failed", gfn, mfn, order);
        else if (what < 6)
            atomic_fetch_add(&t->minted, 1ull << order);
        if (op % 1000 == 999 && p2m_validate(t->p) != 0)
            report(t, "validate", 0, 0, 0);
    }
    pb_rcu_unregister_thread();
    atomic_fetch_sub(&t->writers_running, 1);
    return NULL;
}

/* Some lookups give the CPU away between following a pointer and reading the node. */
static void stall_reader(void)
{
    static _Thread_local unsigned int calls;

    if (++calls % STALL_EVERY == 0)
        sched_yield();
}

static void *reader_main(void *arg)
{
    struct torture *t = arg;
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&rng;
    uint64_t n = 0, during_writes = 0;

    pb_rcu_register_thread();
    while (atomic_load(&t->writers_running) > 0 || n < MIN_READS) {
        uint64_t gfn = pb_splitmix64(&rng) % MAX_GFN;
        struct p2m_entry e;

        if (p2m_lookup(t->p, gfn, &e) != 0) {
            report(t, "lookup failed", gfn, 0, 0);
            continue;
        }
        n++;
        if (e.order != 0 && e.order != 9 && e.order != 18)
            report(t, "bad order", gfn, e.mfn, e.order);
        if (e.type == P2M_RAM_RW) {
            if (!mfn_matches(gfn, e.mfn, e.order))
                report(t, "inconsistent entry", gfn, e.mfn, e.order);
        } else if (e.type != P2M_INVALID && e.type != P2M_POD) {
            report(t, "bad type", gfn, e.mfn, e.order);
        } else if (e.mfn != P2M_INVALID_MFN) {
            report(t, "mfn without a frame", gfn, e.mfn, e.order);
        }
        if (gfn < ALWAYS_RAM && e.type != P2M_RAM_RW)
            report(t, "always-RAM gfn found unmapped", gfn, e.mfn, e.order);
        during_writes += atomic_load_explicit(&t->writers_running, memory_order_relaxed) > 0;
    }
    atomic_fetch_add(&t->reads, during_writes);
    pb_rcu_unregister_thread();
    return NULL;
}

static int check_entry(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order,
                       enum p2m_type type)
{
    struct torture *t = ctx;

    if (type == P2M_RAM_RW && !mfn_matches(gfn, mfn, order))
        report(t, "inconsistent entry after the run", gfn, mfn, order);
    if (type == P2M_RAM_RW && gfn < ALWAYS_RAM)
        t->always_ram_found += 1ull << order;
    return 0;
}

static void torture(enum pb_lock_kind kind)
{
    struct torture t = {.writers_running = WRITERS};
    struct writer w[WRITERS];
    pthread_t tid[READERS + WRITERS];
    struct p2m_counters c;
    struct pb_lock_stats st;

    int hook = p2m_set_lookup_hook(stall_reader);
    if (hook == -ENOTSUP)
        printf("torture: not a checked build, readers are not stalled inside lookups\n");
    else
        assert_int_equal(hook, 0);
    assert_int_equal(p2m_create(MAX_GFN, kind, &t.p), 0);
    assert_int_equal(p2m_set(t.p, 0, mfn_make(0, 18, 0, 0), 18, P2M_RAM_RW, NULL, NULL), 0);
    atomic_store(&t.minted, GB);
    for (unsigned int i = 0; i < READERS; i++)
        assert_int_equal(pthread_create(&tid[i], NULL, reader_main, &t), 0);
    for (unsigned int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){.t = &t, .id = i};
        assert_int_equal(pthread_create(&tid[READERS + i], NULL, writer_main, &w[i]), 0);
    }
    for (unsigned int i = 0; i < READERS + WRITERS; i++)
        assert_int_equal(pthread_join(tid[i], NULL), 0);

    p2m_set_lookup_hook(NULL);
    assert_int_equal(atomic_load(&t.errors), 0);
    assert_int_equal(p2m_validate(t.p), 0);
    assert_int_equal(p2m_for_each(t.p, check_entry, &t), 0);
    assert_int_equal(t.always_ram_found, ALWAYS_RAM);
    assert_int_equal(atomic_load(&t.errors), 0);
    p2m_counters_read(t.p, &c);
    assert_int_equal(atomic_load(&t.minted) - atomic_load(&t.released), c.ram_frames);
    assert_true(c.splits > 0);
    assert_true(c.nodes_retired > 0);
    assert_true(atomic_load(&t.reads) > 0);
    p2m_lock_stats(t.p, &st);
    assert_true(st.acquisitions >= WRITERS * WRITER_OPS);
    printf("torture %s: %llu lookups during writes, %llu frames minted, %llu released, "
           "%llu splits, %llu nodes retired, writer lock contended %llu of %llu\n",
           pb_lock_kind_name(kind), (unsigned long long)atomic_load(&t.reads),
           (unsigned long long)atomic_load(&t.minted), (unsigned long long)atomic_load(&t.released),
           (unsigned long long)c.splits, (unsigned long long)c.nodes_retired,
           (unsigned long long)st.contended, (unsigned long long)st.acquisitions);

    p2m_destroy(t.p, check_release, &t);
    assert_int_equal(atomic_load(&t.minted), atomic_load(&t.released));
    assert_int_equal(atomic_load(&t.errors), 0);
    pb_rcu_barrier();
}

/*
 * A ticket lock whose holder is preempted keeps its waiter spinning for a whole time slice, so
 * with more threads than CPUs the writers take the mutex (as oversubscribed runs do).
 */
static void test_torture(void **state)
{
    (void)state;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    torture(cpus >= READERS + WRITERS ? PB_LOCK_TICKET : PB_LOCK_MUTEX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_torture),
    };

    pb_rcu_register_thread();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    pb_rcu_unregister_thread();
    return failed;
}
