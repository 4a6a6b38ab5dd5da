/*
 * p2m.c: the radix behind p2m.h. Readers walk it with acquire loads inside a memb read
 * section; writers change it under p2m->lock and retire detached nodes through call_rcu.
 *
 * Slot word (top array, mid and leaf nodes alike):
 *   0                     empty
 *   bit 0 clear, nonzero  pointer to a struct p2m_node (64-byte aligned)
 *   bit 0 set             entry: bits 1-2 type, bits 3-7 order, bits 8-11 zero, bits 12-63 mfn
 *                         (0 for PoD)
 * A freed node is filled with all-ones first: read as an entry, that has type 3, which no
 * valid entry has, so a reader that touched a freed node stops at PB_BUG_ON.
 */
#define _LGPL_SOURCE /* inlines liburcu's read side into p2m_lookup */
#include <urcu/urcu-memb.h>

#include "core/p2m.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/m2p.h"
#include "core/tsan.h"

/* TSan's view of RCU's grace periods (core/tsan.h); only the address is used. */
static char tsan_grace_period;
#define tsan_before_grace_period() PB_TSAN_READ_DONE(&tsan_grace_period)
#define tsan_after_grace_period()  PB_TSAN_GRACE_PASSED(&tsan_grace_period)

/* ---------------------------------------------------------------------------------------------
 * Slots and entries
 * ------------------------------------------------------------------------------------------ */

enum { LEVEL_LEAF, LEVEL_MID, LEVEL_TOP };

#define P2M_FANOUT      512u
#define SLOT_ENTRY      1ull
#define SLOT_TYPE_SHIFT 1
#define SLOT_TYPE_MASK  (3ull << SLOT_TYPE_SHIFT)
#define SLOT_ORD_SHIFT  3
#define SLOT_ORD_MASK   (31ull << SLOT_ORD_SHIFT)
#define SLOT_RSVD_MASK  (15ull << 8)
#define SLOT_MFN_SHIFT  12

struct p2m_node {
    /* Readers: acquire loads. Written only under p2m->lock: release stores once published. */
    _Alignas(PB_CACHELINE) _Atomic uint64_t slot[P2M_FANOUT];
    unsigned int used;   /* protected by p2m->lock: nonzero slots */
    unsigned int level;  /* read-only after creation: LEVEL_MID or LEVEL_LEAF */
    struct rcu_head rcu; /* used once, after the node is detached */
};

struct p2m {
    /* Read-only after p2m_create; every lookup reads them, so no writer shares their line. */
    PB_CACHE_ALIGNED uint64_t max_gfn;
    uint64_t nr_top;
    _Atomic uint64_t *top; /* one slot per 1 GiB; accessed as node slots are */

    struct pb_lock lock; /* the writer lock: excludes writers from each other, never readers */

    /* Set once before the p2m is shared (p2m_set_m2p, p2m_log_dirty_enable); read-only after. */
    const struct pb_m2p *m2p;    /* NULL: no machine-to-guest table to keep */
    _Atomic uint64_t *log_dirty; /* one bit per gfn, or NULL: log-dirty mode off */

    /* Protected by lock. */
    PB_CACHE_ALIGNED struct p2m_counters cnt;
};

/* Checked builds assert that every thread calling in is registered with liburcu. */
static _Thread_local bool rcu_registered;

#if POPBENCH_DEBUG >= 1
static _Atomic(p2m_lookup_hook_fn) lookup_hook; /* relaxed: a test sets it between runs */
#endif

static inline void lookup_stall(void)
{
#if POPBENCH_DEBUG >= 1
    p2m_lookup_hook_fn hook = atomic_load_explicit(&lookup_hook, memory_order_relaxed);
    if (hook)
        hook();
#endif
}

static inline unsigned int level_order(unsigned int level)
{
    return 9 * level;
}

static inline unsigned int slot_index(uint64_t gfn, unsigned int level)
{
    return (gfn >> level_order(level)) & (P2M_FANOUT - 1);
}

static inline bool slot_is_node(uint64_t w)
{
    return w != 0 && !(w & SLOT_ENTRY);
}

static inline struct p2m_node *slot_node(uint64_t w)
{
    return (struct p2m_node *)(uintptr_t)w;
}

