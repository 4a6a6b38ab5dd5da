/*
 * domain.h: guests that own frames (XEN-MODEL.md §5): tot_pages and max_pages, claims, node
 * affinity, assignment and freeing.
 *
 * Locking: a domain's page_alloc_lock (rank PB_RANK_PAGE_ALLOC) protects tot_pages,
 * extra_pages, max_pages and its page list, and is taken before any heap lock.
 * The claim is an atomic counter so that allocations consume it without that lock.
 */
#ifndef POPBENCH_CORE_DOMAIN_H
#define POPBENCH_CORE_DOMAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/heap.h"

#define PB_MAX_DOMAINS 4096
#define PB_DOMID_NONE  0xffffu

enum pb_privilege {
    PB_PRIV_DOMU,     /* an ordinary guest */
    PB_PRIV_CONTROL,  /* the control domain (toolstack) */
    PB_PRIV_HARDWARE, /* the hardware domain */
};

struct pb_domain_config {
    uint64_t max_pages;
    uint64_t node_affinity; /* bitmask of nodes; 0 = all */
    enum pb_privilege privilege;
};

/* Create domain `domid` (< PB_MAX_DOMAINS, unused): -EINVAL, -EEXIST, -ENOMEM. */
int pb_domain_create(struct pb_heap *h, unsigned domid, const struct pb_domain_config *cfg,
                     struct pb_domain **out);
struct pb_domain *pb_domain_get(struct pb_heap *h, unsigned domid); /* NULL if none */
/*
 * Destroy: mark dying, release its claim, free a stashed extent, relinquish every frame (one
 * at a time, dirty: the guest's data stays in them until scrubbed), forget the domain. The
 * caller guarantees nobody else uses d.
 */
void pb_domain_destroy(struct pb_domain *d);
/* The first step of destroy: mark dying (no more assignments) and release the claim. */
void pb_domain_kill(struct pb_domain *d);
/*
 * relinquish_memory (Xen's domain_relinquish_resources, x86): free a dying domain's frames one
 * at a time from the head of its page list, each through free_heap_pages as order 0, dirty,
 * holding page_alloc_lock across the loop (and each frame's heap lock only for that frame).
 * After each frame, preempt(ctx) (if not NULL) may stop it: page_alloc_lock is dropped and
 * -ERESTART returned, to be called again (a continuation). 0 when the list is empty; -EINVAL
 * if d is not dying. *freed (may be NULL) grows by the frames freed.
 */
int pb_domain_relinquish_memory(struct pb_domain *d, bool (*preempt)(void *ctx), void *ctx,
                                uint64_t *freed);
/* domain_pending_scrub_free: free the domain-build stash, if any (nobody's: freed dirty);
 * whether there was one. */
bool pb_domain_free_stash(struct pb_domain *d);

unsigned pb_domain_id(const struct pb_domain *d);
uint64_t pb_domain_tot_pages(const struct pb_domain *d);
uint64_t pb_domain_max_pages(const struct pb_domain *d);
uint64_t pb_domain_extra_pages(const struct pb_domain *d);
uint64_t pb_domain_claim(const struct pb_domain *d);
uint64_t pb_domain_node_affinity(const struct pb_domain *d);
enum pb_privilege pb_domain_privilege(const struct pb_domain *d);
bool pb_domain_dying(const struct pb_domain *d);
int pb_domain_set_max_pages(struct pb_domain *d, uint64_t max_pages);

/* The domain's p2m, attached once by the memop layer before the domain is used. */
struct p2m;
void pb_domain_set_p2m(struct pb_domain *d, struct p2m *p2m);
struct p2m *pb_domain_p2m(const struct pb_domain *d);
/* Domain build: false from create until pb_domain_finish_creation. */
bool pb_domain_creation_finished(const struct pb_domain *d);
void pb_domain_finish_creation(struct pb_domain *d);
struct pb_lock *pb_domain_lock(struct pb_domain *d);

