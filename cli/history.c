/*
 * history.c: `popbench history`: import results files into the history database, list them,
 * and print a metric's trend over commits with its change points (results/history.h).
 */
#include "cli/cli.h"

#include "cli/table.h"
#include "results/history.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const cmd = "history";

static void history_usage(FILE *out)
{
    fputs("usage: popbench history [--db PATH] import FILE.json [...]\n"
          "       popbench history [--db PATH] list\n"
          "       popbench history [--db PATH] trend METRIC [--benchmark NAME] [options]\n"
          "\n"
          "Keeps every imported run in an SQLite database keyed by commit, machine (host and\n"
          "cpu_model), workload, variant, threads and repetition: importing a file twice adds\n"
          "nothing, and a re-run of an imported commit on the same machine keeps the first.\n"
          "trend prints a metric per commit (median over repetitions) for each machine and\n"
          "benchmark, ordered by the run's date, and every change point in it: E-divisive\n"
          "(energy divergence of the two sides, split recursively), each split tested by a\n"
          "seeded permutation test within the segments; for each, the commits it lies between,\n"
          "the means either side, the shift and its p-value. A shift below --min-shift is\n"
          "shown as small.\n"
          "\n"
          "options:\n"
          "  --db PATH            database (default results/history.sqlite)\n"
          "  --wait S             how long to wait for another process using the database\n"
          "                       (default 30 seconds)\n"
          "  --benchmark NAME     trend: only this benchmark (workload/variant/threads:N)\n"
          "  --min-shift F        trend: smallest shift of the mean that counts (default 5%)\n"
          "  --alpha F            trend: significance level (default 0.05)\n"
          "  --permutations N     trend: permutation rounds per test (default 199)\n"
          "  --seed N             trend: permutation seed (default 1)\n"
          "  -h, --help           this text\n"
          "Exit status: 0 done, 2 bad input or error.\n",
          out);
}

static void fmt_date(char *buf, size_t len, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm))
        strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
    else
        snprintf(buf, len, "?");
}

static int history_list(struct pb_history *h, const char *db)
{
    struct pb_history_file *f;
    size_t n;
    char err[1024];
    if (pb_history_files(h, &f, &n, err, sizeof(err)))
        return pb_cli_error(cmd, "%s", err);
    struct pb_ctable t;
    pb_ctable_init(&t, 8);
    pb_ctable_add(&t, "id", "date", "commit", "host", "cpu_model", "new runs", "partial", "path");
    for (size_t i = 0; i < n; i++) {
        char id[32], date[40], runs[32], commit[13];
        snprintf(id, sizeof(id), "%lld", f[i].id);
        fmt_date(date, sizeof(date), f[i].date);
        snprintf(runs, sizeof(runs), "%lld", f[i].runs);
        snprintf(commit, sizeof(commit), "%s", f[i].commit);
        pb_ctable_add(&t, id, date, commit, f[i].host, f[i].cpu_model, runs,
                      f[i].partial ? "yes" : "no", f[i].path);
    }
    pb_history_files_free(f, n);
    pb_ctable_print(&t, false, stdout);
    pb_ctable_free(&t);
    long files, nruns, metrics;
    if (pb_history_counts(h, &files, &nruns, &metrics) == 0)
        printf("\n%ld files, %ld runs, %ld metric values in %s\n", files, nruns, metrics, db);
    return PB_EXIT_OK;
}

static void print_trend(const struct pb_trend *t, const char *metric, const struct pb_trend_opts *o)
{
    printf("%s of %s on %s (%s):\n", metric, t->bench, t->host, t->cpu_model);
    struct pb_ctable tab;
    pb_ctable_init(&tab, 6);
    pb_ctable_add(&tab, "date", "commit", "reps", "median", "min", "max");
    for (size_t i = 0; i < t->npoint; i++) {
        const struct pb_trend_point *p = &t->point[i];
        char date[40], reps[24], med[32], lo[32], hi[32];
        fmt_date(date, sizeof(date), p->date);
        snprintf(reps, sizeof(reps), "%zu", p->nrep);
        snprintf(med, sizeof(med), "%.6g", p->median);
        snprintf(lo, sizeof(lo), "%.6g", p->min);
        snprintf(hi, sizeof(hi), "%.6g", p->max);
        pb_ctable_add(&tab, date, p->commit, reps, med, lo, hi);
    }
    pb_ctable_print(&tab, false, stdout);
    pb_ctable_free(&tab);
    if (!t->tested) {
        printf("change points: too few commits to look for one (%zu, need %zu)\n\n", t->npoint,
               2 * (o->min_seg ? o->min_seg : 1));
        return;
    }
    if (t->nchange == 0)
        printf("no change point (none significant at alpha %g, E-divisive, %u permutations)\n",
               o->alpha, o->permutations);
    for (size_t i = 0; i < t->nchange; i++) {
        const struct pb_trend_change *c = &t->change[i];
        size_t at = c->cp.index;
        printf("%s at commit %s (commits %s..%s, point %zu of %zu): mean %.6g -> %.6g "
               "(%+.1f%%), p=%.3g (confidence %.1f%%)%s\n",
               c->counts ? "CHANGE POINT" : "small change", t->point[at].commit,
               t->point[at - 1].commit, t->point[at].commit, at + 1, t->npoint, c->cp.mean_before,
               c->cp.mean_after, 100 * c->shift, c->cp.p, 100 * (1 - c->cp.p),
               c->counts ? "" : " (below --min-shift)");
    }
    putchar('\n');
}

