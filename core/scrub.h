/*
 * scrub.h: dirty frames and clearing them (XEN-MODEL.md §2 step 7, §3, §4).
 *
 * A frame freed dirty (a dying guest's, or one a workload frees dirty) keeps its previous
 * owner's data: with real backing the free writes pb_dirty_fill() into it, and need_scrub,
 * first_dirty and node_need_scrub track it exactly (heap.h). Three ways it gets cleared:
 *   on allocation   alloc_heap_pages clears the flagged frames it hands out, outside the lock,
 *                   with the heap's clear method (pb_heap_set_clear_method); MEMF_no_scrub
 *                   hands them over dirty (flag kept with MEMF_keep_scrub, else dropped).
 *   domain build    the memop layer allocates with MEMF_no_scrub|MEMF_keep_scrub and clears
 *                   the extent itself, preemptibly, stashing one partly scrubbed extent per
 *                   domain across continuations (pb_scrub_extent_preemptible, pb_scrub_stash_*).
 *   background      scrub workers clear free dirty buddies ahead of allocators
 *                   (pb_scrubber_start / pb_scrubber_stop).
 * A frame still flagged need_scrub stays dirty when it is freed, even freed clean.
 *
 * The handshake (heap_impl.h, enum pb_scrub_state). A worker claims a free dirty buddy under
 * its node's heap lock by marking its head SCRUBBING, drops the lock and clears the flagged
 * frames from first_dirty on, checking the head for ABORT before each frame. An allocator or
 * a merge that needs the buddy sets ABORT under the lock and waits, keeping the lock, until
 * the worker has published its progress (first_dirty) and set NONE: about one frame's clear.
 * A worker never waits for the heap lock while it holds a buddy: it publishes first and
 * relocks afterwards to subtract what it cleared from node_need_scrub and, if the buddy came
 * out clean and nobody took it meanwhile (state DONE), to move it to the head of its list.
 * So between a worker's publish and its relock, node_need_scrub may count frames already
 * clean and a clean buddy may sit among the dirty ones; at every quiescent point (no worker
 * between publish and relock, e.g. after pb_scrubber_stop) every identity of heap.h holds and
 * every free buddy's state is NONE.
 *
 * Background designs (chosen by the heap's variant):
 *   xen      Xen's idle scrubber: one worker per node (workers_per_node is ignored). It takes
 *            the tail (dirty) buddy of the highest order first and clears it whole, a frame
 *            per call of the clear method (as Xen's clear_page), checking for ABORT after
 *            each; after every 8 frames (option scrub_xen_yield_frames), if "other work is
 *            pending", it gives the buddy back with its progress and yields the CPU. Pending
 *            work is modelled as allocations in progress on the heap (a counter the xen
 *            variant keeps while a scrubber runs), standing for Xen's softirq_pending: on a
 *            busy host idle scrubbing starves.
 *   pernode  per-CPU workers: workers_per_node threads per node, each pinned by thread_init
 *            to a CPU of its node, sharing the node's backlog. A worker claims a dirty buddy
 *            in place (SCRUBBING, never off its list: allocators still see it and take it with
 *            an ABORT) and opens it as a job: the buddy is handed out in chunks of
 *            PB_SCRUB_CHUNK frames through an atomic cursor, and a chunk is cleared in runs of
 *            at most batch_frames flagged frames per call of the clear method. The other
 *            workers of the node take buddies of their own while there are any, and otherwise
 *            join an open job (under the lock, never once its owner has closed it), so one
 *            1 GiB buddy is cleared by every worker of its node. Each participant checks for
 *            ABORT before every run and records where it stopped; the owner, once every chunk
 *            is done or the buddy is wanted, closes the job, waits for its helpers to leave
 *            (each is at most one run away) and publishes first_dirty = the lowest frame
 *            anyone left undone. Workers never yield to allocators (they have CPUs of their
 *            own) and hold the lock only to claim, join and account: an allocator waits at
 *            most one run for a buddy being scrubbed, and finds scrubbed buddies at the clean
 *            head of the lists.
 * Both sleep on a per-node futex while their node has nothing to claim; a free that leaves a
 * dirty buddy, and pb_scrubber_stop, wake them.
 */
