/*
 * ceiling.c: the parallel ceiling (ceiling.h): the reference's buffers, its timed run on
 * pinned threads, and the table of a sweep's ceiling rates.
 */
#include "bench/ceiling.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "core/clock.h"
#include "core/pb.h"
#include "core/prng.h"
#include "results/stats.h"

#define CHECK_EVERY 64 /* steps between two looks at the stop flag: a few microseconds */
#define SLICE_NS    10000000ull

/* ---- Buffers ---- */

int pb_ceiling_buf_init(struct pb_ceiling_buf *b, size_t bytes, uint64_t seed)
{
    size_t len = PB_CACHELINE;
    while (len < bytes)
        len <<= 1;
    memset(b, 0, sizeof(*b));
    size_t align = len >= (2u << 20) ? (2u << 20) : PB_CACHELINE;
    b->words = aligned_alloc(align, len);
    if (!b->words)
        return -ENOMEM;
    /* Huge pages where the kernel gives them on request: misses of the caches, not the TLB. */
    if (align > PB_CACHELINE)
        madvise(b->words, len, MADV_HUGEPAGE);
    b->bytes = len;
    b->line_mask = len / PB_CACHELINE - 1;
    b->state = pb_rng_stream_seed(seed, 0);
    /* Written by its thread: its pages come from that thread's node, and are all present. */
    for (size_t i = 0; i < len / sizeof(uint64_t); i++)
        b->words[i] = i;
    return 0;
}

void pb_ceiling_buf_free(struct pb_ceiling_buf *b)
{
    free(b->words);
    memset(b, 0, sizeof(*b));
}

size_t pb_ceiling_buffer_bytes(hwloc_topology_t topo)
{
    uint64_t share = 0;
    hwloc_obj_t pu = topo ? hwloc_get_obj_by_type(topo, HWLOC_OBJ_PU, 0) : NULL;
    for (hwloc_obj_t o = pu ? pu->parent : NULL; o; o = o->parent) {
        if (!hwloc_obj_type_is_cache(o->type) || !o->attr ||
            o->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION || !o->cpuset)
            continue;
        int pus = hwloc_bitmap_weight(o->cpuset);
        share += o->attr->cache.size / (uint64_t)(pus > 0 ? pus : 1);
    }
    size_t want = (size_t)(4 * share), bytes = PB_CEILING_MIN_BUFFER;
    while (bytes < want && bytes < PB_CEILING_MAX_BUFFER)
        bytes <<= 1;
    return bytes;
}

const char *pb_ceiling_describe(size_t buffer_bytes, char *buf, size_t len)
{
    snprintf(buf, len,
             "per thread, steps of %d hash rounds then %d dependent random cache-line updates "
             "over a private %zu KiB buffer; nothing shared; pinned as the runs' primaries",
             PB_CEILING_ALU_ROUNDS, PB_CEILING_MISSES,
             (buffer_bytes ? buffer_bytes : PB_CEILING_MIN_BUFFER) >> 10);
    return buf;
}

/* ---- The run ---- */

struct ceiling_run;

struct ceiling_thread {
    PB_CACHE_ALIGNED _Atomic uint64_t steps; /* written by its thread only */
    pthread_t tid;
    struct ceiling_run *run;
    unsigned index;
    int rc;
    bool started;
    char err[128];
};

struct ceiling_run {
    const struct pb_ceiling_config *cfg;
    PB_CACHE_ALIGNED _Atomic unsigned ready; /* threads pinned, with their buffers */
    _Atomic bool go, stop;
    struct ceiling_thread *t;
};

