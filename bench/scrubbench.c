/*
 * popbench-scrubbench: what background scrubbing delivers, on a one-node machine with real
 * backing (default 4 GiB). First the host's clear methods are measured (pb_clear_host_measure),
 * which makes the fastest `auto`'s choice for the background scrubber, as popbench run does.
 *   bandwidth  one pernode worker draining the fully dirty heap, per clear method, against
 *              memset of the same buffer in the same run on the same CPU (one call over the
 *              whole buffer, and frame by frame); GB/s and the ratio worker / memset. (On VMs
 *              the bandwidth of one vCPU can differ from another's by 2x, hence the same CPU.)
 *              Then auto against the fastest of them all: best of the trials of each, and
 *              trial by trial.
 *   drain      time until the backlog of the fully dirty heap is zero: pernode with 1 and 2
 *              workers, and the xen scrubber.
 *   alloc      order-9 allocations until the fully dirty heap is empty: scrubbing on
 *              allocation only, then with background workers started alongside.
 * Each figure is the median of --trials runs (min and max beside it). Workers and the
 * allocating thread are pinned round-robin over the CPUs this process may use.
 * A benchmark, not a test: nothing here passes or fails.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clear.h"
#include "core/heap.h"
#include "core/memflags.h"
#include "core/scrub.h"

#define MAX_TRIALS 32

static unsigned ncpus;
static unsigned batch_frames; /* pernode workers: 0 = the default */
static int cpu_list[1024];

static void cpus_init(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0)
        for (int c = 0; c < CPU_SETSIZE && ncpus < 1024; c++)
            if (CPU_ISSET(c, &set))
                cpu_list[ncpus++] = c;
    if (ncpus == 0)
        cpu_list[ncpus++] = 0;
}

static void pin_self(unsigned slot)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu_list[slot % ncpus], &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Scrub workers take CPUs from 1 on; the allocating thread (or main) has CPU slot 0. */
static void pin_worker(void *ctx, unsigned node, unsigned worker)
{
    (void)ctx;
    (void)node;
    pin_self(1 + worker);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

struct stat3 {
    double med, min, max;
};

static struct stat3 summarize(double *v, unsigned n)
{
    qsort(v, n, sizeof(*v), cmp_double);
    return (struct stat3){v[n / 2], v[0], v[n - 1]};
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "popbench-scrubbench: %s: %s\n", what, strerror(-rc));
    exit(1);
}

/* Allocate every free frame (largest blocks first) and free it all dirty. Returns frames. */
static uint64_t dirty_all(struct pb_heap *h)
{
    size_t cap = 1024, n = 0;
    uint64_t *mfn = malloc(cap * sizeof(*mfn));
    unsigned *ord = malloc(cap * sizeof(*ord));
    uint64_t frames = 0;
    for (unsigned order = PB_MAX_ORDER + 1; order-- > 0;) {
        uint64_t m;
        while (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, order, MEMF_no_scrub, NULL, &m) == 0) {
            if (n == cap) {
                cap *= 2;
                mfn = realloc(mfn, cap * sizeof(*mfn));
                ord = realloc(ord, cap * sizeof(*ord));
            }
            mfn[n] = m;
            ord[n++] = order;
            frames += 1ull << order;
        }
    }
    for (size_t i = 0; i < n; i++)
        pb_free_heap_pages(h, mfn[i], ord[i], true);
    free(mfn);
    free(ord);
    return frames;
}

/* Start a scrubber and wait for the backlog to reach zero: seconds. */
static double drain(struct pb_heap *h, unsigned workers, enum pb_clear_method method)
{
    struct pb_scrub_config cfg = {.workers_per_node = workers,
                                  .method = method,
                                  .batch_frames = batch_frames,
                                  .thread_init = pin_worker};
    struct pb_scrubber *s;
    uint64_t t0 = pb_now_ns();
    int rc = pb_scrubber_start(h, &cfg, &s);
    if (rc)
        die("pb_scrubber_start", rc);
    while (pb_scrub_backlog(h) != 0)
        usleep(100);
    uint64_t t1 = pb_now_ns();
    pb_scrubber_stop(s);
    return (double)(t1 - t0) / 1e9;
}