static inline uint64_t entry_make(enum p2m_type type, unsigned int order, uint64_t mfn)
{
    return SLOT_ENTRY | (uint64_t)type << SLOT_TYPE_SHIFT | (uint64_t)order << SLOT_ORD_SHIFT |
           (type == P2M_RAM_RW ? mfn << SLOT_MFN_SHIFT : 0);
}

static inline enum p2m_type entry_type(uint64_t w)
{
    return (enum p2m_type)((w & SLOT_TYPE_MASK) >> SLOT_TYPE_SHIFT);
}

static inline uint64_t entry_mfn(uint64_t w)
{
    return w >> SLOT_MFN_SHIFT;
}

/* Whether w is a well-formed entry for a slot of this level. */
static bool entry_ok(uint64_t w, unsigned int level)
{
    enum p2m_type t = entry_type(w);

    if (!(w & SLOT_ENTRY) || (w & SLOT_RSVD_MASK) ||
        ((w & SLOT_ORD_MASK) >> SLOT_ORD_SHIFT) != level_order(level))
        return false;
    return t == P2M_RAM_RW || (t == P2M_POD && entry_mfn(w) == 0);
}

/* Entry i of the 512 that a superpage entry w (one level up) splits into; 0 stays 0. */
static uint64_t entry_piece(uint64_t w, unsigned int level, unsigned int i)
{
    if (w == 0)
        return 0;
    unsigned int order = level_order(level);
    return entry_make(entry_type(w), order, entry_mfn(w) + ((uint64_t)i << order));
}

/* ---------------------------------------------------------------------------------------------
 * RCU
 * ------------------------------------------------------------------------------------------ */

void pb_rcu_register_thread(void)
{
    urcu_memb_register_thread();
    rcu_registered = true;
}

void pb_rcu_unregister_thread(void)
{
    rcu_registered = false;
    urcu_memb_unregister_thread();
}

void pb_rcu_barrier(void)
{
    urcu_memb_barrier();
}

static void node_free_tree(struct p2m_node *n)
{
    if (n->level == LEVEL_MID) {
        for (unsigned int i = 0; i < P2M_FANOUT; i++) {
            uint64_t w = atomic_load_explicit(&n->slot[i], memory_order_relaxed);
            if (slot_is_node(w))
                node_free_tree(slot_node(w));
        }
    }
    memset(n, 0xff, sizeof(*n));
    free(n);
}

/* A call_rcu callback: a grace period has passed since the subtree was detached. */
static void node_free_rcu(struct rcu_head *head)
{
    tsan_after_grace_period();
    node_free_tree(caa_container_of(head, struct p2m_node, rcu));
}

static struct p2m_node *node_alloc(void)
{
    return aligned_alloc(_Alignof(struct p2m_node), sizeof(struct p2m_node));
}

/* ---------------------------------------------------------------------------------------------
 * Writing (all with p->lock held)
 * ------------------------------------------------------------------------------------------ */

struct p2m_write {
    struct p2m *p;
    p2m_release_fn release;
    void *ctx;
};

static void account_entry(struct p2m *p, uint64_t w, unsigned int level, int64_t sign)
{
    uint64_t frames = 1ull << level_order(level);

    p->cnt.entries[level] += (uint64_t)sign;
    if (entry_type(w) == P2M_RAM_RW)
        p->cnt.ram_frames += (uint64_t)sign * frames;
    else
        p->cnt.pod_frames += (uint64_t)sign * frames;
}

static void account_node(struct p2m *p, unsigned int level, int64_t sign)
{
    if (level == LEVEL_MID)
        p->cnt.mids += (uint64_t)sign;
    else
        p->cnt.leaves += (uint64_t)sign;
}

/* An entry that is no longer reachable: uncount it and release its frames. */
static void drop_entry(struct p2m_write *wr, uint64_t w, unsigned int level, uint64_t gfn)
{
    PB_BUG_ON(!entry_ok(w, level));
    account_entry(wr->p, w, level, -1);
    if (entry_type(w) == P2M_RAM_RW && wr->release)
        wr->release(wr->ctx, gfn, entry_mfn(w), level_order(level));
}

