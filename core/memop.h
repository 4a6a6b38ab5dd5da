/*
 * memop.h: memory_op (XEN-MODEL.md §5-7): populate_physmap and decrease_reservation with
 * continuations, the domain-build scrub path, and domains that carry a p2m.
 *
 * Glossary
 *   reservation   what a caller asks for: a list of gpfns, one per extent of 2^extent_order
 *                 frames, public XENMEMF_ flags and the target domain (Xen's
 *                 struct xen_memory_reservation).
 *   caller        who issues the hypercall: its privilege decides the largest extent order and
 *                 whether a node in the flags is obeyed.
 *   invocation    one call of pb_populate_physmap / pb_decrease_reservation from start_extent.
 *   continuation  the next invocation after a preempted one, from its nr_done (in Xen, the
 *                 hypercall re-entered through hypercall_create_continuation).
 *   build path    populating a domain whose creation has not finished: frames come unscrubbed
 *                 (MEMF_no_scrub|MEMF_keep_scrub) and this layer clears them itself, preemptibly,
 *                 stashing a partly scrubbed extent (owned by nobody) across a continuation,
 *                 and assigns the extent only once it is clean.
 *
 * Return convention (as Xen's memory_op): the populate and decrease calls return nr_done, the
 * index of the first extent not completed; a short count is the only error the caller sees.
 * The model also says why it stopped in result->error (0 if it did not stop short or stopped
 * for a preemption). Calls that Xen answers with start_extent before doing anything (unknown
 * domain, bad flags, an order above the caller's limit, an unreadable gpfn list) return
 * start_extent here too, with the reason in result->error. Only misuse of the API itself (NULL
 * pointers) returns -EINVAL.
 *
 * Threads: every thread that calls into this layer must be registered with RCU
 * (pb_rcu_register_thread, p2m.h). Calls hold no lock on entry or exit; they take the p2m
 * writer lock, then page_alloc_lock and heap locks inside it (decrease frees each frame
 * under the p2m lock, as guest_remove_page does).
 * Concurrent calls on one domain are safe; the build path's stash is meant for one builder
 * per domain (a second one may make the first re-allocate its stashed extent, as in Xen).
 */
#ifndef POPBENCH_CORE_MEMOP_H
#define POPBENCH_CORE_MEMOP_H

#include <stdbool.h>
#include <stdint.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/lock.h"

/* Public mem_flags of a reservation (Xen's public/memory.h layout). */
#define XENMEMF_address_bits(x)     ((unsigned)(x)&0xffu)
#define XENMEMF_get_address_bits(x) ((unsigned)(x)&0xffu)
#define XENMEMF_node(n)             ((((unsigned)(n) + 1u) & 0xffu) << 8)
#define XENMEMF_get_node(x)         ((((unsigned)(x) >> 8) - 1u) & 0xffu) /* 0xff: none */
#define XENMEMF_NO_NODE             0xffu
#define XENMEMF_populate_on_demand  (1u << 16)
#define XENMEMF_exact_node_request  (1u << 17)
#define XENMEMF_exact_node(n)       (XENMEMF_node(n) | XENMEMF_exact_node_request)
#define XENMEMF_vnode               (1u << 18)

/* Xen encodes a continuation's start extent in the upper bits of the command word (shift 6),
 * so it refuses reservations of more extents than that can hold. */
#define PB_MEMOP_EXTENT_SHIFT 6
#define PB_MEMOP_MAX_EXTENTS  (UINT32_MAX >> PB_MEMOP_EXTENT_SHIFT)

struct pb_reservation {
    const uint64_t *extent_start; /* gpfns, one per extent */
    uint64_t extent_list_len;     /* entries readable at extent_start: a list shorter than
                                     nr_extents is refused (Xen: guest_handle_subrange_okay) */
    uint64_t nr_extents;
    unsigned extent_order;
    unsigned mem_flags; /* XENMEMF_* */
    unsigned domid;
};

/* The largest extent order each role of a caller may ask for (Xen's memop-max-order). */
struct pb_order_limits {
    unsigned domu;        /* 9: every caller */
    unsigned control;     /* 18 */
    unsigned hardware;    /* 12 */
    unsigned passthrough; /* 12: a domain with device passthrough (Xen's ptdom) */
};
#define PB_ORDER_LIMITS_DEFAULT                                                                    \
    ((struct pb_order_limits){.domu = 9, .control = 18, .hardware = 12, .passthrough = 12})

