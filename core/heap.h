/*
 * heap.h: the machine, its frames and the buddy heap (XEN-MODEL.md §1-3).
 *
 * Glossary
 *   frame     one 4 KiB machine frame, named by its MFN; struct pb_page describes it.
 *   node      a NUMA node: a contiguous range of MFNs with its own free lists and counters.
 *   zone      an address width: zone(mfn) = bit length of mfn. A buddy never crosses a zone
 *             because MFN 0 (zone 0) is never given to the heap.
 *   buddy     a free, 2^order-aligned block of 2^order frames within one node and zone; its
 *             first frame (the head) carries its order and first_dirty.
 *   dirty     a frame that may hold a previous owner's data (need_scrub); first_dirty is the
 *             index, within a free buddy, of its first possibly dirty frame (PB_CLEAN = none).
 *   variant   an allocator design behind one table of operations, chosen by name: `xen` (one
 *             global heap lock), `pernode` (one heap lock per node) or `pcp` (pernode with
 *             per-CPU page caches in front).
 *   cpu       the calling thread's cache slot (pcp): pb_set_current_cpu, else sched_getcpu()
 *             read once per thread.
 *
 * Accounting identities (checked by pb_heap_validate at every quiescent point):
 *   free frames of a node          = sum over its lists of 2^order = node_avail_pages[node]
 *   avail[node][zone]              = free frames of that node and zone
 *   total_avail_pages              = sum over nodes of node_avail_pages
 *   node_need_scrub[node]          = free frames of the node flagged need_scrub
 *   outstanding_claims             = sum over domains of their claim (host-wide + node parts)
 *   unclaimed                      = total_avail_pages - outstanding_claims >= 0
 *                                  = pool + sum over nodes of credit[node]  (pernode, pcp)
 *   pool, credit[node]             >= 0                                     (pernode, pcp)
 *   node_claims[node]              = sum over domains of their claim on the node
 *                                   <= node_avail_pages[node] (see pb_domain_claim_nodes)
 *   free + in use + offlined       = all frames (MFN 0 counts as offlined)
 * xen keeps total_avail_pages, unclaimed and outstanding_claims as Xen does, host-wide counters
 * under its one lock. pernode and pcp keep nothing host-wide on an allocation's or a free's
 * path: each node holds a credit of unclaimed frames that it borrows from the host's pool in
 * batches (allocations take from it, frees give back to it), claims consumed are counted per
 * node, and the host-wide figures above are sums made when they are read (claims.c, "Host-wide
 * counters and claims", has the protocol and why claims stay exact).
 *
 * pcp: each CPU slot keeps, per node, FIFO caches of free order-0 and order-9 frames. A free of
 * a clean frame of those orders goes to the calling CPU's cache of the frame's node (above the
 * high watermark the oldest batch drains back to the buddy lists, merging there); an
 * allocation of those orders over all zones (or all above the DMA zone) takes from the cache of
 * the node it would search first (exactly that node under MEMF_exact_node), refilling one batch
 * of clean buddies from above the DMA zone under the node lock when the cache is empty. Dirty
 * frames and DMA frames never enter a cache (their frees bypass it), so background scrubbers
 * never need to see cached frames. Cached frames are
 * free: the public counters above (pb_heap_total_avail, _node_avail, _zone_avail) include
 * them, and they belong to the unclaimed part of the free memory, so a claim reserves exactly
 * as before and is never over-committed. A refill takes only frames no node claim holds, so
 * where node claims cover a node's free frames its allocations go through the buddy lists. Each
 * CPU slot's caches have one lock (rank PB_RANK_PCP, taken before the node lock a refill or a
 * drain needs), reported with the heap locks. When an allocation or a claim fails, every cache
 * is drained and it is retried once. Trade-off: a cached frame is not merged until drained, so
 * up to (high watermark) frames per CPU, node and order stay split; larger buddies that they
 * would have rebuilt come back only when the caches drain. The watermarks are options
 * (options.h).
 */
#ifndef POPBENCH_CORE_HEAP_H
#define POPBENCH_CORE_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/lock.h"
#include "core/options.h"

#define PB_PAGE_SHIFT 12
#define PB_PAGE_SIZE  (1u << PB_PAGE_SHIFT)
#define PB_MAX_ORDER  18 /* 1 GiB */
#define PB_NR_ZONES   41 /* zone = bit length of an MFN < 2^40 */
#define PB_MAX_NODES  64
#define PB_MAX_FRAMES ((uint64_t)1 << 32) /* frame indexes are 32-bit: 16 TiB */

