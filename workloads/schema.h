/*
 * schema.h: the parts of the workload schema, shared by the files that read, check and print
 * them (internal to workloads/).
 *
 *   machine.c   machine, domain groups and their affinity, the checks against the machine
 *   schema.c    builders, orders, preemption, churn, readers, scrub, heap, phases, the thread
 *               budget and the checks between sections
 *   suite.c     suite entries, their overrides, cycles
 *   load.c      a file: its document, the top level, name and description
 *   dump.c      the resolved workload back in the file format
 */
#ifndef POPBENCH_WORKLOADS_SCHEMA_H
#define POPBENCH_WORKLOADS_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "workloads/reader.h"
#include "workloads/workload.h"

/* The top-level keys, in the order messages list them. */
enum wl_root_key {
    WL_NAME,
    WL_DESCRIPTION,
    WL_MACHINE,
    WL_DOMAINS,
    WL_BUILDERS,
    WL_ORDERS,
    WL_EXTENTS,
    WL_PREEMPTION,
    WL_CHURN,
    WL_READERS,
    WL_SCRUB,
    WL_HEAP,
    WL_PHASES,
    WL_SEED,
    WL_SUITE,
    WL_OPTIONS,
    WL_NR_ROOT_KEYS
};

/* What the checks between sections point at: the nodes that gave each value (NULL: a default). */
struct wl_marks {
    yaml_node_t *builders, *orders, *extents, *privilege[PB_WL_MAX_GROUPS];
    yaml_node_t *count[PB_WL_MAX_GROUPS];
    yaml_node_t *balloon_order, *balloon_ratio, *balloon_depth, *measure;
    yaml_node_t *builder_threads, *balloon_threads, *reader_threads, *scrub_workers;
};

/* Names of the choices, indexed by their enums. */
extern const char *const wl_privilege_names[3];
extern const char *const wl_start_names[2];
extern const char *const wl_claim_mode_names[2];
extern const char *const wl_backing_names[4];
extern const char *const wl_scrub_names[3];
extern const char *const wl_heap_names[5];
extern const char *const wl_order_keys[PB_WL_NR_ORDERS]; /* "0", "9", "18" */

/* machine.c */
int wl_parse_machine(struct wl_parser *p, yaml_node_t *n, struct pb_wl_machine *m);
int wl_parse_domains(struct wl_parser *p, yaml_node_t *n, struct pb_workload *wl,
                     struct wl_marks *marks);
/* The checks that need the machine: at load for a stated one, at bind for the topology's. They
 * use only what the struct keeps, since the document is gone by bind time. */
int wl_check_machine(const struct pb_workload *wl, unsigned nodes, uint64_t pages_per_node,
                     char *err, size_t errlen);

/* schema.c */
/* Every section of a single workload but name and description, from the top-level values. */
int wl_parse_single(struct wl_parser *p, yaml_node_t *root, yaml_node_t *const *v,
                    yaml_node_t *const *k, struct pb_workload *wl);
/* Domains that the builders build (start: build). */
unsigned wl_building_domains(const struct pb_workload *wl);
/* Whether the workload builds anything: a domain with start: build, or recreate churn. */
bool wl_builds(const struct pb_workload *wl);
/* until-built needs something to build; `at` is the measure value at fault. */
int wl_check_measure(struct wl_parser *p, const struct pb_workload *wl, yaml_node_t *at,
                     const char *path);
/* The threads the workload starts on a machine of `nodes` nodes (0: not known yet, without
 * scrub workers): builders, balloon workers, p2m readers, the recreate thread, scrub workers. */
unsigned wl_threads(const struct pb_workload *wl, unsigned nodes);

/* suite.c */
int wl_parse_suite(struct wl_parser *p, yaml_node_t *list, struct pb_workload *wl);

/* load.c */
/* Loads one file into *wl (emptied first); chain holds the files that include it. */
int wl_load_file(const char *path, struct pb_workload *wl, struct wl_chain *chain, char *err,
                 size_t errlen);

#endif
