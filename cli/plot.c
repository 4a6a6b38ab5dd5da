/*
 * plot.c: `popbench plot`: runs scripts/plot with Debian's python (it has matplotlib and
 * jsonschema) over results files or the history database; for the history it hands the script
 * the change points it finds (results/history.h), so that the figure marks them.
 */
#include "cli/cli.h"

#include "results/history.h"
#include "results/metrics.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
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
          "time; with --history, a metric's trend over commits from the history database,\n"
          "each change point that popbench history trend finds marked between the two commits\n"
          "it lies between (dashed; dotted when below a 5%% shift).\n"
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

static const char *const cmd = "plot";

/* The trends' change points as JSON, one object per series: {"host", "cpu_model", "bench",
 * "changes": [{"before", "after" (commits), "shift", "p", "counts"}]}. NULL without memory. */
static json_t *changes_json(const struct pb_trend *t, size_t n)
{
    json_t *all = json_array();
    for (size_t i = 0; all && i < n; i++) {
        json_t *changes = json_array();
        for (size_t k = 0; changes && k < t[i].nchange; k++) {
            const struct pb_trend_change *c = &t[i].change[k];
            json_t *o =
                json_pack("{s:s, s:s, s:f, s:f, s:b}", "before", t[i].point[c->cp.index - 1].commit,
                          "after", t[i].point[c->cp.index].commit, "shift",
                          isfinite(c->shift) ? c->shift : 0.0, "p", c->cp.p, "counts", c->counts);
            if (!o || json_array_append_new(changes, o)) {
                json_decref(changes);
                changes = NULL;
            }
        }
        json_t *series = changes
                             ? json_pack("{s:s, s:s, s:s, s:o}", "host", t[i].host, "cpu_model",
                                         t[i].cpu_model, "bench", t[i].bench, "changes", changes)
                             : NULL;
        if (!series || json_array_append_new(all, series)) {
            json_decref(all);
            all = NULL;
        }
    }
    return all;
}

/*
 * The change points of the history's series of metric, written for scripts/plot to a new file
 * under $TMPDIR (or /tmp), whose name goes to *path (malloc'd; the caller removes it).
 * 0 or PB_EXIT_USAGE with a message.
 */
static int write_changepoints(const char *db, const char *metric, const char *bench, char **path)
{
    struct pb_history *h;
    struct pb_trend *t = NULL;
    struct pb_trend_opts o;
    size_t n = 0;
    char err[1024];
    *path = NULL;
    if (pb_history_open(db, false, &h, err, sizeof(err)))
        return pb_cli_error(cmd, "--history %s", err);
    pb_trend_opts_default(&o);
    int rc = pb_history_trend(h, metric, bench, &o, &t, &n);
    pb_history_close(h);
    if (rc)
        return pb_cli_error(cmd, "--history %s: the trend of %s: %s", db, metric, strerror(-rc));
    json_t *doc = changes_json(t, n);
    pb_trends_free(t, n);
    const char *tmp = getenv("TMPDIR");
    int fd = -1;
    if (doc && asprintf(path, "%s/popbench-changepoints-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
        *path = NULL;
    if (doc && *path && (fd = mkstemp(*path)) < 0)
        rc = -errno;
    else if (!doc || !*path)
        rc = -ENOMEM;
    else if (json_dumpfd(doc, fd, JSON_COMPACT) != 0 || fsync(fd) != 0)
        rc = -EIO;
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = -errno;
    json_decref(doc);
    if (rc) {
        if (fd >= 0)
            unlink(*path);
        pb_cli_error(cmd, "cannot write the change points to %s: %s (set TMPDIR?)",
                     *path ? *path : "a temporary file", strerror(-rc));
        free(*path);
        *path = NULL;
        return PB_EXIT_USAGE;
    }
    return 0;
}

int pb_cmd_plot(int argc, char **argv)
{
    static const struct option opts[] = {
        {"out", required_argument, NULL, 'o'},    {"history", required_argument, NULL, 'H'},
        {"metric", required_argument, NULL, 'm'}, {"benchmark", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    const char *out = "plots", *history = NULL, *metric = NULL, *bench = NULL;
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

    char *changes = NULL;
    if (history && write_changepoints(history, metric, bench, &changes))
        return PB_EXIT_USAGE;

    /* python3 script --out DIR --metric-table JSON [--history DB --metric M --changepoints F
     * [--benchmark B]] FILE...: the table serves files written before results carried it, and
     * the history. */
    json_t *table = pb_metric_table_json();
    char *table_text = table ? json_dumps(table, JSON_COMPACT) : NULL;
    char **args = calloc((size_t)nfiles + 16, sizeof(*args));
    json_decref(table);
    if (!args || !table_text) {
        free(args);
        free(table_text);
        if (changes)
            unlink(changes);
        free(changes);
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
        args[k++] = (char *)"--changepoints";
        args[k++] = changes;
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
    while (!err && waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            pb_cli_error(cmd, "waiting for the plot script: %s", strerror(errno));
            status = -1;
            break;
        }
    if (changes)
        unlink(changes);
    free(changes);
    if (err) {
        pb_cli_error(cmd, "cannot run %s: %s", POPBENCH_PYTHON, strerror(err));
        return PB_EXIT_USAGE;
    }
    if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return PB_EXIT_OK;
    if (status != -1 && WIFSIGNALED(status))
        pb_cli_error(cmd, "the plot script died of signal %d", WTERMSIG(status));
    return PB_EXIT_USAGE;
}
