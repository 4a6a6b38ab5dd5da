/*
 * popbench-memopbench: what memory_op costs around the heap.
 *
 *   preempt   ns per pb_hypercall_preempt_check() under each policy (TIMESLICE adaptive and
 *             with a clock read on every check);
 *   p2m       ns per p2m_lookup of a random gfn of a 4 GiB p2m (half 2 MiB, half 4 KiB
 *             entries), alone and while a writer on another CPU replaces, splits and retires;
 *   populate  pages/s building a 4 GiB domain with order-9 extents through the toolstack
 *             wrapper (512 extents per call), without preemption and with a 1 ms time slice
 *             (continuations counted): on a clean metadata-only heap, then on a dirty heap
 *             with real backing, once on the domain-build path (the memop layer scrubs,
 *             preemptibly) and once for a live domain (alloc_heap_pages scrubs, unpreemptibly).
 *
 * usage: popbench-memopbench [--trials N] [--lookups N] [--no-backed]
 * Prints medians over the trials. Run it on an otherwise idle machine, Release build.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clear.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/pb.h"
#include "core/preempt.h"
#include "core/scrub.h"
#include "core/toolstack.h"

#define GIB_FRAMES (1ull << 18)
#define DOM_FRAMES (4 * GIB_FRAMES)
#define MAX_TRIALS 64

static unsigned trials = 5;
static uint64_t lookups = 20000000;
static bool backed = true;

static void die(const char *what, int rc)
{
    fprintf(stderr, "popbench-memopbench: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    exit(1);
}

static void pin(unsigned cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* ------------------------------------------------------------------------------------------
 * Preemption checks.
 */

static void bench_preempt(void)
{
    const struct {
        const char *name;
        struct pb_preempt_policy p;
    } cases[] = {
        {"none", {.kind = PB_PREEMPT_NONE}},
        {"every_n (n=2^62)", {.kind = PB_PREEMPT_EVERY_N, .every_n = 1ull << 62}},
        {"prob (p=0)", {.kind = PB_PREEMPT_PROB, .probability = 0.0}},
        {"timeslice 1 ms, adaptive stride", {.kind = PB_PREEMPT_TIMESLICE}},
        {"timeslice 1 ms, clock every check", {.kind = PB_PREEMPT_TIMESLICE, .clock_stride = 1}},
    };
    const uint64_t n = 50000000;
    uint64_t yes = 0;
    printf("\n== preemption check: ns per check (%llu checks, median of %u)\n",
           (unsigned long long)n, trials);
    for (size_t c = 0; c < PB_ARRAY_SIZE(cases); c++) {
        double ns[MAX_TRIALS];
        struct pb_preempt_counters ctr = {0};
        for (unsigned t = 0; t < trials; t++) {
            if (pb_preempt_configure(&cases[c].p))
                die("pb_preempt_configure", EINVAL);
            pb_preempt_counters_reset();
            uint64_t t0 = pb_now_ns();
            for (uint64_t i = 0; i < n; i++)
                yes += pb_hypercall_preempt_check();
            ns[t] = (double)(pb_now_ns() - t0) / (double)n;
            pb_preempt_counters_read(&ctr);
        }
        printf("  %-34s %6.2f ns  (clock reads per check %.5f, preemptions %llu)\n", cases[c].name,
               median(ns, trials), (double)ctr.clock_reads / (double)ctr.checks,
               (unsigned long long)ctr.preemptions);
    }
    struct pb_preempt_policy none = {.kind = PB_PREEMPT_NONE};
    (void)pb_preempt_configure(&none);
    __asm__ __volatile__("" : : "r"(yes));
}

/* ------------------------------------------------------------------------------------------
 * p2m lookups, with and without a writer.
 */

struct writer_arg {
    struct p2m *p;
    bool reshape; /* also split 2 MiB entries and retire leaves, not only replace 4 KiB ones */
    _Atomic bool stop;
    uint64_t ops;
};

