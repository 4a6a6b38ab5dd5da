/*
 * jemalloc_ref.c: the jemalloc reference allocator (jemalloc_ref.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include <jemalloc/jemalloc.h>

#include "core/heap.h"
#include "core/jemalloc_ref.h"

struct pb_jemalloc_ref {
    unsigned nr_nodes;            /* read-only after create */
    unsigned arena[PB_MAX_NODES]; /* read-only after create */
};

static const char *const reference_names[] = {"jemalloc", NULL};

const char *const *pb_reference_names(void)
{
    return reference_names;
}

const char *pb_jemalloc_version(void)
{
    const char *v = NULL;
    size_t len = sizeof(v);
    /* Fails (or is not even resolved to jemalloc) when another malloc is in charge. */
    if (mallctl("version", &v, &len, NULL, 0) != 0)
        return NULL;
    return v;
}

static bool order_ok(unsigned order)
{
    return order == 0 || order == 9 || order == 18;
}

int pb_jemalloc_ref_create(unsigned nr_nodes, struct pb_jemalloc_ref **out)
{
    if (!out || nr_nodes == 0 || nr_nodes > PB_MAX_NODES)
        return -EINVAL;
    if (!pb_jemalloc_version())
        return -ENOTSUP;
    struct pb_jemalloc_ref *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->nr_nodes = nr_nodes;
    for (unsigned n = 0; n < nr_nodes; n++) {
        unsigned a;
        size_t len = sizeof(a);
        if (mallctl("arenas.create", &a, &len, NULL, 0) != 0) {
            free(r);
            return -ENOMEM;
        }
        r->arena[n] = a;
    }
    *out = r;
    return 0;
}

/* jemalloc cannot destroy arenas in use by others; ours simply stay, emptied by their users. */
void pb_jemalloc_ref_destroy(struct pb_jemalloc_ref *r)
{
    free(r);
}

unsigned pb_jemalloc_ref_arena(const struct pb_jemalloc_ref *r, unsigned node)
{
    return r && node < r->nr_nodes ? r->arena[node] : UINT32_MAX;
}

int pb_jemalloc_ref_alloc(struct pb_jemalloc_ref *r, unsigned node, unsigned order, void **out)
{
    if (!r || !out || node >= r->nr_nodes || !order_ok(order))
        return -EINVAL;
    size_t size = (size_t)PB_PAGE_SIZE << order;
    void *p =
        mallocx(size, MALLOCX_ALIGN(size) | MALLOCX_ARENA(r->arena[node]) | MALLOCX_TCACHE_NONE);
    if (!p)
        return -ENOMEM;
    *out = p;
    return 0;
}

int pb_jemalloc_ref_free(struct pb_jemalloc_ref *r, void *p, unsigned order)
{
    if (!r || !p || !order_ok(order))
        return -EINVAL;
    dallocx(p, MALLOCX_TCACHE_NONE);
    return 0;
}