/* A subtree that is no longer reachable: drop all its entries and uncount its nodes. */
static void drop_subtree(struct p2m_write *wr, struct p2m_node *n, uint64_t gfn)
{
    for (unsigned int i = 0; i < P2M_FANOUT; i++) {
        uint64_t w = atomic_load_explicit(&n->slot[i], memory_order_relaxed);
        uint64_t g = gfn + ((uint64_t)i << level_order(n->level));
        if (slot_is_node(w)) {
            PB_BUG_ON(n->level != LEVEL_MID);
            drop_subtree(wr, slot_node(w), g);
        } else if (w) {
            drop_entry(wr, w, n->level, g);
        }
    }
    account_node(wr->p, n->level, -1);
    wr->p->cnt.nodes_retired++;
}

static void retire(struct p2m_node *n)
{
    tsan_before_grace_period();
    urcu_memb_call_rcu(&n->rcu, node_free_rcu);
}

/* Publishes w in a slot of this level and disposes of what it replaces. */
static void slot_replace(struct p2m_write *wr, _Atomic uint64_t *slot, unsigned int *used,
                         uint64_t w, unsigned int level, uint64_t gfn)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);

    atomic_store_explicit(slot, w, memory_order_release);
    if (used)
        *used = *used + (w != 0) - (old != 0);
    if (w)
        account_entry(wr->p, w, level, +1);
    if (slot_is_node(old)) {
        struct p2m_node *n = slot_node(old);
        drop_subtree(wr, n, gfn);
        retire(n);
    } else if (old) {
        drop_entry(wr, old, level, gfn);
    }
}

/*
 * Fills a new node of this level with what the parent slot held (0, or a superpage entry that
 * it splits) and publishes it there.
 */
static void node_install(struct p2m *p, _Atomic uint64_t *parent_slot, unsigned int *parent_used,
                         struct p2m_node *n, unsigned int level, uint64_t parent_w)
{
    n->level = level;
    n->used = parent_w ? P2M_FANOUT : 0;
    for (unsigned int i = 0; i < P2M_FANOUT; i++)
        atomic_init(&n->slot[i], entry_piece(parent_w, level, i));
    if (parent_w) {
        /* The same frames, now as 512 entries one level down. */
        p->cnt.entries[level + 1]--;
        p->cnt.entries[level] += P2M_FANOUT;
        p->cnt.splits++;
    } else if (parent_used) {
        ++*parent_used;
    }
    account_node(p, level, +1);
    atomic_store_explicit(parent_slot, (uint64_t)(uintptr_t)n, memory_order_release);
}

/* Detaches an empty node from its parent slot. */
static void node_prune(struct p2m *p, _Atomic uint64_t *parent_slot, unsigned int *parent_used,
                       struct p2m_node *n)
{
    PB_BUG_ON(n->used != 0);
    atomic_store_explicit(parent_slot, 0, memory_order_release);
    if (parent_used)
        --*parent_used;
    account_node(p, n->level, -1);
    p->cnt.nodes_retired++;
    retire(n);
}

static int check_locked(struct p2m *p);

static bool range_ok(const struct p2m *p, uint64_t gfn, unsigned int order)
{
    return p && order <= P2M_MAX_ORDER && !(gfn & ((1ull << order) - 1)) && gfn < p->max_gfn &&
           (1ull << order) <= p->max_gfn - gfn;
}

/*
 * Replaces [gfn, gfn + 2^order) with entries of type (P2M_INVALID: removes). Every node it
 * needs is allocated before anything changes, so -ENOMEM leaves the map as it was. At most
 * one mid and one leaf are needed: a range of order < 18 lies inside one top slot, and one of
 * order < 9 inside one mid slot.
 */
static int change_locked(struct p2m *p, uint64_t gfn, uint64_t mfn, unsigned int order,
                         enum p2m_type type, p2m_release_fn release, void *ctx)
{
    unsigned int level = order >= 18 ? LEVEL_TOP : order >= 9 ? LEVEL_MID : LEVEL_LEAF;
    unsigned int entry_order = level_order(level);
    unsigned int mid_index = slot_index(gfn, LEVEL_MID);
    _Atomic uint64_t *top_slot = &p->top[gfn >> level_order(LEVEL_TOP)];
    struct p2m_write wr = {.p = p, .release = release, .ctx = ctx};
    struct p2m_node *mid = NULL, *leaf = NULL, *new_mid = NULL, *new_leaf = NULL;
    uint64_t top_w = 0, mid_w = 0;
    bool remove = type == P2M_INVALID;
    int rc = 0;

