/*
 * suite.c: a suite's entries, resolved to files of its own directory, loaded (suites within
 * suites flattened), their overrides applied; cycles and the nesting and size limits refused.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pb.h"
#include "workloads/reader.h"
#include "workloads/schema.h"

/* An entry's replacements for its workload's values; a NULL node: not replaced. */
struct wl_override {
    yaml_node_t *warmup, *measure, *repetitions, *seed;
    struct pb_wl_phase warmup_v, measure_v;
    unsigned repetitions_v;
    uint64_t seed_v;
};

static int apply_override(struct wl_parser *p, const struct wl_override *ov, const char *path,
                          struct pb_workload *m)
{
    if (ov->warmup)
        m->phases.warmup = ov->warmup_v;
    if (ov->measure)
        m->phases.measure = ov->measure_v;
    if (ov->repetitions)
        m->phases.repetitions = ov->repetitions_v;
    if (ov->seed) {
        if (pb_workload_heap_seeded(m->heap.state) && m->heap.seed == m->seed)
            m->heap.seed = ov->seed_v; /* it was following the workload's seed */
        m->seed = ov->seed_v;
    }
    return ov->measure ? wl_check_measure(p, m, ov->measure, wl_key(path, "measure").s) : 0;
}

static int parse_entry(struct wl_parser *p, yaml_node_t *e, const char *path, yaml_node_t **name,
                       struct wl_override *ov)
{
    static const char *const keys[] = {"workload", "warmup", "measure", "repetitions", "seed"};
    yaml_node_t *v[5], *k[5];
    int rc;

    memset(ov, 0, sizeof(*ov));
    if (e->type == YAML_SCALAR_NODE) {
        *name = e;
    } else if (e->type == YAML_MAPPING_NODE) {
        if ((rc = wl_map_fields(p, e, path, keys, 5, v, k)))
            return rc;
        if (!v[0])
            return wl_missing(p, e, path, "workload", "the name of a workload");
        *name = v[0];
        ov->warmup = v[1];
        ov->measure = v[2];
        ov->repetitions = v[3];
        ov->seed = v[4];
        if ((v[1] &&
             (rc = wl_get_phase(p, v[1], wl_key(path, "warmup").s, false, &ov->warmup_v))) ||
            (v[2] &&
             (rc = wl_get_phase(p, v[2], wl_key(path, "measure").s, true, &ov->measure_v))) ||
            (v[3] && (rc = wl_get_unsigned(p, v[3], wl_key(path, "repetitions").s, 1,
                                           PB_WL_MAX_REPETITIONS, &ov->repetitions_v))) ||
            (v[4] &&
             (rc = wl_get_uint(p, v[4], wl_key(path, "seed").s, 0, UINT64_MAX, &ov->seed_v))))
            return rc;
    } else {
        return WL_FAIL(p, e, "'%s' is %s (expected a workload name, or a mapping with workload)",
                       path, wl_describe(e).s);
    }
    if (!wl_is_text(*name) || !wl_valid_name(wl_sval(*name)))
        return WL_FAIL(p, *name,
                       "'%s' is %s (expected a workload name: letters, digits, '-', '_' and '.')",
                       path, wl_describe(*name).s);
    return 0;
}

/* A member that is a file being loaded (this suite or one that includes it) closes a cycle. */
static int check_cycle(struct wl_parser *p, yaml_node_t *name, const char *path, const char *member)
{
    char *real = realpath(member, NULL);
    int rc = 0;

    if (!real)
        return WL_FAIL(p, name, "'%s' is %s (expected a workload of this directory: no %s)", path,
                       wl_describe(name).s, member);
    for (unsigned c = 0; c < p->chain->depth; c++) {
        char cycle[512] = "";

        if (strcmp(p->chain->real[c], real) != 0)
            continue;
        for (unsigned d = c; d < p->chain->depth; d++) {
            char *stem = wl_file_stem(p->chain->real[d]);
            wl_msg_append(cycle, sizeof(cycle), "%s -> ", stem ? stem : "?");
            free(stem);
        }
        wl_msg_append(cycle, sizeof(cycle), "%s", wl_sval(name));
        rc = WL_FAIL(p, name,
                     "'%s' is %s, which closes a cycle %s (expected a workload that does not "
                     "include this suite)",
                     path, wl_describe(name).s, cycle);
        break;
    }
    free(real);
    return rc;
}