/* Roles a caller holds besides its privilege (a dom0 is both control and hardware domain). */
#define PB_ROLE_CONTROL     (1u << 0)
#define PB_ROLE_HARDWARE    (1u << 1)
#define PB_ROLE_PASSTHROUGH (1u << 2) /* has device passthrough (has_arch_io_resources) */

struct pb_memop_caller {
    enum pb_privilege privilege;          /* its role; PB_PRIV_CONTROL/HARDWARE are privileged */
    unsigned roles;                       /* further roles, PB_ROLE_* */
    const struct pb_order_limits *limits; /* NULL: PB_ORDER_LIMITS_DEFAULT */
};

/* max_order(): the largest limit over the caller's roles (domu's always counts), at most
 * PB_MAX_ORDER. caller must not be NULL. */
unsigned pb_memop_max_order(const struct pb_memop_caller *caller);

/*
 * construct_memop_from_reservation + propagate_node: the internal memflags (memflags.h) for a
 * reservation's mem_flags. Errors (-EINVAL, *memflags untouched):
 *   - address bits in 1..12 while narrower than the machine (Xen: <= PAGE_SHIFT);
 *   - a privileged (control or hardware) caller naming a node >= PB_MAX_NODES (Xen's
 *     MAX_NUMNODES); a node id below that which the machine does not have is accepted: the
 *     allocation falls back to other nodes as it would from a node with no memory, and an
 *     exact request for it finds nothing;
 *   - an unprivileged caller asking for an exact node: propagate_node refuses
 *     XENMEMF_exact_node_request from a domU only when a node is named.
 * Silent cases: address bits 0, or at least as wide as the machine -> no cap; an unprivileged
 * caller's node hint (any value) -> dropped; XENMEMF_exact_node_request without a node -> no
 * effect for anyone; XENMEMF_vnode -> dropped with its node, as Xen does for a domain without
 * vNUMA information (the model's domains have none); bits 19-31 -> ignored. PoD is added by
 * pb_populate_physmap, not here (Xen adds it in memory_op).
 */
int pb_construct_memop_from_reservation(const struct pb_heap *h,
                                        const struct pb_memop_caller *caller, unsigned mem_flags,
                                        unsigned *memflags);

/* Counts of one invocation (or, summed, of several: pb_memop_counts_add). */
struct pb_memop_counts {
    uint64_t extents;              /* extents completed */
    uint64_t frames;               /* frames they cover (mapped, marked PoD or unmapped) */
    uint64_t pod_frames;           /* of those, marked P2M_POD (populate) */
    uint64_t released_frames;      /* decrease: frames given back to the heap (one at a time,
                                      those of an extent stopped at a hole included) */
    uint64_t replaced_frames;      /* populate: frames of earlier RAM mappings replaced (they
                                      stay the domain's until it dies, without a gfn) */
    uint64_t scrub_preemptions;    /* build path: preempted in the middle of an extent's scrub */
    uint64_t stash_hits;           /* build path: extents resumed from the stash */
    uint64_t flush_filter_skipped; /* build path: frames whose per-page TLB filter was skipped */
    uint64_t verify_failures;      /* extents pb_verify_extent found not zero */
};
void pb_memop_counts_add(struct pb_memop_counts *dst, const struct pb_memop_counts *src);

struct pb_memop_result {
    uint64_t nr_done; /* the first extent not completed (also the return value) */
    bool preempted;   /* stopped at a preemption check: continue from nr_done */
    int error;        /* why it stopped short, else 0 (see the functions) */
    struct pb_memop_counts c;
};

/*
 * XENMEM_populate_physmap from start_extent. For each extent i: a preemption check (not before
 * the first extent of the invocation); PoD: mark the range P2M_POD, allocating nothing; else
 * allocate, and map it with p2m_add_page (per page: the old entry looked up, the M2P written,
 * the log-dirty mark; a replaced RAM frame stays the domain's, see XEN-MODEL.md §7). While the
 * domain is being created (the build path) the extent comes from the stash or is allocated
 * with MEMF_no_scrub|MEMF_keep_scrub, is scrubbed here preemptibly (a preemption stashes it,
 * not yet the domain's), and only then assigned (a max_pages failure shows after the scrub and
 * frees it dirty); per-page TLB flushes are skipped, and the option build_tlb_flush says
 * whether one filtered flush follows each invocation (0: none, as Xen's code). Ends at the
 * first failure. The invocation counts its CPU busy (pb_cpu_busy). result->error when it
 * stops short:
 *   -E2BIG   nr_extents > PB_MEMOP_MAX_EXTENTS        (nothing done)
 *   -ESRCH   no such domain                           (nothing done)
 *   -EINVAL  bad mem_flags (see construct); a domain without a p2m; a dying domain (Xen's
 *            assign_pages refuses it; the model checks first, so nothing is allocated);
 *            a gpfn whose extent does not fit in the domain's p2m space
 *   -EFAULT  nr_extents > extent_list_len               (nothing done)
 *   -EPERM   extent_order above the caller's limit (PoD: above PB_MAX_ORDER) (nothing done)
 *   -EBUSY   PoD over a range holding RAM (Xen's guest_physmap_mark_populate_on_demand)
 *   -EIO     the extent did not read zero (verification on; freed back dirty)
 *   any error of alloc_domheap_pages or assign_pages (-ENOMEM, -E2BIG, -EPERM ...) or of the
 *   p2m (-ENOMEM: the extent is freed)
 * nr_extents == 0 or start_extent >= nr_extents: returns start_extent, error 0.
 */
