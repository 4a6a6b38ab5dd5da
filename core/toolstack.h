/*
 * toolstack.h: the toolstack's side of memory_op (libxenctrl and the HVM domain builder).
 *
 * In Xen a preempted memory_op is re-entered by the hypervisor itself (a continuation), so the
 * toolstack sees one call. Here the same loop runs in pb_xc_*: the call is re-issued from
 * nr_done while it reports a preemption, and each re-issue is counted as a continuation.
 *
 * pb_meminit_hvm is libxenguest's meminit_hvm with libxl's guest layout, as a plan of calls
 * that the harness also issues one by one to time them (pb_meminit_plan_*).
 *
 * Threads: as memop.h (RCU-registered callers; no lock held on entry).
 */
#ifndef POPBENCH_CORE_TOOLSTACK_H
#define POPBENCH_CORE_TOOLSTACK_H

#include <stdint.h>

#include "core/memop.h"

/* libxenguest's SUPERPAGE_BATCH_SIZE: 2 MiB extents per call of its PV builder (meminit_pv);
 * the HVM builder below makes smaller calls. */
#define PB_XC_BATCH 512u

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

/* ------------------------------------------------------------------------------------------
 * The HVM domain builder: libxenguest's meminit_hvm with libxl's layout (XEN-MODEL.md §6a).
 *
 * Layout (libxl__build_hvm, libxl__vnuma_build_vmemrange_hvm). An HVM guest with a device
 * model of M pages of RAM (libxl's mem_size: max_memkb - video_memkb; video memory is not
 * modelled: the device model populates it later, outside meminit_hvm) has an MMIO hole below
 * 4 GiB of libxl's default size for such a guest, HVM_BELOW_4G_MMIO_LENGTH (256 MiB), from
 * mmio_start = 4 GiB - 256 MiB. lowmem_end = min(M, mmio_start); what is above mmio_start is
 * relocated from 4 GiB (highmem_end = 4 GiB + M - mmio_start). Without vNUMA: one range
 * [0, lowmem_end) and, with high memory, [4 GiB, highmem_end), neither naming a node. With
 * vNUMA: the vnodes' memory laid out one after another from gfn 0, a vnode that reaches the
 * hole split around it, each range naming its vnode's machine node.
 *
 * Calls (meminit_hvm). Before everything (claim_mode=1, xl's default) claim target - the VGA
 * hole's 0x20 pages; then populate gfns 0..0x9f in one 4 KiB call (the VGA hole 0xa0-0xbf is
 * left empty: the range that starts at gfn 0 is walked from 0xc0). Each range is walked in
 * steps of at most 1 GiB, clipped at 1 GiB boundaries:
 *   - a whole 1 GiB-aligned GiB that does not meet the MMIO hole: one call of one 1 GiB extent
 *     (never in the first GiB: 0xc0 is not aligned);
 *   - otherwise (or when that call comes back short) a chunk of at most 8 MiB clipped to 2 MiB
 *     boundaries: 2 MiB extents in one call (at most 4) when the chunk is 2 MiB-aligned, and
 *     when that call comes back short, only the rest of the chunk in 4 KiB pages;
 *   - 4 KiB calls (the rest of a chunk, or a chunk that is not 2 MiB-aligned, at most 2048
 *     pages) are xc_domain_populate_physmap_exact: a short count fails the build.
 * Each range's calls name its node with an exact-node request (the 0xa0 call names none). The
 * next chunk tries 2 MiB again, the next GiB 1 GiB again. Finally the claim is cancelled
 * (claim 0), also when the build failed.
 */

#define PB_HVM_VGA_HOLE_START  0xa0u /* gfn of the VGA hole; 0..0x9f are populated first */
#define PB_HVM_VGA_HOLE_PAGES  0x20u /* LIBXL_VGA_HOLE_SIZE: 0xa0-0xbf stay empty */
#define PB_HVM_4G_GFN          (UINT64_C(1) << 20)
#define PB_HVM_MMIO_PAGES      (UINT64_C(256) << 8) /* HVM_BELOW_4G_MMIO_LENGTH: 256 MiB */
#define PB_MEMINIT_MAX_RANGES  (PB_MAX_NODES + 1)   /* one vnode per node, one split by the hole */
#define PB_MEMINIT_CHUNK       2048u                /* pages of a 2 MiB chunk: 4 extents, 8 MiB */
#define PB_MEMINIT_MAX_EXTENTS PB_MEMINIT_CHUNK     /* the most extents one call carries */

/* One vmemrange of a guest: [start_gfn, end_gfn) of vnode `vnode`. */
struct pb_vmemrange {
    uint64_t start_gfn, end_gfn;
    unsigned vnode;
    int node; /* the machine node it must come from (exact-node request), or -1 for any */
};

/* What the builder does for one guest: its vmemranges and the rest of libxl's layout. */
struct pb_meminit_config {
    struct pb_vmemrange ranges[PB_MEMINIT_MAX_RANGES]; /* disjoint, ascending; the first starts
                                                          at gfn 0 and is longer than 0xc0 */
    unsigned nr_ranges;
    uint64_t mmio_start_gfn, mmio_pages; /* no 1 GiB extent meets [start, start + pages) */
    bool claim;         /* xl's claim_mode=1: claim before populating, cancel after */
    unsigned mem_flags; /* extra XENMEMF_ flags for every call (e.g. address bits); no node */
};

