/*
 * hist.h: a log-linear latency histogram in nanoseconds, cheap to record into and mergeable.
 *
 * Buckets: values below 2 * PB_HIST_SUB (256) each have a bucket of their own (exact). Above,
 * each power of two [2^m, 2^(m+1)) is split into PB_HIST_SUB (128) equal buckets of width
 * 2^(m-7), so a bucket is at most 1/128 (0.78%) of its lower bound wide. Bucket index of v:
 *     shift = max(0, msb(v) - 7);  index = (v >> shift) + shift * 128
 * one count-leading-zeros, one shift, one add: no floating point, no division.
 * Values up to PB_HIST_MAX_TRACKABLE (2^38 - 1 ns, about 275 s) are bucketed; larger ones only
 * add to an overflow count (and to count, sum, min and max), and a percentile that falls
 * among them reports the exact max.
 *
 * Identities: count = overflow + sum of the bucket counts; min <= every percentile <= max.
 *
 * Threads: not thread-safe, by design. Each thread records into its own histogram (the
 * struct is cache-line aligned so an array of them shares no line); after the run, once the
 * threads are joined (or past a barrier), one thread merges them with pb_hist_merge().
 * Every field below is written only by the owning thread.
 */
#ifndef POPBENCH_BENCH_HIST_H
#define POPBENCH_BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "core/pb.h"

#define PB_HIST_SUB_BITS      7
#define PB_HIST_SUB           (1u << PB_HIST_SUB_BITS) /* linear buckets per power of two */
#define PB_HIST_MAX_BITS      38
#define PB_HIST_MAX_TRACKABLE ((UINT64_C(1) << PB_HIST_MAX_BITS) - 1)
/* 256 exact buckets, then 128 per power of two from 2^8 to 2^37. */
#define PB_HIST_BUCKETS ((PB_HIST_MAX_BITS - PB_HIST_SUB_BITS + 1) * PB_HIST_SUB)

struct pb_hist {
    /* Summary, first cache line: touched by every record. */
    PB_CACHE_ALIGNED uint64_t count; /* values recorded, overflow included */
    uint64_t min;                    /* UINT64_MAX while empty */
    uint64_t max;                    /* 0 while empty */
    uint64_t overflow;               /* values > PB_HIST_MAX_TRACKABLE */
    unsigned __int128 sum;           /* exact sum of all values, for the mean */
    uint64_t counts[PB_HIST_BUCKETS];
};

/* One non-empty bucket: values in [lo, hi] (both inclusive) were recorded count times. The
 * overflow bucket, last if non-empty, is [PB_HIST_MAX_TRACKABLE + 1, max]. Recording lo with
 * pb_hist_record_n(h, lo, count) for every bucket rebuilds the same bucket counts. */
struct pb_hist_bucket {
    uint64_t lo;
    uint64_t hi;
    uint64_t count;
};

struct pb_hist_iter {
    const struct pb_hist *h;
    uint32_t next; /* next bucket index to look at; PB_HIST_BUCKETS: overflow; beyond: done */
};

/* Make h empty (also how to initialise one). */
void pb_hist_reset(struct pb_hist *h);

/* A zeroed histogram from the heap, cache-line aligned, or NULL; pb_hist_free() frees it. */
struct pb_hist *pb_hist_alloc(void);
void pb_hist_free(struct pb_hist *h);

/* The bucket of value v, for v <= PB_HIST_MAX_TRACKABLE. */
static inline uint32_t pb_hist_bucket_index(uint64_t v)
{
    /* OR-ing in PB_HIST_SUB makes msb >= 7, so shift = 0 below 256, with no branch. */
    unsigned msb = 63u - (unsigned)__builtin_clzll(v | PB_HIST_SUB);
    unsigned shift = msb - PB_HIST_SUB_BITS;
    return (uint32_t)(v >> shift) + (shift << PB_HIST_SUB_BITS);
}

/* Bounds (inclusive) of the bucket holding v; v itself above PB_HIST_MAX_TRACKABLE. */
uint64_t pb_hist_lowest_equivalent(uint64_t v);
uint64_t pb_hist_highest_equivalent(uint64_t v);

/* Record one value, or count copies of it. O(1), no locks. */
static inline void pb_hist_record_n(struct pb_hist *h, uint64_t ns, uint64_t count)
{
    if (pb_unlikely(count == 0))
        return;
    h->count += count;
    h->sum += (unsigned __int128)ns * count;
    h->min = ns < h->min ? ns : h->min;
    h->max = ns > h->max ? ns : h->max;
    if (pb_unlikely(ns > PB_HIST_MAX_TRACKABLE))
        h->overflow += count;
    else
        h->counts[pb_hist_bucket_index(ns)] += count;
}

static inline void pb_hist_record(struct pb_hist *h, uint64_t ns)
{
    h->count++;
    h->sum += ns;
    h->min = ns < h->min ? ns : h->min;
    h->max = ns > h->max ? ns : h->max;
    if (pb_unlikely(ns > PB_HIST_MAX_TRACKABLE))
        h->overflow++;
    else
        h->counts[pb_hist_bucket_index(ns)]++;
}

/* h += other (other unchanged; h == other doubles h). */
void pb_hist_merge(struct pb_hist *h, const struct pb_hist *other);

/* Exact summaries. An empty histogram has count 0, min 0, max 0, mean 0. */
uint64_t pb_hist_count(const struct pb_hist *h);
uint64_t pb_hist_overflow(const struct pb_hist *h);
uint64_t pb_hist_min(const struct pb_hist *h);
uint64_t pb_hist_max(const struct pb_hist *h);
double pb_hist_mean(const struct pb_hist *h);

/*
 * The p-th percentile, p in [0, 100], by nearest rank: of the count values sorted ascending,
 * the one at rank max(1, ceil(p / 100 * count)), so p = 0 is the min and p = 100 the max.
 * p is rounded to 1e-6 (so 99.99 means exactly 99.99). *value gets the midpoint of that
 * value's bucket clamped to [min, max]: within 0.4% of it (exact below 256 ns, and for
 * p = 0 and p = 100), or the max when it overflowed. An empty histogram gives 0.
 * Returns 0, or -EINVAL (and *value untouched) for p outside [0, 100] or NaN.
 */
int pb_hist_percentile(const struct pb_hist *h, double p, uint64_t *value);

/* Iterate over the non-empty buckets in ascending order, overflow last. */
void pb_hist_iter_init(struct pb_hist_iter *it, const struct pb_hist *h);
/* The next non-empty bucket into *b and true, or false when there are no more. */
bool pb_hist_iter_next(struct pb_hist_iter *it, struct pb_hist_bucket *b);

#endif
