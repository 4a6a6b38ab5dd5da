/*
 * topology.h: the machine a run models and the real CPUs it runs on (hwloc).
 *
 * Glossary
 *   real topology     this machine, always loaded from the running system (HWLOC_SYNTHETIC and
 *                     HWLOC_XMLFILE are ignored), the only one threads can be bound through.
 *   virtual topology  what the run models: the real one (`real`), a hwloc synthetic string
 *                     ("pack:4 [numa(memory=1GB)] core:2 pu:1") or an XML file (lstopo -of
 *                     xml). Binding through it would silently do nothing, so it is used only
 *                     for its shape.
 *   vCPU              a PU of the virtual topology. vCPUs are numbered node by node (node 0's
 *                     PUs first, in hwloc logical order), so a node's vCPUs are consecutive.
 *   mapping           vCPU v runs on real PU (v mod nr_real_pus) (logical index): a virtual
 *                     node's threads stay together on consecutive real PUs.
 *   oversubscribed    more vCPUs than real PUs (more than one vCPU per real PU).
 *
 * Threads: loading and freeing belong to one thread; a loaded topology is read-only and any
 * thread may bind itself through it.
 */
#ifndef POPBENCH_BENCH_TOPOLOGY_H
#define POPBENCH_BENCH_TOPOLOGY_H

#include <hwloc.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PB_TOPO_MAX_NODES     64
#define PB_TOPO_MAX_PUS       4096       /* virtual vCPUs: what a run pins and reports on */
#define PB_TOPO_MAX_XML_BYTES (64 << 20) /* an XML file's size, read whole */

struct pb_topo_cpu {
    unsigned node;    /* virtual NUMA node, 0-based */
    unsigned real_pu; /* logical index of the real PU it runs on */
    unsigned real_os; /* that PU's OS index (what sched_getcpu() returns) */
};

struct pb_topology {
    hwloc_topology_t real;
    hwloc_topology_t virt; /* == real when not virtual */
    bool is_virtual;
    char spec[512];           /* "real", the synthetic string, or the XML path */
    char real_desc[512];      /* the real machine as a synthetic string (or a summary) */
    char virt_desc[512];      /* the virtual one likewise */
    unsigned nr_nodes;        /* virtual NUMA nodes, >= 1 */
    unsigned nr_vcpus;        /* virtual PUs, >= 1 */
    unsigned nr_real_pus;     /* real PUs this process may run on */
    struct pb_topo_cpu *cpus; /* nr_vcpus entries */
    unsigned node_first[PB_TOPO_MAX_NODES];  /* first vCPU of each node */
    unsigned node_cpus[PB_TOPO_MAX_NODES];   /* vCPUs of each node (0: a memory-only node) */
    uint64_t node_memory[PB_TOPO_MAX_NODES]; /* bytes, 0 when hwloc does not say */
    hwloc_obj_t *real_pus;                   /* nr_real_pus PUs of the real topology */
};

enum pb_placement {
    PB_PLACE_COMPACT, /* fill node 0's vCPUs, then node 1's, ... */
    PB_PLACE_SCATTER, /* round-robin over the nodes: worker i on node i mod nodes */
};

/*
 * Loads spec ("real", a synthetic string, or a readable XML file). 0, or -EINVAL with a message
 * naming what was wrong (errlen bytes), or -ENOMEM. *t is empty on failure. A virtual topology
 * has at most PB_TOPO_MAX_PUS PUs and PB_TOPO_MAX_NODES nodes; a synthetic one is counted before
 * hwloc builds it, an XML file must be a regular file (never a FIFO or device, which could block
 * or never end) of at most PB_TOPO_MAX_XML_BYTES.
 */
int pb_topology_load(const char *spec, struct pb_topology *t, char *err, size_t errlen);
void pb_topology_free(struct pb_topology *t);

bool pb_topology_oversubscribed(const struct pb_topology *t);

/* Worker i's vCPU under a placement (wraps around when there are more workers than vCPUs). */
unsigned pb_topology_place(const struct pb_topology *t, enum pb_placement p, unsigned i);
/* A vCPU of node (k-th of the node's, wrapping); a memory-only node borrows vCPU k. */
unsigned pb_topology_node_cpu(const struct pb_topology *t, unsigned node, unsigned k);
/*
 * The same counted from the node's last vCPU: where background threads (scrub workers) go, so
 * that they share a PU with the workers, which are placed from the first, only when the node
 * has fewer vCPUs than threads.
 */
unsigned pb_topology_node_cpu_from_end(const struct pb_topology *t, unsigned node, unsigned k);

/* Binds the calling thread to vCPU v's real PU. 0 or a negative errno. */
int pb_topology_bind(const struct pb_topology *t, unsigned vcpu);

/* "compact"/"scatter" -> 0; -EINVAL otherwise. */
int pb_placement_parse(const char *s, enum pb_placement *out);
const char *pb_placement_name(enum pb_placement p);

/* `popbench topology`: what is modelled, the vCPU -> real PU map, the oversubscription. */
void pb_topology_print(const struct pb_topology *t, FILE *out);

#endif
