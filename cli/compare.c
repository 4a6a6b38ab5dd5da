/*
 * compare.c: `popbench compare`: B (and C, ...) against A, or variant against variant, per
 * benchmark and metric (results/compare.h): the headline metrics unless --all, a verdict per
 * metric and a one-line summary per benchmark, printed as a table, Markdown or JSON.
 */
#include "cli/cli.h"

#include "cli/table.h"
#include "results/compare.h"
#include "results/lockprof.h"
#include "results/metrics.h"
#include "results/verdict.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum format { FORMAT_TABLE, FORMAT_MARKDOWN, FORMAT_JSON, FORMAT_LOCKPROF };

static json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_strv(char **v)
{
    json_t *a = json_array();
    for (char **p = v; p && *p; p++)
        json_array_append_new(a, json_string(*p));
    return a;
}

static json_t *result_json(const struct pb_cmp_result *r, const struct pb_cmp_opts *o)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < r->nrow; i++) {
        const struct pb_cmp_row *w = &r->row[i];
        json_t *ci =
            w->has_ci ? json_pack("[o,o]", json_num(w->ci_lo), json_num(w->ci_hi)) : json_null();
        json_t *row = json_pack(
            "{s:s,s:s,s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:o,s:s,s:o,s:b,s:s}", "benchmark", w->bench,
            "metric", w->metric, "n_a", (json_int_t)w->na, "n_b", (json_int_t)w->nb, "median_a",
            json_num(w->med_a), "median_b", json_num(w->med_b), "cv_a", json_num(w->cv_a), "cv_b",
            json_num(w->cv_b), "ratio", json_num(w->ratio), "ci", ci, "interval",
            pb_interval_method_name(w->method), "p", json_num(w->p), "p_exact", w->exact, "verdict",
            pb_verdict_name(w->verdict));
        json_array_append_new(rows, row);
    }
    return json_pack("{s:s,s:s,s:o,s:b,s:b,s:b,s:f,s:f,s:f,s:o,s:o,s:I,s:o,s:o}", "a", r->label_a,
                     "b", r->label_b, "environment_mismatch", json_strv(r->env_mismatch),
                     "partial_a", r->partial_a, "partial_b", r->partial_b, "paired", r->paired,
                     "alpha", o->alpha, "min_effect", o->min_effect, "ci_level", r->ci_level,
                     "rows", rows, "geomean_pages_per_second_ratio", json_num(r->geomean),
                     "geomean_count", (json_int_t)r->ngeomean, "only_a", json_strv(r->only_a),
                     "only_b", json_strv(r->only_b));
}

static void fmt_num(char *buf, size_t len, double v)
{
    if (isnan(v))
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.4g", v);
}

/* "1.0%/2.3%" */
static void fmt_pct(char *buf, size_t len, double a, double b)
{
    char x[16] = "-", y[16] = "-";
    if (isfinite(a))
        snprintf(x, sizeof(x), "%.1f%%", a * 100);
    if (isfinite(b))
        snprintf(y, sizeof(y), "%.1f%%", b * 100);
    snprintf(buf, len, "%s/%s", x, y);
}

/* One line per benchmark: its throughput ratio and interval, then its verdicts counted. */
static void print_summaries(const struct pb_cmp_result *r, bool md, FILE *out)
{
    if (r->nrow == 0)
        return;
    fprintf(out, md ? "\n### Summary per benchmark\n\n" : "\nSummary per benchmark:\n");
    for (size_t i = 0; i < r->nrow;) {
        size_t j = i, count[PB_VERDICT_INCONCLUSIVE + 1] = {0};
        const struct pb_cmp_row *pps = NULL;
        for (; j < r->nrow && strcmp(r->row[j].bench, r->row[i].bench) == 0; j++) {
            count[r->row[j].verdict]++;
            if (strcmp(r->row[j].metric, pb_metrics[PB_M_pages_per_second].name) == 0)
                pps = &r->row[j];
        }
        fprintf(out, md ? "- %s: " : "  %s: ", r->row[i].bench);
        if (pps && pps->has_ci)
            fprintf(out, "pages/s %.3f [%.3f, %.3f] %s; ", pps->ratio, pps->ci_lo, pps->ci_hi,
                    pb_verdict_name(pps->verdict));
        else if (pps)
            fprintf(out, "pages/s %s; ", pb_verdict_name(pps->verdict));
        const char *sep = "";
        for (int v = 0; v <= PB_VERDICT_INCONCLUSIVE; v++)
            if (count[v]) {
                fprintf(out, "%s%zu %s", sep, count[v], pb_verdict_name((enum pb_verdict)v));
                sep = ", ";
            }
        fprintf(out, " (of %zu metric%s)\n", j - i, j - i == 1 ? "" : "s");
        i = j;
    }
}

