/*
 * p2m.h: one domain's guest-physical to machine map (gfn -> mfn, order, type), read lock-free
 * under RCU, written under a per-domain lock.
 *
 * Glossary
 *   gfn, mfn   guest and machine frame numbers (4 KiB frames).
 *   mapping    what p2m_set installs: 2^order frames from an aligned gfn, order 0..18.
 *   entry      one stored slot value: a 4 KiB (order 0), 2 MiB (order 9) or 1 GiB (order 18)
 *              mapping of one type. A mapping of another order is stored as 2^(order - e)
 *              entries of the largest entry order e <= order (order 4: sixteen 4 KiB entries;
 *              order 12: eight 2 MiB entries), so lookups and p2m_for_each report entries.
 *   split      replacing a superpage entry by a node of 512 entries of the next order down that
 *              map the same frames, so that part of it can be replaced or removed.
 *
 * Layout: a dense radix over [0, max_gfn). The top array has one slot per 1 GiB (2^18 gfns);
 * a top slot holds a 1 GiB entry or points to a mid node of 512 slots (2 MiB each); a mid slot
 * holds a 2 MiB entry or points to a leaf of 512 slots (4 KiB each). A slot is one 64-bit word:
 * 0 is empty (P2M_INVALID); bit 0 set is an entry (type, order and mfn packed, see p2m.c);
 * otherwise it is a pointer to a node (nodes are 64-byte aligned). A reader loads every slot
 * with one atomic acquire load, so it never sees a torn entry or an unfilled node.
 *
 * Concurrency
 *   - Readers (p2m_lookup) take no lock: they run inside an RCU read-side section of liburcu's
 *     memb flavour. Every thread that calls any p2m function, reader or writer (writers retire
 *     nodes through call_rcu), must first call pb_rcu_register_thread() and, before it exits,
 *     pb_rcu_unregister_thread(). Checked builds assert it.
 *   - Writers (p2m_set, p2m_remove, p2m_for_each, p2m_counters_read, p2m_validate) serialise
 *     on the domain's writer lock (rank PB_RANK_P2M): call them holding no lock of rank
 *     PB_RANK_P2M or higher.
 *   - A writer allocates the (at most one mid and one leaf) nodes a change needs before it
 *     changes anything, under the writer lock, so -ENOMEM leaves the map as it was.
 *   - A change publishes one entry at a time: a mapping of several entries becomes visible
 *     entry by entry, and a lookup returns a snapshot that may already be replaced when it
 *     returns (a caller that needs the frame to stay must hold its own reference on it).
 *   - Nodes a writer detaches (a subtree under a replaced or removed range, a leaf or mid node
 *     whose last entry was removed) are poisoned and freed by call_rcu after a grace period;
 *     writers never wait for one. p2m_destroy waits for one; pb_rcu_barrier() waits until
 *     every retired node is freed.
 *
 * Release callbacks: a change that unmaps P2M_RAM_RW frames (replaced or removed) calls
 * release(ctx, gfn, mfn, order) once per unmapped entry, with exactly the frames unmapped,
 * after the new value is published and with the writer lock held: it may take locks of a
 * higher rank (page_alloc, heap) but must not call a writer function of the same p2m.
 * Replacing a 4 KiB frame inside a superpage splits it first, so only that frame is released.
 * P2M_POD entries have no frame and release nothing.
 *
 * Counter identities (checked by p2m_validate):
 *   ram_frames + pod_frames = entries[0] + entries[1] * 2^9 + entries[2] * 2^18
 *   mids = mid nodes reachable; leaves = leaf nodes reachable; no reachable node is empty.
 */
#ifndef POPBENCH_CORE_P2M_H
#define POPBENCH_CORE_P2M_H

#include <stdbool.h>
#include <stdint.h>

#include "core/lock.h"

#define P2M_MAX_ORDER   18
#define P2M_GFN_LIMIT   (1ull << 40)       /* max_gfn may be at most this (4 PiB) */
#define P2M_MFN_MAX     ((1ull << 52) - 1) /* largest mfn an entry can hold */
#define P2M_INVALID_MFN UINT64_MAX         /* the mfn of P2M_INVALID and P2M_POD entries */

enum p2m_type {
    P2M_INVALID = 0, /* not mapped */
    P2M_RAM_RW,      /* mapped to machine frames */
    P2M_POD,         /* populate-on-demand marker: no frame yet */
};

/* What covers one gfn. */
struct p2m_entry {
    uint64_t mfn; /* the frame backing that gfn (offset into the superpage), or P2M_INVALID_MFN */
    unsigned int order; /* entry order: 0, 9 or 18 (for P2M_INVALID: the size of the hole found) */
    enum p2m_type type;
};

/* All written under the writer lock; p2m_counters_read returns a consistent snapshot. */
struct p2m_counters {
    uint64_t ram_frames;    /* 4 KiB frames mapped P2M_RAM_RW */
    uint64_t pod_frames;    /* 4 KiB frames marked P2M_POD */
    uint64_t entries[3];    /* entries of order 0, 9, 18 (RAM or PoD) */
    uint64_t mids;          /* mid nodes in the tree */
    uint64_t leaves;        /* leaf nodes in the tree */
    uint64_t splits;        /* superpage entries split so far */
    uint64_t nodes_retired; /* nodes handed to call_rcu so far (a subtree counts each node) */
};

struct p2m;

typedef void (*p2m_release_fn)(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order);
/* Nonzero stops the walk; p2m_for_each returns it. */
typedef int (*p2m_visit_fn)(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order,
                            enum p2m_type type);

