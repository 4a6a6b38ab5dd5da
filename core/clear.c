#include "core/clear.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#define PB_CLEAR_X86_64 1
#else
#define PB_CLEAR_X86_64 0
#endif

#include "core/clock.h"
#include "core/pb.h"

#define LINE_SIZE      64u
#define LINES_PER_PAGE (PB_CLEAR_FRAME_SIZE / LINE_SIZE)

/* Distinct per line so that a dump shows which line a stray word came from. */
#define DIRTY_WORD(line) (0xdeadbeefd1e70000ull | (uint64_t)(line))

/* Unaligned, aliasing-safe 16-byte vector for the zero checks. */
typedef uint64_t pb_v2u64 __attribute__((vector_size(16), may_alias, aligned(1)));

static const char *const method_names[PB_CLEAR_NR_METHODS] = {
    [PB_CLEAR_AUTO] = "auto",
    [PB_CLEAR_MEMSET] = "memset",
    [PB_CLEAR_STOSB] = "stosb",
    [PB_CLEAR_NT] = "nt",
};

const char *pb_clear_method_name(enum pb_clear_method method)
{
    if ((unsigned)method >= PB_CLEAR_NR_METHODS)
        return NULL;
    return method_names[method];
}

int pb_clear_method_parse(const char *name, enum pb_clear_method *method)
{
    if (!name || !method)
        return -EINVAL;
    for (unsigned i = 0; i < PB_CLEAR_NR_METHODS; i++) {
        if (strcmp(name, method_names[i]) == 0) {
            *method = (enum pb_clear_method)i;
            return 0;
        }
    }
    return -EINVAL;
}

bool pb_clear_method_native(enum pb_clear_method method)
{
    switch (method) {
    case PB_CLEAR_AUTO:
    case PB_CLEAR_MEMSET:
        return true;
    case PB_CLEAR_STOSB:
    case PB_CLEAR_NT:
        return PB_CLEAR_X86_64;
    default:
        return false;
    }
}

/*
 * AUTO: memset below PB_CLEAR_NT_THRESHOLD, non-temporal stores from it up.
 * Measured with `popbench-clearbench --trials 15` (Release; 2-vCPU AMD EPYC KVM guest, 2 MiB
 * L2 per core, 32 MiB L3, glibc 2.36), median GB/s and the ratio to memset:
 *                 memset        stosb         nt
 *   4 KiB warm    99.5 1.00    104.6 1.05    23.8 0.24
 *   4 KiB cold     9.2 1.00      9.1 0.99    21.4 2.32
 *   2 MiB warm    90.1 1.00     89.2 0.99    53.0 0.59
 *   2 MiB cold    27.5 1.00     29.7 1.08    56.7 2.06
 * (warm: a 64 KiB / 2 MiB pool cleared over and over; cold: a 1 GiB pool, regions in shuffled
 * order. Absolute figures drift by up to 1.7x between runs on this VM; over four runs the ratios
 * stayed within about 20%.) No method wins in both states at either size: cached stores win
 * 1.4-4x when the region is in cache, NT stores win 1.7-2.5x when it is not. A region of at least
 * the L2 size cannot be wholly cached beside anything else and would evict the working set, so from
 * there on NT; a single frame is often still cached (free lists are LIFO) and is about to be used,
 * so memset. A run whose frames are known to be cold should force nt.
 * On another host cold memory may clear fastest otherwise: a host measurement
 * (pb_clear_host_measure) replaces nt by the method that measured fastest there.
 */
#define PB_CLEAR_NT_THRESHOLD (2u << 20)

/* AUTO's choice for cold memory: nt until a host measurement installs its fastest. */
static _Atomic int cold_method = PB_CLEAR_NT;

enum pb_clear_method pb_clear_auto_cold_method(void)
{
    return (enum pb_clear_method)atomic_load_explicit(&cold_method, memory_order_relaxed);
}

enum pb_clear_method pb_clear_auto_method(size_t len)
{
    return len >= PB_CLEAR_NT_THRESHOLD ? pb_clear_auto_cold_method() : PB_CLEAR_MEMSET;
}