static void print_text(const struct pb_cmp_result *r, bool md, FILE *out)
{
    fprintf(out, md ? "## B against A\n\n- A: %s\n- B: %s\n" : "A: %s\nB: %s\n", r->label_a,
            r->label_b);
    if (r->env_mismatch) {
        fprintf(out, md ? "\n> **ENVIRONMENT DIFFERS**: the ratios may measure the machines, "
                          "not the code.\n"
                        : "\n*** ENVIRONMENT DIFFERS: the ratios may measure the machines, not "
                          "the code.\n");
        for (char **p = r->env_mismatch; *p; p++)
            fprintf(out, md ? "> - %s\n" : "***   %s\n", *p);
    }
    if (r->partial_a || r->partial_b)
        fprintf(out, "\nNOTE: %s is a partial (interrupted) run.\n",
                r->partial_a && r->partial_b ? "each side"
                : r->partial_a               ? "A"
                                             : "B");
    fputc('\n', out);

    char ci_head[32];
    snprintf(ci_head, sizeof(ci_head), "%.0f%% CI of B/A", r->ci_level * 100);
    struct pb_ctable t;
    pb_ctable_init(&t, 10);
    pb_ctable_add(&t, "benchmark", "metric", r->paired ? "pairs" : "n A/B", "median A", "median B",
                  "CV A/B", "B/A", ci_head, "p", "verdict");
    for (size_t i = 0; i < r->nrow; i++) {
        const struct pb_cmp_row *w = &r->row[i];
        char n[32], ma[32], mb[32], cv[48], ratio[32], p[32], ci[64];
        if (r->paired)
            snprintf(n, sizeof(n), "%zu", w->na);
        else
            snprintf(n, sizeof(n), "%zu/%zu", w->na, w->nb);
        fmt_num(ma, sizeof(ma), w->med_a);
        fmt_num(mb, sizeof(mb), w->med_b);
        fmt_pct(cv, sizeof(cv), w->cv_a, w->cv_b);
        if (isnan(w->ratio))
            snprintf(ratio, sizeof(ratio), "-");
        else
            snprintf(ratio, sizeof(ratio), "%.3f", w->ratio);
        if (isnan(w->p))
            snprintf(p, sizeof(p), "-");
        else
            snprintf(p, sizeof(p), "%.3g%s", w->p, w->exact ? "" : "~");
        if (w->has_ci)
            snprintf(ci, sizeof(ci), "[%.3f, %.3f]", w->ci_lo, w->ci_hi);
        else
            snprintf(ci, sizeof(ci), "-");
        pb_ctable_add(&t, w->bench, w->metric, n, ma, mb, cv, ratio, ci, p,
                      pb_verdict_name(w->verdict));
    }
    pb_ctable_print(&t, md, out);
    pb_ctable_free(&t);
    print_summaries(r, md, out);

    if (r->ngeomean)
        fprintf(out,
                "\nGeometric mean of pages_per_second ratios (B/A) over %zu benchmark%s: %.3f\n",
                r->ngeomean, r->ngeomean == 1 ? "" : "s", r->geomean);
    for (char **p = r->only_a; p && *p; p++)
        fprintf(out, "only in A: %s\n", *p);
    for (char **p = r->only_b; p && *p; p++)
        fprintf(out, "only in B: %s\n", *p);
}

