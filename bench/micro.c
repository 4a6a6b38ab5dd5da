/*
 * popbench-micro: microbenchmarks of core operations, for every variant and lock kind,
 * written in C against the Google Benchmark shim (bench/gbench/pbgb.h), so Google Benchmark's
 * flags, JSON and compare.py work unchanged.
 *
 * Names: OPERATION/VARIANT/LOCK[/detail], plus Google Benchmark's own suffixes (threads:N).
 * Every benchmark thread is pinned by hwloc to PU (thread index mod PUs); the context entry
 * "pinning" says so. Machines are metadata-only (no frame memory) so that the heap's own work
 * is what is timed; the clear benchmarks time real memory.
 *
 * Scaling: every multi-threaded heap benchmark has `ceiling/reference` beside it, the parallel
 * ceiling (bench/ceiling.h) on the same thread counts and PUs; scripts/micro-scaling turns one
 * run's JSON into each benchmark's speed-up against one thread and against the ceiling. Built
 * with -DPOPBENCH_COUNT_SHARED=1, the alloc/free benchmarks also report shared_writes_per_op:
 * stores to lines every node shares per allocation+free.
 */
#include <errno.h>
#include <hwloc.h>
#include <stdlib.h>
#include <string.h>

#include "bench/ceiling.h"
#include "bench/gbench/pbgb.h"
#include "bench/heap_prep.h"
#include "core/clear.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/jemalloc_ref.h"
#include "core/lock.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/prng.h"

#define NODE_FRAMES (1u << 19) /* 2 GiB a node: order-18 buddies exist */
#define NODES       2

static hwloc_topology_t topo;
static int nr_pus;

static void pin_thread(int index)
{
    hwloc_obj_t pu = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, (unsigned)(index % nr_pus));
    if (pu)
        hwloc_set_cpubind(topo, pu->cpuset, HWLOC_CPUBIND_THREAD);
}

/* ---- heaps: one per variant x lock kind x state, built before the run ---- */

enum heap_state { FRESH, FRAGMENTED };
static const char *const state_names[] = {"fresh", "fragmented"};
static const enum pb_lock_kind kinds[] = {PB_LOCK_TICKET, PB_LOCK_MUTEX};

struct heap_case {
    const char *variant;
    enum pb_lock_kind kind;
    enum heap_state state;
    unsigned order;
    struct pb_heap *h;
};

/* Fragmented: seeded holes in every node's lower half (bench/heap_prep.h); allocations then
 * find many small free buddies below and the big ones above. */
static struct pb_heap *make_heap(const char *variant, enum pb_lock_kind kind, enum heap_state st)
{
    struct pb_heap *h;
    if (pb_heap_prep_machine(NODES, NODE_FRAMES, variant, kind, &h))
        abort();
    if (st == FRAGMENTED && pb_heap_prep_holes(h, 42))
        abort();
    return h;
}

/*
 * POPBENCH_COUNT_SHARED builds: the stores to host-wide lines since `from`, per allocation+free
 * pair (pairs_per_iteration of them in each iteration), summed over the threads.
 */
static void report_shared_writes(pbgb_state *st, uint64_t from, unsigned pairs_per_iteration)
{
    if (POPBENCH_COUNT_SHARED)
        pbgb_counter_set(st, "shared_writes_per_op",
                         (double)(pb_shared_writes() - from) / pairs_per_iteration,
                         PBGB_COUNTER_AVG_ITERATIONS);
}

/* alloc+free of one extent of the case's order, on the thread's own node. */
static void bm_alloc_free(pbgb_state *st, void *user)
{
    struct heap_case *c = user;
    int t = pbgb_thread_index(st);
    pin_thread(t);
    pb_set_current_node((unsigned)t % NODES);
    pb_set_current_cpu((unsigned)t);
    uint64_t mfn, w0 = pb_shared_writes();
    PBGB_LOOP(st)
    {
        if (pb_alloc_heap_pages(c->h, 1, PB_NR_ZONES - 1, c->order, 0, NULL, &mfn)) {
            pbgb_skip_with_error(st, "allocation failed");
            break;
        }
        pb_free_heap_pages(c->h, mfn, c->order, false);
    }
    pbgb_items_processed(st, pbgb_state_iterations(st));
    report_shared_writes(st, w0, 1);
}