static void *writer_main(void *arg)
{
    struct writer_arg *w = arg;
    uint64_t s = 0x1234567, ops = 0;
    pin(1);
    pb_rcu_register_thread();
    while (!atomic_load_explicit(&w->stop, memory_order_relaxed)) {
        uint64_t r = xorshift(&s);
        uint64_t gfn;
        int rc;
        switch (w->reshape ? r % 3 : 0) {
        case 0: /* replace a 4 KiB entry in the 4 KiB half */
            gfn = 2 * GIB_FRAMES + (r >> 8) % (2 * GIB_FRAMES);
            rc = p2m_set(w->p, gfn, gfn + 7, 0, P2M_RAM_RW, NULL, NULL);
            break;
        case 1: /* a 2 MiB entry over a leaf of the 4 KiB half: the leaf is retired */
            gfn = 2 * GIB_FRAMES + ((r >> 8) % (2 * GIB_FRAMES) & ~511ull);
            rc = p2m_set(w->p, gfn, gfn, 9, P2M_RAM_RW, NULL, NULL);
            break;
        default: /* a 4 KiB entry inside a 2 MiB one: it is split into a new leaf */
            gfn = (r >> 8) % (4 * GIB_FRAMES);
            rc = p2m_set(w->p, gfn, gfn + 3, 0, P2M_RAM_RW, NULL, NULL);
            break;
        }
        if (rc)
            die("p2m_set", rc);
        ops++;
    }
    pb_rcu_unregister_thread();
    w->ops = ops;
    return NULL;
}

static double lookup_ns(struct p2m *p, uint64_t seed)
{
    uint64_t s = seed, sum = 0;
    uint64_t t0 = pb_now_ns();
    for (uint64_t i = 0; i < lookups; i++) {
        struct p2m_entry e;
        (void)p2m_lookup(p, xorshift(&s) % DOM_FRAMES, &e);
        sum += e.mfn;
    }
    double ns = (double)(pb_now_ns() - t0) / (double)lookups;
    __asm__ __volatile__("" : : "r"(sum));
    return ns;
}

/* Map [0, 2 GiB) with 2 MiB entries and [2 GiB, 4 GiB) with 4 KiB ones. */
static void p2m_fill(struct p2m *p)
{
    for (uint64_t g = 0; g < 2 * GIB_FRAMES; g += 512)
        if (p2m_set(p, g, g, 9, P2M_RAM_RW, NULL, NULL))
            die("p2m_set", ENOMEM);
    for (uint64_t g = 2 * GIB_FRAMES; g < 4 * GIB_FRAMES; g++)
        if (p2m_set(p, g, g, 0, P2M_RAM_RW, NULL, NULL))
            die("p2m_set", ENOMEM);
}

static void bench_p2m(void)
{
    struct p2m *p;
    int rc = p2m_create(DOM_FRAMES, PB_LOCK_TICKET, &p);
    if (rc)
        die("p2m_create", rc);
    p2m_fill(p);
    printf("\n== p2m_lookup of a random gfn, 4 GiB p2m (half 2 MiB, half 4 KiB entries): "
           "ns per lookup (%llu lookups, median of %u)\n",
           (unsigned long long)lookups, trials);
    double alone[MAX_TRIALS];
    for (unsigned t = 0; t < trials; t++)
        alone[t] = lookup_ns(p, 0x9e3779b97f4a7c15ull + t);
    printf("  no writer                                  %6.2f ns\n", median(alone, trials));
    for (int reshape = 0; reshape <= 1; reshape++) {
        double busy[MAX_TRIALS], wops[MAX_TRIALS];
        struct p2m_counters c0, c1;
        p2m_counters_read(p, &c0);
        for (unsigned t = 0; t < trials; t++) {
            struct writer_arg w = {.p = p, .reshape = reshape};
            pthread_t tid;
            if ((rc = pthread_create(&tid, NULL, writer_main, &w)))
                die("pthread_create", rc);
            uint64_t t0 = pb_now_ns();
            busy[t] = lookup_ns(p, 0x9e3779b97f4a7c15ull + t);
            atomic_store(&w.stop, true);
            pthread_join(tid, NULL);
            wops[t] = (double)w.ops * 1e9 / (double)(pb_now_ns() - t0);
        }
        p2m_counters_read(p, &c1);
        printf("  writer on another CPU, %-19s %6.2f ns  (writer: %.0f p2m_set/s; %llu splits, "
               "%llu nodes retired)\n",
               reshape ? "splitting/retiring" : "replacing 4 KiB", median(busy, trials),
               median(wops, trials), (unsigned long long)(c1.splits - c0.splits),
               (unsigned long long)(c1.nodes_retired - c0.nodes_retired));
    }
    p2m_destroy(p, NULL, NULL);
    pb_rcu_barrier();
}