/* Writes the comparisons; JSON is one document {"comparisons": [...]} for all of them. */
static int print_comparisons(const struct pb_cmp_result *r, size_t n, enum format fmt,
                             const struct pb_cmp_opts *o, FILE *out)
{
    if ((!r && n) || !o || !out)
        return -EINVAL;
    if (fmt == FORMAT_JSON) {
        json_t *all = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(all, result_json(&r[i], o));
        json_t *doc = json_pack("{s:o}", "comparisons", all);
        int rc = json_dumpf(doc, out, JSON_INDENT(2));
        json_decref(doc);
        fputc('\n', out);
        return rc ? -EIO : 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (i)
            fputc('\n', out);
        print_text(&r[i], fmt == FORMAT_MARKDOWN, out);
    }
    if (fmt == FORMAT_TABLE || fmt == FORMAT_MARKDOWN)
        fprintf(out,
                "\nVerdicts: the %.0f%% interval of B/A inside 1 +- %g%% is no difference, wholly "
                "beyond it better or worse (in the metric's direction), across a bound "
                "inconclusive. Intervals: paired t on log ratios for variants of one file "
                "(repetitions paired by index); between files Welch's t on logs, and for tail "
                "percentiles (p99 and beyond) a bootstrap of the ratio of medians (%u resamples, "
                "seed %llu). p: two-sided Mann-Whitney U of independent samples, for "
                "reference (~: normal approximation).\n",
                (1 - o->alpha) * 100, o->min_effect * 100, o->resamples,
                (unsigned long long)o->seed);
    return ferror(out) ? -EIO : 0;
}

static void compare_usage(FILE *out)
{
    fputs("usage: popbench compare [options] A.json B.json [C.json ...]\n"
          "       popbench compare --variants VA,VB [options] FILE.json [...]\n"
          "\n"
          "Compares B (and C, ...) against A, per benchmark (workload/variant/threads:N, its\n"
          "repetitions grouped) and per metric: the medians, their coefficients of variation,\n"
          "the ratio B/A with its 95% interval, and a verdict: no difference when the whole\n"
          "interval lies inside 1 +- min-effect, better or worse when it lies wholly beyond,\n"
          "in the metric's direction (context.metrics, results/metrics.def), inconclusive when\n"
          "it straddles a bound or there is none (fewer than 2 repetitions a side). The same\n"
          "rules as popbench run's table. Variants of one file pair their repetitions by index\n"
          "(one round each: paired t on log ratios); files are independent samples (Welch's t\n"
          "on logs; tail percentiles, p99 and beyond, by a seeded bootstrap of the ratio of\n"
          "medians), with a Mann-Whitney p alongside. Plain counts are not compared. Only the\n"
          "headline metrics (pages/s, call p50/p99/p99.9, lock wait per page, scrub backlog)\n"
          "unless --all or --metrics. A one-line summary per benchmark ends each comparison.\n"
          "A differing environment (cpu_model, compiler, build_type, num_cpus) is reported\n"
          "first.\n"
          "\n"
          "options:\n"
          "  --format table|markdown|json|lockprof  output format (default table); lockprof:\n"
          "                      per benchmark and lock, the lock count, time held, block\n"
          "                      count and time blocked of A and B as Xen's xenlockprof\n"
          "                      prints them (medians over repetitions) and their ratios\n"
          "  --all               every metric, not only the headline ones\n"
          "  --metrics LIST      only these metrics (comma-separated)\n"
          "  --min-effect F      smallest relative change that is a verdict (default 0.03 = 3%)\n"
          "  --alpha F           1 - the intervals' level (default 0.05: 95% intervals)\n"
          "  --variants VA,VB    compare variant VB against VA inside each file\n"
          "  --resamples N       bootstrap resamples (default 2000)\n"
          "  --seed N            bootstrap seed (default 1)\n"
          "  -h, --help          this text\n"
          "Exit status: 0 compared, 2 bad input or no benchmark in common.\n",
          out);
}

