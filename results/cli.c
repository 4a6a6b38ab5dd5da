#include "results/cli.h"

#include "results/cli_internal.h"
#include "results/compare.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdarg.h>
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

/* ==== Flag helpers ======================================================================== */

void pb_cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "popbench %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int pb_cli_double(const char *cmd, const char *flag, const char *arg, double lo, double hi,
                  bool percent, double *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(arg, &end);
    bool ok = end != arg && errno == 0 && isfinite(v);
    if (ok && percent && *end == '%') {
        v /= 100;
        end++;
    }
    if (!ok || *end != '\0' || v < lo || v > hi) {
        pb_cli_error(cmd, "%s '%s': expected a number from %g to %g%s", flag, arg, lo, hi,
                     percent ? " (or a percentage such as 5%)" : "");
        return -EINVAL;
    }
    *out = v;
    return 0;
}

int pb_cli_u64(const char *cmd, const char *flag, const char *arg, uint64_t lo, uint64_t hi,
               uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(arg, &end, 10);
    if (end == arg || *end != '\0' || errno || arg[0] == '-' || v < lo || v > hi) {
        pb_cli_error(cmd, "%s '%s': expected an integer from %llu to %llu", flag, arg,
                     (unsigned long long)lo, (unsigned long long)hi);
        return -EINVAL;
    }
    *out = v;
    return 0;
}

char **pb_cli_split(const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    char **v = calloc(n + 1, sizeof(*v));
    char *copy = strdup(list);
    if (!v || !copy) {
        free(v);
        free(copy);
        return NULL;
    }
    size_t k = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
        if (!(v[k++] = strdup(tok))) {
            free(copy);
            pb_strv_free(v);
            return NULL;
        }
    free(copy);
    return v;
}

/* ==== compare ============================================================================= */

static void compare_usage(FILE *out)
{
    fputs("usage: popbench compare [options] A.json B.json [C.json ...]\n"
          "       popbench compare --variants VA,VB [options] FILE.json [...]\n"
          "\n"
          "Compares B (and C, ...) against A, per benchmark (workload/variant/threads:N, its\n"
          "repetitions grouped) and per metric: the ratio B/A of the medians, a two-sided\n"
          "Mann-Whitney U test over the repetitions (exact p without ties for up to 50 values,\n"
          "else the normal approximation with tie correction), and a verdict: better, worse,\n"
          "noise, or insufficient (fewer than 2 repetitions a side, or too few for any\n"
          "outcome to reach p < alpha: at alpha 0.05, 3 against 3). Metrics ending in\n"
          "_per_second, speedup, scaling_efficiency, locality and locality_min are\n"
          "higher-is-better, the others lower-is-better; plain counts are not\n"
          "compared. Tail percentiles (p99 and beyond, max) get a seeded percentile-bootstrap\n"
          "interval of the ratio of medians, resampling repetitions, and a verdict only when it\n"
          "excludes 1 +- min-effect. A differing environment (cpu_model, compiler, build_type,\n"
          "num_cpus) is reported first.\n"
          "\n"
          "options:\n"
          "  --format table|markdown|json  output format (default table)\n"
          "  --min-effect F      smallest relative change that is a verdict (default 0.05 = 5%)\n"
          "  --alpha F           significance level (default 0.05; interval level 1 - alpha)\n"
          "  --variants VA,VB    compare variant VB against VA inside each file\n"
          "  --metrics LIST      only these metrics (comma-separated)\n"
          "  --resamples N       bootstrap resamples (default 2000)\n"
          "  --seed N            bootstrap seed (default 1)\n"
          "  -h, --help          this text\n"
          "Exit status: 0 compared, 2 bad input.\n",
          out);
}

static int parse_format(const char *cmd, const char *arg, enum pb_format *fmt)
{
    static const char *const names[] = {"table", "markdown", "json"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(arg, names[i]) == 0) {
            *fmt = (enum pb_format)i;
            return 0;
        }
    pb_cli_error(cmd, "--format '%s': expected table, markdown or json", arg);
    return -EINVAL;
}