/* After a drain every frame but MFN 0 must read zero (sampled: a few lines each). */
static void check_zero(struct pb_heap *h)
{
    uint64_t bad = 0;
    for (uint64_t m = 1; m < pb_heap_nr_frames(h); m++)
        bad += !pb_page_is_zero_sampled(pb_frame_data(h, m), m);
    if (bad) {
        fprintf(stderr, "popbench-scrubbench: %lu frames do not read zero after a drain\n",
                (unsigned long)bad);
        exit(1);
    }
}

static struct pb_heap *make_heap(const char *variant, uint64_t frames)
{
    struct pb_machine_desc desc = {.nr_nodes = 1, .backing = PB_BACKING_REAL};
    desc.node_frames[0] = frames;
    struct pb_heap *h;
    int rc = pb_heap_create(&desc, variant, PB_LOCK_TICKET, &h);
    if (rc)
        die("pb_heap_create", rc);
    return h;
}

/* memset of a buffer on the CPU the (first) worker gets: the reference it is compared to. */
struct memset_job {
    unsigned char *buf;
    size_t len, step; /* step: bytes per memset call */
    double seconds;
};

static void *memset_thread(void *arg)
{
    struct memset_job *j = arg;
    pin_self(1);
    uint64_t t0 = pb_now_ns();
    for (size_t off = 0; off < j->len; off += j->step)
        memset(j->buf + off, 0, j->step);
    j->seconds = (double)(pb_now_ns() - t0) / 1e9;
    return NULL;
}

static double memset_gbs(unsigned char *buf, size_t len, size_t step)
{
    /* Dirtied by this thread, as dirty_all() dirties the heap before a worker drains it. */
    for (size_t off = 0; off < len; off += PB_PAGE_SIZE)
        pb_dirty_fill(buf + off);
    struct memset_job j = {buf, len, step, 0};
    pthread_t t;
    if (pthread_create(&t, NULL, memset_thread, &j))
        die("pthread_create", -EAGAIN);
    pthread_join(t, NULL);
    return (double)len / 1e9 / j.seconds;
}

static void bench_bandwidth(uint64_t frames, unsigned trials)
{
    struct pb_heap *h = make_heap("pernode", frames);
    unsigned char *buf = pb_frame_data(h, 0);
    size_t len = frames * PB_PAGE_SIZE;
    double gb = (double)len / 1e9;
    printf("\n== bandwidth: one worker draining %.2f GiB vs memset of the same buffer\n",
           (double)len / (1u << 30));
    printf("%-22s %9s %9s %9s %8s\n", "what", "GB/s", "min", "max", "ratio");

    double ms_one[MAX_TRIALS], ms_frame[MAX_TRIALS];
    double wk[PB_CLEAR_NR_METHODS][MAX_TRIALS];
    for (unsigned t = 0; t < trials; t++) {
        /* The same buffer, dirtied the same way before each measurement. */
        for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++) {
            dirty_all(h);
            wk[m][t] = gb / drain(h, 1, (enum pb_clear_method)m);
            check_zero(h);
        }
        ms_one[t] = memset_gbs(buf, len, len);
        ms_frame[t] = memset_gbs(buf, len, PB_PAGE_SIZE);
    }
    /* auto against the fastest clear of the same buffer: best of the trials of each (load on
     * a shared host only ever slows a trial down), and trial by trial. */
    double best_auto = 0, best_all = 0, paired[MAX_TRIALS];
    for (unsigned t = 0; t < trials; t++) {
        double fastest = ms_one[t] > ms_frame[t] ? ms_one[t] : ms_frame[t];
        for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++)
            fastest = wk[m][t] > fastest ? wk[m][t] : fastest;
        paired[t] = wk[PB_CLEAR_AUTO][t] / fastest;
        best_auto = wk[PB_CLEAR_AUTO][t] > best_auto ? wk[PB_CLEAR_AUTO][t] : best_auto;
        best_all = fastest > best_all ? fastest : best_all;
    }
    struct stat3 pr = summarize(paired, trials);
    struct stat3 one = summarize(ms_one, trials), fr = summarize(ms_frame, trials);
    printf("%-22s %9.2f %9.2f %9.2f %8s\n", "memset (one call)", one.med, one.min, one.max, "1.00");
    printf("%-22s %9.2f %9.2f %9.2f %8.2f\n", "memset (per frame)", fr.med, fr.min, fr.max,
           fr.med / one.med);
    for (unsigned m = 0; m < PB_CLEAR_NR_METHODS; m++) {
        struct stat3 w = summarize(wk[m], trials);
        char name[40];
        snprintf(name, sizeof(name), "worker, %s%s", pb_clear_method_name((enum pb_clear_method)m),
                 pb_clear_method_native((enum pb_clear_method)m) ? "" : "*");
        printf("%-22s %9.2f %9.2f %9.2f %8.2f\n", name, w.med, w.min, w.max, w.med / one.med);
    }
    printf("auto (= %s) / fastest: best of %u trials each %.2f; per trial median %.2f, min %.2f\n",
           pb_clear_method_name(pb_clear_auto_cold_method()), trials, best_auto / best_all, pr.med,
           pr.min);
    pb_heap_destroy(h);
}

