/*
 * clear.h: zeroing frames (the scrub's inner loop) and checking that they read zero.
 *
 * Scrubbing is bounded by memory bandwidth, so how a frame is zeroed matters more than
 * anything around it. Three methods, all clearing exactly [p, p + len):
 *   memset  the C library's memset;
 *   stosb   an inline `rep stosb` (x86-64; elsewhere memset, see pb_clear_method_native());
 *   nt      non-temporal SSE2 stores then sfence: no read-for-ownership and no cache
 *           pollution, at the price of missing the cache when the frame is touched again
 *           (x86-64; elsewhere memset).
 * AUTO picks per size: memset for a region likely still cached and about to be used, and for
 * cold memory (large regions, background scrubbing) the method measured fastest on this host
 * (pb_clear_host_measure; nt until a measurement is installed).
 *
 * The host: pb_clear_host_measure sweeps a buffer larger than the last-level cache with every
 * method, interleaved, and installs the fastest as AUTO's choice for cold memory; its figures
 * (pb_clear_host) are the host's clear bandwidth, which a run's own clearing is compared to.
 *
 * Statistics: with pb_clear_stats_enable(true), every pb_clear call adds the bytes it cleared
 * and the time it took (two reads of the fast clock) to its thread's counters; pb_clear_stats_read
 * sums every thread's, those that have exited included.
 *
 * Checking: pb_dirty_fill() marks a frame cheaply (one word per cache line), so a missed
 * scrub is visible to pb_page_is_zero() (every byte) and to pb_page_is_zero_sampled()
 * (a few lines chosen by a seed). A frame here is PB_CLEAR_FRAME_SIZE bytes.
 *
 * Threads: every function may run on any thread at once, on distinct memory. The process-wide
 * state (the installed measurement, AUTO's cold choice, the statistics' registry) is behind a
 * mutex or in relaxed atomics.
 */
#ifndef POPBENCH_CORE_CLEAR_H
#define POPBENCH_CORE_CLEAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_CLEAR_FRAME_SIZE 4096u

/* Lines pb_page_is_zero_sampled() reads out of a frame's 64. */
#define PB_CLEAR_SAMPLE_LINES 4u

enum pb_clear_method {
    PB_CLEAR_AUTO,   /* per size, the fastest measured here */
    PB_CLEAR_MEMSET, /* memset() */
    PB_CLEAR_STOSB,  /* rep stosb */
    PB_CLEAR_NT,     /* non-temporal stores + sfence */
    PB_CLEAR_NR_METHODS,
};

/* "auto", "memset", "stosb", "nt"; NULL for a value outside the enum. */
const char *pb_clear_method_name(enum pb_clear_method method);

/* Name (as pb_clear_method_name() spells it) -> *method. -EINVAL (and *method untouched) for
 * NULL or an unknown name. */
int pb_clear_method_parse(const char *name, enum pb_clear_method *method);

/* Whether the method runs as described on this build, rather than falling back to memset. */
bool pb_clear_method_native(enum pb_clear_method method);

/* The method AUTO uses for a region of len bytes. */
enum pb_clear_method pb_clear_auto_method(size_t len);
/* The method AUTO uses for cold memory (background scrubbing, large regions): the installed
 * measurement's fastest, else nt. */
enum pb_clear_method pb_clear_auto_cold_method(void);

/* ------------------------------------------------------------------------------------------
 * The host's clear bandwidth.
 */

/* This host's last-level cache in bytes (sysconf: L3, else L2; 0 when unknown). */
uint64_t pb_clear_llc_bytes(void);
/* Bytes a host measurement sweeps by default: the LLC x 5/4, at least 64 MiB, whole 2 MiB. */
size_t pb_clear_host_buffer_default(void);
/* Bytes per pb_clear call of a host measurement: the background scrubber's runs (16 frames). */
#define PB_CLEAR_HOST_REGION (16u * PB_CLEAR_FRAME_SIZE)

struct pb_clear_host {
    double gbps[PB_CLEAR_NR_METHODS]; /* median GB/s (10^9 bytes/s) per method; [AUTO] = 0 */
    double gbps_min[PB_CLEAR_NR_METHODS], gbps_max[PB_CLEAR_NR_METHODS];
    enum pb_clear_method fastest; /* the highest median: AUTO's choice for cold memory */
    size_t buffer_bytes, region_bytes;
    unsigned trials;
    uint64_t llc_bytes;
};

/* A buffer of `bytes` (a multiple of 2 MiB) aligned to 2 MiB, huge pages asked for, every byte
 * written once (faulted in); NULL when out of memory. Free it with pb_clear_buffer_free. */
void *pb_clear_buffer_alloc(size_t bytes);
void pb_clear_buffer_free(void *buf, size_t bytes);
/*
 * One timed sweep: nregions calls of pb_clear of `region` bytes from base, in the order of
 * `order` (region indexes; NULL: ascending). Returns GB/s, or 0 for bad arguments.
 */
double pb_clear_sweep(void *base, size_t region, size_t nregions, const uint32_t *order,
                      enum pb_clear_method method);
/*
 * Measures the host: `trials` rounds, each sweeping a buffer of buffer_bytes (0: the default)
 * once with every method (the order rotated each round), in calls of region_bytes (0:
 * PB_CLEAR_HOST_REGION); the median per method. Installs the result: pb_clear_host() returns
 * it and AUTO's cold choice becomes its fastest. 0; -EINVAL for bad sizes or trials 0; -ENOMEM.
 */
int pb_clear_host_measure(size_t buffer_bytes, size_t region_bytes, unsigned trials,
                          struct pb_clear_host *out);
/* The installed measurement (a copy into *out): true, or false when none was made. */
bool pb_clear_host(struct pb_clear_host *out);

/* ------------------------------------------------------------------------------------------
 * Statistics: what clearing cost.
 */

struct pb_clear_stats {
    uint64_t calls; /* pb_clear calls that cleared something */
    uint64_t bytes; /* bytes they cleared */
    uint64_t ns;    /* time spent in them (pb_clock_ns) */
};
/* Off by default: every pb_clear call then reads the clock twice. Process-wide. */
void pb_clear_stats_enable(bool on);
/* The sum over every thread that has cleared (exited ones included); relaxed reads. */
void pb_clear_stats_read(struct pb_clear_stats *out);

/*
 * Zero [p, p + len). p must be PB_CLEAR_FRAME_SIZE-aligned and len a multiple of it (0 is
 * allowed). Returns 0, or -EINVAL for a NULL or misaligned p, a bad len or an unknown method,
 * writing nothing.
 */
int pb_clear(void *p, size_t len, enum pb_clear_method method);

/* Write a recognisable non-zero word at the start of each 64-byte line of one frame. */
void pb_dirty_fill(void *page);

/* Whether all PB_CLEAR_FRAME_SIZE bytes at page read zero (any alignment). */
bool pb_page_is_zero(const void *page);

/* Whether PB_CLEAR_SAMPLE_LINES lines chosen by seed read zero. Catches any frame that
 * pb_dirty_fill() marked; a single stray byte only when its line is drawn. */
bool pb_page_is_zero_sampled(const void *page, uint64_t seed);

#endif
