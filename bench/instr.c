/*
 * popbench-instr: the instruction tier of the CI gate.
 *
 *   popbench-instr measure [--scale N]
 *       Runs a fixed number of core operations per variant on one thread, with no clock:
 *         alloc_free_o0_fresh, alloc_free_o9_fresh   alloc_heap_pages + free_heap_pages of one
 *                                                    extent (order 0, order 9), fresh heap
 *         alloc_free_o0_frag, alloc_free_o9_frag     the same on a fragmented heap
 *         populate_512x4k                            one populate_physmap of 512 order-0
 *                                                    extents into a live domain + the
 *                                                    decrease_reservation giving them back
 *       Under `valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes`, each loop
 *       alone is instrumented and dumped with the description "<op>.<variant> ops=<N>".
 *       Outside valgrind the client requests do nothing (a smoke run).
 *   popbench-instr report --out RESULTS.json CALLGRIND_OUT...
 *       Reads the dumps of the main thread and writes one entry per dump, named
 *       callgrind/<op>.<variant>/threads:1, whose `instructions` counter is the dump's total
 *       Ir divided by its operation count.
 * Exit status: 0, 1 when an operation fails, 2 for bad usage or input.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/callgrind.h>

#include "bench/heap_prep.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/lock.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/pb.h"
#include "results/results.h"

#include "pb_git_commit.h" /* generated: POPBENCH_GIT_COMMIT */

#define NODES       2
#define NODE_FRAMES (1u << 15) /* 128 MiB a node: order-9 buddies on both heaps */
#define EXTENTS     512

/* Operations per benchmark at --scale 1: enough that per-op figures are stable. */
#define ALLOC_OPS    4000u
#define POPULATE_OPS 8u

static void die(const char *what, int rc)
{
    fprintf(stderr, "popbench-instr: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    exit(1);
}

static struct pb_heap *make_heap(const char *variant, bool fragmented)
{
    struct pb_heap *h;
    int rc = pb_heap_prep_machine(NODES, NODE_FRAMES, variant, PB_LOCK_TICKET, &h);
    if (rc)
        die("pb_heap_create", rc);
    /* Seeded holes: many small free buddies below, the big ones above. */
    if (fragmented && (rc = pb_heap_prep_holes(h, 42)) != 0)
        die("fragment", rc);
    return h;
}

/* The measured window: only the loop between start and dump is counted. */
static void window_start(void)
{
    CALLGRIND_ZERO_STATS;
    CALLGRIND_START_INSTRUMENTATION;
}

static void window_end(const char *op, const char *variant, uint64_t ops)
{
    CALLGRIND_STOP_INSTRUMENTATION;
    char desc[128];
    snprintf(desc, sizeof(desc), "%s.%s ops=%" PRIu64, op, variant, ops);
    CALLGRIND_DUMP_STATS_AT(desc);
    printf("%s\n", desc);
}

static void alloc_free(struct pb_heap *h, const char *op, const char *variant, unsigned order,
                       uint64_t ops)
{
    uint64_t mfn;
    window_start();
    for (uint64_t i = 0; i < ops; i++) {
        int rc = pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, order, 0, NULL, &mfn);
        if (rc)
            die(op, rc);
        pb_free_heap_pages(h, mfn, order, false);
    }
    window_end(op, variant, ops);
}

static void populate(struct pb_heap *h, const char *variant, uint64_t ops)
{
    static uint64_t gpfns[EXTENTS];
    struct pb_domain *d;
    int rc = pb_heap_prep_live_domain(h, 1, 1u << 20, 1u << 20, PB_LOCK_TICKET, &d);
    if (rc)
        die("pb_memop_domain_create", rc);
    for (unsigned i = 0; i < EXTENTS; i++)
        gpfns[i] = i;
    struct pb_memop_caller caller = {.privilege = PB_PRIV_CONTROL};
    struct pb_reservation r = {.extent_start = gpfns,
                               .extent_list_len = EXTENTS,
                               .nr_extents = EXTENTS,
                               .extent_order = 0,
                               .domid = pb_domain_id(d)};
    struct pb_memop_result res;
    window_start();
    for (uint64_t i = 0; i < ops; i++) {
        if (pb_populate_physmap(h, &caller, &r, 0, &res) != EXTENTS)
            die("populate_physmap", res.error ? res.error : -EAGAIN);
        if (pb_decrease_reservation(h, &caller, &r, 0, false, &res) != EXTENTS)
            die("decrease_reservation", res.error ? res.error : -EAGAIN);
    }
    window_end("populate_512x4k", variant, ops);
    pb_memop_domain_destroy(h, d);
}