static void *ceiling_thread_main(void *arg)
{
    struct ceiling_thread *t = arg;
    const struct pb_ceiling_config *cfg = t->run->cfg;
    struct pb_ceiling_buf b = {0};

    t->rc = cfg->bind ? cfg->bind(cfg->bind_ctx, t->index) : 0;
    if (t->rc)
        pb_errf(t->err, sizeof(t->err), "cannot pin thread %u: %s", t->index, strerror(-t->rc));
    else if ((t->rc = pb_ceiling_buf_init(
                  &b, cfg->buffer_bytes ? cfg->buffer_bytes : PB_CEILING_MIN_BUFFER,
                  t->index + 1)) != 0)
        pb_errf(t->err, sizeof(t->err), "thread %u: no memory for its buffer", t->index);
    atomic_fetch_add(&t->run->ready, 1);
    while (!atomic_load(&t->run->go))
        sched_yield();
    uint64_t sink = 0, steps = 0;
    while (!t->rc && !atomic_load_explicit(&t->run->stop, memory_order_relaxed)) {
        for (int k = 0; k < CHECK_EVERY; k++)
            sink ^= pb_ceiling_step(&b);
        steps += CHECK_EVERY;
        atomic_store_explicit(&t->steps, steps, memory_order_relaxed);
    }
    /* The chain's value is kept where the optimiser must assume it is read. */
    if (b.words)
        b.words[0] ^= sink;
    pb_ceiling_buf_free(&b);
    return NULL;
}

/* Sleeps until `until` (pb_clock_ns) or an interrupt; false when interrupted. */
static bool sleep_until(const struct pb_ceiling_config *cfg, uint64_t until)
{
    for (;;) {
        if (cfg->interrupt && atomic_load(cfg->interrupt))
            return false;
        uint64_t now = pb_clock_ns();
        if (now >= until)
            return true;
        uint64_t ns = until - now < SLICE_NS ? until - now : SLICE_NS;
        struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
        nanosleep(&ts, NULL);
    }
}

static void snapshot(const struct ceiling_run *r, uint64_t *out)
{
    for (unsigned i = 0; i < r->cfg->threads; i++)
        out[i] = atomic_load_explicit(&r->t[i].steps, memory_order_relaxed);
}

int pb_ceiling_run(const struct pb_ceiling_config *cfg, struct pb_ceiling_result *res, char *err,
                   size_t errlen)
{
    memset(res, 0, sizeof(*res));
    if (!cfg || cfg->threads == 0) {
        pb_errf(err, errlen, "the ceiling needs at least one thread");
        return -EINVAL;
    }
    pb_clock_init();
    unsigned n = cfg->threads;
    struct ceiling_run r = {.cfg = cfg};
    r.t = aligned_alloc(PB_CACHELINE, n * sizeof(*r.t));
    uint64_t *s0 = calloc(n, sizeof(*s0)), *s1 = calloc(n, sizeof(*s1));
    if (!r.t || !s0 || !s1) {
        free(r.t);
        free(s0);
        free(s1);
        pb_errf(err, errlen, "no memory for %u ceiling threads", n);
        return -ENOMEM;
    }
    memset(r.t, 0, n * sizeof(*r.t));
    atomic_init(&r.ready, 0);
    atomic_init(&r.go, false);
    atomic_init(&r.stop, false);
    int rc = 0;
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        r.t[i].run = &r;
        r.t[i].index = i;
        atomic_init(&r.t[i].steps, 0);
        if (pthread_create(&r.t[i].tid, NULL, ceiling_thread_main, &r.t[i]) != 0) {
            rc = -EAGAIN;
            pb_errf(err, errlen, "cannot start ceiling thread %u of %u", i, n);
            break;
        }
        r.t[i].started = true;
        started++;
    }
    /* All together: every thread pinned, its buffer touched. (Each thread's wait ends.) */
    while (atomic_load(&r.ready) < started)
        sched_yield();
    if (rc)
        atomic_store(&r.stop, true);
    atomic_store(&r.go, true);

    bool done = rc == 0;
    uint64_t t0 = pb_clock_ns();
    done = done && sleep_until(cfg, t0 + cfg->warmup_ns);
    uint64_t m0 = pb_clock_ns();
    snapshot(&r, s0);
    done = done && sleep_until(cfg, m0 + cfg->measure_ns);
    snapshot(&r, s1);
    uint64_t m1 = pb_clock_ns();
    atomic_store(&r.stop, true);
    for (unsigned i = 0; i < n; i++)
        if (r.t[i].started)
            pthread_join(r.t[i].tid, NULL);
    for (unsigned i = 0; i < n && !rc; i++)
        if (r.t[i].rc) {
            rc = r.t[i].rc;
            pb_errf(err, errlen, "%s", r.t[i].err);
        }

    res->completed = done && !rc;
    res->threads = n;
    res->measure_ns = m1 - m0;
    res->buffer_bytes = cfg->buffer_bytes ? cfg->buffer_bytes : PB_CEILING_MIN_BUFFER;
    double secs = (double)res->measure_ns / 1e9;
    for (unsigned i = 0; i < n && secs > 0; i++) {
        uint64_t d = s1[i] - s0[i];
        double sps = (double)d / secs;
        res->steps += d;
        if (i == 0 || sps < res->thread_min_sps)
            res->thread_min_sps = sps;
        if (i == 0 || sps > res->thread_max_sps)
            res->thread_max_sps = sps;
    }
    res->steps_per_second = secs > 0 ? (double)res->steps / secs : 0;
    free(r.t);
    free(s0);
    free(s1);
    return rc;
}

