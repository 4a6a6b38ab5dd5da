/*
 * main.c: the popbench command (docs/popbench.md is its manual): one command per file of cli/.
 *
 *   popbench run [WORKLOAD ...] [options]   run workloads, report and write results
 *   popbench list                           the workloads, variants and lock kinds
 *   popbench topology                       the topology a run would use and its CPU map
 *   popbench compare|gate|history|plot      work on results files
 *   popbench calibrate                      the verdicts' false-alarm and detection rates
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/pb.h"

#include "pb_git_commit.h" /* generated: POPBENCH_GIT_COMMIT */

#ifndef POPBENCH_VERSION_STRING
#define POPBENCH_VERSION_STRING "unknown"
#endif
#ifndef POPBENCH_BUILD_TYPE
#define POPBENCH_BUILD_TYPE "unknown"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    {"run", pb_cmd_run, "run workloads and report throughput, latency, contention"},
    {"list", pb_cmd_list, "list workloads, variants and lock kinds"},
    {"topology", pb_cmd_topology, "show the topology a run would use and its CPU map"},
    {"compare", pb_cmd_compare, "compare results files: ratios, significance, verdicts"},
    {"gate", pb_cmd_gate, "gate a results file against a baseline (CI)"},
    {"history", pb_cmd_history, "import results into the history database; trends"},
    {"plot", pb_cmd_plot, "draw SVG and PNG figures"},
    {"calibrate", pb_cmd_calibrate, "measure the verdicts' false-alarm and detection rates"},
};

static void usage(FILE *out)
{
    fputs("usage: popbench COMMAND [options]   (popbench COMMAND --help for more)\n", out);
    for (size_t i = 0; i < PB_ARRAY_SIZE(commands); i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].what);
    fputs("  --version show the version and build\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return PB_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return pb_cli_close_stdout("--help", 0);
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("popbench %s (commit %s, %s build, jemalloc %s)\n", POPBENCH_VERSION_STRING,
               POPBENCH_GIT_COMMIT, POPBENCH_BUILD_TYPE,
               pb_cli_jemalloc_active() ? pb_cli_jemalloc_version() : "inactive");
        return pb_cli_close_stdout("--version", 0);
    }
    for (size_t i = 0; i < PB_ARRAY_SIZE(commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return pb_cli_close_stdout(commands[i].name, commands[i].fn(argc - 1, argv + 1));
    fprintf(stderr,
            "popbench: unknown command '%s' (expected run, list, topology, compare, gate, "
            "history, plot or calibrate; see popbench --help)\n",
            argv[1]);
    return PB_EXIT_USAGE;
}
