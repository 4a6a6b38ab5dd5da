/*
 * heap_prep.c: heap states to measure from (heap_prep.h).
 */
#include "bench/heap_prep.h"

#define PB_HEAP_PREP_GIB      (UINT64_C(1) << PB_MAX_ORDER)
#define PB_HEAP_PREP_USED_IDS 2048u /* domain ids the used host's past guests cycle through */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "bench/interrupt.h"
#include "core/clear.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/pb.h"
#include "core/prng.h"
#include "core/toolstack.h"

int pb_heap_prep_machine(unsigned nodes, uint64_t frames_per_node, const char *variant,
                         enum pb_lock_kind kind, struct pb_heap **out)
{
    struct pb_machine_desc desc = {.nr_nodes = nodes, .backing = PB_BACKING_NONE};

    if (nodes == 0 || nodes > PB_MAX_NODES)
        return -EINVAL;
    for (unsigned n = 0; n < nodes; n++)
        desc.node_frames[n] = frames_per_node;
    return pb_heap_create(&desc, variant, kind, out);
}

/* Extents held by the preparation, owned by nobody. */
struct held {
    uint64_t *mfn;
    uint8_t *ord;
    uint64_t n, cap;
};

static int held_init(struct held *x, uint64_t cap)
{
    *x = (struct held){.mfn = malloc(cap * sizeof(uint64_t)), .ord = malloc(cap), .cap = cap};
    if (x->mfn && x->ord)
        return 0;
    free(x->mfn);
    free(x->ord);
    return -ENOMEM;
}

static void held_free(struct held *x)
{
    free(x->mfn);
    free(x->ord);
}

/* Fisher-Yates over what is held. */
static void held_shuffle(struct held *x, struct pb_rng *rng)
{
    for (uint64_t i = x->n; i > 1; i--) {
        uint64_t j = pb_rng_below(rng, i);
        uint64_t t = x->mfn[i - 1];
        x->mfn[i - 1] = x->mfn[j];
        x->mfn[j] = t;
        uint8_t to = x->ord[i - 1];
        x->ord[i - 1] = x->ord[j];
        x->ord[j] = to;
    }
}

int pb_heap_prep_dirty(struct pb_heap *h, double fraction, uint64_t seed)
{
    struct held x;
    struct pb_rng rng;
    int rc = held_init(&x, pb_heap_nr_frames(h) / 512 + 64 * PB_MAX_NODES * 10);

    if (rc)
        return rc;
    /* Take everything, node by node, largest pieces first. */
    for (unsigned node = 0; node < pb_heap_nr_nodes(h); node++)
        for (int o = 9; o >= 0; o--)
            while (x.n < x.cap &&
                   pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, (unsigned)o,
                                       MEMF_node(node) | MEMF_exact_node, NULL, &x.mfn[x.n]) == 0) {
                x.ord[x.n++] = (uint8_t)o;
                if (pb_setup_interrupted())
                    goto interrupted;
            }
    pb_rng_seed(&rng, seed);
    held_shuffle(&x, &rng);
    uint64_t total = 0, dirty = 0;
    for (uint64_t i = 0; i < x.n; i++)
        total += UINT64_C(1) << x.ord[i];
    uint64_t want = (uint64_t)(fraction * (double)total);
    for (uint64_t i = 0; i < x.n; i++) {
        if (pb_setup_interrupted())
            goto interrupted; /* extents i.. stay allocated: the heap is thrown away */
        uint64_t pages = UINT64_C(1) << x.ord[i];
        bool make_dirty = dirty < want;
        if (make_dirty) {
            dirty += pages;
            for (uint64_t k = 0; k < pages; k++) {
                void *data = pb_frame_data(h, x.mfn[i] + k);
                if (data)
                    pb_dirty_fill(data);
            }
        }
        PB_BUG_ON(pb_free_heap_pages(h, x.mfn[i], x.ord[i], make_dirty) != 0);
    }
    held_free(&x);
    return 0;
interrupted:
    held_free(&x);
    return -EINTR;
}

int pb_heap_prep_age(struct pb_heap *h, unsigned passes, uint64_t seed)
{
    uint64_t frames = pb_heap_nr_frames(h), held = 0;
    unsigned nodes = pb_heap_nr_nodes(h);
    struct held x;
    struct pb_rng rng;
    int rc = held_init(&x, frames);

    if (rc)
        return rc;
    pb_rng_seed(&rng, seed);
    for (unsigned p = 0; p < passes; p++) {
        while (x.n < x.cap && held < frames / 100 * 95) {
            unsigned o = (unsigned)pb_rng_below(&rng, 7);
            unsigned node = (unsigned)pb_rng_below(&rng, nodes);
            if (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, o, MEMF_node(node), NULL, &x.mfn[x.n]) !=
                0)
                break;
            x.ord[x.n++] = (uint8_t)o;
            held += UINT64_C(1) << o;
            if (pb_setup_interrupted())
                goto interrupted;
        }
        held_shuffle(&x, &rng);
        while (x.n > 0 && held > frames / 4) {
            x.n--;
            PB_BUG_ON(pb_free_heap_pages(h, x.mfn[x.n], x.ord[x.n], false) != 0);
            held -= UINT64_C(1) << x.ord[x.n];
            if (pb_setup_interrupted())
                goto interrupted;
        }
    }
    held_free(&x);
    return 0;
interrupted:
    held_free(&x);
    return -EINTR;
}

/*
 * Takes every free frame, largest buddies first (the allocation scrubs the dirty ones), and
 * gives all of it back, dirty or clean: the same buddies as before, every frame dirty or clean.
 */
