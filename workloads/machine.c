/*
 * machine.c: the host a workload models and the domain groups that live on it: parsing, the
 * checks against the machine (at load for a stated machine, at bind for the topology's), and
 * the split of a node claim.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/domain.h"
#include "core/heap.h"
#include "core/pb.h"
#include "workloads/reader.h"
#include "workloads/schema.h"

/* The model's limits are the format's (workload.h defines them from the core headers). */
_Static_assert(PB_WL_MAX_NODES == PB_MAX_NODES, "a workload's nodes are the model's");
_Static_assert(WL_MAX_PAGES <= PB_MAX_FRAMES, "a node the format allows fits the frame table");
_Static_assert(PB_WL_MAX_NODES <= 64, "affinity is a 64-bit mask");

/* ---------------------------------------------------------------------------------------------
 * machine
 */

/* Frame numbers are 32-bit in the model (PB_MAX_FRAMES); a machine must have fewer frames. */
static bool machine_fits(unsigned nodes, uint64_t pages_per_node)
{
    return nodes >= 1 && nodes <= PB_WL_MAX_NODES && pages_per_node >= WL_MIB_PAGES &&
           pages_per_node <= WL_MAX_PAGES && (uint64_t)nodes * pages_per_node < PB_MAX_FRAMES;
}