static void bench_drain(uint64_t frames, unsigned trials, enum pb_clear_method method)
{
    printf("\n== drain: %.2f GiB of dirty frames to zero backlog (method %s)\n",
           (double)frames * PB_PAGE_SIZE / (1u << 30), pb_clear_method_name(method));
    printf("%-22s %9s %9s %9s %9s\n", "scrubber", "seconds", "min", "max", "GB/s");
    struct {
        const char *variant, *label;
        unsigned workers;
    } cases[] = {
        {"pernode", "pernode, 1 worker", 1},
        {"pernode", "pernode, 2 workers", 2},
        {"xen", "xen (1 per node)", 1},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct pb_heap *h = make_heap(cases[c].variant, frames);
        double v[MAX_TRIALS];
        uint64_t dirty = 0;
        for (unsigned t = 0; t < trials; t++) {
            dirty = dirty_all(h);
            v[t] = drain(h, cases[c].workers, method);
            check_zero(h);
        }
        struct stat3 s = summarize(v, trials);
        printf("%-22s %9.3f %9.3f %9.3f %9.2f\n", cases[c].label, s.med, s.min, s.max,
               (double)dirty * PB_PAGE_SIZE / 1e9 / s.med);
        pb_heap_destroy(h);
    }
}

struct alloc_result {
    double seconds;
    uint64_t extents;
    struct pb_scrub_counters c;
};

/* Order-9 allocations until the heap is empty, from a fully dirty heap. */
static struct alloc_result alloc_run(struct pb_heap *h, unsigned workers,
                                     enum pb_clear_method method)
{
    static uint64_t got[1u << 16]; /* 64 GiB of order-9 extents */
    struct alloc_result r = {0};
    dirty_all(h);
    struct pb_scrub_counters c0;
    pb_scrub_read_counters(h, &c0);
    struct pb_scrubber *s = NULL;
    uint64_t t0 = pb_now_ns();
    if (workers) {
        struct pb_scrub_config cfg = {.workers_per_node = workers,
                                      .method = method,
                                      .batch_frames = batch_frames,
                                      .thread_init = pin_worker};
        int rc = pb_scrubber_start(h, &cfg, &s);
        if (rc)
            die("pb_scrubber_start", rc);
    }
    uint64_t m;
    while (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 9, 0, NULL, &m) == 0)
        got[r.extents++] = m;
    r.seconds = (double)(pb_now_ns() - t0) / 1e9;
    if (s)
        pb_scrubber_stop(s);
    pb_scrub_read_counters(h, &r.c);
    r.c.on_alloc -= c0.on_alloc;
    r.c.background -= c0.background;
    r.c.aborts -= c0.aborts;
    for (uint64_t i = 0; i < r.extents; i++)
        pb_free_heap_pages(h, got[i], 9, false);
    return r;
}

