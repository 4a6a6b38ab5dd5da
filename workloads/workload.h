/*
 * workload.h: a workload file (workloads/NAME.yaml) turned into a struct the harness runs.
 *
 * A workload is data, not code: adding one needs no rebuild. workloads/FORMAT.md describes every
 * key, its type, range, default and meaning; this header describes what the parser hands back.
 *
 * Glossary:
 *   workload      one experiment: a machine, groups of domains, the threads that work on them
 *                 (builders, balloon workers, p2m readers) and the phases that time them.
 *   suite         a file that lists other workloads by name; loading it resolves the names to
 *                 files in the same directory, applies per-entry overrides and flattens nested
 *                 suites into one list of plain workloads (the members).
 *   domain group  `count` identical domains.
 *   pages         4 KiB frames. Every size in the struct is in pages; the file states bytes.
 *
 * Errors: pb_workload_load() returns -EINVAL and writes one message of the form
 * `FILE:LINE:COL: what was found (expected what)`; an error inside a suite member is followed by
 * one `FILE:LINE:COL: note: ...` line per suite that included it.
 *
 * Thread safety: a loaded workload is read-only until pb_workload_free(); any number of threads
 * may read it. Loading and binding are not thread-safe on the same struct.
 */
#ifndef POPBENCH_WORKLOADS_WORKLOAD_H
#define POPBENCH_WORKLOADS_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/options.h"

/* The format's limits, where the model has one, are the model's. */
#define PB_WL_PAGE_SHIFT     PB_PAGE_SHIFT
#define PB_WL_MAX_NODES      PB_MAX_NODES /* node numbers are 0..63: affinity is a 64-bit mask */
#define PB_WL_MAX_DOMAINS    (PB_MAX_DOMAINS - 1) /* domain ids 1.. below the model's limit */
#define PB_WL_MAX_GROUPS     64                   /* domain groups per workload */
#define PB_WL_MAX_SUITE      256                  /* members of a suite, after flattening */
#define PB_WL_MAX_NESTING    8                    /* suites within suites */
#define PB_WL_MAX_FILE_BYTES (1 << 20)
#define PB_WL_MAX_DEPTH      64  /* lists and mappings within each other in a file */
#define PB_WL_MAX_ANCHORS    256 /* YAML anchors (&name) in a file */
/* Threads one workload starts (builders, balloon workers, p2m readers, the recreate thread and
 * scrub workers): as many as the model has per-CPU cache slots and `--threads` allows. */
#define PB_WL_MAX_THREADS 1024
#define PB_WL_NR_ORDERS   3 /* the extent orders a workload mixes: 0, 9 and 18 */
/* The phases' ranges, the same in a workload file and on the command line (popbench run
 * --duration, --warmup, --ops, --repetitions). */
#define PB_WL_MAX_MEASURE_NS  (UINT64_C(24) * 3600 * 1000000000) /* 24h */
#define PB_WL_MAX_WARMUP_NS   (UINT64_C(3600) * 1000000000)      /* 1h */
#define PB_WL_MAX_PHASE_OPS   (UINT64_C(1) << 40)
#define PB_WL_MAX_REPETITIONS 1000

/* The extent order of each slot of the per-order arrays below: 4 KiB, 2 MiB, 1 GiB. */
extern const unsigned pb_wl_orders[PB_WL_NR_ORDERS];

/* Where a value came from in its file, for messages; line 0 = not in the file (a default). */
struct pb_wl_pos {
    uint32_t line, col; /* 1-based */
};

enum pb_wl_kind {
    PB_WL_SINGLE, /* one workload */
    PB_WL_SUITE,  /* a list of members; only name, description, path and members are set */
};

enum pb_wl_backing {
    PB_WL_BACKING_AUTO,    /* aliased; real when verification asks for it (and it fits) */
    PB_WL_BACKING_REAL,    /* every frame is backed by host memory (scrubbing writes it) */
    PB_WL_BACKING_NONE,    /* frame metadata only: scrubbing is counted, not performed */
    PB_WL_BACKING_ALIASED, /* each node's frames alias one buffer larger than the last-level
                              cache: clearing costs what it costs here; contents not verifiable */
};

/* "auto", "real", "none", "aliased" (the file's words): 0, or -EINVAL (*backing unchanged). */
int pb_workload_backing_parse(const char *s, enum pb_wl_backing *backing);

struct pb_wl_machine {
    bool from_topology;      /* nodes and memory come from the harness's topology: zero until
                                pb_workload_bind_machine() fills them in */
    unsigned nodes;          /* 1..PB_WL_MAX_NODES */
    uint64_t pages_per_node; /* every node has the same memory */
    enum pb_wl_backing backing;
    struct pb_wl_pos pos;         /* the `machine` mapping, or line 0 when absent */
    struct pb_wl_pos backing_pos; /* its `backing` value, or line 0 when absent */
};