struct pb_heap;
struct pb_domain;

enum pb_backing {
    PB_BACKING_AUTO,    /* real where it fits in half of the host's memory, else aliased */
    PB_BACKING_REAL,    /* every frame has 4 KiB of memory, on its node where NUMA allows */
    PB_BACKING_NONE,    /* metadata only: nothing is written or cleared */
    PB_BACKING_ALIASED, /* every node's frames alias one buffer of real memory, larger than the
                           last-level cache: clearing a frame writes memory and costs what it
                           costs on this host, while the contents are shared (no verification).
                           A node no larger than its buffer is simply real. */
};

/* Aliased backing: the buffer behind each node is the last-level cache times this factor, so
 * that frames cleared one after another do not stay in the cache. */
#define PB_ALIAS_LLC_FACTOR 2
#define PB_ALIAS_MIN_BYTES  (UINT64_C(64) << 20)
/* The default buffer of an aliased node: the last-level cache (pb_clear_llc_bytes) x
 * PB_ALIAS_LLC_FACTOR, at least
 * PB_ALIAS_MIN_BYTES, a multiple of 2 MiB. */
uint64_t pb_backing_alias_default(void);
/* "auto", "real", "none", "aliased"; NULL outside the enum. */
const char *pb_backing_name(enum pb_backing b);

/* How each node's frame memory was obtained (for the results). */
enum pb_node_memory {
    PB_NODE_MEM_NONE,  /* no backing */
    PB_NODE_MEM_NUMA,  /* numa_alloc_onnode on the real node */
    PB_NODE_MEM_PLAIN, /* plain mmap: the node is virtual or NUMA is absent */
};

/*
 * The DMA zone (XEN-MODEL.md §1): on x86 with more than one node Xen keeps the low part of
 * node 0 for DMA, dma_bitsize = min(bit length of (node 0's start + its frames / 4 - 1) + 12,
 * 32) (arch_get_dma_bitsize), and alloc_domheap_pages searches the zones above it first,
 * then, only when that fails, every zone again (pb_alloc_domheap_pages).
 */
enum pb_dma_zone {
    PB_DMA_ZONE_XEN = 0, /* Xen's default: a DMA zone when the machine has more than one node */
    PB_DMA_ZONE_OFF,     /* none (Xen's dma_bits=0 on a one-node machine; a workload's choice) */
};

/* What backs one node (pb_heap_node_backing). */
struct pb_node_backing {
    enum pb_backing kind;       /* REAL, NONE or ALIASED */
    enum pb_node_memory memory; /* how its host memory was obtained */
    uint64_t bytes;             /* host memory behind the node (the buffer, when aliased) */
    uint64_t frames_bytes;      /* what its frames cover: frames x 4 KiB */
};

struct pb_machine_desc {
    unsigned nr_nodes;                  /* 1..PB_MAX_NODES */
    uint64_t node_frames[PB_MAX_NODES]; /* frames per node; node 0 starts at MFN 0 */
    enum pb_backing backing;
    uint64_t alias_bytes; /* ALIASED: each node's buffer, a multiple of 2 MiB; 0: the default */
    enum pb_dma_zone dma_zone;
};

/* Event counts of one heap, summed over its nodes (exact at quiescent points). */
struct pb_heap_counters {
    uint64_t allocs, frees;     /* successful alloc_heap_pages / free_heap_pages calls */
    uint64_t alloc_failures;    /* alloc_heap_pages calls that found nothing */
    uint64_t splits, merges;    /* halvings on allocation, buddy merges on free */
    uint64_t dirty_alloc_pages; /* dirty frames handed out by allocations */
    uint64_t scrubbed_on_alloc; /* of those, scrubbed by the allocating thread */
    uint64_t tlb_flushes;       /* allocations that needed a TLB flush */
    uint64_t second_pass;       /* allocations that needed the dirty-accepting pass */
    uint64_t pcp_refills;       /* pcp: batches moved from the free lists into a cache */
    uint64_t pcp_drains;        /* pcp: batches moved from a cache back to the free lists */
    uint64_t dma_retries;       /* alloc_domheap_pages that searched every zone again after the
                                   zones above the DMA zone had nothing */
};

const char *const *pb_variant_names(void); /* NULL-terminated */

/*
 * Build a machine: frame table, per-node free lists holding every frame but MFN 0, counters,
 * locks of the given kind. -EINVAL for a bad description or unknown variant, -ENOMEM.
 */
