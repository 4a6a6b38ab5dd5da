/*
 * toolstack.h: the toolstack's side of memory_op (libxenctrl and the HVM domain builder).
 *
 * In Xen a preempted memory_op is re-entered by the hypervisor itself (a continuation), so the
 * toolstack sees one call. Here the same loop runs in pb_xc_*: the call is re-issued from
 * nr_done while it reports a preemption, and each re-issue is counted as a continuation.
 *
 * pb_meminit_hvm follows the policy of libxenguest's meminit_hvm: for each vNUMA range, 1 GiB
 * extents where the gfn is 1 GiB aligned, a whole 1 GiB is left and the caller's order limit
 * allows; else 2 MiB extents over the 2 MiB aligned part, in batches; 4 KiB extents for
 * whatever is left or what no superpage could be found for, in batches that must succeed.
 * Every call names the range's node with an exact-node request. Then creation is finished.
 *
 * Threads: as memop.h (RCU-registered callers; no lock held on entry).
 */
#ifndef POPBENCH_CORE_TOOLSTACK_H
#define POPBENCH_CORE_TOOLSTACK_H

#include <stdint.h>

#include "core/memop.h"

#define PB_XC_BATCH 512u /* extents per call (libxenguest's SUPERPAGE_BATCH_SIZE) */

/* What a sequence of toolstack calls cost; callers zero it, the functions add to it. */
struct pb_xc_stats {
    uint64_t hypercalls;    /* memory_op invocations, continuations included */
    uint64_t continuations; /* re-entries after a preemption */
    int last_error;         /* result.error of the last invocation that stopped short */
    struct pb_memop_counts c;
};

/*
 * xc_domain_populate_physmap: populate nr_extents extents of 2^extent_order frames at the
 * gpfns of extent_start, continuing after preemptions until done or stopped short. Returns the
 * extents done (a short count is the error), or -1 with errno EINVAL for bad arguments.
 * stats may be NULL.
 */
long pb_xc_domain_populate_physmap(struct pb_heap *h, const struct pb_memop_caller *caller,
                                   unsigned domid, uint64_t nr_extents, unsigned extent_order,
                                   unsigned mem_flags, const uint64_t *extent_start,
                                   struct pb_xc_stats *stats);
/* xc_domain_populate_physmap_exact: 0 when every extent was populated, else -1 with errno
 * EBUSY (a short count) or EINVAL (bad arguments). */
int pb_xc_domain_populate_physmap_exact(struct pb_heap *h, const struct pb_memop_caller *caller,
                                        unsigned domid, uint64_t nr_extents, unsigned extent_order,
                                        unsigned mem_flags, const uint64_t *extent_start,
                                        struct pb_xc_stats *stats);
/* xc_domain_decrease_reservation, continued the same way; `dirty` as pb_decrease_reservation. */
long pb_xc_domain_decrease_reservation(struct pb_heap *h, const struct pb_memop_caller *caller,
                                       unsigned domid, uint64_t nr_extents, unsigned extent_order,
                                       const uint64_t *extent_start, bool dirty,
                                       struct pb_xc_stats *stats);

/* One vNUMA memory range of a guest. */
struct pb_vmemrange {
    uint64_t start_gfn;
    uint64_t nr_frames;
    int node; /* the machine node it must come from (exact-node request), or -1 for any */
};

struct pb_meminit_config {
    const struct pb_vmemrange *ranges; /* disjoint, nr_frames > 0 */
    unsigned nr_ranges;
    unsigned batch;     /* extents per call for 2 MiB and 4 KiB extents; 0 = PB_XC_BATCH */
    unsigned mem_flags; /* extra XENMEMF_ flags for every call (e.g. address bits) */
};

/* The extent mix the builder used. Identity: frames = 2^18 e1g + 2^9 e2m + e4k. */
struct pb_meminit_report {
    uint64_t extents_1g, extents_2m, extents_4k;
    uint64_t frames;
    uint64_t misses_1g, misses_2m; /* superpage extents asked for and not obtained */
    struct pb_xc_stats xc;
};

/*
 * Populate domain domid's ranges as meminit_hvm does, then pb_memop_finish_creation. 0;
 * -EINVAL (bad arguments or ranges: nothing done), -ESRCH (no such domain), or -ENOMEM when a
 * 4 KiB batch could not be populated (what was populated stays; *out says how much).
 */
int pb_meminit_hvm(struct pb_heap *h, const struct pb_memop_caller *caller, unsigned domid,
                   const struct pb_meminit_config *cfg, struct pb_meminit_report *out);

#endif