static void bench_alloc(uint64_t frames, unsigned trials, enum pb_clear_method method)
{
    printf("\n== order-9 allocations from a fully dirty %.2f GiB heap until it is empty\n",
           (double)frames * PB_PAGE_SIZE / (1u << 30));
    printf("%-30s %10s %9s %9s %12s %12s %7s\n", "case", "allocs/s", "min", "max", "on alloc",
           "background", "aborts");
    struct {
        const char *variant, *label;
        unsigned workers;
    } cases[] = {
        {"pernode", "pernode, scrub on alloc only", 0},
        {"pernode", "pernode, 1 worker alongside", 1},
        {"pernode", "pernode, 2 workers alongside", 2},
        {"xen", "xen, scrub on alloc only", 0},
        {"xen", "xen, its scrubber alongside", 1},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct pb_heap *h = make_heap(cases[c].variant, frames);
        pb_heap_set_clear_method(h, PB_CLEAR_AUTO);
        double v[MAX_TRIALS];
        struct alloc_result last = {0};
        for (unsigned t = 0; t < trials; t++) {
            last = alloc_run(h, cases[c].workers, method);
            v[t] = (double)last.extents / last.seconds;
        }
        struct stat3 s = summarize(v, trials);
        printf("%-30s %10.0f %9.0f %9.0f %12lu %12lu %7lu%s\n", cases[c].label, s.med, s.min, s.max,
               (unsigned long)last.c.on_alloc, (unsigned long)last.c.background,
               (unsigned long)last.c.aborts,
               cases[c].workers + 1 > ncpus ? "  (oversubscribed)" : "");
        pb_heap_destroy(h);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: popbench-scrubbench [--gib N] [--trials N] [--method "
                    "auto|memset|stosb|nt] [--batch FRAMES] [--only bandwidth|drain|alloc]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double gib = 4;
    unsigned trials = 3;
    enum pb_clear_method method = PB_CLEAR_NT;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--gib") && i + 1 < argc)
            gib = atof(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch_frames = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--trials") && i + 1 < argc)
            trials = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--method") && i + 1 < argc) {
            if (pb_clear_method_parse(argv[++i], &method))
                usage();
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else
            usage();
    }
    if (gib <= 0 || gib > 64 || trials == 0 || trials > MAX_TRIALS)
        usage();
    cpus_init();
    pin_self(0);
    uint64_t frames = (uint64_t)(gib * (1u << 30)) / PB_PAGE_SIZE;
    /* What `auto` is for the background scrubber: the fastest on this host, measured now. */
    struct pb_clear_host host;
    int rc = pb_clear_host_measure(0, 0, 5, &host);
    if (rc)
        die("pb_clear_host_measure", rc);
    printf("clear methods on %zu MiB in %zu KiB calls (median of %u): memset %.2f, stosb %.2f, nt "
           "%.2f GB/s: auto for cold memory = %s\n",
           host.buffer_bytes >> 20, host.region_bytes >> 10, host.trials,
           host.gbps[PB_CLEAR_MEMSET], host.gbps[PB_CLEAR_STOSB], host.gbps[PB_CLEAR_NT],
           pb_clear_method_name(host.fastest));
    printf("popbench-scrubbench: %.2f GiB, %u trials, %u CPUs, background method %s, pernode "
           "batch %u frames (* = falls back to memset here)\n",
           gib, trials, ncpus, pb_clear_method_name(method),
           batch_frames ? batch_frames : PB_SCRUB_BATCH);
    if (!only || !strcmp(only, "bandwidth"))
        bench_bandwidth(frames, trials);
    if (!only || !strcmp(only, "drain"))
        bench_drain(frames, trials, method);
    if (!only || !strcmp(only, "alloc"))
        bench_alloc(frames, trials, method);
    return 0;
}