int pb_heap_create(const struct pb_machine_desc *desc, const char *variant,
                   enum pb_lock_kind lock_kind, struct pb_heap **out);
void pb_heap_destroy(struct pb_heap *h);

const char *pb_heap_variant(const struct pb_heap *h);
unsigned pb_heap_nr_nodes(const struct pb_heap *h);
uint64_t pb_heap_nr_frames(const struct pb_heap *h);
uint64_t pb_heap_node_start(const struct pb_heap *h, unsigned node);
uint64_t pb_heap_node_frames(const struct pb_heap *h, unsigned node);
enum pb_node_memory pb_heap_node_memory(const struct pb_heap *h, unsigned node);
bool pb_heap_backed(const struct pb_heap *h);
void pb_heap_node_backing(const struct pb_heap *h, unsigned node, struct pb_node_backing *out);
/* Whether any node's frames alias a smaller buffer (their contents cannot be verified). */
bool pb_heap_aliased(const struct pb_heap *h);
/*
 * Whether a free of dirty frames writes a mark into each (pb_dirty_fill), so that verification
 * sees a frame handed out unscrubbed (default on). Xen writes nothing there: the data is the
 * guest's, written long before; a run that verifies nothing turns it off so that no timed call
 * pays for it. Set while no other thread uses the heap.
 */
void pb_heap_set_dirty_marks(struct pb_heap *h, bool on);
/* The 4 KiB of memory behind a frame, or NULL without backing (aliased: shared with others). */
void *pb_frame_data(const struct pb_heap *h, uint64_t mfn);
int pb_mfn_to_node(const struct pb_heap *h, uint64_t mfn); /* -EINVAL if out of range */
unsigned pb_mfn_zone(uint64_t mfn);
/* The DMA zone's width: dma_bitsize (0: no DMA zone) and the highest zone it covers
 * (bits_to_zone(dma_bitsize); frames of zones 1..dma_zone are DMA memory; 0: none). */
unsigned pb_heap_dma_bitsize(const struct pb_heap *h);
unsigned pb_heap_dma_zone(const struct pb_heap *h);
/* The machine-to-guest table (m2p.h): one entry per frame, INVALID for every free frame. */
struct pb_m2p;
const struct pb_m2p *pb_heap_m2p(const struct pb_heap *h);

/*
 * Counters (relaxed reads: exact only at quiescent points). Read while other threads allocate
 * and free, total_avail and node_avail never count a frame twice: they never show more free
 * memory than there is.
 */
uint64_t pb_heap_total_avail(const struct pb_heap *h);
uint64_t pb_heap_node_avail(const struct pb_heap *h, unsigned node);
uint64_t pb_heap_zone_avail(const struct pb_heap *h, unsigned node, unsigned zone);
uint64_t pb_heap_node_need_scrub(const struct pb_heap *h, unsigned node);
uint64_t pb_heap_outstanding_claims(const struct pb_heap *h);
/* Frames that domains' node claims reserve on `node` (part of the outstanding claims). */
uint64_t pb_heap_node_claims(const struct pb_heap *h, unsigned node);
void pb_heap_read_counters(const struct pb_heap *h, struct pb_heap_counters *out);

/* The calling thread's node, used when an allocation names neither a node nor a domain. */
void pb_set_current_node(unsigned node);
unsigned pb_current_node(void);
/* The calling thread's CPU slot for pcp caches (taken modulo 1024); default sched_getcpu(). */
void pb_set_current_cpu(unsigned cpu);
unsigned pb_current_cpu(void);

/*
 * The load of the modelled CPUs, for Xen's idle scrubbing (scrub.h): CPU slot `cpu` (as
 * pb_set_current_cpu, modulo PB_MAX_CPUS) is busy while its count is above zero. Every
 * memory_op invocation counts itself on the calling thread's slot (memop.h); a harness may
 * count longer spans, such as the whole time a worker pinned there is runnable. Enter and
 * exit nest; each slot's count is an atomic on its own cache line.
 */
#define PB_MAX_CPUS 1024u
void pb_cpu_busy_enter(struct pb_heap *h, unsigned cpu);
void pb_cpu_busy_exit(struct pb_heap *h, unsigned cpu);
bool pb_cpu_busy(const struct pb_heap *h, unsigned cpu);

/*
 * The heap's tunables (options.h): a heap starts with every default; this sets them all from o
 * (-EINVAL for NULL, -ERANGE for a value out of its range: nothing changes). Call only while no
 * other thread uses the heap. pb_heap_options: the set the heap runs with.
 */