/* A guest as xl describes it, for pb_meminit_layout. */
struct pb_hvm_guest {
    uint64_t memory_pages;       /* libxl's mem_size in pages (max_memkb - video_memkb) */
    uint64_t mmio_pages;         /* the MMIO hole below 4 GiB; 0: PB_HVM_MMIO_PAGES */
    unsigned nr_vnodes;          /* 0: no vNUMA */
    const uint64_t *vnode_pages; /* nr_vnodes sizes that add up to memory_pages */
    const int *vnode_node;       /* nr_vnodes machine nodes (-1: none) */
    bool claim;                  /* xl's claim_mode (its default is 1) */
    unsigned mem_flags;
};

/*
 * libxl's layout of a guest into *cfg (above). 0; -EINVAL for a guest of fewer than 0x100
 * pages, a hole that leaves less than that below 4 GiB, vnode sizes of 0 or that do not add
 * up, more than PB_MAX_NODES vnodes, or a node below -1 or >= PB_MAX_NODES.
 */
int pb_meminit_layout(const struct pb_hvm_guest *g, struct pb_meminit_config *cfg);
/* Pages a build of cfg populates: its ranges less the VGA hole (target - vga_hole_size). */
uint64_t pb_meminit_pages(const struct pb_meminit_config *cfg);
/* The highest range (the guest's top of memory): where a balloon driver gives pages back. */
const struct pb_vmemrange *pb_meminit_top_range(const struct pb_meminit_config *cfg);

/* One populate_physmap call of the build. */
struct pb_meminit_call {
    uint64_t gfn;       /* first extent; extent i at gfn + (i << order) */
    uint64_t nr;        /* extents, 1..PB_MEMINIT_MAX_EXTENTS */
    unsigned order;     /* 0, 9 or 18 */
    unsigned mem_flags; /* XENMEMF_: the config's, and the range's exact node */
    bool exact;         /* xc_domain_populate_physmap_exact: a short count fails the build */
};

/* What a build did. Identities: frames = 2^18 extents_1g + 2^9 extents_2m + extents_4k;
 * failed 2 MiB searches = misses_2m (each short 2 MiB call ends at one failed search). */
struct pb_meminit_report {
    uint64_t extents_1g, extents_2m, extents_4k;
    uint64_t calls_1g, calls_2m, calls_4k; /* populate calls handed out and reported done */
    uint64_t frames;
    uint64_t misses_1g, misses_2m; /* calls of that order that came back short */
    struct pb_xc_stats xc;         /* pb_meminit_hvm only: invocations, continuations */
};

#define PB_MEMINIT_MAX_PENDING 8
/* What a short call left to do. */
struct pb_meminit_pending {
    uint64_t gfn, end;
    unsigned flags;
    bool rest_4k; /* one exact 4 KiB call of [gfn, end); else a GiB walked in 2 MiB chunks */
};
/*
 * The build as a plan: the calls meminit_hvm makes, one at a time, each decided by what the
 * ones before it did. Single-threaded (next, done, next, ...) it hands out Xen's sequence call
 * by call. Several builders may share a plan if they serialise its calls: what a short call
 * makes necessary (the rest of its chunk in 4 KiB pages, or its GiB in 2 MiB chunks) is handed
 * out next, before the walk goes on, and while calls are in flight the walk goes on with the
 * next chunks (at most PB_MEMINIT_MAX_PENDING calls in flight or waiting).
 */
struct pb_meminit_plan {
    const struct pb_meminit_config *cfg;
    unsigned range; /* the walk: range index and next gfn */
    uint64_t cur;
    bool low_done; /* the 0xa0 call was handed out */
    struct pb_meminit_pending pending[PB_MEMINIT_MAX_PENDING];
    unsigned nr_pending, inflight;
    bool failed; /* an exact call came back short */
    struct pb_meminit_report rep;
};

/* Starts the plan of a build of cfg (which must outlive it): 0, or -EINVAL for bad ranges
 * (empty, overlapping, descending, not starting at gfn 0 with more than 0xc0 pages, beyond
 * PB_MAX_NODES) or flags that name a node or ask for populate-on-demand. */
int pb_meminit_plan_init(struct pb_meminit_plan *p, const struct pb_meminit_config *cfg);
/* The next call, or false: nothing to hand out now (the build is over, or what follows
 * depends on calls in flight). */
bool pb_meminit_plan_next(struct pb_meminit_plan *p, struct pb_meminit_call *call);
/* Reports how many extents of `call` were populated. Returns false once the build failed. */
bool pb_meminit_plan_done(struct pb_meminit_plan *p, const struct pb_meminit_call *call,
                          uint64_t nr_done);
/* Every call handed out and done, none failed. */
bool pb_meminit_plan_complete(const struct pb_meminit_plan *p);
/* The claim xl makes before the build (0 when cfg->claim is off): target - vga_hole_size. */
uint64_t pb_meminit_claim_pages(const struct pb_meminit_config *cfg);

/*
 * meminit_hvm for domain domid: claim (cfg->claim), every call of the plan through
 * pb_xc_domain_populate_physmap[_exact], cancel the claim (also after a failure), then
 * pb_memop_finish_creation. 0; -EINVAL (bad arguments or ranges: nothing done), -ESRCH (no
 * such domain), the claim's error, or -ENOMEM when an exact 4 KiB call came back short (what
 * was populated stays; *out says how much). *out is filled in every case but -EINVAL/-ESRCH.
 */
int pb_meminit_hvm(struct pb_heap *h, const struct pb_memop_caller *caller, unsigned domid,
                   const struct pb_meminit_config *cfg, struct pb_meminit_report *out);

#endif