static void clear_stosb(void *p, size_t len)
{
#if PB_CLEAR_X86_64
    __asm__ volatile("rep stosb" : "+D"(p), "+c"(len) : "a"(0) : "memory");
#else
    memset(p, 0, len);
#endif
}

static void clear_nt(void *p, size_t len)
{
#if PB_CLEAR_X86_64
    const __m128i zero = _mm_setzero_si128();
    char *c = p;
    char *end = c + len;

    /* Whole lines at a time, so each fills one write-combining buffer. */
    for (; c < end; c += LINE_SIZE) {
        _mm_stream_si128((__m128i *)c, zero);
        _mm_stream_si128((__m128i *)(c + 16), zero);
        _mm_stream_si128((__m128i *)(c + 32), zero);
        _mm_stream_si128((__m128i *)(c + 48), zero);
    }
    /* NT stores are weakly ordered: make them visible before the frame is handed out. */
    _mm_sfence();
#else
    memset(p, 0, len);
#endif
}

/* ------------------------------------------------------------------------------------------
 * Statistics: each thread's counters, written by it alone, in a registry for the readers.
 */

struct clear_tls {
    _Atomic uint64_t calls, bytes, ns; /* written by the owner only (load + store) */
    struct clear_tls *next;            /* protected by stats_lock */
};

static _Atomic bool stats_on;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct clear_tls *stats_live;        /* protected by stats_lock */
static struct pb_clear_stats stats_retired; /* protected by stats_lock: exited threads' */
static pthread_once_t stats_once = PTHREAD_ONCE_INIT;
static pthread_key_t stats_key;
static _Thread_local struct clear_tls *stats_mine;

