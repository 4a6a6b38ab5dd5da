/*
 * prng.h: popbench's one pseudo-random generator: xoshiro256** seeded through splitmix64.
 * Every seeded stream in popbench (workload streams, preemption draws, bootstrap resampling,
 * test data) comes from here, so one seed reproduces a whole run.
 *
 * Threads: a struct pb_rng belongs to one thread; nothing here is shared.
 */
#ifndef POPBENCH_CORE_PRNG_H
#define POPBENCH_CORE_PRNG_H

#include <stdint.h>

struct pb_rng {
    uint64_t s[4];
};

/* One splitmix64 step: advances *x and returns a well-mixed value (also a seed expander). */
static inline uint64_t pb_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static inline void pb_rng_seed(struct pb_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = pb_splitmix64(&x);
}

static inline uint64_t pb_rng_rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t pb_rng_next(struct pb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = pb_rng_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = pb_rng_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n), n >= 1 (Lemire's multiply-shift; the bias n / 2^64 is negligible). */
static inline uint64_t pb_rng_below(struct pb_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)pb_rng_next(r) * n) >> 64);
}

/* Uniform in [0, 1). */
static inline double pb_rng_double(struct pb_rng *r)
{
    return (double)(pb_rng_next(r) >> 11) * 0x1.0p-53;
}

/* A seed for stream `stream` of run seed `seed`: independent streams per thread or repetition. */
static inline uint64_t pb_rng_stream_seed(uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * UINT64_C(0xd1342543de82ef95));
    return pb_splitmix64(&x);
}

#endif