/* ---- The table ---- */

static struct pb_ceiling_sample *find(const struct pb_ceiling_table *t, const char *workload,
                                      unsigned threads, unsigned repetition)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->s[i].threads == threads && t->s[i].repetition == repetition &&
            strcmp(t->s[i].workload, workload) == 0)
            return &t->s[i];
    return NULL;
}

int pb_ceiling_table_add(struct pb_ceiling_table *t, const char *workload, unsigned threads,
                         unsigned repetition, double rate)
{
    struct pb_ceiling_sample *s = find(t, workload, threads, repetition);
    if (!s) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? 2 * t->cap : 16;
            struct pb_ceiling_sample *ns = realloc(t->s, cap * sizeof(*ns));
            if (!ns)
                return -ENOMEM;
            t->s = ns;
            t->cap = cap;
        }
        s = &t->s[t->n++];
        snprintf(s->workload, sizeof(s->workload), "%s", workload);
        s->threads = threads;
        s->repetition = repetition;
    }
    s->rate = rate;
    return 0;
}

void pb_ceiling_table_free(struct pb_ceiling_table *t)
{
    free(t->s);
    memset(t, 0, sizeof(*t));
}

bool pb_ceiling_rate(const struct pb_ceiling_table *t, const char *workload, unsigned threads,
                     unsigned repetition, double *rate)
{
    const struct pb_ceiling_sample *s = find(t, workload, threads, repetition);
    if (!s || !(s->rate > 0))
        return false;
    *rate = s->rate;
    return true;
}

bool pb_ceiling_speedup(const struct pb_ceiling_table *t, const char *workload, unsigned threads,
                        unsigned base, unsigned repetition, double *speedup)
{
    double at, from;
    if (!pb_ceiling_rate(t, workload, threads, repetition, &at) ||
        !pb_ceiling_rate(t, workload, base, repetition, &from))
        return false;
    *speedup = at / from;
    return true;
}

bool pb_ceiling_speedup_spread(const struct pb_ceiling_table *t, const char *workload,
                               unsigned threads, unsigned base, double *median, double *min,
                               double *max)
{
    double *v = malloc((t->n ? t->n : 1) * sizeof(*v));
    size_t k = 0;
    if (!v)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        const struct pb_ceiling_sample *s = &t->s[i];
        if (s->threads == threads && strcmp(s->workload, workload) == 0 &&
            pb_ceiling_speedup(t, workload, threads, base, s->repetition, &v[k]))
            k++;
    }
    if (k) {
        *median = pb_median(v, k);
        *min = *max = v[0];
        for (size_t i = 1; i < k; i++) {
            *min = v[i] < *min ? v[i] : *min;
            *max = v[i] > *max ? v[i] : *max;
        }
    }
    free(v);
    return k > 0;
}