int pb_heap_set_options(struct pb_heap *h, const struct pb_options *o);
const struct pb_options *pb_heap_options(const struct pb_heap *h);

/*
 * pcp only (-EINVAL otherwise, or for an order other than 0 and 9, batch 0 or >= 256, or
 * high >= 256): a cache refills and drains `batch` extents at a time and holds at most `high`
 * (batch 1, high 0: every extent passes straight through, the buddy lists see every free).
 * The options pcp_batch_orderN and pcp_high_orderN, set by their own. Change them only while
 * no other thread uses the heap. Defaults: order 0 31/186, order 9 1/4.
 */
int pb_pcp_set_watermarks(struct pb_heap *h, unsigned order, unsigned batch, unsigned high);
int pb_pcp_get_watermarks(const struct pb_heap *h, unsigned order, unsigned *batch, unsigned *high);
/* Extents of `order` in a CPU slot's cache of a node (0 for other variants). */
uint64_t pb_pcp_cached(const struct pb_heap *h, unsigned cpu, unsigned node, unsigned order);
/* Give every cached frame back to the buddy lists (no-op for other variants). */
void pb_pcp_drain_all(struct pb_heap *h);

/*
 * alloc_heap_pages (§2): 2^order frames from zones [zone_lo, zone_hi], following the flags and
 * the domain's claim and node affinity (d may be NULL). On success *mfn is the first frame,
 * in use, owned by nobody yet. -EINVAL: bad arguments (nothing changes); -ENOMEM: nothing
 * fits, or the claims forbid it.
 */
int pb_alloc_heap_pages(struct pb_heap *h, unsigned zone_lo, unsigned zone_hi, unsigned order,
                        unsigned memflags, struct pb_domain *d, uint64_t *mfn);
/*
 * free_heap_pages (§3): give back 2^order in-use frames owned by nobody, dirty if need_scrub;
 * merges with free buddies. -EINVAL when the range is not an aligned in-use block.
 */
int pb_free_heap_pages(struct pb_heap *h, uint64_t mfn, unsigned order, bool need_scrub);

/*
 * The domain build's TLB-flush filter (XEN-MODEL.md §6): frames allocated with
 * MEMF_no_tlbflush skip alloc_heap_pages' filter, and populate_physmap reads their stamps
 * itself, page by page (accumulate_tlbflush). pb_heap_tlbflush_stamps: that read for the
 * caller's in-use frames [mfn, mfn + 2^order): the newest stamp (0: none), each cleared. With
 * the option build_tlb_flush 0 (Xen's code as it stands) the allocation has overwritten them,
 * so it finds none. pb_heap_filtered_flush: filtered_flush_tlb_mask: one flush when the stamp
 * is newer than the last flush; whether it flushed.
 */
uint32_t pb_heap_tlbflush_stamps(struct pb_heap *h, uint64_t mfn, unsigned order);
bool pb_heap_filtered_flush(struct pb_heap *h, uint32_t stamp);

/*
 * Introspection for tests and tools (quiescent heap): whether mfn heads a free buddy, and its
 * order and first_dirty (UINT32_MAX = clean). Whether a frame is in use, and its owner.
 */
bool pb_heap_free_buddy_at(const struct pb_heap *h, uint64_t mfn, unsigned *order,
                           uint32_t *first_dirty);
bool pb_heap_frame_in_use(const struct pb_heap *h, uint64_t mfn, unsigned *owner);
bool pb_heap_frame_dirty(const struct pb_heap *h, uint64_t mfn);
bool pb_heap_frame_cached(const struct pb_heap *h, uint64_t mfn); /* free in a pcp cache */

/*
 * Statistics of every heap lock: the global one (xen), or one per node (pernode, pcp), then for
 * pcp the lock of every CPU slot's caches made so far (rank PB_RANK_PCP, named "pcp.cpuN"), so
 * their number grows as CPUs first use the heap.
 */
typedef void (*pb_lock_visitor)(void *ctx, const struct pb_lock *lock);
void pb_heap_for_each_lock(const struct pb_heap *h, pb_lock_visitor visit, void *ctx);

/*
 * Recount everything and check every identity above plus: each frame in exactly one place,
 * buddies aligned, within one node and zone, on the list of their order, clean before dirty;
 * each domain's tot_pages equals its frames. Call only while no other thread uses the heap.
 * 0, or -EUCLEAN with the first broken rule written into msg.
 */
int pb_heap_validate(struct pb_heap *h, char *msg, size_t msglen);

#endif