/* ------------------------------------------------------------------------------------------
 * Building a 4 GiB domain.
 */

struct build_result {
    double pages_per_s;
    struct pb_xc_stats xc;
    struct pb_scrub_counters sc;
};

static struct pb_heap *machine(enum pb_backing b)
{
    /* 4 GiB and 2 MiB: room for every 2 MiB extent, MFN 0's block aside. */
    struct pb_machine_desc desc = {.nr_nodes = 1, .backing = b};
    desc.node_frames[0] = DOM_FRAMES + 1024;
    struct pb_heap *h;
    int rc = pb_heap_create(&desc, "xen", PB_LOCK_TICKET, &h);
    if (rc)
        die("pb_heap_create", rc);
    return h;
}

/* Allocate every frame, write into each, free them all dirty. */
static void dirty_heap(struct pb_heap *h)
{
    uint64_t mfn;
    uint64_t *blk = malloc((DOM_FRAMES / 512 + 64) * sizeof(*blk));
    unsigned *ord = malloc((DOM_FRAMES / 512 + 64) * sizeof(*ord));
    size_t n = 0;
    if (!blk || !ord)
        die("malloc", ENOMEM);
    for (unsigned order = 9 + 1; order-- > 0;)
        while (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, order, 0, NULL, &mfn) == 0) {
            blk[n] = mfn;
            ord[n++] = order;
        }
    for (size_t i = 0; i < n; i++) {
        for (uint64_t f = 0; f < (1ull << ord[i]); f++)
            pb_dirty_fill(pb_frame_data(h, blk[i] + f));
        if (pb_free_heap_pages(h, blk[i], ord[i], true))
            die("pb_free_heap_pages", EINVAL);
    }
    free(blk);
    free(ord);
}

static struct build_result build(struct pb_heap *h, bool live, const struct pb_preempt_policy *pp)
{
    const struct pb_memop_caller ctl = {.privilege = PB_PRIV_CONTROL};
    const uint64_t nr = DOM_FRAMES / 512, batch = PB_XC_BATCH;
    struct pb_domain_config cfg = {.max_pages = DOM_FRAMES};
    struct pb_domain *d;
    int rc = pb_memop_domain_create(h, 1, &cfg, DOM_FRAMES, PB_LOCK_TICKET, &d);
    if (rc)
        die("pb_memop_domain_create", rc);
    if (live)
        pb_memop_finish_creation(h, d);
    uint64_t *gfns = malloc(batch * sizeof(*gfns));
    if (!gfns)
        die("malloc", ENOMEM);
    struct build_result r = {0};
    struct pb_scrub_counters s0;
    pb_scrub_read_counters(h, &s0);
    if ((rc = pb_preempt_configure(pp)))
        die("pb_preempt_configure", rc);

    uint64_t t0 = pb_now_ns();
    for (uint64_t i = 0; i < nr; i += batch) {
        for (uint64_t k = 0; k < batch; k++)
            gfns[k] = (i + k) * 512;
        if (pb_xc_domain_populate_physmap_exact(h, &ctl, 1, batch, 9, 0, gfns, &r.xc))
            die("populate", errno);
    }
    if (!live && (rc = pb_memop_finish_creation(h, d)))
        die("pb_memop_finish_creation", rc);
    uint64_t ns = pb_now_ns() - t0;