static int parse_format(const char *cmd, const char *arg, enum format *fmt)
{
    static const char *const names[] = {"table", "markdown", "json", "lockprof"};
    for (size_t i = 0; i < 4; i++)
        if (strcmp(arg, names[i]) == 0) {
            *fmt = (enum format)i;
            return 0;
        }
    pb_cli_error(cmd, "--format '%s': expected table, markdown, json or lockprof", arg);
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
        {"all", no_argument, NULL, 'A'},
        {"resamples", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "compare";
    struct pb_cmp_opts o;
    pb_cmp_opts_default(&o);
    enum format fmt = FORMAT_TABLE;
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
        case 'a':
            rc = pb_cli_effect_alpha(cmd, c, optarg, &o.min_effect, &o.alpha);
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
        case 'A':
            o.all = true;
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
            rc = 1; /* done */
            break;
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
    } else if (rc == 0 && variants && fmt == FORMAT_LOCKPROF) {
        pb_cli_error(cmd, "--format lockprof compares files: A.json B.json, not --variants");
        rc = -EINVAL;
    }
    if (rc) {
        if (rc < 0)
            fprintf(stderr, "Try 'popbench compare --help'.\n");
        pb_strv_free(variants);
        pb_strv_free(metrics);
        return rc < 0 ? PB_EXIT_USAGE : PB_EXIT_OK;
    }

    struct pb_results **files = calloc((size_t)nfiles, sizeof(*files));
    struct pb_cmp_result *res = calloc((size_t)nfiles, sizeof(*res));
    size_t nres = 0;
    char err[1024];
    rc = files && res ? 0 : -ENOMEM;
    for (int i = 0; i < nfiles && rc == 0; i++)
        if ((rc = pb_results_load(argv[optind + i], &files[i], err, sizeof(err))))
            pb_cli_error(cmd, "%s", err);
    for (int i = 0; i < nfiles && rc == 0; i++) {
        if (variants) {
            rc = pb_compare_variants(files[i], variants[0], variants[1], &o, &res[nres]);
            for (int v = 0; rc == -ENOENT && v < 2; v++) {
                bool found = false;
                for (size_t k = 0; k < pb_results_group_count(files[i]) && !found; k++)
                    found = strcmp(pb_results_group_at(files[i], k)->variant, variants[v]) == 0;
                if (!found)
                    pb_cli_error(cmd, "%s: no benchmark of variant '%s' (--variants)",
                                 pb_results_path(files[i]), variants[v]);
            }
        } else if (i > 0) {
            rc = pb_compare_files(files[0], files[i], &o, &res[nres]);
        } else {
            continue;
        }
        if (rc == 0 && res[nres].ncommon == 0) {
            pb_cli_error(cmd,
                         "no benchmark in common: %s has %zu, %s has %zu, none by the same "
                         "name%s",
                         variants ? variants[0] : argv[optind], res[nres].nonly_a,
                         variants ? variants[1] : argv[optind + i], res[nres].nonly_b,
                         variants ? " (workload and threads)" : " (workload/variant/threads:N)");
            rc = -ENOENT;
        }
        if (rc == 0)
            nres++;
    }
    for (int i = 1; rc == 0 && fmt == FORMAT_LOCKPROF && i < nfiles; i++) {
        if (i > 1)
            fputc('\n', stdout);
        printf("A: %s\nB: %s\n\n", res[i - 1].label_a, res[i - 1].label_b);
        if ((rc = pb_lockprof_compare(files[0], files[i], stdout)))
            pb_cli_error(cmd, "cannot write the report: %s", strerror(-rc));
    }
    if (rc == 0 && fmt != FORMAT_LOCKPROF && (rc = print_comparisons(res, nres, fmt, &o, stdout)))
        pb_cli_error(cmd, "cannot write the report: %s", strerror(-rc));
    else if (rc == -ENOMEM)
        pb_cli_error(cmd, "out of memory");
    for (size_t i = 0; i < nres; i++)
        pb_cmp_result_free(&res[i]);
    for (int i = 0; files && i < nfiles; i++)
        pb_results_free(files[i]);
    free(files);
    free(res);
    pb_strv_free(variants);
    pb_strv_free(metrics);
    return rc ? PB_EXIT_USAGE : PB_EXIT_OK;
}
