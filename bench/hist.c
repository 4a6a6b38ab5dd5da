#include "bench/hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(PB_HIST_SUB >= 128, "bucket width must stay within 1% of its lower bound");
#define MAX_SHIFT (PB_HIST_MAX_BITS - 1 - PB_HIST_SUB_BITS)
_Static_assert((PB_HIST_MAX_TRACKABLE >> MAX_SHIFT) + (MAX_SHIFT << PB_HIST_SUB_BITS) ==
                   PB_HIST_BUCKETS - 1,
               "the largest trackable value lands in the last bucket");

void pb_hist_reset(struct pb_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

struct pb_hist *pb_hist_alloc(void)
{
    struct pb_hist *h = aligned_alloc(_Alignof(struct pb_hist), sizeof(struct pb_hist));
    if (h)
        pb_hist_reset(h);
    return h;
}

void pb_hist_free(struct pb_hist *h)
{
    free(h);
}

/* Inverse of pb_hist_bucket_index(): the bucket's lowest value and width. */
static uint64_t bucket_lo(uint32_t index)
{
    if (index < 2 * PB_HIST_SUB)
        return index;
    unsigned shift = (index >> PB_HIST_SUB_BITS) - 1;
    uint64_t sub = index & (PB_HIST_SUB - 1);
    return (PB_HIST_SUB + sub) << shift;
}

static uint64_t bucket_width(uint32_t index)
{
    if (index < 2 * PB_HIST_SUB)
        return 1;
    return UINT64_C(1) << ((index >> PB_HIST_SUB_BITS) - 1);
}

uint64_t pb_hist_lowest_equivalent(uint64_t v)
{
    if (v > PB_HIST_MAX_TRACKABLE)
        return v;
    return bucket_lo(pb_hist_bucket_index(v));
}

uint64_t pb_hist_highest_equivalent(uint64_t v)
{
    if (v > PB_HIST_MAX_TRACKABLE)
        return v;
    uint32_t i = pb_hist_bucket_index(v);
    return bucket_lo(i) + bucket_width(i) - 1;
}

void pb_hist_merge(struct pb_hist *h, const struct pb_hist *other)
{
    if (other->count == 0)
        return;
    for (uint32_t i = 0; i < PB_HIST_BUCKETS; i++)
        h->counts[i] += other->counts[i];
    h->count += other->count;
    h->overflow += other->overflow;
    h->sum += other->sum;
    h->min = other->min < h->min ? other->min : h->min;
    h->max = other->max > h->max ? other->max : h->max;
}

uint64_t pb_hist_count(const struct pb_hist *h)
{
    return h->count;
}

uint64_t pb_hist_overflow(const struct pb_hist *h)
{
    return h->overflow;
}

uint64_t pb_hist_min(const struct pb_hist *h)
{
    return h->count ? h->min : 0;
}

uint64_t pb_hist_max(const struct pb_hist *h)
{
    return h->max;
}

double pb_hist_mean(const struct pb_hist *h)
{
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}

/* The 1-based nearest rank of p (in millionths of a percent) among count values. */
static uint64_t nearest_rank(uint64_t p_e6, uint64_t count)
{
    const uint64_t whole = UINT64_C(100000000); /* 100% in millionths of a percent */
    unsigned __int128 num = (unsigned __int128)p_e6 * count;
    uint64_t rank = (uint64_t)((num + whole - 1) / whole);
    return rank ? rank : 1;
}

int pb_hist_percentile(const struct pb_hist *h, double p, uint64_t *value)
{
    if (!(p >= 0.0 && p <= 100.0)) /* NaN fails both */
        return -EINVAL;
    if (h->count == 0) {
        *value = 0;
        return 0;
    }
    uint64_t rank = nearest_rank((uint64_t)llround(p * 1e6), h->count);
    if (rank == 1) {
        *value = h->min;
        return 0;
    }
    if (rank == h->count) {
        *value = h->max;
        return 0;
    }

    uint64_t seen = 0;
    for (uint32_t i = 0; i < PB_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t mid = bucket_lo(i) + (bucket_width(i) - 1) / 2;
            mid = mid < h->min ? h->min : mid;
            *value = mid > h->max ? h->max : mid;
            return 0;
        }
    }
    /* Past every bucket: the rank is among the overflowed values. */
    PB_BUG_ON(seen + h->overflow < rank);
    *value = h->max;
    return 0;
}

void pb_hist_iter_init(struct pb_hist_iter *it, const struct pb_hist *h)
{
    it->h = h;
    it->next = 0;
}

bool pb_hist_iter_next(struct pb_hist_iter *it, struct pb_hist_bucket *b)
{
    const struct pb_hist *h = it->h;

    while (it->next < PB_HIST_BUCKETS) {
        uint32_t i = it->next++;
        if (h->counts[i]) {
            b->lo = bucket_lo(i);
            b->hi = b->lo + bucket_width(i) - 1;
            b->count = h->counts[i];
            return true;
        }
    }
    if (it->next == PB_HIST_BUCKETS) {
        it->next++;
        if (h->overflow) {
            b->lo = PB_HIST_MAX_TRACKABLE + 1;
            b->hi = h->max;
            b->count = h->overflow;
            return true;
        }
    }
    return false;
}
