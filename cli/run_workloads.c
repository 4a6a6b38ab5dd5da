/*
 * run_workloads.c: what `popbench run` (and `popbench calibrate`) run and what their results
 * document says of it before the first run: the workloads loaded (suites flattened, repeats
 * named apart, machines bound), the checks and the host measurement made once before any run,
 * and the document's context (the environment, the loop's settings, a copied calibration).
 */
#include "cli/run.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "pb_git_commit.h" /* generated: POPBENCH_GIT_COMMIT */

#ifndef POPBENCH_BUILD_TYPE
#define POPBENCH_BUILD_TYPE "unknown"
#endif
#ifndef POPBENCH_CFLAGS
#define POPBENCH_CFLAGS ""
#endif
#ifndef POPBENCH_HWLOC_VERSION
#define POPBENCH_HWLOC_VERSION "unknown"
#endif
#ifndef POPBENCH_URCU_VERSION
#define POPBENCH_URCU_VERSION "unknown"
#endif

#define ERR_LEN 2048

void pb_run_workloads_free(struct pb_run_workloads *s)
{
    for (size_t i = 0; i < s->nr_loaded; i++)
        pb_workload_free(&s->loaded[i]);
    free(s->loaded);
    free(s->runs);
    memset(s, 0, sizeof(*s));
}

/*
 * A workload that runs more than once (`run w w`, or twice in a suite, perhaps with other
 * phases or seeds) would give entries of the same name: its k-th run from the second on is
 * named NAME#k ('#' is never in a workload's own name), so that every run measured is kept.
 */
static int name_repeats(struct pb_run_workloads *set)
{
    for (size_t i = 1; i < set->nr_runs; i++) {
        unsigned seen = 1;
        for (size_t j = 0; j < i; j++)
            seen += strcmp(set->runs[j]->name, set->runs[i]->name) == 0;
        if (seen == 1)
            continue;
        struct pb_workload *w = (struct pb_workload *)set->runs[i];
        char *name;
        if (asprintf(&name, "%s#%u", w->name, seen) < 0)
            return -ENOMEM;
        free(w->name);
        w->name = name;
    }
    return 0;
}

/* The workloads directory must be one before names are looked up in it. */
static int check_workloads_dir(const char *cmd, const char *dir, char **names, int n)
{
    static char *deflt[] = {"default"};
    struct stat st;
    bool by_name = n == 0;
    for (int i = 0; i < n; i++)
        by_name |= !strchr(names[i], '/') && !strstr(names[i], ".yaml");
    if (!by_name || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    pb_cli_error(cmd,
                 "--workloads-dir: '%s'%s (expected the directory to look '%s' up in; the "
                 "default is the source tree's workloads/)",
                 dir, stat(dir, &st) == 0 ? " is not a directory" : ": No such directory",
                 n ? names[0] : deflt[0]);
    return -ENOENT;
}

int pb_run_load_workloads(const char *cmd, const char *dir, char **names, int n,
                          const struct pb_topology *topo, struct pb_run_workloads *set)
{
    char path[PATH_MAX], err[ERR_LEN];
    static char *deflt[] = {"default"};

    memset(set, 0, sizeof(*set));
    if (check_workloads_dir(cmd, dir, names, n))
        return -ENOENT;
    if (n == 0) {
        names = deflt;
        n = 1;
    }
    set->loaded = calloc((size_t)n, sizeof(*set->loaded));
    if (!set->loaded)
        return -ENOMEM;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int rc = pb_workload_find(names[i], dir, path, sizeof(path), err, sizeof(err));
        if (rc) {
            fprintf(stderr, "popbench %s: %s\n", cmd, err);
            return rc;
        }
        rc = pb_workload_load(path, &set->loaded[i], err, sizeof(err));
        set->nr_loaded = (size_t)i + 1;
        if (rc) {
            fprintf(stderr, "popbench %s: %s\n", cmd, err);
            return rc;
        }
        /* A machine `from: topology` takes the virtual topology's nodes and memory. */
        uint64_t pages = topo->node_memory[0] >> PB_WL_PAGE_SHIFT;
        rc = pb_workload_bind_machine(&set->loaded[i], topo->nr_nodes, pages, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "popbench %s: %s\n", cmd, err);
            return rc;
        }
        total += set->loaded[i].kind == PB_WL_SUITE ? set->loaded[i].nr_members : 1;
    }
    set->runs = calloc(total ? total : 1, sizeof(*set->runs));
    if (!set->runs)
        return -ENOMEM;
    for (size_t i = 0; i < set->nr_loaded; i++) {
        struct pb_workload *w = &set->loaded[i];
        if (w->kind == PB_WL_SUITE)
            for (unsigned m = 0; m < w->nr_members; m++)
                set->runs[set->nr_runs++] = &w->members[m];
        else
            set->runs[set->nr_runs++] = w;
    }
    return name_repeats(set);
}