/* Xen's privilege levels, each with its populate_physmap order limit (domU 9, hardware 12,
 * control 18). */
enum pb_wl_privilege {
    PB_WL_PRIV_DOMU,
    PB_WL_PRIV_CONTROL,
    PB_WL_PRIV_HARDWARE,
};

enum pb_wl_affinity {
    PB_WL_AFFINITY_ALL,   /* every node of the machine */
    PB_WL_AFFINITY_NODES, /* node_mask */
    PB_WL_AFFINITY_VNUMA, /* vnuma_nodes virtual nodes: vnode v is backed by node v % nodes,
                             the memory split in equal gfn ranges */
};

/* How a group's claim is staked. */
enum pb_wl_claim_mode {
    PB_WL_CLAIM_HOST,  /* XENMEM_claim_pages: one host-wide claim */
    PB_WL_CLAIM_NODES, /* per-node claims over the domain's own nodes (pb_workload_claim_split);
                          a host-wide claim of the same total if they cannot be staked */
};

enum pb_wl_start {
    PB_WL_START_BUILD,   /* created during the run through the domain-build path (builders) */
    PB_WL_START_RUNNING, /* created and populated before the first phase, not measured */
};

struct pb_wl_domain_group {
    unsigned count;                   /* domains in the group, >= 1 */
    uint64_t memory_pages;            /* each domain's target: what a build populates */
    uint64_t max_pages;               /* each domain's max_pages, >= memory_pages */
    uint64_t claim_pages;             /* XENMEM_claim_pages argument (total pages), 0 = no claim */
    enum pb_wl_claim_mode claim_mode; /* HOST unless claim_pages; NODES needs own nodes */
    enum pb_wl_affinity affinity;
    uint64_t node_mask;   /* PB_WL_AFFINITY_NODES: bit n = node n; else 0 */
    unsigned vnuma_nodes; /* PB_WL_AFFINITY_VNUMA: 1..PB_WL_MAX_NODES; else 0 */
    enum pb_wl_privilege privilege;
    enum pb_wl_start start;
    /* Positions for messages about the machine (see pb_workload_bind_machine). */
    struct pb_wl_pos pos, memory_pos, claim_pos;
    struct pb_wl_pos node_pos[PB_WL_MAX_NODES]; /* NODES: where node n was named */
};

enum pb_wl_builders_kind {
    PB_WL_BUILDERS_PER_DOMAIN, /* `threads` builder threads for each building domain */
    PB_WL_BUILDERS_POOL,       /* `threads` threads taking whole domains from one queue */
};

/* The builders issue populate_physmap as the toolstack does: with the control domain's order
 * limit, whatever the privilege of the domain they build. */
struct pb_wl_builders {
    enum pb_wl_builders_kind kind;
    unsigned threads; /* PER_DOMAIN: 1..64; POOL: 1..1024 */
};

enum pb_wl_order_mode {
    PB_WL_ORDERS_MIX,     /* each call's order drawn from weight[] */
    PB_WL_ORDERS_MEMINIT, /* toolstack-style: 1 GiB extents where the gfn is 1 GiB aligned and
                             enough is left, then 2 MiB the same way, then 4 KiB batches */
};

struct pb_wl_orders {
    enum pb_wl_order_mode mode;
    double weight[PB_WL_NR_ORDERS];             /* MIX: >= 0, not all 0; MEMINIT: all 0 */
    unsigned extents_per_call[PB_WL_NR_ORDERS]; /* nr_extents of one populate_physmap call */
    struct pb_wl_pos weight_pos[PB_WL_NR_ORDERS];
};

enum pb_wl_preempt {
    PB_WL_PREEMPT_NONE,        /* every call runs to completion */
    PB_WL_PREEMPT_TIMESLICE,   /* preempted once a call has run timeslice_ns */
    PB_WL_PREEMPT_EVERY,       /* preempted after every `every_extents` extents */
    PB_WL_PREEMPT_PROBABILITY, /* each check (before every extent but a call's first) says yes
                                  with `probability` */
};

struct pb_wl_preemption {
    enum pb_wl_preempt kind;
    uint64_t timeslice_ns;  /* TIMESLICE, else 0 */
    unsigned every_extents; /* EVERY, else 0 */
    double probability;     /* PROBABILITY, else 0 */
};

enum pb_wl_balloon_pacing {
    PB_WL_BALLOON_OFF,   /* no balloon churn */
    PB_WL_BALLOON_RATE,  /* `threads` balloon workers, each at pages_per_second */
    PB_WL_BALLOON_RATIO, /* the builders balloon `ratio` pages per page they populate */
};