long pb_populate_physmap(struct pb_heap *h, const struct pb_memop_caller *caller,
                         const struct pb_reservation *r, uint64_t start_extent,
                         struct pb_memop_result *result);

/*
 * XENMEM_decrease_reservation from start_extent, page by page as Xen: for each extent, its PoD
 * markers are removed first (p2m_pod_decrease_reservation); then for each of its 2^order gfns
 * guest_remove_page: one 4 KiB p2m removal (a superpage entry split first, the M2P entry
 * invalidated) and one order-0 free_domheap_pages of that frame, under the p2m writer lock, so
 * a 2 MiB extent is 512 heap frees and heap-lock acquisitions. Frames go back clean for a live
 * domain (as Xen) unless `dirty` asks otherwise (a workload that models guests leaving data
 * behind, or Xen's scrub_domheap), dirty for a dying one. A gfn that maps nothing (beyond the
 * PoD markers removed) stops the call at that extent: the frames before it are freed, nr_done
 * is that extent (-ENOENT). Preemptible between extents as populate. Errors as populate (no
 * PoD rule; mem_flags are not used), plus -ENOENT, and -EINVAL for a gfn whose entry has no
 * frame.
 */
long pb_decrease_reservation(struct pb_heap *h, const struct pb_memop_caller *caller,
                             const struct pb_reservation *r, uint64_t start_extent, bool dirty,
                             struct pb_memop_result *result);

/*
 * A domain with a p2m of [0, max_gfn) whose writer lock is of p2m_lock_kind. Errors of
 * pb_domain_create and p2m_create (nothing is left behind).
 */
int pb_memop_domain_create(struct pb_heap *h, unsigned domid, const struct pb_domain_config *cfg,
                           uint64_t max_gfn, enum pb_lock_kind p2m_lock_kind,
                           struct pb_domain **out);
/*
 * Destroy d as XEN_DOMCTL_destroydomain does: kill it (dying: no more assignments; its claim
 * released), free a stashed extent, tear its p2m down (lookups already running finish first;
 * one 1 GiB slot per hold of its writer lock; no frame is released through it), then
 * relinquish its frames one at a time, dirty, checking for preemption after each
 * (pb_hypercall_preempt_check): a preemption drops page_alloc_lock and continues, counted in
 * the global counters. Counts its CPU busy meanwhile. The caller guarantees no other thread
 * uses d any more. Not inside an RCU read section.
 */
void pb_memop_domain_destroy(struct pb_heap *h, struct pb_domain *d);

/*
 * End of the domain build (Xen: the first unpause): creation_finished becomes true. 0; -EINVAL
 * for NULL; a domain already finished: 0. -EBUSY when a half-scrubbed extent was still stashed
 * (a build abandoned in the middle of a continuation): Xen crashes such a domain rather than
 * start it; here the extent is freed dirty and creation stays unfinished. One builder per
 * domain calls it, with no populate of that domain running.
 */
int pb_memop_finish_creation(struct pb_heap *h, struct pb_domain *d);

/* Process-wide counts (relaxed atomics). */
struct pb_memop_global_counters {
    uint64_t batched_tlb_flushes;   /* build path, option build_tlb_flush 1: filtered flushes at
                                       the end of populate_physmap invocations */
    uint64_t destroy_frames;        /* frames relinquished by pb_memop_domain_destroy */
    uint64_t destroy_continuations; /* its preemptions (relinquish_memory's -ERESTART) */
};
void pb_memop_global_counters_read(struct pb_memop_global_counters *out);

#endif