#ifndef POPBENCH_CORE_SCRUB_H
#define POPBENCH_CORE_SCRUB_H

#include <stdbool.h>
#include <stdint.h>

#include "core/clear.h"
#include "core/heap.h"

struct pb_domain;
struct pb_scrubber;

/* Default of the option scrub_preempt_frames: dirty frames cleared between two preemption
 * checks of a domain-build scrub. */
#define PB_SCRUB_PREEMPT_BATCH 256u
/* pernode: frames of a buddy handed to one worker at a time (2 MiB). */
#define PB_SCRUB_CHUNK 512u
/* Default of the option scrub_batch_frames, pb_scrub_config.batch_frames' default (64 KiB). */
#define PB_SCRUB_BATCH 16u
/* Default of the option scrub_xen_yield_frames: xen, frames between checks for pending work. */
#define PB_SCRUB_XEN_YIELD 8u

/* ------------------------------------------------------------------------------------------
 * Domain-build scrubbing (the memop layer).
 */

/*
 * Clear the frames of [mfn, mfn + 2^order) still flagged need_scrub, from index *progress on,
 * clearing the flag of each; every scrub_preempt_frames dirty frames cleared (the heap's
 * option, default 256), call preempt(ctx) and if it returns true stop with *progress = the
 * next index to do and return -ERESTART; return 0 when done (*progress = 2^order). The frames
 * must be in use and belong to the caller (allocated, possibly assigned); preempt may be NULL
 * (never preempted). -EINVAL, changing nothing, for a range that is not an aligned block of
 * in-use frames within one node, or *progress > 2^order.
 */
int pb_scrub_extent_preemptible(struct pb_heap *h, uint64_t mfn, unsigned order, uint64_t *progress,
                                bool (*preempt)(void *ctx), void *ctx);

/*
 * The per-domain stash of one partly scrubbed extent (already allocated and assigned to d),
 * protected by d's page_alloc_lock. A stash already there is discarded first (freed dirty, as
 * below). The extent must be d's and order <= PB_MAX_ORDER, progress <= 2^order (else a bug).
 */
void pb_scrub_stash_put(struct pb_domain *d, uint64_t mfn, unsigned order, uint64_t progress);
/*
 * Take the stash if it holds an extent of this order on this node (node -1: any): 0 with
 * *mfn and *progress. A stash of another order or node is discarded (its frames freed back dirty
 * through pb_free_domheap_pages, counted in stash_discards) and -ENOENT returned; -ENOENT when
 * empty; -EINVAL for a bad order or node (nothing changes).
 * Domain destroy drops the stash first (its frames are the domain's and are freed with the
 * rest; pb_domain_destroy does it).
 */
int pb_scrub_stash_take(struct pb_domain *d, unsigned order, int node, uint64_t *mfn,
                        uint64_t *progress);

/* ------------------------------------------------------------------------------------------
 * Settings, verification, counters.
 */

/* Clearing method of scrub-on-allocation and domain-build scrubbing (default AUTO). Set while
 * no thread allocates. -EINVAL for an unknown method. */
int pb_heap_set_clear_method(struct pb_heap *h, enum pb_clear_method method);

/*
 * Whether the memop layer scrubs (default) or, no_scrub (a workload's `scrub: none`), hands
 * dirty frames out as they are: populate_physmap and the domain build then allocate with
 * MEMF_no_scrub (without MEMF_keep_scrub) and clear nothing, so a dirty frame counts in
 * dirty_alloc_pages, is never cleared or verified, and no longer counts as dirty once handed
 * out; allocations take dirty buddies as readily as clean ones. alloc_heap_pages itself still
 * does what its flags say. Set while no thread allocates. -EINVAL for NULL.
 */
int pb_heap_set_no_scrub(struct pb_heap *h, bool no_scrub);
bool pb_heap_no_scrub(const struct pb_heap *h);