struct pb_wl_balloon {
    enum pb_wl_balloon_pacing pacing;
    unsigned threads;          /* RATE: 1..256; else 0 */
    uint64_t pages_per_second; /* RATE: per worker, 0 = as fast as possible */
    double ratio;              /* RATIO: (0, 1000] */
    unsigned order;            /* 0, 9 or 18: within every domain's privilege limit */
    unsigned extents_per_call;
    double depth;    /* a domain goes down by this fraction of its memory, then back up */
    bool free_dirty; /* `free: scrub_domheap`: decrease_reservation frees the pages dirty, as Xen
                        does with its scrub_domheap option on (off by default: clean) */
};

struct pb_wl_churn {
    struct pb_wl_balloon balloon;
    double recreate_per_second; /* host-wide domain destroy-and-recreate rate, 0 = never */
};

struct pb_wl_p2m_readers {
    unsigned threads;            /* 0 = none */
    uint64_t lookups_per_second; /* per thread, 0 = as fast as possible */
};

enum pb_wl_scrub_mode {
    PB_WL_SCRUB_ON_ALLOC,   /* the allocating call scrubs dirty pages it takes */
    PB_WL_SCRUB_BACKGROUND, /* scrub workers drain each node's dirty pages */
    PB_WL_SCRUB_NONE,       /* dirty pages handed out unscrubbed: not in the model yet, so the
                               loader refuses it */
};

struct pb_wl_scrub {
    enum pb_wl_scrub_mode mode;
    unsigned workers_per_node; /* BACKGROUND: 1..64; else 0 */
    struct pb_wl_pos pos;      /* workers_per_node, else the `scrub` mapping: for messages */
};

/* The machine's starting state: the heap at the start of each repetition. */
enum pb_wl_heap_state {
    PB_WL_HEAP_CLEAN,      /* all memory free and clean, in the largest buddies (bootscrub=on,
                              or a host whose idle CPUs have scrubbed everything) */
    PB_WL_HEAP_FRAGMENTED, /* aged by ageing_passes seeded passes of anonymous allocations and
                              clean frees; a quarter stays allocated */
    PB_WL_HEAP_DIRTY,      /* dirty_fraction of the free pages need scrubbing */
    PB_WL_HEAP_BOOT_DIRTY, /* Xen's default bootscrub=idle, just booted: every frame is free and
                              dirty (the default) */
    PB_WL_HEAP_USED,       /* a used host: ageing_passes seeded passes of domains built and
                              destroyed, so dirty memory is scattered among clean */
};

struct pb_wl_heap {
    enum pb_wl_heap_state state;
    unsigned ageing_passes; /* FRAGMENTED, USED: 1..64; else 0 */
    double dirty_fraction;  /* DIRTY: (0, 1]; else 0 */
    uint64_t seed;          /* FRAGMENTED, USED, DIRTY: the choices' seed; else 0 */
};

/* "clean", "fragmented", "dirty", "boot-dirty", "used"; NULL outside the enum. */
const char *pb_workload_heap_state_name(enum pb_wl_heap_state state);
/* Whether the state is made by seeded choices (it has a heap.seed). */
bool pb_workload_heap_seeded(enum pb_wl_heap_state state);

enum pb_wl_phase_unit {
    PB_WL_PHASE_TIME,        /* ns */
    PB_WL_PHASE_OPS,         /* ops: populate/decrease calls issued by the workers */
    PB_WL_PHASE_UNTIL_BUILT, /* measure only: until every building domain is built */
};

struct pb_wl_phase {
    enum pb_wl_phase_unit unit;
    uint64_t ns;  /* TIME, else 0 */
    uint64_t ops; /* OPS, else 0 */
};

struct pb_wl_phases {
    struct pb_wl_phase warmup;  /* TIME or OPS; may be 0s (no warm-up) */
    struct pb_wl_phase measure; /* TIME (> 0), OPS (> 0) or UNTIL_BUILT */
    unsigned repetitions;       /* 1..1000: repetition r starts afresh with seed + r */
};

struct pb_workload {
    enum pb_wl_kind kind;
    char *name;        /* the file's stem */
    char *description; /* one line */
    char *path;        /* the file, as it was opened */

    /* PB_WL_SINGLE only. */
    struct pb_wl_machine machine;
    struct pb_wl_domain_group *groups; /* nr_groups >= 1 */
    unsigned nr_groups;
    unsigned nr_domains; /* sum of the groups' counts */
    struct pb_wl_pos domains_pos;
    struct pb_wl_builders builders; /* used when a domain builds or domains are recreated */
    struct pb_wl_orders orders;
    struct pb_wl_preemption preemption;
    struct pb_wl_churn churn;
    struct pb_wl_p2m_readers p2m_readers;
    struct pb_wl_scrub scrub;
    struct pb_wl_heap heap;
    struct pb_wl_phases phases;
    uint64_t seed;
    struct pb_options options; /* `options`: the ones given count as set, the rest are defaults */

