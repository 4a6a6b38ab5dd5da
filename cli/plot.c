/*
 * plot.c: `popbench plot`: runs scripts/plot with Debian's python (it has matplotlib and
 * jsonschema) over results files or the history database.
 */
#include "cli/cli.h"

#include "results/metrics.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef POPBENCH_SOURCE_DIR
#error "POPBENCH_SOURCE_DIR must name the source tree (it holds scripts/plot)"
#endif
#ifndef POPBENCH_PYTHON
#define POPBENCH_PYTHON "/usr/bin/python3"
#endif

extern char **environ;

static void plot_usage(FILE *out)
{
    fputs("usage: popbench plot [--out DIR] FILE.json [...]\n"
          "       popbench plot [--out DIR] --history DB --metric M [--benchmark NAME]\n"
          "\n"
          "Checks every results file against results/schema-v1.json (python3-jsonschema), then\n"
          "draws SVG and PNG figures with " POPBENCH_PYTHON " and matplotlib\n"
          "(" POPBENCH_SOURCE_DIR "/scripts/plot): per results file and workload, pages/s\n"
          "against threads per variant with the linear-scaling line from the 1-thread point,\n"
          "call latency percentiles per variant, lock wait per page, and the scrub backlog over\n"
          "time; with --history, a metric's trend over commits from the history database.\n"
          "\n"
          "options:\n"
          "  --out DIR           where the figures go (default plots)\n"
          "  --history DB        history database (see popbench history)\n"
          "  --metric M          the metric to draw from the history\n"
          "  --benchmark NAME    only this benchmark's history\n"
          "  -h, --help          this text\n"
          "Exit status: 0 drawn, 2 bad input or python3-matplotlib or python3-jsonschema\n"
          "missing.\n",
          out);
}

int pb_cmd_plot(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},    {"history", required_argument, NULL, 'H'},
        {"metric", required_argument, NULL, 'm'}, {"benchmark", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *cmd = "plot", *out = "plots", *history = NULL, *metric = NULL, *bench = NULL;
    int c, rc = 0;
    optind = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 'H':
            history = optarg;
            break;
        case 'm':
            metric = optarg;
            break;
        case 'b':
            bench = optarg;
            break;
        case 'h':
            plot_usage(stdout);
            return PB_EXIT_OK;
        default:
            rc = -EINVAL;
            break;
        }
    }
    int nfiles = argc - optind;
    if (rc == 0 && nfiles == 0 && !history) {
        pb_cli_error(cmd, "expected results files or --history DB");
        rc = -EINVAL;
    } else if (rc == 0 && !history != !metric) {
        pb_cli_error(cmd, history ? "--history needs --metric M" : "--metric needs --history DB");
        rc = -EINVAL;
    } else if (rc == 0 && bench && !history) {
        pb_cli_error(cmd, "--benchmark applies to --history only");
        rc = -EINVAL;
    }
    for (int i = 0; rc == 0 && i < nfiles; i++)
        if (access(argv[optind + i], R_OK) != 0) {
            pb_cli_error(cmd, "%s: cannot read: %s", argv[optind + i], strerror(errno));
            rc = -EINVAL;
        }
    if (rc == 0 && history && access(history, R_OK) != 0) {
        pb_cli_error(cmd, "--history %s: cannot read: %s", history, strerror(errno));
        rc = -EINVAL;
    }
    if (rc) {
        fprintf(stderr, "Try 'popbench plot --help'.\n");
        return PB_EXIT_USAGE;
    }
    const char *script = POPBENCH_SOURCE_DIR "/scripts/plot";
    if (access(POPBENCH_PYTHON, X_OK) != 0) {
        return pb_cli_error(cmd,
                            "%s not found: install the Debian packages 'python3', "
                            "'python3-matplotlib' and 'python3-jsonschema'",
                            POPBENCH_PYTHON);
    }
    if (access(script, R_OK) != 0) {
        pb_cli_error(cmd, "%s: cannot read the plot script: %s", script, strerror(errno));
        return PB_EXIT_USAGE;
    }

    /* python3 script --out DIR --metric-table JSON [--history DB --metric M [--benchmark B]]
     * FILE...: the table serves files written before results carried it, and the history. */
    json_t *table = pb_metric_table_json();
    char *table_text = table ? json_dumps(table, JSON_COMPACT) : NULL;
    char **args = calloc((size_t)nfiles + 14, sizeof(*args));
    json_decref(table);
    if (!args || !table_text) {
        free(args);
        free(table_text);
        return pb_cli_error(cmd, "out of memory");
    }
    size_t k = 0;
    args[k++] = (char *)POPBENCH_PYTHON;
    args[k++] = (char *)script;
    args[k++] = (char *)"--out";
    args[k++] = (char *)out;
    args[k++] = (char *)"--metric-table";
    args[k++] = table_text;
    if (history) {
        args[k++] = (char *)"--history";
        args[k++] = (char *)history;
        args[k++] = (char *)"--metric";
        args[k++] = (char *)metric;
    }
    if (bench) {
        args[k++] = (char *)"--benchmark";
        args[k++] = (char *)bench;
    }
    args[k++] = (char *)"--";
    for (int i = 0; i < nfiles; i++)
        args[k++] = argv[optind + i];
    fflush(stdout);
    pid_t pid;
    int status = 0, err = posix_spawn(&pid, POPBENCH_PYTHON, NULL, NULL, args, environ);
    free(args);
    free(table_text);
    if (err) {
        pb_cli_error(cmd, "cannot run %s: %s", POPBENCH_PYTHON, strerror(err));
        return PB_EXIT_USAGE;
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            pb_cli_error(cmd, "waiting for the plot script: %s", strerror(errno));
            return PB_EXIT_USAGE;
        }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PB_EXIT_OK;
    if (WIFSIGNALED(status))
        pb_cli_error(cmd, "the plot script died of signal %d", WTERMSIG(status));
    return PB_EXIT_USAGE;
}