    struct pb_preempt_policy none = {.kind = PB_PREEMPT_NONE};
    (void)pb_preempt_configure(&none);
    r.pages_per_s = (double)DOM_FRAMES * 1e9 / (double)ns;
    pb_scrub_read_counters(h, &r.sc);
    r.sc.on_alloc -= s0.on_alloc;
    r.sc.domain_build -= s0.domain_build;
    free(gfns);
    pb_memop_domain_destroy(h, d); /* frees every frame dirty: the next build scrubs again */
    return r;
}

/* h NULL: a fresh clean metadata-only heap for every build (destroy leaves frames dirty). */
static void bench_build(const char *title, struct pb_heap *h, bool live)
{
    const struct pb_preempt_policy none = {.kind = PB_PREEMPT_NONE};
    const struct pb_preempt_policy tick = {.kind = PB_PREEMPT_TIMESLICE,
                                           .slice_ns = PB_PREEMPT_DEFAULT_SLICE_NS};
    const struct pb_preempt_policy *pol[] = {&none, &tick};
    const char *pname[] = {"no preemption", "1 ms time slice"};
    printf("  %s\n", title);
    for (int k = 0; k < 2; k++) {
        double pps[MAX_TRIALS], cont[MAX_TRIALS], calls[MAX_TRIALS], spre[MAX_TRIALS];
        struct build_result r = {0};
        for (unsigned t = 0; t < trials; t++) {
            struct pb_heap *fresh = h ? NULL : machine(PB_BACKING_NONE);
            r = build(h ? h : fresh, live, pol[k]);
            pb_heap_destroy(fresh);
            pps[t] = r.pages_per_s;
            cont[t] = (double)r.xc.continuations;
            calls[t] = (double)r.xc.hypercalls;
            spre[t] = (double)r.xc.c.scrub_preemptions;
        }
        printf("    %-16s %12.0f pages/s (%.2f GiB/s)  continuations %.0f of %.0f invocations"
               " (%.0f mid-scrub); scrubbed per build: %llu by the build path, %llu on "
               "allocation\n",
               pname[k], median(pps, trials), median(pps, trials) / (double)GIB_FRAMES,
               median(cont, trials), median(calls, trials), median(spre, trials),
               (unsigned long long)r.sc.domain_build, (unsigned long long)r.sc.on_alloc);
    }
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--trials") && i + 1 < argc) {
            trials = (unsigned)strtoul(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--lookups") && i + 1 < argc) {
            lookups = strtoull(argv[++i], NULL, 0);
        } else if (!strcmp(argv[i], "--no-backed")) {
            backed = false;
        } else {
            fprintf(stderr, "usage: popbench-memopbench [--trials N] [--lookups N] "
                            "[--no-backed]\n");
            return 2;
        }
    }
    if (trials == 0 || trials > MAX_TRIALS || lookups == 0) {
        fprintf(stderr, "popbench-memopbench: --trials is 1..%d, --lookups > 0\n", MAX_TRIALS);
        return 2;
    }
    pin(0);
    pb_rcu_register_thread();
    printf("popbench-memopbench: POPBENCH_DEBUG=%d, %u trials\n", POPBENCH_DEBUG, trials);

    bench_preempt();
    bench_p2m();

    printf("\n== building a 4 GiB domain with order-9 extents, %llu per call (median of %u)\n",
           (unsigned long long)PB_XC_BATCH, trials);
    bench_build("clean heap, no backing, domain-build path:", NULL, false);
    if (backed) {
        struct pb_heap *h = machine(PB_BACKING_REAL);
        dirty_heap(h);
        bench_build("dirty heap, real backing, domain-build path (memop scrubs, preemptibly):", h,
                    false);
        bench_build(
            "dirty heap, real backing, live domain (scrub on allocation, unpreemptible):", h, true);
        pb_heap_destroy(h);
    }
    pb_rcu_unregister_thread();
    return 0;
}