/* RCU thread registration (liburcu memb flavour): see "Concurrency" above. */
void pb_rcu_register_thread(void);
void pb_rcu_unregister_thread(void);
/* Waits until every callback queued by call_rcu so far has run. Not inside a read section. */
void pb_rcu_barrier(void);

/* An empty map of [0, max_gfn), max_gfn in 1..P2M_GFN_LIMIT. -EINVAL, -ENOMEM. */
int p2m_create(uint64_t max_gfn, enum pb_lock_kind lock_kind, struct p2m **out);
/*
 * Unmaps everything (release may be NULL), waits for a grace period and frees the map; its
 * nodes are freed by call_rcu. No other thread may use p afterwards; lookups already running
 * are waited for. The caller must not be inside a read section.
 */
void p2m_destroy(struct p2m *p, p2m_release_fn release, void *ctx);

/*
 * Maps [gfn, gfn + 2^order) to [mfn, mfn + 2^order) (P2M_RAM_RW) or marks it P2M_POD (mfn
 * ignored), replacing whatever was there. -EINVAL (gfn >= max_gfn, gfn not aligned to 2^order,
 * order > 18, range past max_gfn, type not RAM/PoD, mfn range past P2M_MFN_MAX) or -ENOMEM:
 * nothing changed.
 */
int p2m_set(struct p2m *p, uint64_t gfn, uint64_t mfn, unsigned int order, enum p2m_type type,
            p2m_release_fn release, void *ctx);
/* Unmaps [gfn, gfn + 2^order); holes are skipped. Same -EINVAL cases, -ENOMEM (a split). */
int p2m_remove(struct p2m *p, uint64_t gfn, unsigned int order, p2m_release_fn release, void *ctx);

/*
 * Xen's p2m_add_page (guest_physmap_add_page): map [gfn, gfn + 2^order) to [mfn, ...) as
 * P2M_RAM_RW under one hold of the writer lock, with Xen's per-page work: each gfn's old entry
 * looked up (a walk), an old RAM frame's machine-to-guest entry invalidated (the frame is not
 * released: it stays its domain's, see XEN-MODEL.md §7), each new frame's entry checked, then
 * written with its gfn, and each gfn marked in the log-dirty bitmap when that mode is on. The
 * mapping uses the largest entries the alignment of gfn and mfn allows (gfn need not be
 * aligned to 2^order). -EINVAL: order > 18, range past max_gfn, mfn range past P2M_MFN_MAX;
 * -ENOMEM: nothing of the new mapping stays (old entries not yet replaced are intact; those
 * replaced are gone). *st (may be NULL): what the old entries were.
 */
struct p2m_add_stats {
    uint64_t lookups;      /* old-entry lookups (2^order) */
    uint64_t replaced_ram; /* frames of old RAM entries that lost their mapping */
    uint64_t replaced_pod; /* gfns that were PoD markers */
};
int p2m_add_page(struct p2m *p, uint64_t gfn, uint64_t mfn, unsigned int order,
                 struct p2m_add_stats *st);
/*
 * guest_remove_page's p2m side for one 4 KiB gfn, under one hold of the writer lock: look it
 * up; a hole: -ENOENT; a PoD marker: -EINVAL (no frame); RAM: the frame's machine-to-guest
 * entry invalidated, the log-dirty bit cleared, the 4 KiB mapping removed (a superpage entry is
 * split first) and release(ctx, gfn, mfn, 0) called for that frame, still under the lock.
 * -ENOMEM: a split failed, nothing changed. -EINVAL: gfn >= max_gfn.
 */
int p2m_remove_page(struct p2m *p, uint64_t gfn, p2m_release_fn release, void *ctx);

/* The machine-to-guest table the per-page functions above keep (m2p.h); set once before the
 * p2m is used. Without one they skip its writes. */
struct pb_m2p;
void p2m_set_m2p(struct p2m *p, const struct pb_m2p *m2p);
/* Log-dirty mode: a bitmap of the gfns written since (Xen's paging_mark_pfn_dirty); enable it
 * before the p2m is shared. 0, -ENOMEM. p2m_log_dirty_test: whether gfn's bit is set. */
int p2m_log_dirty_enable(struct p2m *p);
bool p2m_log_dirty_test(const struct p2m *p, uint64_t gfn);

/* Lock-free: the entry covering gfn. -EINVAL (gfn >= max_gfn or out NULL). */
int p2m_lookup(const struct p2m *p, uint64_t gfn, struct p2m_entry *out);

/* Visits every entry in gfn order, under the writer lock. mfn is the entry's first frame. */
int p2m_for_each(struct p2m *p, p2m_visit_fn visit, void *ctx);

void p2m_counters_read(struct p2m *p, struct p2m_counters *out);
/* Recounts the tree against the counters and checks every entry: 0, or -EUCLEAN (printed). */
int p2m_validate(struct p2m *p);

/*
 * Checked builds: hook(), when set, runs inside every lookup's read section each time the walk
 * has followed a pointer, before it reads the node; a torture test stalls readers there to
 * widen the window in which a writer could free that node. Process-wide; NULL removes it.
 * Other builds: -ENOTSUP.
 */
typedef void (*p2m_lookup_hook_fn)(void);
int p2m_set_lookup_hook(p2m_lookup_hook_fn hook);

uint64_t p2m_max_gfn(const struct p2m *p);
/* The writer lock's contention statistics. */
void p2m_lock_stats(const struct p2m *p, struct pb_lock_stats *out);
void p2m_lock_stats_reset(struct p2m *p);

#endif