    PB_ASSERT(rcu_registered);
    PB_ASSERT_HELD(&p->lock);

    /* Find or allocate the nodes down to the target level, changing nothing yet. */
    if (level < LEVEL_TOP) {
        top_w = atomic_load_explicit(top_slot, memory_order_relaxed);
        if (slot_is_node(top_w))
            mid = slot_node(top_w);
        else if (top_w == 0 && remove)
            goto out; /* nothing mapped there */
        else if (!(new_mid = node_alloc()))
            goto nomem;
    }
    if (level < LEVEL_MID) {
        mid_w = mid ? atomic_load_explicit(&mid->slot[mid_index], memory_order_relaxed)
                    : entry_piece(top_w, LEVEL_MID, mid_index);
        if (slot_is_node(mid_w)) {
            leaf = slot_node(mid_w);
        } else if (mid_w == 0 && remove) {
            PB_BUG_ON(new_mid); /* a new mid comes from a split: no slot of it is empty */
            goto out;
        } else if (!(new_leaf = node_alloc())) {
            goto nomem;
        }
    }

    if (new_mid) {
        node_install(p, top_slot, NULL, new_mid, LEVEL_MID, top_w);
        mid = new_mid;
    }
    if (new_leaf) {
        node_install(p, &mid->slot[mid_index], &mid->used, new_leaf, LEVEL_LEAF, mid_w);
        leaf = new_leaf;
    }

    _Atomic uint64_t *slots = top_slot;
    unsigned int *used = NULL;
    if (level == LEVEL_MID) {
        slots = &mid->slot[mid_index];
        used = &mid->used;
    } else if (level == LEVEL_LEAF) {
        slots = &leaf->slot[slot_index(gfn, LEVEL_LEAF)];
        used = &leaf->used;
    }
    for (uint64_t i = 0; i < 1ull << (order - entry_order); i++) {
        uint64_t w = remove ? 0 : entry_make(type, entry_order, mfn + (i << entry_order));
        slot_replace(&wr, &slots[i], used, w, level, gfn + (i << entry_order));
    }

    if (remove && level == LEVEL_LEAF && leaf->used == 0)
        node_prune(p, &mid->slot[mid_index], &mid->used, leaf);
    if (remove && level <= LEVEL_MID && mid->used == 0)
        node_prune(p, top_slot, NULL, mid);

#if POPBENCH_DEBUG >= 2
    PB_BUG_ON(check_locked(p) != 0);
#endif
out:
    return rc;

nomem:
    free(new_mid); /* never published */
    rc = -ENOMEM;
    goto out;
}

static int p2m_change(struct p2m *p, uint64_t gfn, uint64_t mfn, unsigned int order,
                      enum p2m_type type, p2m_release_fn release, void *ctx)
{
    pb_lock_acquire(&p->lock);
    int rc = change_locked(p, gfn, mfn, order, type, release, ctx);
    pb_lock_release(&p->lock);
    return rc;
}

int p2m_set(struct p2m *p, uint64_t gfn, uint64_t mfn, unsigned int order, enum p2m_type type,
            p2m_release_fn release, void *ctx)
{
    if (!range_ok(p, gfn, order) || (type != P2M_RAM_RW && type != P2M_POD))
        return -EINVAL;
    if (type == P2M_RAM_RW && mfn > P2M_MFN_MAX - ((1ull << order) - 1))
        return -EINVAL;
    return p2m_change(p, gfn, mfn, order, type, release, ctx);
}

int p2m_remove(struct p2m *p, uint64_t gfn, unsigned int order, p2m_release_fn release, void *ctx)
{
    if (!range_ok(p, gfn, order))
        return -EINVAL;
    return p2m_change(p, gfn, 0, order, P2M_INVALID, release, ctx);
}

/* ---------------------------------------------------------------------------------------------
 * Xen's per-page p2m updates: p2m_add_page and guest_remove_page's p2m side (all with
 * p->lock held inside; each page costs a walk, a machine-to-guest write and a log-dirty mark)
 * ------------------------------------------------------------------------------------------ */

