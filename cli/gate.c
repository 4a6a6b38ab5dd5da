/*
 * gate.c: `popbench gate`, the CI performance gate of a fresh results file against a baseline
 * (results/gate.h judges; this prints the rows and the verdict, and --update replaces the
 * baseline). Exit status: 0 pass, 1 regression, 2 error or nothing gated, 3 inconclusive, the
 * environment (cpu_model, compiler, build_type) differs from the baseline's, or the wall-clock
 * tier was refused for want of a calibration that supports it.
 */
#include "cli/cli.h"

#include "cli/table.h"
#include "results/compare.h"
#include "results/gate.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const cmd = "gate";

static const char *or_unknown(const char *s)
{
    return s ? s : "?";
}

static void fmt(char *buf, size_t len, double v, const char *format)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, format, v);
}

/* ==== Baselines =========================================================================== */

/* DIR_OR_FILE: an existing directory (or a path ending in '/') holds NAME.json named after
 * the results file; anything else is the baseline file itself. Returns malloc'd path. */
static char *baseline_path(const char *spec, const char *results)
{
    struct stat st;
    size_t len = strlen(spec);
    bool dir = (stat(spec, &st) == 0 && S_ISDIR(st.st_mode)) || (len && spec[len - 1] == '/');
    if (!dir)
        return strdup(spec);
    char *copy = strdup(results);
    if (!copy)
        return NULL;
    char *path = NULL;
    if (asprintf(&path, "%s%s%s", spec, len && spec[len - 1] == '/' ? "" : "/", basename(copy)) < 0)
        path = NULL;
    free(copy);
    return path;
}

static int gate_update(const char *fresh, const char *path)
{
    struct pb_results *rf;
    char err[1024];
    if (pb_results_load(fresh, &rf, err, sizeof(err)) != 0)
        return pb_cli_error(cmd, "%s", err);
    int exit_code = PB_EXIT_USAGE;
    if (pb_results_is_partial(rf))
        pb_cli_error(cmd, "%s: a partial (interrupted) run cannot become a baseline", fresh);
    else if (pb_results_bench_count(rf) == 0)
        pb_cli_error(cmd, "%s: has no benchmarks: a baseline made of it would gate nothing", fresh);
    else if (pb_file_copy_atomic(fresh, path, err, sizeof(err)) != 0)
        pb_cli_error(cmd, "--baseline: %s", err);
    else
        exit_code = PB_EXIT_OK;
    if (exit_code == PB_EXIT_OK)
        printf("baseline %s updated from %s (commit %.12s, host %s)\n", path, fresh,
               or_unknown(pb_results_context_string(rf, "git_commit")),
               or_unknown(pb_results_context_string(rf, "host_name")));
    pb_results_free(rf);
    return exit_code;
}

/* ==== The command ========================================================================= */

static void print_env(const char *what, char **mismatch)
{
    if (!mismatch)
        return;
    printf("*** ENVIRONMENT DIFFERS between the baseline and %s: the gate cannot judge.\n", what);
    for (char **p = mismatch; *p; p++)
        printf("***   %s\n", *p);
}

static void print_rows(const struct pb_gate_result *r)
{
    struct pb_ctable t;
    pb_ctable_init(&t, 9);
    pb_ctable_add(&t, "benchmark", "metric", "tier", "baseline", "fresh", "ratio", "tolerance",
                  "verdict", "note");
    for (size_t i = 0; i < r->nrow; i++) {
        const struct pb_gate_row *w = &r->row[i];
        char b[32], f[32], ratio[32];
        fmt(b, sizeof(b), w->base, "%.6g");
        fmt(f, sizeof(f), w->fresh, "%.6g");
        fmt(ratio, sizeof(ratio), w->ratio, "%.4f");
        pb_ctable_add(&t, w->bench, w->metric, w->tier, b, f, ratio, w->tolerance, w->verdict,
                      w->note);
    }
    pb_ctable_print(&t, false, stdout);
    pb_ctable_free(&t);
}

