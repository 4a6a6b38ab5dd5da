/*
 * ceiling.h: the parallel ceiling, a reference workload that shares no data.
 *
 * A speed-up means little without what the machine allows: on a shared VM two pinned threads
 * reach anywhere from 1.1x to 2x of one, whatever they run (DESIGN.md). The ceiling runs the
 * same threads on the same CPUs as the measurement it stands beside, each doing work shaped
 * like an allocator's on data of its own: an ALU part (a dependent chain of hashing) and a
 * cache-missing part (dependent read-modify-writes of random cache lines of a private buffer
 * four times the thread's share of the caches, in huge pages where the kernel gives them, so
 * that it misses the caches rather than the TLB). Nothing is shared, so what holds it back is
 * only what the machine shares: cores (SMT siblings), caches, memory bandwidth, the host under
 * a VM. A variant's scaling efficiency against the ceiling is its speed-up divided by the
 * ceiling's speed-up at the same thread count: 1 means it scales as well as anything can here.
 *
 *   step          one unit of reference work: PB_CEILING_ALU_ROUNDS hash rounds, then
 *                 PB_CEILING_MISSES dependent random line updates (pb_ceiling_step).
 *   buffer        a thread's private lines, allocated and touched by the thread itself after it
 *                 is pinned (so a NUMA machine places it on the thread's node).
 *   table         the rates of a sweep's ceiling runs per workload, thread count and repetition,
 *                 and the speed-ups and their spread made from them.
 *
 * Threads: pb_ceiling_run belongs to the calling thread and starts and joins its own; a
 * buffer belongs to one thread; a table to the thread that fills it.
 */
#ifndef POPBENCH_BENCH_CEILING_H
#define POPBENCH_BENCH_CEILING_H

#include <hwloc.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_CEILING_ALU_ROUNDS 16 /* splitmix64 rounds: about what a heap operation computes */
#define PB_CEILING_MISSES     4  /* dependent line updates: list heads, page structs, counters */
#define PB_CEILING_MIN_BUFFER (8u << 20)
#define PB_CEILING_MAX_BUFFER (64u << 20) /* VMs may report a host's whole L3 as one PU's */

/* A thread's private buffer: 2^k cache lines, and the chain's state. */
struct pb_ceiling_buf {
    uint64_t *words;
    uint64_t line_mask; /* lines - 1 */
    uint64_t state;
    size_t bytes;
};

/* 0 or -ENOMEM; bytes is rounded up to a power of two; every line is written once. */
int pb_ceiling_buf_init(struct pb_ceiling_buf *b, size_t bytes, uint64_t seed);
void pb_ceiling_buf_free(struct pb_ceiling_buf *b);

/* One step of reference work on b (returns the chain's value, for the optimiser's sake). */
static inline uint64_t pb_ceiling_step(struct pb_ceiling_buf *b)
{
    uint64_t x = b->state;
    for (int i = 0; i < PB_CEILING_ALU_ROUNDS; i++) {
        /* splitmix64's finaliser: a dependent chain of multiplies, shifts and xors. */
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        x ^= x >> 31;
    }
    for (int i = 0; i < PB_CEILING_MISSES; i++) {
        uint64_t *line = b->words + ((x & b->line_mask) << 3);
        uint64_t v = *line;
        *line = v + x;
        x = (x ^ v) * 0xff51afd7ed558ccdull + (uint64_t)i; /* the next line depends on this one */
    }
    b->state = x;
    return x;
}

/*
 * The buffer for one thread: four times its share of the caches above a PU of topo (each
 * cache's size divided by the PUs that share it, summed over levels), rounded up to a power of
 * two within PB_CEILING_MIN_BUFFER and PB_CEILING_MAX_BUFFER. topo may be NULL (the minimum).
 */
size_t pb_ceiling_buffer_bytes(hwloc_topology_t topo);

/* What pb_ceiling_run did: rates of the measured window. */
struct pb_ceiling_result {
    bool completed; /* false: interrupted */
    unsigned threads;
    uint64_t steps, measure_ns;
    double steps_per_second;
    double thread_min_sps, thread_max_sps; /* the slowest and fastest thread */
    size_t buffer_bytes;
};

struct pb_ceiling_config {
    unsigned threads;
    /* Pins thread i (0-based) where the measurement's thread i runs; 0 or a negative errno. */
    int (*bind)(void *ctx, unsigned thread);
    void *bind_ctx;
    uint64_t warmup_ns, measure_ns;
    size_t buffer_bytes;           /* per thread; 0: PB_CEILING_MIN_BUFFER */
    const _Atomic bool *interrupt; /* checked every 10 ms; NULL: none */
};

/*
 * Runs the reference on cfg->threads pinned threads: each allocates and touches its buffer,
 * all start together, run the warm-up, and the steps of the measure window are counted.
 * 0, or a negative errno with a message (a thread that could not start or be pinned).
 */
int pb_ceiling_run(const struct pb_ceiling_config *cfg, struct pb_ceiling_result *res, char *err,
                   size_t errlen);

/* One sentence on the reference's shape, for the results' context. */
const char *pb_ceiling_describe(size_t buffer_bytes, char *buf, size_t len);

/* ---- The sweep's table of ceiling rates ---- */

struct pb_ceiling_sample {
    char workload[128];
    unsigned threads, repetition;
    double rate; /* steps per second */
};

struct pb_ceiling_table {
    struct pb_ceiling_sample *s;
    size_t n, cap;
};

/* Records (or replaces) one ceiling run. 0 or -ENOMEM. */
int pb_ceiling_table_add(struct pb_ceiling_table *t, const char *workload, unsigned threads,
                         unsigned repetition, double rate);
void pb_ceiling_table_free(struct pb_ceiling_table *t);
/* The ceiling's speed-up at `threads` against `base` threads in one repetition. */
bool pb_ceiling_speedup(const struct pb_ceiling_table *t, const char *workload, unsigned threads,
                        unsigned base, unsigned repetition, double *speedup);
/* The same over every repetition that has both: median, min and max. */
bool pb_ceiling_speedup_spread(const struct pb_ceiling_table *t, const char *workload,
                               unsigned threads, unsigned base, double *median, double *min,
                               double *max);
/* The rate at `threads` in one repetition. */
bool pb_ceiling_rate(const struct pb_ceiling_table *t, const char *workload, unsigned threads,
                     unsigned repetition, double *rate);

#endif