int pb_run_prepare(const char *cmd, const struct pb_run_opts *o,
                   const struct pb_workload *const *workloads, size_t n)
{
    char err[ERR_LEN];
    const enum pb_wl_backing *backing = o->backing_given ? &o->backing : NULL;
    /* Verification needs every frame's own memory: refused before anything runs. */
    for (size_t i = 0; i < n; i++) {
        enum pb_backing b;
        if (pb_run_backing(workloads[i], backing, o->verify, &b, err, sizeof(err)) != 0) {
            fprintf(stderr, "popbench %s: --verify: %s\n", cmd, err);
            return PB_EXIT_USAGE;
        }
    }
    /* The host's clear bandwidth, once, before any run: what every run's clearing is read
     * against, and what AUTO picks for cold memory. */
    if (pb_run_measure_host(workloads, n, backing, err, sizeof(err)) != 0)
        fprintf(stderr, "popbench %s: %s\n", cmd, err);
    return 0;
}

/* context.variants: label -> {variant, inject_alloc_delay_ns}; the settings of the loop. */
static int record_settings(struct pb_results *doc, const struct pb_run_opts *o)
{
    json_t *vars = json_object();
    for (unsigned i = 0; vars && i < o->nr_variants; i++) {
        const struct pb_run_variant *v = &o->variants[i];
        json_t *e = json_pack("{s:s, s:I}", "variant", v->variant, "inject_alloc_delay_ns",
                              (json_int_t)v->inject_ns);
        if (!e || json_object_set_new(vars, v->label, e)) {
            json_decref(vars);
            vars = NULL;
        }
    }
    int rc = vars ? pb_results_context_set_json(doc, "variants", vars) : -ENOMEM;
    rc = rc ? rc : pb_results_context_set_string(doc, "reference", o->variants[o->reference].label);
    rc = rc ? rc : pb_results_context_set_number(doc, "precision_target", o->precision);
    rc = rc ? rc : pb_results_context_set_number(doc, "min_effect", o->min_effect);
    rc = rc ? rc : pb_results_context_set_number(doc, "budget_s", (double)o->budget_ns / 1e9);
    rc = rc ? rc : pb_results_context_set_int(doc, "min_repetitions", o->min_reps);
    rc = rc ? rc : pb_results_context_set_int(doc, "max_repetitions", o->max_reps);
    if (o->repetitions)
        rc = rc ? rc : pb_results_context_set_int(doc, "repetitions", o->repetitions);
    rc = rc ? rc : pb_results_context_set_int(doc, "measure_floor_ns", (int64_t)o->floor_ns);
    return rc;
}

/* The fields popbench gate reads go through pb_results_set_calibration (checked again), then
 * the details. */
int pb_run_copy_calibration(struct pb_results *doc, const char *path)
{
    struct pb_results *from;
    struct pb_results_calibration cal;
    char err[PB_RESULTS_ERR_LEN];
    if (pb_results_load(path, &from, err, sizeof(err)) != 0)
        return pb_cli_error("run", "--calibration: %s", err);
    int rc = pb_results_get_calibration(from, &cal);
    if (rc == -ENOENT)
        rc = pb_cli_error("run",
                          "--calibration: '%s' has no context.calibration (expected a file "
                          "written by popbench calibrate)",
                          path);
    else if (rc || pb_results_set_calibration(doc, &cal) != 0)
        rc = pb_cli_error("run", "--calibration: '%s': context.calibration cannot be copied", path);
    const json_t *c = json_object_get(pb_results_context_json(from), "calibration");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)c, key, v)
    {
        int drc = rc ? 0 : pb_results_set_calibration_detail(doc, key, json_deep_copy(v));
        if (drc && drc != -EEXIST)
            rc = PB_EXIT_FAILED;
    }
    pb_results_free(from);
    return rc;
}

int pb_run_report_init(const struct pb_run_opts *o, const struct pb_topology *topo,
                       const struct pb_workload *const *workloads, size_t n, int argc, char **argv,
                       struct pb_report *rep)
{
    struct pb_report_setup setup = {
        .topo = topo,
        .git_commit = POPBENCH_GIT_COMMIT,
        .build_type = POPBENCH_BUILD_TYPE,
        .cflags = POPBENCH_CFLAGS,
        .argc = argc,
        .argv = argv,
        .jemalloc_active = pb_cli_jemalloc_active(),
        .jemalloc_version = pb_cli_jemalloc_version(),
        .hwloc_version = POPBENCH_HWLOC_VERSION,
        .urcu_version = POPBENCH_URCU_VERSION,
        .sqlite_version = sqlite3_libversion(),
        .seed = o->seed_given ? o->seed : (n ? workloads[0]->seed : 0),
        .placement = pb_placement_name(o->placement),
        .claim_mode = pb_run_claim_mode_name(o->claim_mode),
        .options = &o->options,
        .workloads = workloads,
        .nr_workloads = n,
    };
    int rc = pb_report_init(rep, &setup);
    if (rc == 0 && (rc = record_settings(rep->doc, o)) != 0)
        pb_report_free(rep);
    if (rc)
        fprintf(stderr, "popbench: cannot make the results document: %s\n", strerror(-rc));
    return rc ? PB_EXIT_FAILED : 0;
}