static int gate_run(const struct pb_gate_opts *o, const char *path, const char *fresh_path,
                    const char *confirm_path)
{
    struct pb_results *base = NULL, *fresh = NULL, *confirm = NULL;
    char err[1024];
    int rc = 0;
    if ((rc = pb_results_load(path, &base, err, sizeof(err))) ||
        (rc = pb_results_load(fresh_path, &fresh, err, sizeof(err))) ||
        (confirm_path && (rc = pb_results_load(confirm_path, &confirm, err, sizeof(err))))) {
        pb_cli_error(cmd, "%s%s", rc == -ENOENT && !base ? "--baseline: " : "", err);
        pb_results_free(base);
        pb_results_free(fresh);
        return PB_EXIT_USAGE;
    }

    printf("baseline: %s (commit %.12s, host %s)\nfresh:    %s (commit %.12s, host %s)\n", path,
           or_unknown(pb_results_context_string(base, "git_commit")),
           or_unknown(pb_results_context_string(base, "host_name")), fresh_path,
           or_unknown(pb_results_context_string(fresh, "git_commit")),
           or_unknown(pb_results_context_string(fresh, "host_name")));
    if (confirm)
        printf("confirm:  %s (commit %.12s)\n", confirm_path,
               or_unknown(pb_results_context_string(confirm, "git_commit")));
    /* The deterministic tier alone gates counts, which another CPU model does not change. */
    bool cpu_matters = o->tier != PB_GATE_DETERMINISTIC;
    char **env = pb_env_mismatch(base, fresh, cpu_matters, false);
    char **env_confirm = confirm ? pb_env_mismatch(base, confirm, cpu_matters, false) : NULL;
    print_env("the fresh run", env);
    print_env("the confirming run", env_confirm);
    if (pb_results_is_partial(fresh))
        printf(
            "NOTE: the fresh run is partial (interrupted): missing benchmarks are inconclusive.\n");
    putchar('\n');

    struct pb_gate_result g;
    rc = pb_gate_judge(o, base, fresh, confirm, &g);
    if (rc == 0)
        print_rows(&g);
    if (rc == 0 && (o->tier & PB_GATE_WALLCLOCK) && !g.wallclock_refused)
        printf("\nwallclock rows: baseline and fresh are medians of metric(variant) / "
               "metric(%s) over repetitions of one run.\n",
               o->reference);
    if (rc == 0 && g.wallclock_refused)
        printf("\nwall-clock tier REFUSED: %s. The deterministic counts are gated as usual.\n",
               g.refusal);

    int exit_code;
    if (rc) {
        exit_code = pb_cli_error(cmd, "out of memory");
    } else if (g.gated == 0) {
        exit_code = PB_EXIT_USAGE;
        printf("\ngate: ERROR (exit 2): nothing gated\n");
        if (g.wallclock_refused)
            pb_cli_error(cmd, "nothing gated: the wall-clock tier was refused: %s", g.refusal);
        else
            pb_cli_error(cmd,
                         "nothing gated: %s has no benchmark of the baseline %s with a metric to "
                         "gate (%zu benchmark%s in it, %zu in the baseline)",
                         fresh_path, path, pb_results_group_count(fresh),
                         pb_results_group_count(fresh) == 1 ? "" : "s",
                         pb_results_group_count(base));
    } else if (env || env_confirm) {
        exit_code = PB_EXIT_INCONCLUSIVE;
        printf("\ngate: INCONCLUSIVE (exit 3): the environment differs from the baseline's; "
               "record a new baseline on this machine (--update)\n");
    } else if (g.failed) {
        exit_code = PB_EXIT_FAILED;
        printf("\ngate: REGRESSION (exit 1): %zu of %zu gated metrics failed\n", g.failed, g.gated);
    } else if (g.inconclusive || g.wallclock_refused) {
        exit_code = PB_EXIT_INCONCLUSIVE;
        printf("\ngate: INCONCLUSIVE (exit 3): %zu inconclusive, %zu gated%s\n", g.inconclusive,
               g.gated, g.wallclock_refused ? ", the wall-clock tier refused" : "");
    } else {
        exit_code = PB_EXIT_OK;
        printf("\ngate: PASS (exit 0): %zu gated metrics\n", g.gated);
    }
    pb_gate_result_free(&g);
    pb_strv_free(env);
    pb_strv_free(env_confirm);
    pb_results_free(base);
    pb_results_free(fresh);
    pb_results_free(confirm);
    return exit_code;
}