/* A thread's exit: its counts join the retired ones. */
static void stats_exit(void *arg)
{
    struct clear_tls *t = arg;

    pthread_mutex_lock(&stats_lock);
    for (struct clear_tls **pp = &stats_live; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    stats_retired.calls += atomic_load_explicit(&t->calls, memory_order_relaxed);
    stats_retired.bytes += atomic_load_explicit(&t->bytes, memory_order_relaxed);
    stats_retired.ns += atomic_load_explicit(&t->ns, memory_order_relaxed);
    pthread_mutex_unlock(&stats_lock);
    free(t);
}

static void stats_key_create(void)
{
    PB_BUG_ON(pthread_key_create(&stats_key, stats_exit) != 0);
}

static PB_NOINLINE struct clear_tls *stats_register(void)
{
    struct clear_tls *t = calloc(1, sizeof(*t));
    PB_BUG_ON(!t);
    pthread_once(&stats_once, stats_key_create);
    pthread_mutex_lock(&stats_lock);
    t->next = stats_live;
    stats_live = t;
    pthread_mutex_unlock(&stats_lock);
    PB_BUG_ON(pthread_setspecific(stats_key, t) != 0);
    stats_mine = t;
    return t;
}

static void stats_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

void pb_clear_stats_enable(bool on)
{
    atomic_store_explicit(&stats_on, on, memory_order_relaxed);
}

void pb_clear_stats_read(struct pb_clear_stats *out)
{
    pthread_mutex_lock(&stats_lock);
    *out = stats_retired;
    for (const struct clear_tls *t = stats_live; t; t = t->next) {
        out->calls += atomic_load_explicit(&t->calls, memory_order_relaxed);
        out->bytes += atomic_load_explicit(&t->bytes, memory_order_relaxed);
        out->ns += atomic_load_explicit(&t->ns, memory_order_relaxed);
    }
    pthread_mutex_unlock(&stats_lock);
}

static void clear_method(void *p, size_t len, enum pb_clear_method method);

int pb_clear(void *p, size_t len, enum pb_clear_method method)
{
    if (!p || ((uintptr_t)p % PB_CLEAR_FRAME_SIZE) != 0 || len % PB_CLEAR_FRAME_SIZE != 0)
        return -EINVAL;
    if ((unsigned)method >= PB_CLEAR_NR_METHODS)
        return -EINVAL;
    if (method == PB_CLEAR_AUTO)
        method = pb_clear_auto_method(len);
    if (pb_likely(!atomic_load_explicit(&stats_on, memory_order_relaxed)) || len == 0) {
        clear_method(p, len, method);
        return 0;
    }
    struct clear_tls *t = stats_mine ? stats_mine : stats_register();
    uint64_t t0 = pb_clock_ns();
    clear_method(p, len, method);
    uint64_t t1 = pb_clock_ns();
    stats_add(&t->calls, 1);
    stats_add(&t->bytes, len);
    stats_add(&t->ns, pb_clock_diff(t0, t1));
    return 0;
}

static void clear_method(void *p, size_t len, enum pb_clear_method method)
{
    switch (method) {
    case PB_CLEAR_MEMSET:
        memset(p, 0, len);
        break;
    case PB_CLEAR_STOSB:
        clear_stosb(p, len);
        break;
    case PB_CLEAR_NT:
        clear_nt(p, len);
        break;
    default:
        PB_BUG_ON(1);
    }
}

/* ------------------------------------------------------------------------------------------
 * The host's clear bandwidth.
 */

#define TWO_MIB  (2u << 20)
#define MIN_HOST ((size_t)64 << 20)

uint64_t pb_clear_llc_bytes(void)
{
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return l3 > 0 ? (uint64_t)l3 : l2 > 0 ? (uint64_t)l2 : 0;
}

size_t pb_clear_host_buffer_default(void)
{
    size_t b = (size_t)(pb_clear_llc_bytes() / 4 * 5);
    if (b < MIN_HOST)
        b = MIN_HOST;
    return (b + TWO_MIB - 1) & ~(size_t)(TWO_MIB - 1);
}

void *pb_clear_buffer_alloc(size_t bytes)
{
    if (bytes == 0 || bytes % TWO_MIB)
        return NULL;
    size_t len = bytes + TWO_MIB;
    char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *base = (char *)(((uintptr_t)raw + TWO_MIB - 1) & ~(uintptr_t)(TWO_MIB - 1));
    /* Trim to the aligned part, so that free needs only base and bytes. */
    if (base > raw)
        munmap(raw, (size_t)(base - raw));
    if (raw + len > base + bytes)
        munmap(base + bytes, (size_t)(raw + len - (base + bytes)));
    (void)madvise(base, bytes, MADV_HUGEPAGE);
    memset(base, 0x5a, bytes);
    return base;
}

void pb_clear_buffer_free(void *buf, size_t bytes)
{
    if (buf)
        munmap(buf, bytes);
}

double pb_clear_sweep(void *base, size_t region, size_t nregions, const uint32_t *order,
                      enum pb_clear_method method)
{
    if (!base || region == 0 || region % PB_CLEAR_FRAME_SIZE || nregions == 0 ||
        (unsigned)method >= PB_CLEAR_NR_METHODS)
        return 0;
    uint64_t t0 = pb_now_ns();
    for (size_t i = 0; i < nregions; i++)
        PB_BUG_ON(pb_clear((char *)base + (order ? order[i] : i) * region, region, method) != 0);
    uint64_t t1 = pb_now_ns();
    return t1 > t0 ? (double)(region * nregions) / (double)(t1 - t0) : 0;
}

static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pb_clear_host host; /* protected by host_lock */
static bool host_measured;        /* protected by host_lock */

static const enum pb_clear_method host_methods[] = {PB_CLEAR_MEMSET, PB_CLEAR_STOSB, PB_CLEAR_NT};
#define NR_HOST_METHODS PB_ARRAY_SIZE(host_methods)
#define MAX_TRIALS      64u

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int pb_clear_host_measure(size_t buffer_bytes, size_t region_bytes, unsigned trials,
                          struct pb_clear_host *out)
{
    size_t bytes = buffer_bytes ? buffer_bytes : pb_clear_host_buffer_default();
    size_t region = region_bytes ? region_bytes : PB_CLEAR_HOST_REGION;
    if (!out || trials == 0 || trials > MAX_TRIALS || bytes % TWO_MIB || region == 0 ||
        region % PB_CLEAR_FRAME_SIZE || bytes % region)
        return -EINVAL;
    void *buf = pb_clear_buffer_alloc(bytes);
    if (!buf)
        return -ENOMEM;
    static double v[NR_HOST_METHODS][MAX_TRIALS]; /* protected by host_lock */
    struct pb_clear_host m = {.buffer_bytes = bytes,
                              .region_bytes = region,
                              .trials = trials,
                              .llc_bytes = pb_clear_llc_bytes()};
    pthread_mutex_lock(&host_lock);
    /* Interleaved, the order rotated each round, so that drift hits every method alike. */
    for (unsigned t = 0; t < trials; t++)
        for (size_t k = 0; k < NR_HOST_METHODS; k++) {
            size_t i = (k + t) % NR_HOST_METHODS;
            v[i][t] = pb_clear_sweep(buf, region, bytes / region, NULL, host_methods[i]);
        }
    m.fastest = host_methods[0];
    for (size_t i = 0; i < NR_HOST_METHODS; i++) {
        enum pb_clear_method mi = host_methods[i];
        qsort(v[i], trials, sizeof(double), cmp_double);
        m.gbps[mi] = v[i][trials / 2];
        m.gbps_min[mi] = v[i][0];
        m.gbps_max[mi] = v[i][trials - 1];
        if (m.gbps[mi] > m.gbps[m.fastest])
            m.fastest = mi;
    }
    host = m;
    host_measured = true;
    atomic_store_explicit(&cold_method, (int)m.fastest, memory_order_relaxed);
    pthread_mutex_unlock(&host_lock);
    pb_clear_buffer_free(buf, bytes);
    *out = m;
    return 0;
}

bool pb_clear_host(struct pb_clear_host *out)
{
    pthread_mutex_lock(&host_lock);
    bool measured = host_measured;
    if (measured)
        *out = host;
    pthread_mutex_unlock(&host_lock);
    return measured;
}

void pb_dirty_fill(void *page)
{
    char *c = page;

    for (unsigned line = 0; line < LINES_PER_PAGE; line++) {
        uint64_t word = DIRTY_WORD(line);
        memcpy(c + line * LINE_SIZE, &word, sizeof(word));
    }
}

/* OR of the 64-byte lines, four independent accumulators so the loads overlap. */
static inline pb_v2u64 or_line(const char *c)
{
    const pb_v2u64 *v = (const pb_v2u64 *)c;
    return (v[0] | v[1]) | (v[2] | v[3]);
}

bool pb_page_is_zero(const void *page)
{
    const char *c = page;
    pb_v2u64 acc0 = {0, 0}, acc1 = {0, 0}, acc2 = {0, 0}, acc3 = {0, 0};

    for (unsigned off = 0; off < PB_CLEAR_FRAME_SIZE; off += 4 * LINE_SIZE) {
        acc0 |= or_line(c + off);
        acc1 |= or_line(c + off + LINE_SIZE);
        acc2 |= or_line(c + off + 2 * LINE_SIZE);
        acc3 |= or_line(c + off + 3 * LINE_SIZE);
    }
    pb_v2u64 acc = (acc0 | acc1) | (acc2 | acc3);
    return (acc[0] | acc[1]) == 0;
}

/* splitmix64: a seed becomes well-mixed bits for choosing lines. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

bool pb_page_is_zero_sampled(const void *page, uint64_t seed)
{
    const char *c = page;
    uint64_t bits = mix64(seed);
    pb_v2u64 acc = {0, 0};

    /* 6 bits pick one of the 64 lines; lines may repeat, which only lowers coverage. */
    for (unsigned i = 0; i < PB_CLEAR_SAMPLE_LINES; i++, bits >>= 6)
        acc |= or_line(c + (bits & (LINES_PER_PAGE - 1)) * LINE_SIZE);
    return (acc[0] | acc[1]) == 0;
}