/* The entry covering gfn, read under the writer lock (Xen's p2m->get_entry): its slot word
 * (0 for a hole) and level. */
static uint64_t entry_locked(const struct p2m *p, uint64_t gfn, unsigned int *level)
{
    unsigned int lv = LEVEL_TOP;
    uint64_t w = atomic_load_explicit(&p->top[gfn >> level_order(LEVEL_TOP)], memory_order_relaxed);
    while (slot_is_node(w)) {
        lv--;
        w = atomic_load_explicit(&slot_node(w)->slot[slot_index(gfn, lv)], memory_order_relaxed);
    }
    *level = lv;
    return w;
}

/* The frame an entry maps at gfn (RAM entries only). */
static uint64_t entry_frame(uint64_t w, unsigned int level, uint64_t gfn)
{
    return entry_mfn(w) + (gfn & ((1ull << level_order(level)) - 1));
}

static void m2p_write(const struct p2m *p, uint64_t mfn, uint64_t gfn)
{
    if (p->m2p)
        pb_m2p_set(p->m2p, mfn, gfn);
}

/* paging_mark_pfn_dirty / _clean: a no-op unless log-dirty mode is on. */
static void log_dirty_mark(const struct p2m *p, uint64_t gfn, bool dirty)
{
    _Atomic uint64_t *bits = p->log_dirty;
    if (!bits)
        return;
    uint64_t bit = 1ull << (gfn % 64);
    if (dirty)
        atomic_fetch_or_explicit(&bits[gfn / 64], bit, memory_order_relaxed);
    else
        atomic_fetch_and_explicit(&bits[gfn / 64], ~bit, memory_order_relaxed);
}

/* The largest entry order at gfn + off for a mapping of nr frames from mfn (alignment). */
static unsigned int piece_order(uint64_t gfn, uint64_t mfn, uint64_t off, uint64_t nr)
{
    unsigned int o = 63u - (unsigned int)__builtin_clzll(nr - off);
    if (o > P2M_MAX_ORDER)
        o = P2M_MAX_ORDER;
    if (gfn + off && (unsigned int)__builtin_ctzll(gfn + off) < o)
        o = (unsigned int)__builtin_ctzll(gfn + off);
    if (mfn + off && (unsigned int)__builtin_ctzll(mfn + off) < o)
        o = (unsigned int)__builtin_ctzll(mfn + off);
    return o;
}

int p2m_add_page(struct p2m *p, uint64_t gfn, uint64_t mfn, unsigned int order,
                 struct p2m_add_stats *st)
{
    /* Any gfn alignment: the mapping takes smaller entries where the gfn is misaligned. */
    if (!p || order > P2M_MAX_ORDER || gfn >= p->max_gfn || (1ull << order) > p->max_gfn - gfn ||
        mfn > P2M_MFN_MAX - ((1ull << order) - 1))
        return -EINVAL;
    const uint64_t n = 1ull << order;
    struct p2m_add_stats local = {0};
    int rc = 0;
    pb_lock_acquire(&p->lock);

