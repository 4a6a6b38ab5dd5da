/*
 * memflags.h: allocation flags of the modelled path (XEN-MODEL.md §6), with Xen's names so
 * that the model reads like the path it models.
 */
#ifndef POPBENCH_CORE_MEMFLAGS_H
#define POPBENCH_CORE_MEMFLAGS_H

#define MEMF_no_refcount        (1u << 0) /* pages not counted in tot_pages (extra_pages) */
#define MEMF_populate_on_demand (1u << 1) /* PoD: mark the p2m, allocate nothing */
#define MEMF_keep_scrub         (1u << 2) /* with no_scrub: leave need_scrub set for the caller */
#define MEMF_no_dma             (1u << 3) /* avoid the DMA zone (the model has none) */
#define MEMF_exact_node         (1u << 4) /* the node given by MEMF_node() or nothing */
#define MEMF_no_owner           (1u << 5) /* allocate for nobody: no assign */
#define MEMF_no_tlbflush        (1u << 6) /* skip the per-page TLB flush filter */
#define MEMF_no_icache_flush    (1u << 7) /* skip the icache flush */
#define MEMF_no_scrub           (1u << 8) /* accept dirty buddies; do not scrub them */

#define MEMF_NODE_SHIFT  16
#define MEMF_node(n)     ((((unsigned)(n) + 1u) & 0xffu) << MEMF_NODE_SHIFT)
#define MEMF_get_node(f) ((int)(((f) >> MEMF_NODE_SHIFT) & 0xffu) - 1) /* -1: none */
#define MEMF_BITS_SHIFT  24
#define MEMF_bits(b)     (((unsigned)(b)&0xffu) << MEMF_BITS_SHIFT)
#define MEMF_get_bits(f) (((f) >> MEMF_BITS_SHIFT) & 0xffu) /* 0: no cap */
#define MEMF_KNOWN_MASK  0xffff01ffu

#endif