static int retake_all(struct pb_heap *h, bool dirty)
{
    struct held x;
    int rc = held_init(&x, pb_heap_total_avail(h) + 1);

    if (rc)
        return rc;
    for (unsigned node = 0; node < pb_heap_nr_nodes(h); node++)
        for (int o = PB_MAX_ORDER; o >= 0; o--)
            while (x.n < x.cap &&
                   pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, (unsigned)o,
                                       MEMF_node(node) | MEMF_exact_node, NULL, &x.mfn[x.n]) == 0)
                x.ord[x.n++] = (uint8_t)o;
    for (uint64_t i = 0; i < x.n; i++)
        PB_BUG_ON(pb_free_heap_pages(h, x.mfn[i], x.ord[i], dirty) != 0);
    held_free(&x);
    return 0;
}

int pb_heap_prep_boot_dirty(struct pb_heap *h)
{
    return retake_all(h, true);
}

/* A domain of the used host's past: created, built by the toolstack, later destroyed. */
static int used_build(struct pb_heap *h, unsigned domid, uint64_t pages, enum pb_lock_kind kind,
                      struct pb_domain **out)
{
    const struct pb_memop_caller toolstack = {.privilege = PB_PRIV_CONTROL};
    struct pb_domain_config cfg = {.max_pages = pages, .privilege = PB_PRIV_DOMU};
    struct pb_hvm_guest g = {.memory_pages = pages};
    struct pb_meminit_config layout;
    struct pb_meminit_report rep;
    int rc = pb_meminit_layout(&g, &layout);

    if (rc == 0)
        rc = pb_memop_domain_create(h, domid, &cfg, pages, kind, out);
    if (rc)
        return rc;
    rc = pb_meminit_hvm(h, &toolstack, domid, &layout, &rep);
    if (rc) {
        pb_memop_domain_destroy(h, *out);
        *out = NULL;
    }
    return rc;
}

int pb_heap_prep_used(struct pb_heap *h, unsigned passes, uint64_t seed, enum pb_lock_kind kind)
{
    enum { MAX_LIVE = 1024 };
    struct pb_domain *live[MAX_LIVE];
    unsigned nlive = 0, next_id = 0;
    uint64_t frames = pb_heap_nr_frames(h);
    /* Guests of 16 MiB up to an eighth of the machine (at most 1 GiB), in whole MiB. */
    uint64_t max_mib = frames / 8 >> 8, min_mib = 16;
    struct pb_rng rng;
    int rc = 0;

    if (max_mib > 1024)
        max_mib = 1024;
    if (max_mib < min_mib)
        max_mib = min_mib;
    pb_rng_seed(&rng, seed);
    for (unsigned p = 0; p < passes && !rc; p++) {
        /* Build until three quarters of the memory is taken (or a build does not fit). */
        while (nlive < MAX_LIVE && pb_heap_total_avail(h) > frames / 4) {
            uint64_t pages = (min_mib + pb_rng_below(&rng, max_mib - min_mib + 1)) << 8;
            unsigned domid = PB_MAX_DOMAINS - 1 - (next_id++ % PB_HEAP_PREP_USED_IDS);
            struct pb_domain *d;
            while (pb_domain_get(h, domid))
                domid = PB_MAX_DOMAINS - 1 - (next_id++ % PB_HEAP_PREP_USED_IDS);
            if (pages > pb_heap_total_avail(h))
                break;
            if (pb_setup_interrupted()) {
                rc = -EINTR;
                break;
            }
            rc = used_build(h, domid, pages, kind, &d);
            if (rc == -ENOMEM) {
                rc = 0;
                break;
            }
            if (rc)
                break;
            live[nlive++] = d;
        }
        /* Destroy a random two thirds of them: their memory comes back dirty. */
        for (unsigned i = nlive; i > 1; i--) {
            unsigned j = (unsigned)pb_rng_below(&rng, i);
            struct pb_domain *t = live[i - 1];
            live[i - 1] = live[j];
            live[j] = t;
        }
        unsigned keep = nlive / 3;
        while (nlive > keep)
            pb_memop_domain_destroy(h, live[--nlive]);
        /* An idle spell after the burst: idle CPUs scrub what is free. */
        if (!rc)
            rc = retake_all(h, false);
    }
    /* Then the guests still running go: what they held is dirty, between what was scrubbed. */
    while (nlive > 0)
        pb_memop_domain_destroy(h, live[--nlive]);
    return rc;
}

int pb_heap_prep_holes(struct pb_heap *h, uint64_t seed)
{
    struct pb_rng rng;

    pb_rng_seed(&rng, seed);
    for (unsigned n = 0; n < pb_heap_nr_nodes(h); n++) {
        struct held x;
        int rc = held_init(&x, pb_heap_node_frames(h, n) / 2);
        if (rc)
            return rc;
        while (x.n < x.cap &&
               pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, 0, MEMF_node(n) | MEMF_exact_node, NULL,
                                   &x.mfn[x.n]) == 0)
            x.n++;
        for (uint64_t i = 0; i < x.n; i++)
            if (pb_rng_next(&rng) & 1)
                PB_BUG_ON(pb_free_heap_pages(h, x.mfn[i], 0, false) != 0);
        held_free(&x);
    }
    return 0;
}

int pb_heap_prep_live_domain(struct pb_heap *h, unsigned domid, uint64_t max_pages,
                             uint64_t gfn_space, enum pb_lock_kind kind, struct pb_domain **out)
{
    struct pb_domain_config cfg = {.max_pages = max_pages, .privilege = PB_PRIV_DOMU};
    int rc = pb_memop_domain_create(h, domid, &cfg, gfn_space, kind, out);

    if (rc)
        return rc;
    /* A running guest's calls: no build-path scrubbing. */
    rc = pb_memop_finish_creation(h, *out);
    if (rc) {
        pb_memop_domain_destroy(h, *out);
        *out = NULL;
    }
    return rc;
}
