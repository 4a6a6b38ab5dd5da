/*
 * jemalloc_ref.h: a reference allocator, not a model of Xen: extents of 4 KiB, 2 MiB and 1 GiB
 * (orders 0, 9 and 18) served by jemalloc from one arena per node, without thread caches, so
 * that the heap variants have a general-purpose allocator to be measured against.
 *
 * Each node's arena comes from "arenas.create"; an extent is mallocx(size, aligned to its size,
 * that arena, no tcache) and goes back with dallocx. Node n's arena is only a separate pool:
 * its memory is not bound to a NUMA node. Thread-safe (jemalloc's own locks).
 */
#ifndef POPBENCH_CORE_JEMALLOC_REF_H
#define POPBENCH_CORE_JEMALLOC_REF_H

#include <stdint.h>

struct pb_jemalloc_ref;

/* Reference allocators by name (not heap variants): {"jemalloc", NULL}. */
const char *const *pb_reference_names(void);

/* The running jemalloc's version, or NULL if jemalloc is not the process's allocator. */
const char *pb_jemalloc_version(void);

/*
 * One arena per node (1..PB_MAX_NODES nodes). -EINVAL for a bad count, -ENOTSUP when jemalloc
 * is not active (mallctl "version" fails), -ENOMEM.
 */
int pb_jemalloc_ref_create(unsigned nr_nodes, struct pb_jemalloc_ref **out);
void pb_jemalloc_ref_destroy(struct pb_jemalloc_ref *r);

/* Node n's arena index (UINT32_MAX for a bad node). */
unsigned pb_jemalloc_ref_arena(const struct pb_jemalloc_ref *r, unsigned node);

/*
 * 2^order frames of 4 KiB (order 0, 9 or 18), aligned to their size, from node's arena.
 * -EINVAL: bad arguments; -ENOMEM: jemalloc had none.
 */
int pb_jemalloc_ref_alloc(struct pb_jemalloc_ref *r, unsigned node, unsigned order, void **out);
/* Give back an extent of that order. -EINVAL for NULL or a bad order. */
int pb_jemalloc_ref_free(struct pb_jemalloc_ref *r, void *p, unsigned order);

#endif
