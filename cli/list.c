/*
 * list.c: `popbench list`: the workloads of a directory with their descriptions, the variants,
 * lock kinds, clear methods, verify modes and placements.
 */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "workloads/workload.h"

#ifndef POPBENCH_SOURCE_DIR
#define POPBENCH_SOURCE_DIR "."
#endif

enum { OPT_WORKLOADS_DIR = 256, OPT_HELP };

int pb_cmd_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"workloads-dir", required_argument, NULL, OPT_WORKLOADS_DIR},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *dir = POPBENCH_SOURCE_DIR "/workloads";
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        if (c == OPT_WORKLOADS_DIR) {
            dir = optarg;
        } else if (c == OPT_HELP) {
            puts("usage: popbench list [--workloads-dir DIR]\n"
                 "Lists the workloads (with their descriptions), the allocator variants, the lock\n"
                 "kinds, clear methods and verify modes.");
            return 0;
        } else {
            return pb_cli_option_error("list", c, argc, argv);
        }
    }
    if (optind < argc)
        return pb_cli_error("list", "unexpected argument '%s' (expected no arguments)",
                            argv[optind]);

    struct pb_wl_info *infos;
    size_t n;
    int rc = pb_workload_list(dir, &infos, &n);
    if (rc)
        return pb_cli_error("list", "--workloads-dir: cannot read '%s': %s", dir, strerror(-rc));
    printf("workloads (%s):\n", dir);
    for (size_t i = 0; i < n; i++) {
        const struct pb_wl_info *w = &infos[i];
        if (w->error)
            printf("  %-14s (does not load: %s)\n", w->name, w->error);
        else if (w->kind == PB_WL_SUITE)
            printf("  %-14s suite of %u: %s\n", w->name, w->nr_members, w->description);
        else
            printf("  %-14s %s\n", w->name, w->description);
    }
    pb_workload_list_free(infos, n);
    char vl[256];
    pb_cli_variant_list(vl, sizeof(vl));
    printf("variants:       %s\n", vl);
    printf("lock kinds:     ticket (FIFO spinlock), mutex (blocking; the default when "
           "oversubscribed)\n");
    printf("clear methods:  auto, memset, stosb, nt\n");
    printf("verify modes:   off, sampled, full\n");
    printf("placements:     compact, scatter\n");
    return 0;
}