static int add_member(struct pb_workload *suite, struct pb_workload *m)
{
    struct pb_workload *grown =
        realloc(suite->members, (suite->nr_members + 1) * sizeof(*suite->members));

    if (!grown)
        return -ENOMEM;
    suite->members = grown;
    suite->members[suite->nr_members++] = *m;
    memset(m, 0, sizeof(*m));
    return 0;
}

/* Appends what entry `path` loaded (a workload, or an inner suite's members), overridden. */
static int add_loaded(struct wl_parser *p, struct pb_workload *wl, struct pb_workload *loaded,
                      const struct wl_override *ov, yaml_node_t *name, const char *path)
{
    const bool single = loaded->kind == PB_WL_SINGLE;
    struct pb_workload *m = single ? loaded : loaded->members;
    const unsigned nr = single ? 1 : loaded->nr_members;
    int rc;

    for (unsigned j = 0; j < nr; j++) {
        if ((rc = apply_override(p, ov, path, &m[j])))
            return rc;
        if (wl->nr_members >= PB_WL_MAX_SUITE)
            return WL_FAIL(
                p, name, "'%s' is %s, %s (expected at most %d)", path, wl_describe(name).s,
                single ? "one member too many" : "which makes too many members", PB_WL_MAX_SUITE);
        if (add_member(wl, &m[j]))
            return wl_oom(p->err, p->errlen, p->file);
    }
    return 0;
}

int wl_parse_suite(struct wl_parser *p, yaml_node_t *list, struct pb_workload *wl)
{
    const char *slash = strrchr(p->file, '/');
    const int dirlen = slash ? (int)(slash - p->file) : 1;
    const char *dir = slash ? p->file : ".";
    unsigned i = 0;
    int rc;

    if (list->type != YAML_SEQUENCE_NODE ||
        list->data.sequence.items.start == list->data.sequence.items.top)
        return WL_FAIL(p, list, "'suite' is %s (expected a list of at least one workload name)",
                       list->type == YAML_SEQUENCE_NODE ? "an empty list" : wl_describe(list).s);
    for (yaml_node_item_t *it = list->data.sequence.items.start; it < list->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *e = wl_node_at(p, *it), *name = NULL;
        struct pb_workload m = {0};
        struct wl_override ov;
        char path[32], member[PATH_MAX];

        snprintf(path, sizeof(path), "suite[%u]", i);
        if ((rc = parse_entry(p, e, path, &name, &ov)))
            return rc;
        if (snprintf(member, sizeof(member), "%.*s/%s.yaml", dirlen, dir, wl_sval(name)) >=
            (int)sizeof(member))
            return WL_FAIL(p, name,
                           "'%s' makes a path longer than %d bytes (expected a shorter one)", path,
                           PATH_MAX);
        if ((rc = check_cycle(p, name, path, member)))
            return rc;
        if ((rc = wl_load_file(member, &m, p->chain, p->err, p->errlen))) {
            struct pb_wl_pos at = wl_pos_of(name);
            pb_workload_free(&m);
            wl_msg_append(p->err, p->errlen,
                          "\n%s:%" PRIu32 ":%" PRIu32 ": note: included from suite '%s'", p->file,
                          at.line, at.col, wl->name);
            return rc;
        }
        rc = add_loaded(p, wl, &m, &ov, name, path);
        pb_workload_free(&m);
        if (rc)
            return rc;
    }
    return 0;
}