/* alloc N extents, then free the N: what a populate/balloon burst does; items = frames. */
#define BURST 256
static void bm_alloc_n_free_n(pbgb_state *st, void *user)
{
    struct heap_case *c = user;
    int t = pbgb_thread_index(st);
    pin_thread(t);
    pb_set_current_node((unsigned)t % NODES);
    pb_set_current_cpu((unsigned)t);
    uint64_t mfn[BURST], w0 = pb_shared_writes();
    PBGB_LOOP(st)
    {
        for (unsigned i = 0; i < BURST; i++)
            if (pb_alloc_heap_pages(c->h, 1, PB_NR_ZONES - 1, c->order, 0, NULL, &mfn[i])) {
                pbgb_skip_with_error(st, "allocation failed");
                return;
            }
        for (unsigned i = 0; i < BURST; i++)
            pb_free_heap_pages(c->h, mfn[i], c->order, false);
    }
    pbgb_items_processed(st, pbgb_state_iterations(st) * BURST);
    report_shared_writes(st, w0, BURST);
}

/*
 * The parallel ceiling (bench/ceiling.h): reference steps on a private buffer, nothing shared,
 * with the thread counts and pinning of the heap benchmarks; items = steps.
 */
static size_t ceiling_bytes;

static void bm_ceiling(pbgb_state *st, void *user)
{
    (void)user;
    int t = pbgb_thread_index(st);
    pin_thread(t);
    struct pb_ceiling_buf b;
    if (pb_ceiling_buf_init(&b, ceiling_bytes, (uint64_t)t + 1)) {
        pbgb_skip_with_error(st, "no memory for the reference's buffer");
        return;
    }
    uint64_t sink = 0;
    PBGB_LOOP(st)
    {
        sink ^= pb_ceiling_step(&b);
    }
    pbgb_do_not_optimize(sink);
    pbgb_items_processed(st, pbgb_state_iterations(st));
    pb_ceiling_buf_free(&b);
}

/*
 * get_free_buddy's whole search: an order-17 request on a heap whose nodes hold no free buddy
 * of order 17 or more visits every node, zone and order in both passes and fails.
 */
static void bm_search_miss(pbgb_state *st, void *user)
{
    struct heap_case *c = user;
    pin_thread(0);
    uint64_t mfn;
    PBGB_LOOP(st)
    {
        if (pb_alloc_heap_pages(c->h, 1, PB_NR_ZONES - 1, 17, 0, NULL, &mfn) != -ENOMEM) {
            pbgb_skip_with_error(st, "the search was expected to fail");
            break;
        }
    }
}

/* Merge on free: a 2 MiB extent freed as 512 single frames, each merging with what is free. */
static void bm_free_merge(pbgb_state *st, void *user)
{
    struct heap_case *c = user;
    pin_thread(0);
    uint64_t mfn;
    PBGB_LOOP(st)
    {
        if (pb_alloc_heap_pages(c->h, 1, PB_NR_ZONES - 1, 9, 0, NULL, &mfn)) {
            pbgb_skip_with_error(st, "allocation failed");
            break;
        }
        for (uint64_t i = 0; i < 512; i++)
            pb_free_heap_pages(c->h, mfn + i, 0, false);
    }
    pbgb_items_processed(st, pbgb_state_iterations(st) * 512);
}

/*
 * One populate_physmap call of 512 order-0 extents into a live domain, then one
 * decrease_reservation giving them back (not timed apart: each is one hypercall).
 */
struct populate_case {
    struct pb_heap *h;
    struct pb_domain *d;
    uint64_t gpfns[512];
};

static void bm_populate(pbgb_state *st, void *user)
{
    struct populate_case *c = user;
    pin_thread(0);
    pb_rcu_register_thread();
    struct pb_memop_caller caller = {.privilege = PB_PRIV_CONTROL};
    struct pb_reservation r = {.extent_start = c->gpfns,
                               .extent_list_len = 512,
                               .nr_extents = 512,
                               .extent_order = 0,
                               .domid = pb_domain_id(c->d)};
    struct pb_memop_result res;
    PBGB_LOOP(st)
    {
        if (pb_populate_physmap(c->h, &caller, &r, 0, &res) != 512 ||
            pb_decrease_reservation(c->h, &caller, &r, 0, false, &res) != 512) {
            pbgb_skip_with_error(st, "populate or decrease stopped short");
            break;
        }
    }
    pbgb_items_processed(st, pbgb_state_iterations(st) * 512);
    pb_rcu_unregister_thread();
}