/*
 * XENMEM_claim_pages: -EINVAL for a dying domain (even pages == 0: kill released its claim);
 * pages == 0 releases the claim; otherwise -EINVAL if a claim exists, or pages <= tot_pages, or
 * pages > max_pages; -ENOMEM if pages - tot_pages exceeds the unclaimed free memory; else the
 * claim becomes pages - tot_pages.
 */
int pb_domain_claim_pages(struct pb_domain *d, uint64_t pages);

/*
 * Per-node claims (proposed upstream, not in Xen): one call stakes a claim made of parts, each
 * reserving `pages` frames of free memory on one node (`node` >= 0) or host-wide
 * (PB_CLAIM_HOST), all or nothing. Unlike XENMEM_claim_pages, `pages` counts frames beyond what
 * the domain already has. A domain's allocations honour its node parts: the search starts on
 * the nodes where it still has a node claim, and no allocation may take frames of a node that
 * other domains' node claims reserve (the node's unclaimed free memory is node_avail minus the
 * node claims on it). Claims are retired node first: an extent allocated on node n consumes the
 * domain's claim on n, then its host-wide part, then unclaimed memory (of the host and of n).
 *
 * nr == 0 (or every part 0) releases every claim, like pb_domain_claim_pages(d, 0).
 * -EINVAL: d is dying; d has a claim already; a node >= the number of nodes, or named twice
 * (PB_CLAIM_HOST too); nr > PB_MAX_NODES + 1; tot_pages + the sum of the parts > max_pages.
 * -ENOMEM: the sum exceeds the host's unclaimed free memory, or a node part exceeds that node's
 * unclaimed free memory. On any error nothing changes.
 */
#define PB_CLAIM_HOST (-1)
struct pb_claim {
    int node; /* 0..nr_nodes-1, or PB_CLAIM_HOST */
    uint64_t pages;
};
int pb_domain_claim_nodes(struct pb_domain *d, const struct pb_claim *parts, unsigned nr);
/* The outstanding claim: pb_domain_claim is the whole (host-wide part + every node part). */
uint64_t pb_domain_host_claim(const struct pb_domain *d);
uint64_t pb_domain_node_claim(const struct pb_domain *d, unsigned node);
/* Frames d owns (tot_pages + extra_pages) on the nodes of `node_mask`: walks its page list
 * under page_alloc_lock; for locality figures, not for hot paths. */
uint64_t pb_domain_pages_on_nodes(struct pb_domain *d, uint64_t node_mask);

/*
 * assign_pages: give 2^order in-use frames (owned by nobody) to d. -EINVAL if d is dying,
 * -EPERM if tot_pages already exceeds max_pages, -E2BIG if they would not fit under max_pages.
 * With MEMF_no_refcount they count as extra_pages instead of tot_pages.
 */
int pb_assign_pages(struct pb_domain *d, uint64_t mfn, unsigned order, unsigned memflags);

/*
 * alloc_domheap_pages: alloc_heap_pages over the zones allowed by MEMF_bits (with a DMA zone:
 * first the zones above it, then, unless MEMF_no_dma, all of them again), placed by d (its
 * affinity and last_alloc_node, also under MEMF_no_owner, which implies MEMF_no_refcount);
 * then assign_pages to d, except under MEMF_no_owner or MEMF_keep_scrub (frames that may still
 * need a scrub are the caller's to scrub and assign) or with d NULL; a failed assignment frees
 * the frames again. 0 and *mfn, or a negative errno.
 */
int pb_alloc_domheap_pages(struct pb_heap *h, struct pb_domain *d, unsigned order,
                           unsigned memflags, uint64_t *mfn);
/*
 * free_domheap_pages: take 2^order frames back from their owner (lowering tot_pages) and free
 * them: dirty when the owner is dying or `dirty` asks for it (a workload that models guests
 * leaving data behind, or Xen's scrub_domheap option), clean otherwise (Xen frees a live
 * guest's balloon-down clean). d NULL frees frames owned by nobody, always dirty (Xen scrubs
 * what it cannot attribute). -EINVAL if the block is not owned by d.
 */
int pb_free_domheap_pages(struct pb_heap *h, struct pb_domain *d, uint64_t mfn, unsigned order,
                          bool dirty);

#endif