int wl_parse_machine(struct wl_parser *p, yaml_node_t *n, struct pb_wl_machine *m)
{
    static const char *const keys[] = {"from", "nodes", "memory_per_node", "backing"};
    enum { FROM, NODES, MEMORY, BACKING, NKEYS };
    static const char *const from_names[] = {"topology"};
    const char *either = "either from: topology or nodes and memory_per_node";
    yaml_node_t *v[NKEYS], *k[NKEYS];
    unsigned idx;
    int rc;

    m->from_topology = true;
    m->backing = PB_WL_BACKING_AUTO;
    if (!n)
        return 0;
    m->pos = wl_pos_of(n);
    if ((rc = wl_map_fields(p, n, "machine", keys, NKEYS, v, k)))
        return rc;
    if (v[FROM]) {
        if ((rc = wl_get_choice(p, v[FROM], "machine.from", from_names, 1, &idx)))
            return rc;
        if (v[NODES])
            return wl_conflict(p, k[FROM], k[NODES], "machine", either);
        if (v[MEMORY])
            return wl_conflict(p, k[FROM], k[MEMORY], "machine", either);
    } else {
        m->from_topology = false;
        if (!v[NODES])
            return wl_missing(p, n, "machine", "nodes",
                              "the number of NUMA nodes, or from: topology");
        if (!v[MEMORY])
            return wl_missing(p, n, "machine", "memory_per_node", "a size such as 4GiB");
        if ((rc = wl_get_unsigned(p, v[NODES], "machine.nodes", 1, PB_WL_MAX_NODES, &m->nodes)) ||
            (rc = wl_get_pages(p, v[MEMORY], "machine.memory_per_node", WL_MIB_PAGES, WL_MAX_PAGES,
                               &m->pages_per_node)))
            return rc;
        if (!machine_fits(m->nodes, m->pages_per_node))
            return WL_FAIL(p, v[MEMORY],
                           "'machine.memory_per_node' is %s, making %s on %u node%s (expected "
                           "less than %s in all: the model numbers frames in 32 bits)",
                           wl_describe(v[MEMORY]).s,
                           wl_pages_str((uint64_t)m->nodes * m->pages_per_node).s, m->nodes,
                           m->nodes == 1 ? "" : "s", wl_pages_str(PB_MAX_FRAMES).s);
    }
    if (v[BACKING]) {
        if ((rc = wl_get_choice(p, v[BACKING], "machine.backing", wl_backing_names, 4, &idx)))
            return rc;
        m->backing = (enum pb_wl_backing)idx;
        m->backing_pos = wl_pos_of(v[BACKING]);
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * domains
 */

static int parse_node_list(struct wl_parser *p, yaml_node_t *n, const char *path,
                           struct pb_wl_domain_group *g)
{
    char item[112];
    unsigned i = 0;
    int rc;

    if (n->data.sequence.items.start == n->data.sequence.items.top)
        return WL_FAIL(p, n, "'%s' is an empty list (expected at least one node)", path);
    g->affinity = PB_WL_AFFINITY_NODES;
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *e = wl_node_at(p, *it);
        unsigned node;

        snprintf(item, sizeof(item), "%s[%u]", path, i);
        if ((rc = wl_get_unsigned(p, e, item, 0, PB_WL_MAX_NODES - 1, &node)))
            return rc;
        if (g->node_mask & (UINT64_C(1) << node))
            return WL_FAIL(p, e,
                           "'%s' is '%u', already listed at %" PRIu32 ":%" PRIu32
                           " (expected each node once)",
                           item, node, g->node_pos[node].line, g->node_pos[node].col);
        g->node_mask |= UINT64_C(1) << node;
        g->node_pos[node] = wl_pos_of(e);
    }
    return 0;
}

static int parse_affinity(struct wl_parser *p, yaml_node_t *n, const char *path,
                          struct pb_wl_domain_group *g)
{
    static const char *const keys[] = {"vnuma"};
    yaml_node_t *v[1], *k[1];
    int rc;

    if (wl_text_is(n, "all")) {
        g->affinity = PB_WL_AFFINITY_ALL;
        return 0;
    }
    if (n->type == YAML_SEQUENCE_NODE)
        return parse_node_list(p, n, path, g);
    if (n->type != YAML_MAPPING_NODE)
        return WL_FAIL(p, n,
                       "'%s' is %s (expected all, a list of nodes such as [0, 1], or vnuma: N)",
                       path, wl_describe(n).s);
    if ((rc = wl_map_fields(p, n, path, keys, 1, v, k)))
        return rc;
    if (!v[0])
        return wl_missing(p, n, path, "vnuma", "the number of virtual NUMA nodes");
    if ((rc = wl_get_unsigned(p, v[0], wl_key(path, "vnuma").s, 1, PB_WL_MAX_NODES,
                              &g->vnuma_nodes)))
        return rc;
    if (g->memory_pages < g->vnuma_nodes)
        return WL_FAIL(p, v[0], "'%s' is %s (expected at most one vnode per page of memory)",
                       wl_key(path, "vnuma").s, wl_describe(v[0]).s);
    g->affinity = PB_WL_AFFINITY_VNUMA;
    return 0;
}

static int parse_claim(struct wl_parser *p, yaml_node_t *n, const char *path,
                       struct pb_wl_domain_group *g)
{
    const struct wl_str item = wl_key(path, "claim");
    int rc;

    if (wl_text_is(n, "none"))
        return 0;
    if (!wl_is_text(n))
        return WL_FAIL(p, n, "'%s' is %s (expected a size such as 512MiB, or none)", item.s,
                       wl_describe(n).s);
    if ((rc = wl_get_pages(p, n, item.s, 1, WL_MAX_PAGES, &g->claim_pages)))
        return rc;
    g->claim_pos = wl_pos_of(n);
    if (g->claim_pages > g->max_pages)
        return WL_FAIL(p, n, "'%s' is %s, more than max_memory (expected at most %s)", item.s,
                       wl_describe(n).s, wl_pages_str(g->max_pages).s);
    if (g->start == PB_WL_START_RUNNING && g->claim_pages <= g->memory_pages)
        return WL_FAIL(p, n,
                       "'%s' is %s, no more than the running domain has (expected more "
                       "than memory, %s: a claim counts the pages already held)",
                       item.s, wl_describe(n).s, wl_pages_str(g->memory_pages).s);
    return 0;
}

static int parse_group(struct wl_parser *p, yaml_node_t *n, unsigned index,
                       struct pb_wl_domain_group *g, struct wl_marks *marks)
{
    static const char *const keys[] = {"count",      "memory",   "max_memory", "claim",
                                       "claim_mode", "affinity", "privilege",  "start"};
    enum { COUNT, MEMORY, MAX, CLAIM, CLAIM_MODE, AFFINITY, PRIV, START, NKEYS };
    yaml_node_t *v[NKEYS], *k[NKEYS];
    char path[48];
    unsigned idx = 0;
    int rc;

    snprintf(path, sizeof(path), "domains[%u]", index);
    g->pos = wl_pos_of(n);
    if ((rc = wl_map_fields(p, n, path, keys, NKEYS, v, k)))
        return rc;
    g->count = 1;
    marks->count[index] = v[COUNT];
    if (v[COUNT] && (rc = wl_get_unsigned(p, v[COUNT], wl_key(path, "count").s, 1,
                                          PB_WL_MAX_DOMAINS, &g->count)))
        return rc;
    if (!v[MEMORY])
        return wl_missing(p, n, path, "memory", "a size such as 512MiB");
    if ((rc = wl_get_pages(p, v[MEMORY], wl_key(path, "memory").s, 1, WL_MAX_PAGES,
                           &g->memory_pages)))
        return rc;
    g->memory_pos = wl_pos_of(v[MEMORY]);
    g->max_pages = g->memory_pages;
    if (v[MAX]) {
        if ((rc = wl_get_pages(p, v[MAX], wl_key(path, "max_memory").s, 1, WL_MAX_PAGES,
                               &g->max_pages)))
            return rc;
        if (g->max_pages < g->memory_pages)
            return WL_FAIL(p, v[MAX], "'%s' is %s (expected at least memory, %s)",
                           wl_key(path, "max_memory").s, wl_describe(v[MAX]).s,
                           wl_pages_str(g->memory_pages).s);
    }
    g->start = PB_WL_START_BUILD;
    if (v[START]) {
        if ((rc = wl_get_choice(p, v[START], wl_key(path, "start").s, wl_start_names, 2, &idx)))
            return rc;
        g->start = (enum pb_wl_start)idx;
    }
    if (v[CLAIM] && (rc = parse_claim(p, v[CLAIM], path, g)))
        return rc;
    g->privilege = PB_WL_PRIV_DOMU;
    if (v[PRIV]) {
        if ((rc = wl_get_choice(p, v[PRIV], wl_key(path, "privilege").s, wl_privilege_names, 3,
                                &idx)))
            return rc;
        g->privilege = (enum pb_wl_privilege)idx;
    }
    marks->privilege[index] = v[PRIV];
    g->affinity = PB_WL_AFFINITY_ALL;
    if (v[AFFINITY] && (rc = parse_affinity(p, v[AFFINITY], wl_key(path, "affinity").s, g)))
        return rc;
    g->claim_mode = PB_WL_CLAIM_HOST;
    if (v[CLAIM_MODE]) {
        if (!g->claim_pages)
            return WL_FAIL(p, k[CLAIM_MODE],
                           "key 'claim_mode' in '%s' has no effect: the group has no claim "
                           "(expected it only with a claim)",
                           path);
        if ((rc = wl_get_choice(p, v[CLAIM_MODE], wl_key(path, "claim_mode").s, wl_claim_mode_names,
                                2, &idx)))
            return rc;
        g->claim_mode = (enum pb_wl_claim_mode)idx;
        if (g->claim_mode == PB_WL_CLAIM_NODES && g->affinity == PB_WL_AFFINITY_ALL)
            return WL_FAIL(p, v[CLAIM_MODE],
                           "'%s' is 'nodes' but the group's affinity is all, no nodes of its own "
                           "(expected host, or an affinity that is a list of nodes or vnuma: N)",
                           wl_key(path, "claim_mode").s);
    }
    return 0;
}

int wl_parse_domains(struct wl_parser *p, yaml_node_t *n, struct pb_workload *wl,
                     struct wl_marks *marks)
{
    size_t count;
    unsigned i = 0, hardware = 0;
    int rc;

    if (n->type != YAML_SEQUENCE_NODE)
        return WL_FAIL(p, n, "'domains' is %s (expected a list of domain groups)",
                       wl_describe(n).s);
    count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (count == 0 || count > PB_WL_MAX_GROUPS)
        return WL_FAIL(p, n, "'domains' has %zu groups (expected 1 to %d)", count,
                       PB_WL_MAX_GROUPS);
    wl->domains_pos = wl_pos_of(n);
    wl->groups = calloc(count, sizeof(*wl->groups));
    if (!wl->groups)
        return wl_oom(p->err, p->errlen, p->file);
    for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
         it++, i++) {
        struct pb_wl_domain_group *g = &wl->groups[i];
        yaml_node_t *e = wl_node_at(p, *it);

        wl->nr_groups = i + 1;
        if ((rc = parse_group(p, e, i, g, marks)))
            return rc;
        if (wl->nr_domains + g->count > PB_WL_MAX_DOMAINS)
            return WL_FAIL(p, marks->count[i] ? marks->count[i] : e,
                           "'domains[%u]' brings the domains to %u (expected at most %d: the "
                           "model's domain ids)",
                           i, wl->nr_domains + g->count, PB_WL_MAX_DOMAINS);
        wl->nr_domains += g->count;
        if (g->privilege == PB_WL_PRIV_HARDWARE) {
            hardware += g->count;
            if (hardware > 1)
                return WL_FAIL(p, marks->privilege[i],
                               "'domains[%u].privilege' is 'hardware', making %u hardware "
                               "domains (expected at most one)",
                               i, hardware);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Checks against the machine
 */

/* Where a message about the machine points: the `machine` mapping, or the top of the file. */
static struct pb_wl_pos machine_pos(const struct pb_workload *wl)
{
    return wl->machine.pos.line ? wl->machine.pos : (struct pb_wl_pos){1, 1};
}

/* The topology's machine, which the file could not state: the same limits as a stated one. */
static int check_topology_machine(const struct pb_workload *wl, unsigned nodes,
                                  uint64_t pages_per_node, char *err, size_t errlen)
{
    unsigned threads;

    if (!machine_fits(nodes, pages_per_node))
        return wl_fail_at(err, errlen, wl->path, machine_pos(wl),
                          "the machine comes from the topology (--topology): %u node%s of %s "
                          "(expected 1 to %d nodes of %s to %s, less than %s in all: give "
                          "--topology NUMA nodes with memory, e.g. [numa(memory=4GiB)], or "
                          "state machine.nodes and machine.memory_per_node)",
                          nodes, nodes == 1 ? "" : "s", wl_pages_str(pages_per_node).s,
                          PB_WL_MAX_NODES, wl_pages_str(WL_MIB_PAGES).s,
                          wl_pages_str(WL_MAX_PAGES).s, wl_pages_str(PB_MAX_FRAMES).s);
    threads = wl_threads(wl, nodes);
    if (threads > PB_WL_MAX_THREADS)
        return wl_fail_at(err, errlen, wl->path, wl->scrub.pos,
                          "%u scrub workers on the topology's %u nodes make %u threads in all "
                          "(expected at most %d: fewer scrub.workers_per_node)",
                          wl->scrub.workers_per_node * nodes, nodes, threads, PB_WL_MAX_THREADS);
    return 0;
}

int wl_check_machine(const struct pb_workload *wl, unsigned nodes, uint64_t pages_per_node,
                     char *err, size_t errlen)
{
    const uint64_t total = (uint64_t)nodes * pages_per_node;
    uint64_t need = 0;
    int rc;

    if (wl->machine.from_topology &&
        (rc = check_topology_machine(wl, nodes, pages_per_node, err, errlen)))
        return rc;
    for (unsigned i = 0; i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];

        need += (uint64_t)g->count * g->memory_pages;
        if (g->affinity == PB_WL_AFFINITY_NODES && nodes < 64 && (g->node_mask >> nodes)) {
            unsigned n = (unsigned)__builtin_ctzll(g->node_mask >> nodes) + nodes;
            return wl_fail_at(err, errlen, wl->path, g->node_pos[n],
                              "'domains[%u].affinity' names node %u (expected a node from 0 to "
                              "%u: the machine has %u node%s)",
                              i, n, nodes - 1, nodes, nodes == 1 ? "" : "s");
        }
        if (g->claim_pages > total)
            return wl_fail_at(err, errlen, wl->path, g->claim_pos,
                              "'domains[%u].claim' is %s, more than the machine's memory "
                              "(expected at most %s)",
                              i, wl_pages_str(g->claim_pages).s, wl_pages_str(total).s);
    }
    if (need > total)
        return wl_fail_at(err, errlen, wl->path, wl->domains_pos,
                          "the domains need %s in all, more than the machine's memory (expected "
                          "at most %s: %u node%s of %s)",
                          wl_pages_str(need).s, wl_pages_str(total).s, nodes, nodes == 1 ? "" : "s",
                          wl_pages_str(pages_per_node).s);
    for (int o = 0; wl->orders.mode == PB_WL_ORDERS_MIX && o < PB_WL_NR_ORDERS; o++)
        if (wl->orders.weight[o] > 0 && (UINT64_C(1) << pb_wl_orders[o]) > pages_per_node)
            return wl_fail_at(err, errlen, wl->path, wl->orders.weight_pos[o],
                              "'orders.%u' is %g but a node has %s, less than one order-%u "
                              "extent (expected 0: a buddy never crosses nodes)",
                              pb_wl_orders[o], wl->orders.weight[o], wl_pages_str(pages_per_node).s,
                              pb_wl_orders[o]);
    return 0;
}

int pb_workload_bind_machine(struct pb_workload *wl, unsigned nodes, uint64_t pages_per_node,
                             char *err, size_t errlen)
{
    struct pb_workload *m;
    unsigned nr;
    int rc;

    if (!wl) {
        pb_errf(err, errlen, "no workload to bind a machine to");
        return -EINVAL;
    }
    m = wl->kind == PB_WL_SUITE ? wl->members : wl;
    nr = wl->kind == PB_WL_SUITE ? wl->nr_members : 1;
    /* Check everything before changing anything. */
    for (unsigned i = 0; i < nr; i++)
        if (m[i].machine.from_topology &&
            (rc = wl_check_machine(&m[i], nodes, pages_per_node, err, errlen)))
            return rc;
    for (unsigned i = 0; i < nr; i++)
        if (m[i].machine.from_topology) {
            m[i].machine.nodes = nodes;
            m[i].machine.pages_per_node = pages_per_node;
        }
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Node claims
 */

int pb_workload_claim_split(const struct pb_wl_domain_group *g, unsigned nodes, uint64_t pages,
                            struct pb_wl_claim_part parts[PB_WL_MAX_NODES])
{
    uint64_t share[PB_WL_MAX_NODES] = {0};
    int nr = 0;

    if (!g || !parts || nodes == 0 || nodes > PB_WL_MAX_NODES)
        return -EINVAL;
    if (g->affinity == PB_WL_AFFINITY_VNUMA) {
        const unsigned vn = g->vnuma_nodes;
        uint64_t per, given = 0;

        if (vn == 0 || vn > PB_WL_MAX_NODES || g->memory_pages < vn)
            return -EINVAL;
        /* The ranges of call_mem_flags in bench/runner.c: the last vnode takes the rest. */
        per = g->memory_pages / vn;
        for (unsigned v = 0; v < vn; v++) {
            uint64_t range = v + 1 < vn ? per : g->memory_pages - per * (vn - 1);
            uint64_t s = (uint64_t)((unsigned __int128)pages * range / g->memory_pages);
            share[v % nodes] += s;
            given += s;
        }
        share[0] += pages - given;
    } else if (g->affinity == PB_WL_AFFINITY_NODES) {
        const uint64_t mask = g->node_mask;
        unsigned count, first;

        if (!mask || (nodes < 64 && (mask >> nodes)))
            return -EINVAL;
        count = (unsigned)__builtin_popcountll(mask);
        first = (unsigned)__builtin_ctzll(mask);
        for (unsigned n = 0; n < nodes; n++)
            if (mask & (UINT64_C(1) << n))
                share[n] = pages / count;
        share[first] += pages % count;
    } else {
        return -EINVAL;
    }
    for (unsigned n = 0; n < nodes; n++)
        if (share[n])
            parts[nr++] = (struct pb_wl_claim_part){.node = n, .pages = share[n]};
    return nr;
}
