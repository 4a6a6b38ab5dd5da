/*
 * m2p.h: the machine-to-guest table (Xen's M2P, XEN-MODEL.md §3, §7): one 8-byte entry per
 * machine frame, the gfn that maps it, or PB_M2P_INVALID.
 *
 * The heap owns the table (pb_heap_m2p, heap.h): every frame starts INVALID, and
 * free_heap_pages invalidates each frame it frees under the heap lock (mark_page_free). A
 * domain's p2m writes it page by page under the p2m writer lock (p2m_add_page: the old
 * frame's entry invalidated, the new frame's written; p2m_remove_page: invalidated).
 *
 * Synchronisation: entries are relaxed atomics. A frame's entry is written only by whoever
 * owns the frame at that moment (the heap lock holder freeing it, or the writer of the p2m
 * that maps it), so a reader that owns the frame sees the last value; anyone else reads a
 * snapshot.
 */
#ifndef POPBENCH_CORE_M2P_H
#define POPBENCH_CORE_M2P_H

#include <stdatomic.h>
#include <stdint.h>

#define PB_M2P_INVALID UINT64_MAX

/* An entry holds gfn + 1 (wrapping), so that zero-filled memory reads PB_M2P_INVALID and a
 * big table costs nothing until frames are mapped. */
struct pb_m2p {
    _Atomic uint64_t *entry; /* [nr_frames]; read-only pointer after the heap is made */
    uint64_t nr_frames;
};

static inline uint64_t pb_m2p_get(const struct pb_m2p *m, uint64_t mfn)
{
    return atomic_load_explicit(&m->entry[mfn], memory_order_relaxed) - 1;
}

static inline void pb_m2p_set(const struct pb_m2p *m, uint64_t mfn, uint64_t gfn)
{
    atomic_store_explicit(&m->entry[mfn], gfn + 1, memory_order_relaxed);
}

#endif