    /* First the old entries, page by page: a RAM frame loses its machine-to-guest link (the
     * frame stays its domain's), a PoD marker is counted. */
    for (uint64_t i = 0; i < n; i++) {
        unsigned int level;
        uint64_t w = entry_locked(p, gfn + i, &level);
        local.lookups++;
        if (w && entry_type(w) == P2M_RAM_RW) {
            m2p_write(p, entry_frame(w, level, gfn + i), PB_M2P_INVALID);
            local.replaced_ram++;
        } else if (w) {
            local.replaced_pod++;
        }
    }
    /* Then the new frames' own links: each came from the heap, whose free path invalidated it,
     * so none can be mapped at another gfn (Xen would unmap it there first). */
    for (uint64_t i = 0; p->m2p && i < n; i++) {
        uint64_t ogfn = pb_m2p_get(p->m2p, mfn + i);
        PB_BUG_ON(ogfn != PB_M2P_INVALID && ogfn != gfn + i);
    }
    /* The mapping, in the largest entries the alignment of gfn and mfn allows. */
    uint64_t off = 0;
    while (off < n) {
        unsigned int o = piece_order(gfn, mfn, off, n);
        rc = change_locked(p, gfn + off, mfn + off, o, P2M_RAM_RW, NULL, NULL);
        if (rc)
            break;
        off += 1ull << o;
    }
    if (rc) {
        /* Nothing of the new extent stays mapped; the old frames not yet replaced keep their
         * mapping and get their links back. */
        for (uint64_t done = 0; done < off;) {
            unsigned int o = piece_order(gfn, mfn, done, off);
            PB_BUG_ON(change_locked(p, gfn + done, 0, o, P2M_INVALID, NULL, NULL) != 0);
            done += 1ull << o;
        }
        for (uint64_t i = off; p->m2p && i < n; i++) {
            unsigned int level;
            uint64_t w = entry_locked(p, gfn + i, &level);
            if (w && entry_type(w) == P2M_RAM_RW)
                m2p_write(p, entry_frame(w, level, gfn + i), gfn + i);
        }
        local = (struct p2m_add_stats){0};
    } else {
        /* Now the two-way mapping: every frame's link, and its log-dirty mark. */
        for (uint64_t i = 0; i < n; i++) {
            m2p_write(p, mfn + i, gfn + i);
            log_dirty_mark(p, gfn + i, true);
        }
    }
    pb_lock_release(&p->lock);
    if (st)
        *st = local;
    return rc;
}

int p2m_remove_page(struct p2m *p, uint64_t gfn, p2m_release_fn release, void *ctx)
{
    if (!range_ok(p, gfn, 0))
        return -EINVAL;
    int rc;
    pb_lock_acquire(&p->lock);
    unsigned int level;
    uint64_t w = entry_locked(p, gfn, &level);
    if (!w) {
        rc = -ENOENT;
    } else if (entry_type(w) != P2M_RAM_RW) {
        rc = -EINVAL; /* no frame behind it */
    } else {
        uint64_t mfn = entry_frame(w, level, gfn);
        m2p_write(p, mfn, PB_M2P_INVALID);
        log_dirty_mark(p, gfn, false);
        rc = change_locked(p, gfn, 0, 0, P2M_INVALID, release, ctx);
        if (rc) /* a split failed: still mapped */
            m2p_write(p, mfn, gfn);
    }
    pb_lock_release(&p->lock);
    return rc;
}

void p2m_set_m2p(struct p2m *p, const struct pb_m2p *m2p)
{
    p->m2p = m2p;
}

int p2m_log_dirty_enable(struct p2m *p)
{
    if (!p || p->log_dirty)
        return p ? 0 : -EINVAL;
    p->log_dirty = calloc((p->max_gfn + 63) / 64, sizeof(*p->log_dirty));
    return p->log_dirty ? 0 : -ENOMEM;
}

bool p2m_log_dirty_test(const struct p2m *p, uint64_t gfn)
{
    if (!p || !p->log_dirty || gfn >= p->max_gfn)
        return false;
    return atomic_load_explicit(&p->log_dirty[gfn / 64], memory_order_relaxed) &
           (1ull << (gfn % 64));
}

/* ---------------------------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------------------------ */

