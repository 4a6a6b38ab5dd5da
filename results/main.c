/* popbench-results: the results commands on their own, until the popbench binary has them. */
#include "results/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    {"compare", pb_cmd_compare, "compare results files: ratios, significance, verdicts"},
    {"gate", pb_cmd_gate, "gate a results file against a baseline (CI)"},
    {"history", pb_cmd_history, "import results into the history database; trends"},
    {"plot", pb_cmd_plot, "draw SVG and PNG figures"},
};

static void usage(FILE *out)
{
    fputs("usage: popbench-results COMMAND [options] (COMMAND --help for more)\n", out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].what);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "popbench-results: '%s': expected compare, gate, history or plot\n", argv[1]);
    return 2;
}
