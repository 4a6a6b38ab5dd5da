/*
 * machine.c: building and tearing down a machine (frame table, nodes and their frame memory,
 * NUMA placement, locks), and the heap's accessors, counters and introspection (heap.h).
 */
#include <errno.h>
#include <numa.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/clear.h"
#include "core/heap_impl.h"

static int numa_node_exists(unsigned node)
{
    return numa_available() >= 0 && (int)node <= numa_max_node() &&
           numa_bitmask_isbitset(numa_all_nodes_ptr, node);
}

/* ------------------------------------------------------------------------------------------
 * Backing: the host memory behind each node's frames.
 */

#define TWO_MIB (UINT64_C(2) << 20)

uint64_t pb_backing_alias_default(void)
{
    uint64_t b = pb_clear_llc_bytes() * PB_ALIAS_LLC_FACTOR;
    if (b < PB_ALIAS_MIN_BYTES)
        b = PB_ALIAS_MIN_BYTES;
    return (b + TWO_MIB - 1) & ~(TWO_MIB - 1);
}

const char *pb_backing_name(enum pb_backing b)
{
    static const char *const names[] = {"auto", "real", "none", "aliased"};
    return (unsigned)b < PB_ARRAY_SIZE(names) ? names[b] : NULL;
}

/* Fault every frame in now, on its node (its memory policy applies), so no run measures first
 * touch: in one call where the kernel can (5.14 and later), else a write per page. */
static void fault_in(unsigned char *p, size_t len)
{
#ifdef MADV_POPULATE_WRITE
    if (madvise(p, len, MADV_POPULATE_WRITE) == 0)
        return;
#endif
    for (size_t off = 0; off < len; off += PB_PAGE_SIZE)
        ((volatile unsigned char *)p)[off] = 0;
}

/*
 * Aliased: one buffer of alias_len bytes (shared memory, on the node where NUMA allows) mapped
 * again and again over a reservation of data_len, so that nd->data + offset is valid for every
 * frame and a run of frames is contiguous in memory. Every mapping is populated here.
 */