static int measure(unsigned scale)
{
    pb_rcu_register_thread();
    pb_set_current_node(0);
    pb_set_current_cpu(0); /* pcp: the same cache slot in every run */
    for (const char *const *v = pb_variant_names(); *v; v++) {
        struct pb_heap *h = make_heap(*v, false);
        alloc_free(h, "alloc_free_o0_fresh", *v, 0, (uint64_t)ALLOC_OPS * scale);
        alloc_free(h, "alloc_free_o9_fresh", *v, 9, (uint64_t)ALLOC_OPS * scale);
        populate(h, *v, (uint64_t)POPULATE_OPS * scale);
        pb_heap_destroy(h);
        h = make_heap(*v, true);
        alloc_free(h, "alloc_free_o0_frag", *v, 0, (uint64_t)ALLOC_OPS * scale);
        alloc_free(h, "alloc_free_o9_frag", *v, 9, (uint64_t)ALLOC_OPS * scale);
        pb_heap_destroy(h);
    }
    pb_rcu_unregister_thread();
    return 0;
}

/* ---- report ---------------------------------------------------------------------------- */

struct dump {
    char name[96]; /* <op>.<variant> */
    uint64_t ops, ir;
    unsigned thread;
};

/* One callgrind output file: its thread, description and total Ir. 0 or -EINVAL. */
static int read_dump(const char *path, struct dump *d)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -errno;
    char line[1024];
    bool have_desc = false, have_ir = false;
    memset(d, 0, sizeof(*d));
    d->thread = 1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        char name[96];
        if (sscanf(line, "thread: %llu", &v) == 1)
            d->thread = (unsigned)v;
        else if (sscanf(line, "desc: Trigger: Client Request: %95s ops=%llu", name, &v) == 2) {
            snprintf(d->name, sizeof(d->name), "%s", name);
            d->ops = v;
            have_desc = v > 0;
        } else if (sscanf(line, "summary: %llu", &v) == 1 ||
                   sscanf(line, "totals: %llu", &v) == 1) {
            d->ir = v;
            have_ir = true;
        }
    }
    fclose(f);
    if (!have_ir)
        return -EINVAL;
    return have_desc ? 0 : -ENOENT; /* -ENOENT: not one of ours (the final dump) */
}

static int report(const char *out, int nfiles, char **files, int argc, char **argv)
{
    struct pb_results *doc;
    struct pb_results_bench *b;
    char err[512];
    int rc = pb_results_create(&doc), n = 0;
    if (rc)
        die("pb_results_create", rc);
    rc = pb_results_fill_environment(doc);
    rc = rc ? rc
            : pb_results_set_build_info(doc, POPBENCH_GIT_COMMIT, POPBENCH_BUILD_TYPE,
                                        POPBENCH_CFLAGS);
    rc = rc ? rc : pb_results_set_command_line(doc, argc, argv);
    if (rc)
        die("results context", rc);
    for (int i = 0; i < nfiles; i++) {
        struct dump d;
        int drc = read_dump(files[i], &d);
        if (drc == -ENOENT || (drc == 0 && d.thread != 1))
            continue; /* the final dump, or another thread's share */
        if (drc) {
            fprintf(stderr, "popbench-instr: %s: not a callgrind output (%s)\n", files[i],
                    strerror(-drc));
            pb_results_free(doc);
            return 2;
        }
        struct pb_results_bench_spec spec = {.workload = "callgrind",
                                             .variant = d.name,
                                             .threads = 1,
                                             .repetitions = 1,
                                             .iterations = d.ops};
        rc = pb_results_add_bench(doc, &spec, &b);
        rc =
            rc ? rc : pb_results_bench_set_counter(b, "instructions", (double)d.ir / (double)d.ops);
        if (rc) {
            fprintf(stderr, "popbench-instr: %s: %s: %s\n", files[i], d.name, strerror(-rc));
            pb_results_free(doc);
            return 2;
        }
        n++;
    }
    if (n == 0) {
        fprintf(stderr, "popbench-instr: no measured dump among the %d files\n", nfiles);
        pb_results_free(doc);
        return 2;
    }
    rc = pb_results_write_json(doc, out, err, sizeof(err));
    pb_results_free(doc);
    if (rc) {
        fprintf(stderr, "popbench-instr: %s\n", err);
        return 2;
    }
    printf("popbench-instr: %d entries written to %s\n", n, out);
    return 0;
}

static int usage(void)
{
    fputs("usage: popbench-instr measure [--scale N]\n"
          "       popbench-instr report --out RESULTS.json CALLGRIND_OUT...\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "measure") == 0) {
        unsigned scale = 1;
        if (argc == 4 && strcmp(argv[2], "--scale") == 0) {
            char *end;
            unsigned long v = strtoul(argv[3], &end, 10);
            if (*end || v == 0 || v > 1000)
                return usage();
            scale = (unsigned)v;
        } else if (argc != 2) {
            return usage();
        }
        return measure(scale);
    }
    if (argc >= 5 && strcmp(argv[1], "report") == 0 && strcmp(argv[2], "--out") == 0)
        return report(argv[3], argc - 4, argv + 4, argc, argv);
    return usage();
}