    /* PB_WL_SUITE only: the flattened members, overrides applied, each a PB_WL_SINGLE. */
    struct pb_workload *members;
    unsigned nr_members;
};

/*
 * Loads the workload or suite at `path`. On success returns 0 and fills *wl (free it with
 * pb_workload_free). On a bad file returns -EINVAL, writes the message to err (truncated to
 * errlen) and leaves *wl empty; other failures return -ENOMEM or the errno of opening or reading
 * the file, with a message. Only regular files are read (workloads/input.h): a directory is
 * -EISDIR, a FIFO, device or socket -EINVAL, never waited on. Bad arguments (NULL path or wl)
 * return -EINVAL.
 */
int pb_workload_load(const char *path, struct pb_workload *wl, char *err, size_t errlen);

/* Frees what pb_workload_load allocated and empties *wl; NULL and empty workloads are fine. */
void pb_workload_free(struct pb_workload *wl);

/*
 * Gives a workload whose machine is `from: topology` (each member's, for a suite) the harness's
 * machine and checks it as the loader checks a stated one (its size included: 1 to 64 nodes of
 * 1MiB to 16TiB, fewer than PB_MAX_FRAMES frames in all). A stated machine is left alone.
 * Returns 0, or -EINVAL with a message naming the file position at fault and *wl unchanged.
 */
int pb_workload_bind_machine(struct pb_workload *wl, unsigned nodes, uint64_t pages_per_node,
                             char *err, size_t errlen);

/*
 * Resolves what the user typed: a path (it contains '/' or ends in ".yaml") is taken as it is; a
 * bare name becomes DIR/NAME.yaml. Writes the path and returns 0; -ENOENT (the message lists the
 * workloads of DIR), -ENAMETOOLONG, or -EINVAL for a malformed name or bad arguments.
 */
int pb_workload_find(const char *name_or_path, const char *dir, char *path, size_t pathlen,
                     char *err, size_t errlen);

/* One file of a workloads directory, for `popbench list`. */
struct pb_wl_info {
    char *name;        /* the file's stem */
    char *path;        /* DIR/NAME.yaml */
    char *description; /* NULL when the file does not load */
    enum pb_wl_kind kind;
    unsigned nr_members; /* PB_WL_SUITE: members after flattening */
    char *error;         /* the load error, or NULL */
};

/*
 * Loads every DIR/ *.yaml (not hidden files), sorted by name. Returns 0 with a malloc'd array
 * (free it with pb_workload_list_free), or a negative errno when DIR cannot be read.
 */
int pb_workload_list(const char *dir, struct pb_wl_info **infos, size_t *nr);
void pb_workload_list_free(struct pb_wl_info *infos, size_t nr);

/*
 * Prints the resolved workload, every default filled in, in the file format: the output of a
 * PB_WL_SINGLE loads back to the same workload. A suite prints its members one after another as
 * YAML documents. Returns 0 or -EINVAL.
 */
int pb_workload_dump(FILE *out, const struct pb_workload *wl);

/* One node's part of a claim split over a domain's own nodes. */
struct pb_wl_claim_part {
    unsigned node;
    uint64_t pages;
};

/*
 * Splits a claim of `pages` frames (frames beyond what the domain holds, as node claims count
 * them) over the own nodes of a domain of group g on a machine of `nodes` nodes. vNUMA: vnode
 * v's share is pages x (its gfn range's pages / memory), rounded down, and goes to node
 * v mod nodes; a list of nodes: an even split. The rounding remainder goes to the first part
 * (vnode 0's node, or the lowest listed node). Writes one part per node that gets pages, in
 * ascending node order, and returns how many; -EINVAL when g has no nodes of its own (affinity
 * all), names a node >= nodes, or an argument is bad.
 */
int pb_workload_claim_split(const struct pb_wl_domain_group *g, unsigned nodes, uint64_t pages,
                            struct pb_wl_claim_part parts[PB_WL_MAX_NODES]);

/* Sum over the (members') repetitions of the timed warm-up and measure phases; ops-bounded and
 * until-built phases count 0. */
uint64_t pb_workload_timed_ns(const struct pb_workload *wl);

/*
 * Size and duration strings, shared with the command line: an unsigned decimal integer, optional
 * spaces, and a unit. Sizes: B, KiB, MiB, GiB, TiB, pages (4 KiB frames). Durations: ns, us, ms,
 * s, m, h. Fractions, signs and missing units are errors. Return 0, or -EINVAL with a message
 * saying what was found and what was expected (no file position).
 */
int pb_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen);
int pb_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen);

/* The exact value in the largest unit that divides it ("4GiB", "1500ms", "0s"); return 0, or
 * -EINVAL when buf is NULL or too small. */
int pb_format_size(uint64_t bytes, char *buf, size_t len);
int pb_format_duration(uint64_t ns, char *buf, size_t len);

#endif