/* ---- the jemalloc reference (a yardstick, not a Xen model): the same two patterns ---- */

struct jref_case {
    struct pb_jemalloc_ref *r;
    unsigned order;
    unsigned n; /* extents per burst (alloc_n_free_n, populate) */
};

#define JREF_MAX_BURST 512

static void bm_jref_alloc_free(pbgb_state *st, void *user)
{
    struct jref_case *c = user;
    int t = pbgb_thread_index(st);
    pin_thread(t);
    unsigned node = (unsigned)t % NODES;
    void *p;
    PBGB_LOOP(st)
    {
        if (pb_jemalloc_ref_alloc(c->r, node, c->order, &p)) {
            pbgb_skip_with_error(st, "allocation failed");
            break;
        }
        pb_jemalloc_ref_free(c->r, p, c->order);
    }
    pbgb_items_processed(st, pbgb_state_iterations(st));
}

/*
 * n extents into an array indexed like a guest's frames, then all n back: alloc_n_free_n, and
 * with n = 512 the shape of populate_512x4k (one call of 512 extents, then its decrease).
 */
static void bm_jref_alloc_n_free_n(pbgb_state *st, void *user)
{
    struct jref_case *c = user;
    int t = pbgb_thread_index(st);
    pin_thread(t);
    unsigned node = (unsigned)t % NODES;
    void *p[JREF_MAX_BURST];
    PBGB_LOOP(st)
    {
        for (unsigned i = 0; i < c->n; i++)
            if (pb_jemalloc_ref_alloc(c->r, node, c->order, &p[i])) {
                pbgb_skip_with_error(st, "allocation failed");
                return;
            }
        for (unsigned i = 0; i < c->n; i++)
            pb_jemalloc_ref_free(c->r, p[i], c->order);
    }
    pbgb_items_processed(st, pbgb_state_iterations(st) * c->n);
}

/* ---- locks ---- */

struct lock_case {
    enum pb_lock_kind kind;
    bool timing;
    struct pb_lock lock;
};

static void bm_lock(pbgb_state *st, void *user)
{
    struct lock_case *c = user;
    pin_thread(pbgb_thread_index(st));
    pb_lock_set_timing(c->timing);
    PBGB_LOOP(st)
    {
        pb_lock_acquire(&c->lock);
        pb_lock_release(&c->lock);
    }
    pb_lock_set_timing(true);
}

/* ---- p2m ---- */

#define P2M_GFNS (1ull << 20) /* a 4 GiB domain */
static struct p2m *p2m_small, *p2m_super;

static void bm_p2m_lookup(pbgb_state *st, void *user)
{
    struct p2m *p = user;
    pin_thread(0);
    pb_rcu_register_thread();
    uint64_t sum = 0;
    struct pb_rng rng;
    struct p2m_entry e;
    pb_rng_seed(&rng, 7);
    PBGB_LOOP(st)
    {
        p2m_lookup(p, pb_rng_next(&rng) & (P2M_GFNS - 1), &e);
        sum += e.mfn;
    }
    pbgb_do_not_optimize(sum);
    pb_rcu_unregister_thread();
}

static void bm_p2m_update(pbgb_state *st, void *user)
{
    struct p2m *p = user;
    pin_thread(0);
    pb_rcu_register_thread();
    struct pb_rng rng;
    pb_rng_seed(&rng, 11);
    PBGB_LOOP(st)
    {
        uint64_t gfn = pb_rng_next(&rng) & (P2M_GFNS - 1);
        p2m_set(p, gfn, gfn + 1, 0, P2M_RAM_RW, NULL, NULL);
    }
    pb_rcu_unregister_thread();
}

/* ---- clearing ---- */

struct clear_case {
    enum pb_clear_method method;
    size_t len;
};

static void bm_clear(pbgb_state *st, void *user)
{
    struct clear_case *c = user;
    pin_thread(0);
    void *buf = aligned_alloc(1u << 21, c->len);
    memset(buf, 1, c->len);
    PBGB_LOOP(st)
    {
        pb_clear(buf, c->len, c->method);
        pbgb_clobber_memory();
    }
    pbgb_bytes_processed(st, pbgb_state_iterations(st) * (int64_t)c->len);
    free(buf);
}

/* ---- registration ---- */

static void must(int rc)
{
    if (rc)
        abort();
}