static void gate_usage(FILE *out)
{
    fputs("usage: popbench gate --baseline DIR_OR_FILE [options] RESULTS.json\n"
          "       popbench gate --update --baseline DIR_OR_FILE RESULTS.json\n"
          "\n"
          "Gates a fresh results file against a baseline (with a directory, the baseline is\n"
          "DIR/<name of RESULTS.json>; --update copies RESULTS.json there atomically).\n"
          "Deterministic metrics (their tier in the metric table: lock_acq_per_page,\n"
          "scrub_pages_per_page, continuations_per_call, instructions, plain counts) gate\n"
          "hard within a tolerance, repetition by repetition where both runs are\n"
          "operation-bounded single-thread runs with the same repetitions (rep r runs\n"
          "seed + r), else by their medians;\n"
          "wall-clock metrics gate only as ratios to a reference variant of the same run,\n"
          "with a Mann-Whitney test over repetitions, and fail only when a re-run (--confirm)\n"
          "fails too. Record runs with 2 or more repetitions (4 or more for wall-clock\n"
          "metrics at alpha 0.05). Wall-clock verdicts are refused unless the fresh file's\n"
          "context.calibration (popbench calibrate) shows an A/A false-alarm rate at most\n"
          "alpha and a detection rate of its known slowdown of at least 0.9.\n"
          "\n"
          "options:\n"
          "  --baseline PATH          baseline file, or directory of NAME.json (required)\n"
          "  --update                 make RESULTS.json the baseline\n"
          "  --confirm RESULTS2.json  a re-run that must fail too for a wall-clock regression\n"
          "  --reference-variant V    reference for wall-clock ratios (default xen)\n"
          "  --tier T                 deterministic, wallclock or all (default all)\n"
          "  --metrics LIST           gate only these metrics (default: the deterministic ones\n"
          "                           and pages_per_second,call_p50_ns,call_p99_ns,\n"
          "                           lock_wait_ns_per_page)\n"
          "  --min-effect F           wall-clock minimum relative change (default 0.05 = 5%)\n"
          "  --alpha F                significance level (default 0.05)\n"
          "  --instr-tolerance F      relative tolerance of instructions (default 0.005)\n"
          "  --count-tolerance F      relative tolerance of other deterministic metrics\n"
          "                           (default 0: exact)\n"
          "  -h, --help               this text\n"
          "Exit status: 0 pass, 1 regression, 2 error or nothing gated (no benchmark of the\n"
          "baseline in RESULTS.json with a metric to gate), 3 inconclusive, environment\n"
          "differs (compiler, build_type; and cpu_model unless --tier deterministic) or the\n"
          "wall-clock tier refused.\n",
          out);
}

int pb_cmd_gate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"baseline", required_argument, NULL, 'b'},
        {"update", no_argument, NULL, 'u'},
        {"confirm", required_argument, NULL, 'c'},
        {"reference-variant", required_argument, NULL, 'r'},
        {"tier", required_argument, NULL, 't'},
        {"metrics", required_argument, NULL, 'm'},
        {"min-effect", required_argument, NULL, 'e'},
        {"alpha", required_argument, NULL, 'a'},
        {"instr-tolerance", required_argument, NULL, 'I'},
        {"count-tolerance", required_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct pb_gate_opts o;
    pb_gate_opts_default(&o);
    const char *baseline = NULL, *confirm = NULL;
    char **metrics = NULL;
    bool update = false;
    int c, rc = 0;
    optind = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            baseline = optarg;
            break;
        case 'u':
            update = true;
            break;
        case 'c':
            confirm = optarg;
            break;
        case 'r':
            o.reference = optarg;
            break;
        case 't':
            if (strcmp(optarg, "deterministic") == 0)
                o.tier = PB_GATE_DETERMINISTIC;
            else if (strcmp(optarg, "wallclock") == 0)
                o.tier = PB_GATE_WALLCLOCK;
            else if (strcmp(optarg, "all") == 0)
                o.tier = PB_GATE_ALL;
            else {
                pb_cli_error(cmd, "--tier '%s': expected deterministic, wallclock or all", optarg);
                rc = -EINVAL;
            }
            break;
        case 'm':
            pb_strv_free(metrics);
            o.metrics = (const char *const *)(metrics = pb_cli_split(optarg));
            if (!metrics || !metrics[0]) {
                pb_cli_error(cmd, "--metrics '%s': expected metric names, comma-separated", optarg);
                rc = -EINVAL;
            }
            break;
        case 'e':
        case 'a':
            rc = pb_cli_effect_alpha(cmd, c, optarg, &o.min_effect, &o.alpha);
            break;
        case 'I':
            rc = pb_cli_double(cmd, "--instr-tolerance", optarg, 0, 0.99, true, &o.instr_tol);
            break;
        case 'C':
            rc = pb_cli_double(cmd, "--count-tolerance", optarg, 0, 0.99, true, &o.count_tol);
            break;
        case 'h':
            gate_usage(stdout);
            rc = 1; /* done */
            break;
        default:
            rc = -EINVAL;
            break;
        }
    }
    if (rc == 0 && !baseline) {
        pb_cli_error(cmd, "--baseline DIR_OR_FILE is required");
        rc = -EINVAL;
    } else if (rc == 0 && argc - optind != 1) {
        pb_cli_error(cmd, "expected one results file, RESULTS.json");
        rc = -EINVAL;
    } else if (rc == 0 && update && confirm) {
        pb_cli_error(cmd, "--confirm cannot be used with --update");
        rc = -EINVAL;
    }
    if (rc) {
        if (rc < 0)
            fprintf(stderr, "Try 'popbench gate --help'.\n");
        pb_strv_free(metrics);
        return rc < 0 ? PB_EXIT_USAGE : PB_EXIT_OK;
    }
    const char *fresh = argv[optind];
    char *path = baseline_path(baseline, fresh);
    int exit_code = PB_EXIT_USAGE;
    if (!path)
        pb_cli_error(cmd, "out of memory");
    else if (update)
        exit_code = gate_update(fresh, path);
    else
        exit_code = gate_run(&o, path, fresh, confirm);
    free(path);
    pb_strv_free(metrics);
    return exit_code;
}