static int history_trend(struct pb_history *h, const char *db, const char *metric,
                         const char *bench, const struct pb_trend_opts *o)
{
    struct pb_trend *t;
    size_t n;
    int rc = pb_history_trend(h, metric, bench, o, &t, &n);
    if (rc) {
        pb_cli_error(cmd, "%s: trend of %s failed: %s", db, metric, strerror(-rc));
        return PB_EXIT_USAGE;
    }
    if (n == 0) {
        pb_cli_error(cmd, "%s: no values of metric '%s'%s%s", db, metric,
                     bench ? " for --benchmark " : "", bench ? bench : "");
        return PB_EXIT_USAGE;
    }
    for (size_t i = 0; i < n; i++)
        print_trend(&t[i], metric, o);
    pb_trends_free(t, n);
    return PB_EXIT_OK;
}

int pb_cmd_history(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"wait", required_argument, NULL, 'w'},
        {"benchmark", required_argument, NULL, 'b'},
        {"min-shift", required_argument, NULL, 's'},
        {"alpha", required_argument, NULL, 'a'},
        {"permutations", required_argument, NULL, 'p'},
        {"seed", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *db = "results/history.sqlite", *bench = NULL;
    struct pb_trend_opts to;
    pb_trend_opts_default(&to);
    uint64_t u, wait_s = PB_HISTORY_WAIT_S;
    int c, rc = 0;
    bool trend_flags = false;
    optind = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'w':
            rc = pb_cli_u64(cmd, "--wait", optarg, 0, 86400, &wait_s);
            break;
        case 'b':
            bench = optarg;
            trend_flags = true;
            break;
        case 's':
            rc = pb_cli_double(cmd, "--min-shift", optarg, 0, 10, true, &to.min_shift);
            trend_flags = true;
            break;
        case 'a':
            rc = pb_cli_double(cmd, "--alpha", optarg, 1e-9, 0.5, false, &to.alpha);
            trend_flags = true;
            break;
        case 'p':
            rc = pb_cli_u64(cmd, "--permutations", optarg, 19, 1000000, &u);
            to.permutations = (unsigned)u;
            trend_flags = true;
            break;
        case 'S':
            rc = pb_cli_u64(cmd, "--seed", optarg, 0, UINT64_MAX, &to.seed);
            trend_flags = true;
            break;
        case 'h':
            history_usage(stdout);
            return PB_EXIT_OK;
        default:
            rc = -EINVAL;
            break;
        }
    }
    const char *sub = optind < argc ? argv[optind] : NULL;
    int nargs = argc - optind - 1;
    if (rc == 0) {
        if (!sub) {
            pb_cli_error(cmd, "expected a subcommand: import, list or trend");
            rc = -EINVAL;
        } else if (strcmp(sub, "import") == 0  ? nargs < 1
                   : strcmp(sub, "list") == 0  ? nargs != 0
                   : strcmp(sub, "trend") == 0 ? nargs != 1
                                               : true) {
            if (strcmp(sub, "import") == 0)
                pb_cli_error(cmd, "import: expected results files");
            else if (strcmp(sub, "list") == 0)
                pb_cli_error(cmd, "list: takes no arguments");
            else if (strcmp(sub, "trend") == 0)
                pb_cli_error(cmd, "trend: expected one METRIC");
            else
                pb_cli_error(cmd, "'%s': expected a subcommand: import, list or trend", sub);
            rc = -EINVAL;
        } else if (trend_flags && strcmp(sub, "trend") != 0) {
            pb_cli_error(cmd, "--benchmark, --min-shift, --alpha, --permutations and --seed "
                              "apply to trend only");
            rc = -EINVAL;
        }
    }
    if (rc) {
        fprintf(stderr, "Try 'popbench history --help'.\n");
        return PB_EXIT_USAGE;
    }

    struct pb_history *h;
    char err[1024];
    bool import = strcmp(sub, "import") == 0;
    if ((rc = pb_history_open_waiting(db, import, (unsigned)wait_s, &h, err, sizeof(err)))) {
        pb_cli_error(cmd, "--db %s", err);
        return PB_EXIT_USAGE;
    }
    int exit_code = PB_EXIT_OK;
    if (import) {
        struct pb_import_stats st;
        if (pb_history_import(h, (const char *const *)&argv[optind + 1], (size_t)nargs, &st, err,
                              sizeof(err))) {
            pb_cli_error(cmd, "%s (nothing imported)", err);
            exit_code = PB_EXIT_USAGE;
        } else {
            printf("imported into %s: %zu new file%s (%zu seen before), %zu new runs (%zu "
                   "already present)\n",
                   db, st.files_new, st.files_new == 1 ? "" : "s", st.files_seen, st.runs_new,
                   st.runs_seen);
        }
    } else if (strcmp(sub, "list") == 0) {
        exit_code = history_list(h, db);
    } else {
        exit_code = history_trend(h, db, argv[optind + 1], bench, &to);
    }
    pb_history_close(h);
    return exit_code;
}
