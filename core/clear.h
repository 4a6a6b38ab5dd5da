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
 * AUTO picks per size what measured fastest here (see pb_clear_auto_method() in clear.c).
 *
 * Checking: pb_dirty_fill() marks a frame cheaply (one word per cache line), so a missed
 * scrub is visible to pb_page_is_zero() (every byte) and to pb_page_is_zero_sampled()
 * (a few lines chosen by a seed). A frame here is PB_CLEAR_FRAME_SIZE bytes.
 *
 * Nothing here keeps state: every function may run on any thread at once, on distinct
 * memory.
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