int pb_cmd_compare(int argc, char **argv)
{
    static const struct option opts[] = {
        {"format", required_argument, NULL, 'f'},
        {"min-effect", required_argument, NULL, 'e'},
        {"alpha", required_argument, NULL, 'a'},
        {"variants", required_argument, NULL, 'v'},
        {"metrics", required_argument, NULL, 'm'},
        {"resamples", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "compare";
    struct pb_cmp_opts o;
    pb_cmp_opts_default(&o);
    enum pb_format fmt = PB_FORMAT_TABLE;
    char **variants = NULL, **metrics = NULL;
    uint64_t u = 0;
    int c, rc = 0;
    optind = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            rc = parse_format(cmd, optarg, &fmt);
            break;
        case 'e':
            rc = pb_cli_double(cmd, "--min-effect", optarg, 0, 0.99, true, &o.min_effect);
            break;
        case 'a':
            rc = pb_cli_double(cmd, "--alpha", optarg, 1e-9, 0.5, false, &o.alpha);
            break;
        case 'v':
            pb_strv_free(variants);
            variants = pb_cli_split(optarg);
            if (!variants || !variants[0] || !variants[1] || variants[2] ||
                strcmp(variants[0], variants[1]) == 0) {
                pb_cli_error(cmd, "--variants '%s': expected two different variant names, VA,VB",
                             optarg);
                rc = -EINVAL;
            }
            break;
        case 'm':
            pb_strv_free(metrics);
            metrics = pb_cli_split(optarg);
            o.metrics = (const char *const *)metrics;
            if (!metrics || !metrics[0]) {
                pb_cli_error(cmd, "--metrics '%s': expected metric names, comma-separated", optarg);
                rc = -EINVAL;
            }
            break;
        case 'r':
            rc = pb_cli_u64(cmd, "--resamples", optarg, 100, 1000000, &u);
            o.resamples = (unsigned)u;
            break;
        case 's':
            rc = pb_cli_u64(cmd, "--seed", optarg, 0, UINT64_MAX, &o.seed);
            break;
        case 'h':
            compare_usage(stdout);
            pb_strv_free(variants);
            pb_strv_free(metrics);
            return PB_EXIT_OK;
        default:
            rc = -EINVAL;
            break;
        }
    }
    int nfiles = argc - optind;
    if (rc == 0 && (variants ? nfiles < 1 : nfiles < 2)) {
        pb_cli_error(cmd, variants ? "expected a results file"
                                   : "expected two results files, A.json B.json");
        rc = -EINVAL;
    }
    if (rc) {
        fprintf(stderr, "Try 'popbench compare --help'.\n");
        pb_strv_free(variants);
        pb_strv_free(metrics);
        return PB_EXIT_USAGE;
    }

    struct pb_rfile **files = calloc((size_t)nfiles, sizeof(*files));
    struct pb_cmp_result *res = calloc((size_t)nfiles, sizeof(*res));
    size_t nres = 0;
    char err[1024];
    rc = files && res ? 0 : -ENOMEM;
    for (int i = 0; i < nfiles && rc == 0; i++)
        if ((rc = pb_rfile_load(argv[optind + i], &files[i], err, sizeof(err))))
            pb_cli_error(cmd, "%s", err);
    for (int i = 0; i < nfiles && rc == 0; i++) {
        if (variants) {
            rc = pb_compare_variants(files[i], variants[0], variants[1], &o, &res[nres]);
            for (int v = 0; rc == -ENOENT && v < 2; v++) {
                bool found = false;
                for (size_t k = 0; k < files[i]->nbench && !found; k++)
                    found = strcmp(files[i]->bench[k].variant, variants[v]) == 0;
                if (!found)
                    pb_cli_error(cmd, "%s: no benchmark of variant '%s' (--variants)",
                                 files[i]->path, variants[v]);
            }
        } else if (i > 0) {
            rc = pb_compare_files(files[0], files[i], &o, &res[nres]);
        } else {
            continue;
        }
        if (rc == 0)
            nres++;
    }
    if (rc == 0 && (rc = pb_cmp_print(res, nres, fmt, &o, stdout)))
        pb_cli_error(cmd, "cannot write the report: %s", strerror(-rc));
    else if (rc == -ENOMEM)
        pb_cli_error(cmd, "out of memory");
    for (size_t i = 0; i < nres; i++)
        pb_cmp_result_free(&res[i]);
    for (int i = 0; files && i < nfiles; i++)
        pb_rfile_free(files[i]);
    free(files);
    free(res);
    pb_strv_free(variants);
    pb_strv_free(metrics);
    return rc ? PB_EXIT_USAGE : PB_EXIT_OK;
}

/* ==== plot ================================================================================ */

static void plot_usage(FILE *out)
{
    fputs("usage: popbench plot [--out DIR] FILE.json [...]\n"
          "       popbench plot [--out DIR] --history DB --metric M [--benchmark NAME]\n"
          "\n"
          "Draws SVG and PNG figures with " POPBENCH_PYTHON " and matplotlib\n"
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
          "Exit status: 0 drawn, 2 bad input or python3-matplotlib missing.\n",
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
        pb_cli_error(cmd,
                     "%s not found: install the Debian packages 'python3' and "
                     "'python3-matplotlib'",
                     POPBENCH_PYTHON);
        return PB_EXIT_USAGE;
    }
    if (access(script, R_OK) != 0) {
        pb_cli_error(cmd, "%s: cannot read the plot script: %s", script, strerror(errno));
        return PB_EXIT_USAGE;
    }

    /* python3 script --out DIR [--history DB --metric M [--benchmark B]] FILE... */
    char **args = calloc((size_t)nfiles + 12, sizeof(*args));
    if (!args) {
        pb_cli_error(cmd, "out of memory");
        return PB_EXIT_USAGE;
    }
    size_t k = 0;
    args[k++] = (char *)POPBENCH_PYTHON;
    args[k++] = (char *)script;
    args[k++] = (char *)"--out";
    args[k++] = (char *)out;
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