static int node_memory_alias(struct pb_node *nd)
{
    int fd = memfd_create("popbench-node", MFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = 0;
    void *base = MAP_FAILED;
    if (ftruncate(fd, (off_t)nd->alias_len) != 0) {
        rc = -errno;
        goto out;
    }
    base = mmap(NULL, nd->data_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        rc = -ENOMEM;
        goto out;
    }
    nd->data = base;
    nd->memory = PB_NODE_MEM_PLAIN;
    for (size_t off = 0; off < nd->data_len && !rc; off += nd->alias_len) {
        size_t len = nd->data_len - off < nd->alias_len ? nd->data_len - off : nd->alias_len;
        void *p = mmap(nd->data + off, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
        if (p == MAP_FAILED) {
            rc = -ENOMEM;
            break;
        }
        if (off == 0) {
            /* The buffer's pages go to the node (a shared policy), faulted in once. */
            if (numa_node_exists(nd->id)) {
                numa_tonode_memory(p, len, (int)nd->id);
                nd->memory = PB_NODE_MEM_NUMA;
            }
            fault_in(p, len);
        } else if (madvise(p, len, MADV_WILLNEED) != 0 ||
                   mmap(p, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd,
                        0) == MAP_FAILED) {
            rc = -ENOMEM;
        }
    }
out:
    close(fd);
    if (rc && base != MAP_FAILED) {
        munmap(base, nd->data_len);
        nd->data = NULL;
        nd->memory = PB_NODE_MEM_NONE;
    }
    return rc;
}

static int node_memory_alloc(struct pb_node *nd, enum pb_backing backing, uint64_t alias_bytes)
{
    nd->memory = PB_NODE_MEM_NONE;
    nd->alias_len = 0;
    if (backing == PB_BACKING_NONE)
        return 0;
    nd->data_len = (size_t)(nd->end - nd->start) * PB_PAGE_SIZE;
    if (backing == PB_BACKING_ALIASED && alias_bytes < nd->data_len) {
        nd->alias_len = alias_bytes;
        return node_memory_alias(nd);
    }
    if (numa_node_exists(nd->id)) {
        nd->data = numa_alloc_onnode(nd->data_len, (int)nd->id);
        if (!nd->data)
            return -ENOMEM;
        fault_in(nd->data, nd->data_len);
        nd->memory = PB_NODE_MEM_NUMA;
    } else {
        void *p = mmap(NULL, nd->data_len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
            return -ENOMEM;
        nd->data = p;
        nd->memory = PB_NODE_MEM_PLAIN;
    }
    return 0;
}

static void node_memory_free(struct pb_node *nd)
{
    if (nd->alias_len)
        munmap(nd->data, nd->data_len);
    else if (nd->memory == PB_NODE_MEM_NUMA)
        numa_free(nd->data, nd->data_len);
    else if (nd->memory == PB_NODE_MEM_PLAIN)
        munmap(nd->data, nd->data_len);
}

/* AUTO: real when the frames fit in half of this machine's memory, else aliased. */
static enum pb_backing resolve_backing(const struct pb_machine_desc *desc, uint64_t frames)
{
    if (desc->backing != PB_BACKING_AUTO)
        return desc->backing;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    bool fits =
        pages > 0 && psz > 0 && frames * PB_PAGE_SIZE <= (uint64_t)pages * (uint64_t)psz / 2;
    return fits ? PB_BACKING_REAL : PB_BACKING_ALIASED;
}

void pb_heap_node_backing(const struct pb_heap *h, unsigned node, struct pb_node_backing *out)
{
    memset(out, 0, sizeof(*out));
    if (node >= h->nr_nodes)
        return;
    const struct pb_node *nd = h->nodes[node];
    out->frames_bytes = (nd->end - nd->start) * PB_PAGE_SIZE;
    out->memory = nd->memory;
    out->kind = !nd->data ? PB_BACKING_NONE : nd->alias_len ? PB_BACKING_ALIASED : PB_BACKING_REAL;
    out->bytes = !nd->data ? 0 : nd->alias_len ? nd->alias_len : nd->data_len;
}

bool pb_heap_aliased(const struct pb_heap *h)
{
    for (unsigned n = 0; n < h->nr_nodes; n++)
        if (h->nodes[n]->alias_len)
            return true;
    return false;
}

/*
 * Xen's dma_bitsize (arch_get_dma_bitsize, x86): with more than one node, a quarter of the
 * first node that starts below 4 GiB (node 0 here), rounded up to a power of two of bytes, at
 * most 4 GiB. The arithmetic is Xen's, wrap-around of a node under 4 frames included.
 */
static void dma_zone_init(struct pb_heap *h, const struct pb_machine_desc *desc)
{
    if (desc->dma_zone == PB_DMA_ZONE_OFF || desc->nr_nodes < 2)
        return;
    uint64_t last = 0 + desc->node_frames[0] / 4 - 1;
    unsigned bits = (last ? 64u - (unsigned)__builtin_clzll(last) : 0u) + PB_PAGE_SHIFT;
    h->dma_bitsize = bits < 32 ? bits : 32;
    /* bits_to_zone */
    h->dma_zone = h->dma_bitsize < PB_PAGE_SHIFT + 1 ? 1 : h->dma_bitsize - PB_PAGE_SHIFT;
}

int pb_heap_create(const struct pb_machine_desc *desc, const char *variant,
                   enum pb_lock_kind lock_kind, struct pb_heap **out)
{
    const struct pb_variant_ops *ops = pb_variant_lookup(variant);
    if (!desc || !out || !ops || desc->nr_nodes == 0 || desc->nr_nodes > PB_MAX_NODES ||
        (lock_kind != PB_LOCK_TICKET && lock_kind != PB_LOCK_MUTEX) ||
        desc->backing > PB_BACKING_ALIASED || desc->alias_bytes % TWO_MIB != 0 ||
        desc->dma_zone > PB_DMA_ZONE_OFF)
        return -EINVAL;
    uint64_t frames = 0;
    for (unsigned n = 0; n < desc->nr_nodes; n++) {
        if (desc->node_frames[n] == 0 || desc->node_frames[n] > PB_MAX_FRAMES)
            return -EINVAL;
        frames += desc->node_frames[n];
    }
    if (frames < 2 || frames >= PB_MAX_FRAMES)
        return -EINVAL;

    struct pb_heap *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->ops = ops;
    pb_options_init(&h->opts);
    pb_pcp_apply_options(h);
    h->nr_nodes = desc->nr_nodes;
    h->nr_frames = frames;
    h->lock_kind = lock_kind;
    h->frames_len = frames * sizeof(struct pb_page);
    void *fp =
        mmap(NULL, h->frames_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (fp == MAP_FAILED) {
        free(h);
        return -ENOMEM;
    }
    /* Huge pages where the kernel gives them (Xen maps its frame table with superpages): a
     * table of millions of entries costs thousands of faults, not millions, at every set-up. */
    (void)madvise(fp, h->frames_len, MADV_HUGEPAGE);
    h->frames = fp;
    /* mmap gives zeroes: every frame starts free (PGS_FREE == 0), clean, not scrubbing. */
    for (uint64_t i = 0; i < frames; i++) {
        h->frames[i].next = h->frames[i].prev = PB_NO_FRAME;
        h->frames[i].owner = PB_DOMID_NONE;
    }
    h->frames[0].state = PGS_OFFLINED;
    h->dirty_marks = true;
    /* The machine-to-guest table: zero-filled memory reads INVALID everywhere (m2p.h). */
    h->m2p_len = frames * sizeof(*h->m2p.entry);
    void *mp = mmap(NULL, h->m2p_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mp != MAP_FAILED)
        (void)madvise(mp, h->m2p_len, MADV_HUGEPAGE);
    h->cpu_load = aligned_alloc(PB_CACHELINE, PB_MAX_CPUS * sizeof(*h->cpu_load));
    if (mp == MAP_FAILED || !h->cpu_load) {
        if (mp != MAP_FAILED)
            munmap(mp, h->m2p_len);
        free(h->cpu_load);
        munmap(h->frames, h->frames_len);
        free(h);
        return -ENOMEM;
    }
    h->m2p = (struct pb_m2p){.entry = mp, .nr_frames = frames};
    memset(h->cpu_load, 0, PB_MAX_CPUS * sizeof(*h->cpu_load));
    dma_zone_init(h, desc);
    pb_lock_init(&h->global_lock, "heap", PB_RANK_HEAP, lock_kind);
    pb_lock_init(&h->domtable_lock, "domtable", PB_RANK_DOMTABLE, lock_kind);
    pb_lock_set_host_wide(&h->global_lock);
    pb_lock_set_host_wide(&h->domtable_lock);

    enum pb_backing backing = resolve_backing(desc, frames);
    uint64_t alias = desc->alias_bytes ? desc->alias_bytes : pb_backing_alias_default();
    uint64_t start = 0;
    int rc = 0;
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        struct pb_node *nd = aligned_alloc(PB_CACHELINE, sizeof(*nd));
        if (!nd) {
            rc = -ENOMEM;
            break;
        }
        memset(nd, 0, sizeof(*nd));
        h->nodes[n] = nd;
        nd->id = n;
        nd->start = start;
        nd->end = start + desc->node_frames[n];
        start = nd->end;
        snprintf(nd->lock_name, sizeof(nd->lock_name), "heap.node%u", n);
        if (ops->global_lock) {
            nd->heap_lock = &h->global_lock;
        } else {
            pb_lock_init(&nd->own_lock, nd->lock_name, PB_RANK_HEAP, lock_kind);
            nd->heap_lock = &nd->own_lock;
        }
        rc = node_memory_alloc(nd, backing, alias);
        if (rc)
            break;
        pb_heap_init_node(h, nd);
        int64_t avail = (int64_t)pb_ld(&nd->node_avail);
        atomic_fetch_add(&h->total_avail, avail);
        atomic_fetch_add(&h->unclaimed, avail);
    }
    if (rc) {
        pb_heap_destroy(h);
        return rc;
    }
    *out = h;
    return 0;
}

void pb_heap_destroy(struct pb_heap *h)
{
    if (!h)
        return;
    for (unsigned id = 0; id < PB_MAX_DOMAINS; id++) {
        struct pb_domain *d = atomic_load(&h->domains[id]);
        if (d)
            pb_domain_destroy(d);
    }
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        struct pb_node *nd = h->nodes[n];
        if (!nd)
            continue;
        node_memory_free(nd);
        if (nd->heap_lock == &nd->own_lock)
            pb_lock_destroy(&nd->own_lock);
        free(nd);
    }
    pb_pcp_destroy_all(h);
    pb_lock_destroy(&h->global_lock);
    pb_lock_destroy(&h->domtable_lock);
    munmap(h->m2p.entry, h->m2p_len);
    free(h->cpu_load);
    munmap(h->frames, h->frames_len);
    free(h);
}

/* ------------------------------------------------------------------------------------------
 * Accessors.
 */

int pb_heap_set_options(struct pb_heap *h, const struct pb_options *o)
{
    if (!h || !o)
        return -EINVAL;
    if (pb_options_check(o, NULL, 0))
        return -ERANGE;
    h->opts = *o;
    pb_pcp_apply_options(h);
    return 0;
}

void pb_heap_set_dirty_marks(struct pb_heap *h, bool on)
{
    h->dirty_marks = on;
}

const struct pb_options *pb_heap_options(const struct pb_heap *h)
{
    return &h->opts;
}

const char *pb_heap_variant(const struct pb_heap *h)
{
    return h->ops->name;
}
unsigned pb_heap_nr_nodes(const struct pb_heap *h)
{
    return h->nr_nodes;
}
uint64_t pb_heap_nr_frames(const struct pb_heap *h)
{
    return h->nr_frames;
}
uint64_t pb_heap_node_start(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? h->nodes[node]->start : 0;
}
uint64_t pb_heap_node_frames(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? h->nodes[node]->end - h->nodes[node]->start : 0;
}
enum pb_node_memory pb_heap_node_memory(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? h->nodes[node]->memory : PB_NODE_MEM_NONE;
}
bool pb_heap_backed(const struct pb_heap *h)
{
    return h->nodes[0]->data != NULL;
}

void *pb_frame_data(const struct pb_heap *h, uint64_t mfn)
{
    const struct pb_node *nd = pb_node_of(h, mfn);
    if (!nd || !nd->data)
        return NULL;
    return nd->data + (mfn - nd->start) * PB_PAGE_SIZE;
}

unsigned pb_heap_dma_bitsize(const struct pb_heap *h)
{
    return h->dma_bitsize;
}
unsigned pb_heap_dma_zone(const struct pb_heap *h)
{
    return h->dma_zone;
}
const struct pb_m2p *pb_heap_m2p(const struct pb_heap *h)
{
    return &h->m2p;
}

void pb_cpu_busy_enter(struct pb_heap *h, unsigned cpu)
{
    atomic_fetch_add_explicit(&h->cpu_load[cpu % PB_MAX_CPUS].busy, 1, memory_order_relaxed);
}
void pb_cpu_busy_exit(struct pb_heap *h, unsigned cpu)
{
    uint32_t was =
        atomic_fetch_sub_explicit(&h->cpu_load[cpu % PB_MAX_CPUS].busy, 1, memory_order_relaxed);
    PB_BUG_ON(was == 0);
}
bool pb_cpu_busy(const struct pb_heap *h, unsigned cpu)
{
    return atomic_load_explicit(&h->cpu_load[cpu % PB_MAX_CPUS].busy, memory_order_relaxed) != 0;
}

int pb_mfn_to_node(const struct pb_heap *h, uint64_t mfn)
{
    const struct pb_node *nd = pb_node_of(h, mfn);
    return nd ? (int)nd->id : -EINVAL;
}

uint64_t pb_heap_total_avail(const struct pb_heap *h)
{
    return pb_heap_free_frames(h, PB_MAX_NODES);
}
uint64_t pb_heap_node_avail(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? pb_heap_free_frames(h, node) : 0;
}
uint64_t pb_heap_zone_avail(const struct pb_heap *h, unsigned node, unsigned zone)
{
    if (node >= h->nr_nodes || zone >= PB_NR_ZONES)
        return 0;
    return pb_ld(&h->nodes[node]->avail[zone]) + pb_pcp_cached_zone(h, node, zone);
}
uint64_t pb_heap_node_need_scrub(const struct pb_heap *h, unsigned node)
{
    return node < h->nr_nodes ? pb_ld(&h->nodes[node]->need_scrub) : 0;
}
uint64_t pb_heap_outstanding_claims(const struct pb_heap *h)
{
    /* Summed while claims are consumed, the figure can dip below zero for a moment. */
    int64_t c = pb_heap_claims_outstanding(h);
    return c > 0 ? (uint64_t)c : 0;
}

uint64_t pb_heap_node_claims(const struct pb_heap *h, unsigned node)
{
    if (!h || node >= h->nr_nodes)
        return 0;
    return (uint64_t)atomic_load_explicit(&h->nodes[node]->claimed, memory_order_relaxed);
}

void pb_heap_read_counters(const struct pb_heap *h, struct pb_heap_counters *out)
{
    memset(out, 0, sizeof(*out));
    out->alloc_failures = pb_ld(&h->alloc_failures);
    out->dma_retries = pb_ld(&h->dma_retries);
    for (unsigned n = 0; n < h->nr_nodes; n++) {
        const struct pb_node_counters *c = &h->nodes[n]->ctr;
        out->allocs += c->allocs;
        out->frees += c->frees;
        out->splits += c->splits;
        out->merges += c->merges;
        out->dirty_alloc_pages += c->dirty_alloc_pages;
        out->scrubbed_on_alloc += c->scrubbed_on_alloc;
        out->tlb_flushes += c->tlb_flushes;
        out->second_pass += c->second_pass;
    }
    pb_pcp_add_counters(h, out);
}

void pb_heap_for_each_lock(const struct pb_heap *h, pb_lock_visitor visit, void *ctx)
{
    if (h->ops->global_lock) {
        visit(ctx, &h->global_lock);
        return;
    }
    for (unsigned n = 0; n < h->nr_nodes; n++)
        visit(ctx, &h->nodes[n]->own_lock);
    pb_pcp_for_each_lock(h, visit, ctx);
}

bool pb_heap_free_buddy_at(const struct pb_heap *h, uint64_t mfn, unsigned *order,
                           uint32_t *first_dirty)
{
    const struct pb_node *nd = pb_node_of(h, mfn);
    if (!nd || h->frames[mfn].state != PGS_FREE)
        return false;
    for (unsigned o = 0; o <= PB_MAX_ORDER; o++) {
        const struct pb_list *l = &nd->free[pb_mfn_zone(mfn)][o];
        for (uint32_t m = l->head; m != PB_NO_FRAME; m = h->frames[m].next)
            if (m == mfn) {
                *order = o;
                *first_dirty = h->frames[m].first_dirty;
                return true;
            }
    }
    return false;
}

bool pb_heap_frame_in_use(const struct pb_heap *h, uint64_t mfn, unsigned *owner)
{
    if (mfn >= h->nr_frames || h->frames[mfn].state != PGS_INUSE ||
        h->frames[mfn].owner == PB_OWNER_CACHED)
        return false;
    *owner = h->frames[mfn].owner;
    return true;
}

bool pb_heap_frame_cached(const struct pb_heap *h, uint64_t mfn)
{
    return mfn < h->nr_frames && h->frames[mfn].state == PGS_INUSE &&
           h->frames[mfn].owner == PB_OWNER_CACHED;
}

bool pb_heap_frame_dirty(const struct pb_heap *h, uint64_t mfn)
{
    return mfn < h->nr_frames && h->frames[mfn].need_scrub;
}