enum pb_verify_mode {
    PB_VERIFY_OFF,     /* no checks (default) */
    PB_VERIFY_SAMPLED, /* pb_page_is_zero_sampled on every frame */
    PB_VERIFY_FULL,    /* every byte of every frame */
};
/*
 * With verification on, alloc_heap_pages checks every extent it hands over scrubbed (not under
 * MEMF_no_scrub) with pb_verify_extent; on a failure it frees the extent dirty and returns
 * -EIO. The memop layer calls pb_verify_extent after scrubbing a domain-build extent.
 */
int pb_heap_set_verify(struct pb_heap *h, enum pb_verify_mode mode);
/*
 * Check that the frames of [mfn, mfn + 2^order) (the caller's) read zero under the heap's
 * verify mode, counting verified frames and failures (and naming the extent on stderr).
 * 0; -EIO when any frame does not read zero; -EINVAL for a range not aligned within one node.
 * Without backing or with verification off: 0, nothing counted.
 */
int pb_verify_extent(struct pb_heap *h, uint64_t mfn, unsigned order);

/* Scrub counters, summed over nodes; relaxed reads, safe while scrubbers run. */
struct pb_scrub_counters {
    uint64_t on_alloc;        /* frames cleared by allocating threads */
    uint64_t background;      /* frames cleared by background scrub workers */
    uint64_t domain_build;    /* frames cleared by pb_scrub_extent_preemptible */
    uint64_t aborts;          /* background scrubs given up for an allocator or a merge */
    uint64_t verified;        /* frames checked by pb_verify_extent */
    uint64_t verify_failures; /* of those, frames that did not read zero */
    uint64_t double_clears;   /* checked builds: a frame seen zeroed by two threads at once */
    uint64_t stash_discards;  /* domain-build stashes freed dirty, unused */
};
void pb_scrub_read_counters(const struct pb_heap *h, struct pb_scrub_counters *out);
/* Free dirty frames of the whole heap (sum of node_need_scrub), relaxed. */
uint64_t pb_scrub_backlog(const struct pb_heap *h);

/* ------------------------------------------------------------------------------------------
 * Background scrubbing.
 */

struct pb_scrub_config {
    unsigned workers_per_node; /* pernode design (>= 1); xen: one scrubber per node */
    /* AUTO means the method for cold memory here (pb_clear_auto_cold_method: the fastest of
     * a host measurement, nt until one is made): a background scrub clears cold memory nobody
     * is about to touch. */
    enum pb_clear_method method;
    /* Called first on each worker thread (pin it here); may be NULL. */
    void (*thread_init)(void *ctx, unsigned node, unsigned worker);
    void *ctx;
    /*
     * pernode: dirty frames cleared by one call of the clear method between two checks for
     * ABORT (1..PB_SCRUB_CHUNK; 0: the heap's option scrub_batch_frames, default 16). Non-temporal
     * stores end with a fence per call, which at one frame per call costs one worker much of its
     * bandwidth; 16 frames (64 KiB) keep it near memset's while an allocator waits a few
     * microseconds at most for an abort. xen: always 1 (Xen clears and checks page by page).
     */
    unsigned batch_frames;
    /*
     * Test hook, may be NULL: called by a worker after each frame it clears (mfn), outside
     * every lock, while the buddy is still SCRUBBING. It may block; an allocator or a merge
     * that wants the buddy then waits for it.
     */
    void (*after_frame)(void *ctx, unsigned node, unsigned worker, uint64_t mfn);
};
/*
 * Start the heap variant's design of background scrubbing. -EINVAL for bad arguments,
 * -EBUSY if the heap already has scrubbers, or the error of thread creation.
 */
int pb_scrubber_start(struct pb_heap *h, const struct pb_scrub_config *cfg,
                      struct pb_scrubber **out);
/* Joins every worker; leaves no buddy half-owned (scrub state NONE everywhere). */
void pb_scrubber_stop(struct pb_scrubber *s);

#endif