static pbgb_bench *reg(const char *name, pbgb_fn *fn, void *user)
{
    pbgb_bench *b = pbgb_register(name, fn, user);
    if (!b)
        abort();
    return b;
}

int main(int argc, char **argv)
{
    hwloc_topology_init(&topo);
    hwloc_topology_load(topo);
    nr_pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    if (nr_pus < 1)
        nr_pus = 1;
    char name[128];

    for (const char *const *v = pb_variant_names(); *v; v++)
        for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++) {
            const char *kn = pb_lock_kind_name(kinds[k]);
            for (int s = FRESH; s <= FRAGMENTED; s++) {
                struct pb_heap *h = make_heap(*v, kinds[k], (enum heap_state)s);
                static const unsigned orders[] = {0, 9, 18};
                for (size_t o = 0; o < PB_ARRAY_SIZE(orders); o++) {
                    struct heap_case *c = calloc(1, sizeof(*c));
                    *c = (struct heap_case){*v, kinds[k], (enum heap_state)s, orders[o], h};
                    snprintf(name, sizeof(name), "alloc_free/%s/%s/order:%u/%s", *v, kn, orders[o],
                             state_names[s]);
                    pbgb_bench *b = reg(name, bm_alloc_free, c);
                    /* Two threads on two nodes: the variants' lock designs meet here. */
                    if (orders[o] == 0 && s == FRESH) {
                        must(pbgb_threads(b, 1));
                        must(pbgb_threads(b, 2));
                        must(pbgb_use_real_time(b));
                    }
                }
                if (s == FRESH) {
                    struct heap_case *nc = calloc(1, sizeof(*nc));
                    *nc = (struct heap_case){*v, kinds[k], FRESH, 0, h};
                    snprintf(name, sizeof(name), "alloc_n_free_n/%s/%s/order:0/n:%u", *v, kn,
                             BURST);
                    pbgb_bench *b = reg(name, bm_alloc_n_free_n, nc);
                    must(pbgb_threads(b, 1));
                    must(pbgb_threads(b, 2));
                    must(pbgb_use_real_time(b));
                }
                if (s == FRESH) {
                    struct populate_case *p = calloc(1, sizeof(*p));
                    p->h = h;
                    pb_rcu_register_thread();
                    must(pb_heap_prep_live_domain(h, 1, 1u << 20, 1u << 20, kinds[k], &p->d));
                    pb_rcu_unregister_thread();
                    for (unsigned i = 0; i < 512; i++)
                        p->gpfns[i] = i;
                    snprintf(name, sizeof(name), "populate_512x4k/%s/%s", *v, kn);
                    reg(name, bm_populate, p);
                }
                struct heap_case *c = calloc(1, sizeof(*c));
                *c = (struct heap_case){*v, kinds[k], (enum heap_state)s, 0, h};
                snprintf(name, sizeof(name), "free_merge/%s/%s/%s", *v, kn, state_names[s]);
                reg(name, bm_free_merge, c);
                if (s == FRAGMENTED) {
                    /* Fill what remains of the big buddies so an order-17 search fails. */
                    struct pb_heap *full = make_heap(*v, kinds[k], FRAGMENTED);
                    uint64_t m;
                    while (pb_alloc_heap_pages(full, 1, PB_NR_ZONES - 1, 12, MEMF_no_scrub, NULL,
                                               &m) == 0)
                        ;
                    struct heap_case *f = calloc(1, sizeof(*f));
                    *f = (struct heap_case){*v, kinds[k], FRAGMENTED, 17, full};
                    snprintf(name, sizeof(name), "search_miss/%s/%s/fragmented", *v, kn);
                    reg(name, bm_search_miss, f);
                }
            }
        }

    struct pb_jemalloc_ref *jref = NULL;
    if (pb_jemalloc_ref_create(NODES, &jref) == 0) {
        static const unsigned jorders[] = {0, 9};
        for (size_t o = 0; o < PB_ARRAY_SIZE(jorders); o++) {
            struct jref_case *c = calloc(1, sizeof(*c));
            *c = (struct jref_case){jref, jorders[o], BURST};
            snprintf(name, sizeof(name), "alloc_free/jemalloc/order:%u", jorders[o]);
            pbgb_bench *b = reg(name, bm_jref_alloc_free, c);
            if (jorders[o] == 0) {
                must(pbgb_threads(b, 1));
                must(pbgb_threads(b, 2));
                must(pbgb_use_real_time(b));
                snprintf(name, sizeof(name), "alloc_n_free_n/jemalloc/order:0/n:%u", BURST);
                b = reg(name, bm_jref_alloc_n_free_n, c);
                must(pbgb_threads(b, 1));
                must(pbgb_threads(b, 2));
                must(pbgb_use_real_time(b));
                struct jref_case *pc = calloc(1, sizeof(*pc));
                *pc = (struct jref_case){jref, 0, JREF_MAX_BURST};
                reg("populate_512x4k/jemalloc", bm_jref_alloc_n_free_n, pc);
            }
        }
        must(pbgb_add_context("jemalloc", "a reference (one arena per node, no tcache), not a "
                                          "Xen model"));
    }

    /* The parallel ceiling of the heap benchmarks' thread counts and pinning. */
    ceiling_bytes = pb_ceiling_buffer_bytes(topo);
    pbgb_bench *cb = reg("ceiling/reference", bm_ceiling, NULL);
    must(pbgb_threads(cb, 1));
    must(pbgb_threads(cb, 2));
    must(pbgb_use_real_time(cb));
    char what[256];
    must(pbgb_add_context("ceiling_reference",
                          pb_ceiling_describe(ceiling_bytes, what, sizeof(what))));
    must(pbgb_add_context("shared_writes_counted", POPBENCH_COUNT_SHARED ? "yes" : "no"));

    for (size_t k = 0; k < PB_ARRAY_SIZE(kinds); k++)
        for (int timing = 1; timing >= 0; timing--) {
            struct lock_case *c = calloc(1, sizeof(*c));
            c->kind = kinds[k];
            c->timing = timing;
            pb_lock_init(&c->lock, "micro", PB_RANK_LEAF, kinds[k]);
            snprintf(name, sizeof(name), "lock/%s/timing:%s", pb_lock_kind_name(kinds[k]),
                     timing ? "on" : "off");
            pbgb_bench *b = reg(name, bm_lock, c);
            must(pbgb_threads(b, 1));
            must(pbgb_threads(b, 2));
            must(pbgb_use_real_time(b));
        }

    pb_rcu_register_thread();
    must(p2m_create(P2M_GFNS, PB_LOCK_TICKET, &p2m_small));
    must(p2m_create(P2M_GFNS, PB_LOCK_TICKET, &p2m_super));
    for (uint64_t g = 0; g < P2M_GFNS; g++)
        must(p2m_set(p2m_small, g, g + 1, 0, P2M_RAM_RW, NULL, NULL));
    for (uint64_t g = 0; g < P2M_GFNS; g += 512)
        must(p2m_set(p2m_super, g, (g + 512) & ~511ull, 9, P2M_RAM_RW, NULL, NULL));
    pb_rcu_unregister_thread();
    reg("p2m_lookup/order:0", bm_p2m_lookup, p2m_small);
    reg("p2m_lookup/order:9", bm_p2m_lookup, p2m_super);
    reg("p2m_update/order:0", bm_p2m_update, p2m_small);

    static const enum pb_clear_method methods[] = {PB_CLEAR_MEMSET, PB_CLEAR_STOSB, PB_CLEAR_NT,
                                                   PB_CLEAR_AUTO};
    static const size_t lens[] = {4096, 2u << 20};
    for (size_t l = 0; l < PB_ARRAY_SIZE(lens); l++)
        for (size_t m = 0; m < PB_ARRAY_SIZE(methods); m++) {
            struct clear_case *c = calloc(1, sizeof(*c));
            *c = (struct clear_case){methods[m], lens[l]};
            snprintf(name, sizeof(name), "scrub/%s/%s", lens[l] == 4096 ? "4KiB" : "2MiB",
                     pb_clear_method_name(methods[m]));
            reg(name, bm_clear, c);
        }

    char pin[64];
    snprintf(pin, sizeof(pin), "thread i -> PU (i mod %d)", nr_pus);
    must(pbgb_add_context("pinning", pin));
    must(pbgb_add_context("machine", "2 nodes x 2 GiB, metadata only"));
    char vn[256] = "";
    for (const char *const *v = pb_variant_names(); *v; v++)
        snprintf(vn + strlen(vn), sizeof(vn) - strlen(vn), "%s%s", vn[0] ? "," : "", *v);
    must(pbgb_add_context("variants", vn));
    must(pbgb_add_context("lock_kinds", "ticket,mutex"));
    return pbgb_main(argc, argv);
}
