/*
 * heap_prep.h: the heap states measurements start from, shared by the runner (a workload's
 * `heap:` key) and the microbenchmarks (popbench-micro, popbench-instr).
 *
 *   machine     nodes of equal size with no frame memory (the heap's own work is what is timed)
 *   boot dirty  every frame free and dirty, as Xen leaves boot memory with bootscrub=idle
 *   used        seeded passes of domains built (meminit_hvm) and destroyed: their memory
 *               comes back dirty, scattered among memory never used
 *   dirty       a seeded fraction of the free memory, in 2 MiB pieces, freed dirty
 *   aged        seeded passes of random allocations and frees (a workload's `fragmented`)
 *   holes       the lower half of every node taken as single frames, a seeded half given back:
 *               small free buddies below, the big ones above
 *   live domain a domain whose creation is finished, ready for a running guest's calls
 *
 * A seed always gives the same heap (core/prng.h). Returns 0 or a negative errno.
 * Threads: setup, on one RCU-registered thread, while no other thread uses the heap.
 */
#ifndef POPBENCH_BENCH_HEAP_PREP_H
#define POPBENCH_BENCH_HEAP_PREP_H

#include <stdint.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/lock.h"

int pb_heap_prep_machine(unsigned nodes, uint64_t frames_per_node, const char *variant,
                         enum pb_lock_kind kind, struct pb_heap **out);
/* Every free frame need_scrub (Xen's bootscrub=idle, just booted); buddies as large as before. */
int pb_heap_prep_boot_dirty(struct pb_heap *h);
/*
 * A used host: each of `passes` passes (bursts) builds guests of 16 MiB up to an eighth of the
 * machine (at most 1 GiB; sizes by the seed) through pb_meminit_hvm until three quarters of the
 * memory is taken, then destroys a random two thirds of them, which frees their memory dirty,
 * and idle CPUs scrub every free frame before the next burst. After the last pass the guests
 * still running (a third of the last burst's, survivors of earlier ones among them) are
 * destroyed too: every frame is free again, what they held dirty, scattered among clean.
 * Domains use the highest ids (PB_MAX_DOMAINS - 1 down), p2m locks of `kind`. A failed build
 * (-ENOMEM) ends a pass early.
 */
int pb_heap_prep_used(struct pb_heap *h, unsigned passes, uint64_t seed, enum pb_lock_kind kind);
/* Gives `fraction` of the free memory need_scrub, in 2 MiB pieces chosen by the seed. */
int pb_heap_prep_dirty(struct pb_heap *h, double fraction, uint64_t seed);
/*
 * Each pass fills the heap to 95% with chunks of order 0..6 on random nodes and frees a random
 * 3/4 of what is held; after the last pass a quarter of the memory stays allocated, owned by
 * nobody, scattered so that large buddies are scarce.
 */
int pb_heap_prep_age(struct pb_heap *h, unsigned passes, uint64_t seed);
int pb_heap_prep_holes(struct pb_heap *h, uint64_t seed);
/* Domain domid of max_pages over gfns [0, gfn_space), created and its creation finished. */
int pb_heap_prep_live_domain(struct pb_heap *h, unsigned domid, uint64_t max_pages,
                             uint64_t gfn_space, enum pb_lock_kind kind, struct pb_domain **out);

#endif