int p2m_lookup(const struct p2m *p, uint64_t gfn, struct p2m_entry *out)
{
    if (!p || !out || gfn >= p->max_gfn)
        return -EINVAL;
    PB_ASSERT(rcu_registered);

    unsigned int level = LEVEL_TOP;
    urcu_memb_read_lock();
    uint64_t w = atomic_load_explicit(&p->top[gfn >> level_order(LEVEL_TOP)], memory_order_acquire);
    if (slot_is_node(w)) {
        level = LEVEL_MID;
        lookup_stall();
        w = atomic_load_explicit(&slot_node(w)->slot[slot_index(gfn, LEVEL_MID)],
                                 memory_order_acquire);
        if (slot_is_node(w)) {
            level = LEVEL_LEAF;
            lookup_stall();
            w = atomic_load_explicit(&slot_node(w)->slot[slot_index(gfn, LEVEL_LEAF)],
                                     memory_order_acquire);
        }
    }
    tsan_before_grace_period();
    urcu_memb_read_unlock();

    unsigned int order = level_order(level);
    out->order = order;
    if (w == 0) {
        out->type = P2M_INVALID;
        out->mfn = P2M_INVALID_MFN;
        return 0;
    }
    PB_BUG_ON(!entry_ok(w, level));
    out->type = entry_type(w);
    out->mfn =
        out->type == P2M_RAM_RW ? entry_mfn(w) + (gfn & ((1ull << order) - 1)) : P2M_INVALID_MFN;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Walks under the writer lock: p2m_for_each and the checker
 * ------------------------------------------------------------------------------------------ */

static int walk_slots(_Atomic uint64_t *slots, unsigned int nr, unsigned int level, uint64_t gfn,
                      p2m_visit_fn visit, void *ctx)
{
    for (unsigned int i = 0; i < nr; i++) {
        uint64_t w = atomic_load_explicit(&slots[i], memory_order_relaxed);
        uint64_t g = gfn + ((uint64_t)i << level_order(level));
        int rc = 0;

        if (slot_is_node(w))
            rc = walk_slots(slot_node(w)->slot, P2M_FANOUT, level - 1, g, visit, ctx);
        else if (w)
            rc = visit(ctx, g, entry_type(w) == P2M_RAM_RW ? entry_mfn(w) : P2M_INVALID_MFN,
                       level_order(level), entry_type(w));
        if (rc)
            return rc;
    }
    return 0;
}

int p2m_for_each(struct p2m *p, p2m_visit_fn visit, void *ctx)
{
    PB_BUG_ON(!p || !visit);
    pb_lock_acquire(&p->lock);
    int rc = walk_slots(p->top, (unsigned int)p->nr_top, LEVEL_TOP, 0, visit, ctx);
    pb_lock_release(&p->lock);
    return rc;
}

static int check_fail(const char *what, uint64_t gfn, uint64_t w)
{
    fprintf(stderr, "p2m_validate: %s (gfn %#llx, slot %#llx)\n", what, (unsigned long long)gfn,
            (unsigned long long)w);
    return -EUCLEAN;
}

/* Checks every slot below (slots, level) and adds what it finds to *cnt. */
static int check_slots(const struct p2m *p, _Atomic uint64_t *slots, unsigned int nr,
                       unsigned int level, uint64_t gfn, struct p2m_counters *cnt)
{
    for (unsigned int i = 0; i < nr; i++) {
        uint64_t w = atomic_load_explicit(&slots[i], memory_order_relaxed);
        uint64_t g = gfn + ((uint64_t)i << level_order(level));

        if (slot_is_node(w)) {
            struct p2m_node *n = slot_node(w);
            unsigned int used = 0;
            if (level == LEVEL_LEAF || n->level != level - 1)
                return check_fail("node at the wrong level", g, w);
            for (unsigned int j = 0; j < P2M_FANOUT; j++)
                used += atomic_load_explicit(&n->slot[j], memory_order_relaxed) != 0;
            if (used == 0 || used != n->used)
                return check_fail("node's used count is wrong (or it is empty)", g, w);
            if (n->level == LEVEL_MID)
                cnt->mids++;
            else
                cnt->leaves++;
            int rc = check_slots(p, n->slot, P2M_FANOUT, level - 1, g, cnt);
            if (rc)
                return rc;
        } else if (w) {
            uint64_t frames = 1ull << level_order(level);
            if (!entry_ok(w, level))
                return check_fail("malformed entry", g, w);
            if (frames > p->max_gfn - g)
                return check_fail("entry past max_gfn", g, w);
            cnt->entries[level]++;
            if (entry_type(w) == P2M_RAM_RW)
                cnt->ram_frames += frames;
            else
                cnt->pod_frames += frames;
        }
    }
    return 0;
}

static int check_locked(struct p2m *p)
{
    struct p2m_counters re = {0};
    const struct p2m_counters *c = &p->cnt;

    PB_ASSERT_HELD(&p->lock);
    int rc = check_slots(p, p->top, (unsigned int)p->nr_top, LEVEL_TOP, 0, &re);
    if (rc)
        return rc;
    if (re.ram_frames != c->ram_frames || re.pod_frames != c->pod_frames ||
        re.entries[0] != c->entries[0] || re.entries[1] != c->entries[1] ||
        re.entries[2] != c->entries[2] || re.mids != c->mids || re.leaves != c->leaves) {
        fprintf(stderr,
                "p2m_validate: counters ram %llu pod %llu entries %llu/%llu/%llu mids %llu "
                "leaves %llu, recount %llu %llu %llu/%llu/%llu %llu %llu\n",
                (unsigned long long)c->ram_frames, (unsigned long long)c->pod_frames,
                (unsigned long long)c->entries[0], (unsigned long long)c->entries[1],
                (unsigned long long)c->entries[2], (unsigned long long)c->mids,
                (unsigned long long)c->leaves, (unsigned long long)re.ram_frames,
                (unsigned long long)re.pod_frames, (unsigned long long)re.entries[0],
                (unsigned long long)re.entries[1], (unsigned long long)re.entries[2],
                (unsigned long long)re.mids, (unsigned long long)re.leaves);
        return -EUCLEAN;
    }
    return 0;
}

int p2m_validate(struct p2m *p)
{
    PB_BUG_ON(!p);
    pb_lock_acquire(&p->lock);
    int rc = check_locked(p);
    pb_lock_release(&p->lock);
    return rc;
}

void p2m_counters_read(struct p2m *p, struct p2m_counters *out)
{
    PB_BUG_ON(!p || !out);
    pb_lock_acquire(&p->lock);
    *out = p->cnt;
    pb_lock_release(&p->lock);
}

int p2m_set_lookup_hook(p2m_lookup_hook_fn hook)
{
#if POPBENCH_DEBUG >= 1
    atomic_store_explicit(&lookup_hook, hook, memory_order_relaxed);
    return 0;
#else
    (void)hook;
    return -ENOTSUP;
#endif
}

uint64_t p2m_max_gfn(const struct p2m *p)
{
    return p->max_gfn;
}

void p2m_lock_stats(const struct p2m *p, struct pb_lock_stats *out)
{
    pb_lock_stats_read(&p->lock, out);
}

void p2m_lock_stats_reset(struct p2m *p)
{
    pb_lock_stats_reset(&p->lock);
}

/* ---------------------------------------------------------------------------------------------
 * Life cycle
 * ------------------------------------------------------------------------------------------ */

int p2m_create(uint64_t max_gfn, enum pb_lock_kind lock_kind, struct p2m **out)
{
    if (!out || max_gfn == 0 || max_gfn > P2M_GFN_LIMIT ||
        (lock_kind != PB_LOCK_TICKET && lock_kind != PB_LOCK_MUTEX))
        return -EINVAL;

    struct p2m *p = aligned_alloc(_Alignof(struct p2m), sizeof(*p));
    if (!p)
        return -ENOMEM;
    memset(p, 0, sizeof(*p));
    p->max_gfn = max_gfn;
    p->nr_top = (max_gfn + (1ull << level_order(LEVEL_TOP)) - 1) >> level_order(LEVEL_TOP);
    p->top = calloc(p->nr_top, sizeof(*p->top)); /* all-zero: every slot empty */
    if (!p->top) {
        free(p);
        return -ENOMEM;
    }
    pb_lock_init(&p->lock, "p2m", PB_RANK_P2M, lock_kind);
    *out = p;
    return 0;
}

void p2m_destroy(struct p2m *p, p2m_release_fn release, void *ctx)
{
    struct p2m_write wr = {.p = p, .release = release, .ctx = ctx};

    if (!p)
        return;
    PB_ASSERT(rcu_registered);
    /* One 1 GiB slot per hold of the writer lock: a big map is torn down in pieces, as Xen's
     * preemptible teardown does, never under one long hold. */
    for (uint64_t i = 0; i < p->nr_top; i++) {
        pb_lock_acquire(&p->lock);
        slot_replace(&wr, &p->top[i], NULL, 0, LEVEL_TOP, i << level_order(LEVEL_TOP));
        pb_lock_release(&p->lock);
    }
    PB_BUG_ON(p->cnt.ram_frames || p->cnt.pod_frames || p->cnt.mids || p->cnt.leaves);

    urcu_memb_synchronize_rcu(); /* lookups still reading p->top */
    pb_lock_destroy(&p->lock);
    free(p->log_dirty);
    free(p->top);
    free(p);
}
