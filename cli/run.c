/*
 * run.c: `popbench run`: loads the workloads and runs them through the runner in rounds (per
 * workload, one repetition of every variant and thread count, the variants in a seeded order)
 * until the ratios to the reference variant are precise enough or the time budget is spent
 * (cli/run.h, results/verdict.h); writes the results after every finished run, and prints the
 * comparison (docs/popbench.md).
 *
 * Exit status: 0 success; 1 a run failed (its validator found a broken invariant, a worker
 * failed); 2 bad input (flag, workload file, topology); 130 interrupted by SIGINT (what was
 * measured is written, marked partial).
 */
#include "cli/run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/report.h"
#include "bench/runner.h"
#include "bench/stream.h"
#include "bench/topology.h"
#include "cli/table.h"
#include "core/clock.h"
#include "core/heap.h"
#include "core/pb.h"
#include "core/prng.h"
#include "results/results.h"
#include "results/verdict.h"
#include "workloads/workload.h"

#include "pb_git_commit.h" /* generated: POPBENCH_GIT_COMMIT */

#ifndef POPBENCH_BUILD_TYPE
#define POPBENCH_BUILD_TYPE "unknown"
#endif
#ifndef POPBENCH_CFLAGS
#define POPBENCH_CFLAGS ""
#endif
#ifndef POPBENCH_SOURCE_DIR
#define POPBENCH_SOURCE_DIR "."
#endif
#ifndef POPBENCH_HWLOC_VERSION
#define POPBENCH_HWLOC_VERSION "unknown"
#endif
#ifndef POPBENCH_URCU_VERSION
#define POPBENCH_URCU_VERSION "unknown"
#endif

/* The baseline and the per-node design: the comparison the default suite is for, in about
 * three minutes on 2 CPUs. `--variant all` runs every variant. */
#define DEFAULT_VARIANTS "xen,pernode"
/* The whole run's time budget for repetitions: the default suite (7 workloads, two variants)
 * stays within about three minutes on 2 CPUs. */
#define DEFAULT_BUDGET_NS (170 * NS_PER_SEC)
#define DEFAULT_FLOOR_NS  (500 * NS_PER_MSEC)
#define DEFAULT_MIN_REPS  3
#define DEFAULT_MAX_REPS  30
#define NS_PER_SEC        UINT64_C(1000000000)
#define NS_PER_MSEC       UINT64_C(1000000)
#define ERR_LEN           2048

static _Atomic bool interrupted;

static void on_sigint(int sig)
{
    atomic_store(&interrupted, true);
    /* A second Ctrl-C ends the process the ordinary way. */
    signal(sig, SIG_DFL);
}

/* ---------------------------------------------------------------------------------------------
 * Option values.
 */

static const char *find_variant(const char *name)
{
    for (const char *const *v = pb_variant_names(); *v; v++)
        if (strcmp(*v, name) == 0)
            return *v;
    return NULL;
}

/* The label of the next copy of variant: its name for the first, then name.2, name.3, ... */
static int add_variant(struct pb_run_opts *o, const char *variant)
{
    unsigned copies = 1;
    if (o->nr_variants == PB_RUN_MAX_VARIANTS)
        return -E2BIG;
    for (unsigned i = 0; i < o->nr_variants; i++)
        copies += o->variants[i].variant == variant;
    struct pb_run_variant *v = &o->variants[o->nr_variants++];
    *v = (struct pb_run_variant){.variant = variant};
    if (copies == 1)
        snprintf(v->label, sizeof(v->label), "%s", variant);
    else
        snprintf(v->label, sizeof(v->label), "%s.%u", variant, copies);
    return 0;
}

int pb_run_parse_variants(const char *list, struct pb_run_opts *o, char *bad, size_t badlen)
{
    char buf[512];
    o->nr_variants = 0;
    if (!list || !*list || strlen(list) >= sizeof(buf))
        return -EINVAL;
    if (strcmp(list, "all") == 0) {
        for (const char *const *v = pb_variant_names(); *v; v++)
            if (add_variant(o, *v))
                return -E2BIG;
        return 0;
    }
    snprintf(buf, sizeof(buf), "%s", list);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        const char *found = find_variant(tok);
        if (!found) {
            snprintf(bad, badlen, "%s", tok);
            return -ENOENT;
        }
        int rc = add_variant(o, found);
        if (rc)
            return rc;
    }
    return o->nr_variants ? 0 : -EINVAL;
}

static int find_label(const struct pb_run_opts *o, const char *label)
{
    for (unsigned i = 0; i < o->nr_variants; i++)
        if (strcmp(o->variants[i].label, label) == 0)
            return (int)i;
    return -1;
}

static void label_list(const struct pb_run_opts *o, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < o->nr_variants && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", o->variants[i].label);
}

/* A duration or "<N>ops" (the workload file's phase syntax). */
static int parse_phase(const char *s, struct pb_wl_phase *ph, char *err, size_t errlen)
{
    size_t n = s ? strlen(s) : 0;
    if (n > 3 && strcmp(s + n - 3, "ops") == 0) {
        char num[32];
        uint64_t ops;
        if (n - 3 >= sizeof(num))
            return -EINVAL;
        memcpy(num, s, n - 3);
        num[n - 3] = '\0';
        if (pb_cli_parse_u64(num, &ops)) {
            snprintf(err, errlen, "'%s' is not an operation count (expected such as 10000ops)", s);
            return -EINVAL;
        }
        *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_OPS, .ops = ops};
        return 0;
    }
    uint64_t ns;
    int rc = pb_parse_duration(s, &ns, err, errlen);
    if (rc)
        return rc;
    *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = ns};
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * popbench run
 */

static void run_usage(FILE *out)
{
    fputs(
        "usage: popbench run [WORKLOAD ...] [options]\n"
        "Runs workloads (names from the workloads directory, or paths to .yaml files; none:\n"
        "the 'default' suite) on every variant and thread count asked for, and reports\n"
        "throughput, tail latency and lock contention.\n"
        "\n"
        "  --variant LIST        allocator variants, comma-separated, or all "
        "(default: " DEFAULT_VARIANTS ");\n"
        "                        a name given twice runs twice, as copies xen, xen.2 (A/A)\n"
        "  --reference LABEL     the variant the others are compared with (default: the first)\n"
        "  --inject LABEL=NS     a known slowdown: LABEL spins NS ns per extent it allocates\n"
        "                        (repeatable; e.g. --variant xen,xen --inject xen.2=500)\n"
        "  --threads LIST        primary thread counts: 1,2,4 or 1-4 (default: the workload's)\n"
        "  --lock KIND           ticket or mutex (default: ticket; mutex when oversubscribed)\n"
        "  --topology SPEC       real (default), a hwloc synthetic string, or an XML file\n"
        "  --placement P         compact (default) or scatter\n"
        "  --precision P         repeat until every ratio's 95% interval is within +-P\n"
        "                        (default 3%)\n"
        "  --min-effect P        smaller changes are no difference (default: the precision)\n"
        "  --budget D            time for all the repetitions (default 170s); a workload's\n"
        "                        share is what is left over the workloads left\n"
        "  --min-repetitions N   repetitions always run (default 3, or the workload's)\n"
        "  --max-repetitions N   repetitions at most (default 30)\n"
        "  --repetitions N       exactly N repetitions, no adaptive stopping\n"
        "  --min-measure D       no measured phase shorter (default 500ms; 0s: no floor);\n"
        "                        storms repeat in rounds to reach it\n"
        "  --duration D          measure phase of this duration (e.g. 2s, 500ms)\n"
        "  --ops N               measure phase of N operations\n"
        "  --warmup D|Nops       warm-up phase (default: the workload's)\n"
        "  --seed N              seed of the run order; also replaces the workloads' seeds\n"
        "  --out FILE            write the results (JSON) to FILE, after every run\n"
        "  --format F            stdout: table (default), json, csv or none\n"
        "  --calibration FILE    copy context.calibration of a popbench calibrate file\n"
        "  --quiet               no progress line and no notes\n"
        "  --verify MODE         off (default), sampled or full: check scrubbed frames read zero\n"
        "  --clear METHOD        auto (default), memset, stosb or nt\n"
        "  --claim-mode MODE     workload (default: each group's claim_mode), host (every\n"
        "                        claim host-wide), nodes (split over each domain's own nodes)\n"
        "                        or none (no claims)\n"
        "  --option NAME=VALUE   set one of the model's options (repeatable; wins over the\n"
        "                        workloads' `options`): the list is below\n"
        "  --workloads-dir DIR   where workload names are looked up\n"
        "  --self-test-overhead  measure the harness's own cost per timed call, then exit\n"
        "  --interrupt-after N   (tests) raise SIGINT during run N+1\n"
        "\n"
        "Exit status: 0 ok, 1 a run failed validation, 2 bad input, 130 interrupted.\n"
        "\nOptions (--option NAME=VALUE, or a workload's `options`):\n",
        out);
    const struct pb_option_desc *d;
    for (unsigned i = 0; (d = pb_option_desc(i)); i++)
        fprintf(out, "  %-24s %" PRId64 " to %" PRId64 ", default %" PRId64 ": %s\n", d->name,
                d->min, d->max, d->def, d->meaning);
}

enum {
    OPT_VARIANT = 256,
    OPT_REFERENCE,
    OPT_INJECT,
    OPT_PRECISION,
    OPT_MIN_EFFECT,
    OPT_BUDGET,
    OPT_MIN_REPS,
    OPT_MAX_REPS,
    OPT_MIN_MEASURE,
    OPT_CALIBRATION,
    OPT_THREADS,
    OPT_LOCK,
    OPT_TOPOLOGY,
    OPT_PLACEMENT,
    OPT_REPETITIONS,
    OPT_DURATION,
    OPT_OPS,
    OPT_WARMUP,
    OPT_SEED,
    OPT_OUT,
    OPT_FORMAT,
    OPT_QUIET,
    OPT_VERIFY,
    OPT_CLEAR,
    OPT_CLAIM_MODE,
    OPT_OPTION,
    OPT_WORKLOADS_DIR,
    OPT_SELF_TEST,
    OPT_INTERRUPT_AFTER,
    OPT_HELP,
};

static const struct option run_options[] = {
    {"variant", required_argument, NULL, OPT_VARIANT},
    {"reference", required_argument, NULL, OPT_REFERENCE},
    {"inject", required_argument, NULL, OPT_INJECT},
    {"precision", required_argument, NULL, OPT_PRECISION},
    {"min-effect", required_argument, NULL, OPT_MIN_EFFECT},
    {"budget", required_argument, NULL, OPT_BUDGET},
    {"min-repetitions", required_argument, NULL, OPT_MIN_REPS},
    {"max-repetitions", required_argument, NULL, OPT_MAX_REPS},
    {"min-measure", required_argument, NULL, OPT_MIN_MEASURE},
    {"calibration", required_argument, NULL, OPT_CALIBRATION},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"lock", required_argument, NULL, OPT_LOCK},
    {"topology", required_argument, NULL, OPT_TOPOLOGY},
    {"placement", required_argument, NULL, OPT_PLACEMENT},
    {"repetitions", required_argument, NULL, OPT_REPETITIONS},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"ops", required_argument, NULL, OPT_OPS},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"seed", required_argument, NULL, OPT_SEED},
    {"out", required_argument, NULL, OPT_OUT},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"verify", required_argument, NULL, OPT_VERIFY},
    {"clear", required_argument, NULL, OPT_CLEAR},
    {"claim-mode", required_argument, NULL, OPT_CLAIM_MODE},
    {"option", required_argument, NULL, OPT_OPTION},
    {"workloads-dir", required_argument, NULL, OPT_WORKLOADS_DIR},
    {"self-test-overhead", no_argument, NULL, OPT_SELF_TEST},
    {"interrupt-after", required_argument, NULL, OPT_INTERRUPT_AFTER},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

int pb_run_parse(const char *cmd, int argc, char **argv, struct pb_run_opts *o, int *first_arg)
{
    char err[ERR_LEN], bad[128];
    int c;
    uint64_t v;

    *o = (struct pb_run_opts){
        .topology = "real",
        .placement = PB_PLACE_COMPACT,
        .format = "table",
        .verify = PB_VERIFY_OFF,
        .clear = PB_CLEAR_AUTO,
        .claim_mode = PB_RUN_CLAIM_WORKLOAD,
        .workloads_dir = POPBENCH_SOURCE_DIR "/workloads",
        .self_test_ops = 200000,
        .interrupt_after = -1,
        .min_reps = DEFAULT_MIN_REPS,
        .max_reps = DEFAULT_MAX_REPS,
        .precision = PB_VERDICT_PRECISION,
        .min_effect = -1,
        .budget_ns = DEFAULT_BUDGET_NS,
        .floor_ns = DEFAULT_FLOOR_NS,
    };
    pb_options_init(&o->options);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", run_options, NULL)) != -1) {
        switch (c) {
        case OPT_VARIANT: {
            int rc = pb_run_parse_variants(optarg, o, bad, sizeof(bad));
            if (rc) {
                pb_cli_variant_list(err, sizeof(err));
                if (rc == -ENOENT)
                    return pb_cli_error(cmd, "--variant: unknown variant '%s' (expected %s)", bad,
                                        err);
                if (rc == -E2BIG)
                    return pb_cli_error(cmd, "--variant: more than %d variants",
                                        PB_RUN_MAX_VARIANTS);
                return pb_cli_error(
                    cmd,
                    "--variant: '%s' is not a list of variants (expected some of %s, "
                    "comma-separated)",
                    optarg, err);
            }
            break;
        }
        case OPT_REFERENCE:
            o->reference_given = optarg;
            break;
        case OPT_INJECT: {
            const char *eq = strchr(optarg, '=');
            uint64_t ns = 0;
            if (!eq || eq == optarg || (size_t)(eq - optarg) >= PB_RUN_LABEL_LEN ||
                pb_cli_parse_u64(eq + 1, &ns) || ns > 10000000)
                return pb_cli_error(cmd,
                                    "--inject: '%s' is not LABEL=NS (expected a variant's label "
                                    "and a delay of 0 to 10000000 ns, e.g. xen.2=500)",
                                    optarg);
            if (o->nr_inject_pending == PB_RUN_MAX_VARIANTS)
                return pb_cli_error(cmd, "--inject: more than %d", PB_RUN_MAX_VARIANTS);
            snprintf(o->inject_pending[o->nr_inject_pending], PB_RUN_LABEL_LEN, "%.*s",
                     (int)(eq - optarg), optarg);
            o->inject_pending_ns[o->nr_inject_pending++] = ns;
            break;
        }
        case OPT_PRECISION:
            if (pb_cli_double(cmd, "--precision", optarg, 0.001, 0.5, true, &o->precision))
                return PB_EXIT_USAGE;
            break;
        case OPT_MIN_EFFECT:
            if (pb_cli_double(cmd, "--min-effect", optarg, 0, 0.99, true, &o->min_effect))
                return PB_EXIT_USAGE;
            break;
        case OPT_BUDGET:
            if (pb_parse_duration(optarg, &o->budget_ns, err, sizeof(err)))
                return pb_cli_error(cmd, "--budget: %s", err);
            break;
        case OPT_MIN_REPS:
        case OPT_MAX_REPS:
            if (pb_cli_parse_u64(optarg, &v) || v < 1 || v > 1000)
                return pb_cli_error(cmd, "%s: '%s' is not a repetition count (expected 1 to 1000)",
                                    c == OPT_MIN_REPS ? "--min-repetitions" : "--max-repetitions",
                                    optarg);
            if (c == OPT_MIN_REPS)
                o->min_reps = (unsigned)v;
            else
                o->max_reps = (unsigned)v;
            break;
        case OPT_MIN_MEASURE:
            if (pb_parse_duration(optarg, &o->floor_ns, err, sizeof(err)))
                return pb_cli_error(cmd, "--min-measure: %s", err);
            break;
        case OPT_CALIBRATION:
            o->calibration = optarg;
            break;
        case OPT_THREADS:
            if (pb_cli_parse_threads(optarg, o->threads, &o->nr_threads))
                return pb_cli_error(
                    cmd,
                    "--threads: '%s' is not a list of thread counts (expected counts "
                    "from 1 to 1024: N, N-M, or a comma-separated list such as 1,2,4)",
                    optarg);
            break;
        case OPT_LOCK:
            if (pb_lock_kind_parse(optarg, &o->lock))
                return pb_cli_error(
                    cmd, "--lock: '%s' is not a lock kind (expected ticket or mutex)", optarg);
            o->lock_given = true;
            break;
        case OPT_TOPOLOGY:
            o->topology = optarg;
            break;
        case OPT_PLACEMENT:
            if (pb_placement_parse(optarg, &o->placement))
                return pb_cli_error(
                    cmd, "--placement: '%s' is not a placement (expected compact or scatter)",
                    optarg);
            break;
        case OPT_REPETITIONS:
            if (pb_cli_parse_u64(optarg, &v) || v < 1 || v > 1000)
                return pb_cli_error(
                    cmd, "--repetitions: '%s' is not a repetition count (expected 1 to 1000)",
                    optarg);
            o->repetitions = (unsigned)v;
            break;
        case OPT_DURATION:
            if (o->measure_given && o->measure.unit == PB_WL_PHASE_OPS)
                return pb_cli_error(cmd, "--duration: --ops was given too (expected one of them)");
            if (pb_parse_duration(optarg, &v, err, sizeof(err)))
                return pb_cli_error(cmd, "--duration: %s", err);
            if (v == 0)
                return pb_cli_error(
                    cmd, "--duration: '%s' is empty (expected a duration above 0, e.g. 2s)",
                    optarg);
            o->measure = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = v};
            o->measure_given = true;
            break;
        case OPT_OPS:
            if (o->measure_given && o->measure.unit == PB_WL_PHASE_TIME)
                return pb_cli_error(cmd, "--ops: --duration was given too (expected one of them)");
            if (pb_cli_parse_u64(optarg, &v) || v == 0 || v > (UINT64_C(1) << 40))
                return pb_cli_error(
                    cmd, "--ops: '%s' is not an operation count (expected 1 to 2^40)", optarg);
            o->measure = (struct pb_wl_phase){.unit = PB_WL_PHASE_OPS, .ops = v};
            o->self_test_ops = v;
            o->measure_given = true;
            break;
        case OPT_WARMUP:
            if (parse_phase(optarg, &o->warmup, err, sizeof(err)))
                return pb_cli_error(cmd, "--warmup: %s", err);
            o->warmup_given = true;
            break;
        case OPT_SEED:
            if (pb_cli_parse_u64(optarg, &o->seed))
                return pb_cli_error(
                    cmd, "--seed: '%s' is not a seed (expected an unsigned integer)", optarg);
            o->seed_given = true;
            break;
        case OPT_OUT:
            if (!*optarg)
                return pb_cli_error(cmd, "--out: empty (expected a file name)");
            o->out = optarg;
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "table") && strcmp(optarg, "json") && strcmp(optarg, "csv") &&
                strcmp(optarg, "none"))
                return pb_cli_error(
                    cmd,
                    "--format: '%s' is not an output format (expected table, json, csv or none)",
                    optarg);
            o->format = optarg;
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_VERIFY:
            if (strcmp(optarg, "off") == 0)
                o->verify = PB_VERIFY_OFF;
            else if (strcmp(optarg, "sampled") == 0)
                o->verify = PB_VERIFY_SAMPLED;
            else if (strcmp(optarg, "full") == 0)
                o->verify = PB_VERIFY_FULL;
            else
                return pb_cli_error(
                    cmd, "--verify: '%s' is not a verify mode (expected off, sampled or full)",
                    optarg);
            break;
        case OPT_CLEAR:
            if (pb_clear_method_parse(optarg, &o->clear))
                return pb_cli_error(
                    cmd, "--clear: '%s' is not a clear method (expected auto, memset, stosb or nt)",
                    optarg);
            break;
        case OPT_CLAIM_MODE:
            if (pb_run_claim_mode_parse(optarg, &o->claim_mode))
                return pb_cli_error(cmd,
                                    "--claim-mode: '%s' is not a claim mode (expected workload, "
                                    "host, nodes or none)",
                                    optarg);
            break;
        case OPT_OPTION:
            if (pb_options_parse(&o->options, optarg, err, sizeof(err)))
                return pb_cli_error(cmd, "--option: %s (see popbench run --help)", err);
            break;
        case OPT_WORKLOADS_DIR:
            o->workloads_dir = optarg;
            break;
        case OPT_SELF_TEST:
            o->self_test = true;
            break;
        case OPT_INTERRUPT_AFTER:
            if (pb_cli_parse_u64(optarg, &v) || v > 1000000)
                return pb_cli_error(
                    cmd, "--interrupt-after: '%s' is not a run count (expected 0 or more)", optarg);
            o->interrupt_after = (long)v;
            break;
        case OPT_HELP:
            run_usage(stdout);
            return -1;
        default:
            return pb_cli_option_error(cmd, c, argc, argv);
        }
    }
    if (o->nr_variants == 0)
        pb_run_parse_variants(DEFAULT_VARIANTS, o, bad, sizeof(bad));
    label_list(o, err, sizeof(err));
    for (unsigned i = 0; i < o->nr_inject_pending; i++) {
        int k = find_label(o, o->inject_pending[i]);
        if (k < 0)
            return pb_cli_error(cmd, "--inject: no variant is labelled '%s' (expected one of %s)",
                                o->inject_pending[i], err);
        o->variants[k].inject_ns = o->inject_pending_ns[i];
    }
    if (o->reference_given) {
        int k = find_label(o, o->reference_given);
        if (k < 0)
            return pb_cli_error(cmd,
                                "--reference: no variant is labelled '%s' (expected one of %s)",
                                o->reference_given, err);
        o->reference = (unsigned)k;
    }
    if (o->min_reps > o->max_reps)
        return pb_cli_error(cmd,
                            "--min-repetitions %u is above --max-repetitions %u (expected at most "
                            "the maximum)",
                            o->min_reps, o->max_reps);
    if (o->min_effect < 0)
        o->min_effect = o->precision;
    *first_arg = optind;
    return 0;
}

void pb_run_workloads_free(struct pb_run_workloads *s)
{
    for (size_t i = 0; i < s->nr_loaded; i++)
        pb_workload_free(&s->loaded[i]);
    free(s->loaded);
    free(s->runs);
    memset(s, 0, sizeof(*s));
}

int pb_run_load_workloads(const char *cmd, const char *dir, char **names, int n,
                          const struct pb_topology *topo, struct pb_run_workloads *set)
{
    char path[PATH_MAX], err[ERR_LEN];
    static char *deflt[] = {"default"};

    if (n == 0) {
        names = deflt;
        n = 1;
    }
    memset(set, 0, sizeof(*set));
    set->loaded = calloc((size_t)n, sizeof(*set->loaded));
    if (!set->loaded)
        return -ENOMEM;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int rc = pb_workload_find(names[i], dir, path, sizeof(path), err, sizeof(err));
        if (rc) {
            fprintf(stderr, "popbench %s: %s\n", cmd, err);
            return rc;
        }
        rc = pb_workload_load(path, &set->loaded[i], err, sizeof(err));
        set->nr_loaded = (size_t)i + 1;
        if (rc) {
            fprintf(stderr, "popbench %s: %s\n", cmd, err);
            return rc;
        }
        /* A machine `from: topology` takes the virtual topology's nodes and memory. */
        uint64_t pages = topo->node_memory[0] >> PB_WL_PAGE_SHIFT;
        rc = pb_workload_bind_machine(&set->loaded[i], topo->nr_nodes, pages, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "popbench %s: %s\n", cmd, err);
            return rc;
        }
        total += set->loaded[i].kind == PB_WL_SUITE ? set->loaded[i].nr_members : 1;
    }
    set->runs = calloc(total ? total : 1, sizeof(*set->runs));
    if (!set->runs)
        return -ENOMEM;
    for (size_t i = 0; i < set->nr_loaded; i++) {
        struct pb_workload *w = &set->loaded[i];
        if (w->kind == PB_WL_SUITE)
            for (unsigned m = 0; m < w->nr_members; m++)
                set->runs[set->nr_runs++] = &w->members[m];
        else
            set->runs[set->nr_runs++] = w;
    }
    return 0;
}

static int write_results(const struct pb_results *doc, const char *path)
{
    char err[PB_RESULTS_ERR_LEN];
    if (!path)
        return 0;
    int rc = pb_results_write_json(doc, path, err, sizeof(err));
    if (rc)
        fprintf(stderr, "popbench run: %s\n", err);
    return rc;
}

static int self_test_overhead(const struct pb_run_opts *o)
{
    char err[ERR_LEN];
    struct pb_run_overhead ov;
    const char *variant = o->variants[0].variant;
    enum pb_lock_kind lock = o->lock_given ? o->lock : PB_LOCK_TICKET;

    int rc = pb_run_self_test_overhead(variant, lock, o->self_test_ops, &ov, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "popbench run: self test: %s\n", err);
        return PB_EXIT_FAILED;
    }
    printf("clock:                       %s\n", pb_clock_source());
    printf("cheapest timed operation:    %.1f ns (order-0 populate_physmap of one extent, %s, %s "
           "lock, best of 7 x %" PRIu64 ")\n",
           ov.op_ns, variant, pb_lock_kind_name(lock), o->self_test_ops);
    printf("same, timed and recorded:    %.1f ns (+%.1f ns)\n", ov.timed_op_ns,
           ov.timed_op_ns - ov.op_ns);
    printf("harness cost per timed call: %.1f ns (two clock reads, one histogram record, the "
           "counters)\n",
           ov.recording_ns);
    printf("  = %.2f%% of a one-extent call (goal < 2%%)\n",
           ov.op_ns > 0 ? 100.0 * ov.recording_ns / ov.op_ns : 0);
    printf("  = %.3f%% of an order-0 call of %u extents (%.0f ns), the workloads' smallest "
           "default\n",
           ov.batch_op_ns > 0 ? 100.0 * ov.recording_ns / ov.batch_op_ns : 0, PB_RUN_OVERHEAD_BATCH,
           ov.batch_op_ns);
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * The loop.
 */

struct progress {
    bool on;
    size_t workload, workloads;
    const char *wl_name, *label;
    unsigned threads, rep;
};

static void progress_cb(void *ctx, uint64_t elapsed_ns, uint64_t pages)
{
    struct progress *p = ctx;
    char rate[PB_RESULTS_FMT_LEN];
    double s = (double)elapsed_ns / 1e9;

    if (!p->on)
        return;
    fprintf(stderr, "\r\033[K[%zu/%zu] %s/%s/threads:%u rep %u  %.1fs  %s pages/s", p->workload + 1,
            p->workloads, p->wl_name, p->label, p->threads, p->rep + 1, s,
            pb_results_fmt_rate(s > 0 ? (double)pages / s : 0, rate));
    fflush(stderr);
}

/* What a session carries from run to run. */
struct session {
    const struct pb_run_opts *o;
    const struct pb_topology *topo;
    struct pb_report *rep;
    struct progress prog;
    size_t runs;     /* runs started: --interrupt-after counts them */
    unsigned failed; /* runs that failed */
    char first_failure[ERR_LEN + 256];
    bool stopped;
    json_t *precision; /* context.precision, built as workloads finish */
};

static void failure(struct session *ss, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failure(struct session *ss, const char *fmt, ...)
{
    char msg[ERR_LEN + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (ss->prog.on)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "popbench run: %s\n", msg);
    ss->failed++;
    if (!ss->first_failure[0])
        snprintf(ss->first_failure, sizeof(ss->first_failure), "%s", msg);
}

/*
 * One run: workload wl, variant k, `threads` primaries (0: the workload's), repetition rep of
 * reps. Its pages/s into *pps (NAN when it failed). False when the session must stop
 * (interrupted); a failure to set up sets *setup_failed.
 */
static bool run_one(struct session *ss, const struct pb_workload *wl, unsigned k, unsigned threads,
                    unsigned rep, unsigned reps, double *pps, bool *setup_failed)
{
    const struct pb_run_opts *o = ss->o;
    const struct pb_run_variant *var = &o->variants[k];
    unsigned primaries = threads ? threads : pb_run_default_threads(wl);
    unsigned total = pb_run_total_threads(wl, primaries);
    enum pb_lock_kind lock = o->lock;
    char err[ERR_LEN];

    *pps = NAN;
    if (!o->lock_given) {
        bool over = pb_topology_oversubscribed(ss->topo) || total > ss->topo->nr_real_pus;
        lock = over ? PB_LOCK_MUTEX : PB_LOCK_TICKET;
    }
    /* A copy with a known slowdown: the same variant, the option set for it alone. */
    struct pb_options opts = o->options;
    if (var->inject_ns &&
        pb_options_set(&opts, "inject_alloc_delay_ns", (int64_t)var->inject_ns) != 0)
        PB_BUG_ON(true); /* --inject's range is the option's */
    struct pb_run_config cfg = {
        .wl = wl,
        .variant = var->variant,
        .lock_kind = lock,
        .threads = threads,
        .topo = ss->topo,
        .placement = o->placement,
        .seed = (o->seed_given ? o->seed : wl->seed) + rep,
        .warmup = o->warmup_given ? o->warmup : wl->phases.warmup,
        .measure = o->measure_given ? o->measure : wl->phases.measure,
        .verify = o->verify,
        .clear = o->clear,
        .claim_mode = o->claim_mode,
        .options = &opts,
        .interrupt = &interrupted,
        .raise_sigint_in_measure =
            o->interrupt_after >= 0 && (size_t)o->interrupt_after == ss->runs,
        .progress = progress_cb,
        .progress_ctx = &ss->prog,
        .floor_ns = o->floor_ns,
    };
    struct pb_run_result res;
    ss->prog.wl_name = wl->name;
    ss->prog.label = var->label;
    ss->prog.threads = primaries;
    ss->prog.rep = rep;
    ss->runs++;
    int rc = pb_run(&cfg, &res, err, sizeof(err));
    if (rc) {
        failure(ss, "%s/%s: %s", wl->name, var->label, err);
        pb_run_result_free(&res);
        *setup_failed = true;
        return true;
    }
    if (!res.completed) {
        pb_run_result_free(&res);
        return false;
    }
    struct pb_report_id id = {.workload = wl->name,
                              .variant = var->label,
                              .threads = primaries,
                              .repetition = rep,
                              .repetitions = reps,
                              .inject_alloc_delay_ns = var->inject_ns};
    rc = pb_report_add(ss->rep, &id, &res);
    if (rc)
        fprintf(stderr, "popbench run: cannot record %s/%s: %s\n", wl->name, var->label,
                strerror(-rc));
    if (!res.valid)
        failure(ss, "%s/%s/threads:%u rep %u: FAILED: %s", wl->name, var->label, primaries, rep,
                res.validator);
    else if (res.measure_ns > 0)
        *pps = (double)res.pages * 1e9 / (double)res.measure_ns;
    for (unsigned t = 0; t < res.nr_thr && !o->quiet; t++)
        if (!res.thr[t].cpu_ok) {
            fprintf(stderr, "%spopbench: warning: %s/%s worker %u ran on CPU %d, pinned to %u\n",
                    ss->prog.on ? "\r\033[K" : "", wl->name, var->label, t, res.thr[t].cpu_seen,
                    res.thr[t].pu);
            break;
        }
    pb_run_result_free(&res);
    /* Every finished run is on disk: an interrupted or crashed run loses only itself. */
    pb_report_finish(ss->rep, true);
    write_results(ss->rep->doc, o->out);
    return !atomic_load(&interrupted);
}

static void shuffle(unsigned *v, unsigned n, struct pb_rng *rng)
{
    for (unsigned i = n; i > 1; i--) {
        unsigned j = (unsigned)pb_rng_below(rng, i);
        unsigned t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

/* One workload: rounds until the stopping rule says so. share_ns: its part of the budget. */
static void run_workload(struct session *ss, const struct pb_workload *wl, uint64_t share_ns,
                         struct pb_rng *order_rng)
{
    const struct pb_run_opts *o = ss->o;
    unsigned nt = o->nr_threads ? o->nr_threads : 1, nv = o->nr_variants;
    struct pb_wl_phase measure = o->measure_given ? o->measure : wl->phases.measure;
    bool fixed = o->repetitions || measure.unit == PB_WL_PHASE_OPS;
    unsigned min = o->min_reps > wl->phases.repetitions ? o->min_reps : wl->phases.repetitions;
    struct pb_stop_rule rule = {
        .precision = o->precision,
        .min_reps = fixed ? (o->repetitions ? o->repetitions : wl->phases.repetitions) : min,
        .max_reps = o->max_reps > min ? o->max_reps : min,
        .budget_ns = share_ns,
    };
    if (fixed)
        rule.max_reps = rule.min_reps;
    /* pages/s of every round: vals[t * nv + k][round] */
    double **vals = calloc((size_t)nt * nv, sizeof(*vals));
    for (size_t i = 0; vals && i < (size_t)nt * nv; i++)
        if (!(vals[i] = calloc(rule.max_reps, sizeof(double))))
            rule.max_reps = 0; /* out of memory: nothing runs */
    enum pb_stop stop = PB_STOP_NO;
    double worst = INFINITY;
    uint64_t t0 = pb_now_ns(), last_round = 0;
    unsigned r = 0;
    while (vals && r < rule.max_reps && stop == PB_STOP_NO) {
        uint64_t round0 = pb_now_ns();
        unsigned reps = fixed ? rule.max_reps : r + 1;
        pb_report_set_repetitions(ss->rep, wl->name, reps);
        bool setup_failed = false;
        for (unsigned t = 0; t < nt && !ss->stopped; t++) {
            unsigned order[PB_RUN_MAX_VARIANTS];
            for (unsigned k = 0; k < nv; k++)
                order[k] = k;
            shuffle(order, nv, order_rng);
            for (unsigned i = 0; i < nv && !ss->stopped; i++) {
                unsigned k = order[i];
                ss->stopped = !run_one(ss, wl, k, o->nr_threads ? o->threads[t] : 0, r, reps,
                                       &vals[t * nv + k][r], &setup_failed);
            }
        }
        r++;
        last_round = pb_now_ns() - round0;
        worst = 0;
        for (unsigned t = 0; t < nt; t++)
            worst = fmax(worst, pb_worst_half_width((const double *const *)&vals[t * nv], nv,
                                                    o->reference, r, PB_VERDICT_CONF));
        if (ss->stopped)
            stop = PB_STOP_INTERRUPTED;
        else if (setup_failed)
            stop = PB_STOP_FAILED;
        else if (fixed)
            stop = r >= rule.max_reps ? PB_STOP_FIXED : PB_STOP_NO;
        else
            stop = pb_stop_decide(&rule, r, worst, pb_now_ns() - t0, last_round);
    }
    if (vals && !ss->stopped)
        pb_report_set_repetitions(ss->rep, wl->name, r ? r : 1);
    json_t *p = json_pack("{s:I, s:o, s:f, s:s, s:f}", "repetitions", (json_int_t)r, "half_width",
                          isfinite(worst) ? json_real(worst) : json_null(), "target", o->precision,
                          "stop", pb_stop_name(stop == PB_STOP_NO ? PB_STOP_MAX_REPS : stop),
                          "elapsed_s", (double)(pb_now_ns() - t0) / 1e9);
    if (p)
        json_object_set_new(ss->precision, wl->name, p);
    for (size_t i = 0; vals && i < (size_t)nt * nv; i++)
        free(vals[i]);
    free(vals);
}

/* context.variants: label -> {variant, inject_alloc_delay_ns}; the settings of the loop. */
static int record_settings(struct pb_results *doc, const struct pb_run_opts *o)
{
    json_t *vars = json_object();
    for (unsigned i = 0; vars && i < o->nr_variants; i++) {
        const struct pb_run_variant *v = &o->variants[i];
        json_t *e = json_pack("{s:s, s:I}", "variant", v->variant, "inject_alloc_delay_ns",
                              (json_int_t)v->inject_ns);
        if (!e || json_object_set_new(vars, v->label, e)) {
            json_decref(vars);
            vars = NULL;
        }
    }
    int rc = vars ? pb_results_context_set_json(doc, "variants", vars) : -ENOMEM;
    rc = rc ? rc : pb_results_context_set_string(doc, "reference", o->variants[o->reference].label);
    rc = rc ? rc : pb_results_context_set_number(doc, "precision_target", o->precision);
    rc = rc ? rc : pb_results_context_set_number(doc, "min_effect", o->min_effect);
    rc = rc ? rc : pb_results_context_set_number(doc, "budget_s", (double)o->budget_ns / 1e9);
    rc = rc ? rc : pb_results_context_set_int(doc, "min_repetitions", o->min_reps);
    rc = rc ? rc : pb_results_context_set_int(doc, "max_repetitions", o->max_reps);
    if (o->repetitions)
        rc = rc ? rc : pb_results_context_set_int(doc, "repetitions", o->repetitions);
    rc = rc ? rc : pb_results_context_set_int(doc, "measure_floor_ns", (int64_t)o->floor_ns);
    return rc;
}

/* context.calibration of a popbench calibrate file, copied (exit status). */
static int copy_calibration(struct pb_results *doc, const char *path)
{
    struct pb_results *cal;
    char err[PB_RESULTS_ERR_LEN];
    if (pb_results_load(path, &cal, err, sizeof(err)) != 0)
        return pb_cli_error("run", "--calibration: %s", err);
    const json_t *c = json_object_get(pb_results_context_json(cal), "calibration");
    int rc = 0;
    if (!json_is_object(c))
        rc = pb_cli_error("run",
                          "--calibration: '%s' has no context.calibration (expected a file "
                          "written by popbench calibrate)",
                          path);
    else if (pb_results_context_set_json(doc, "calibration", json_deep_copy(c)) != 0)
        rc = PB_EXIT_FAILED;
    pb_results_free(cal);
    return rc;
}

int pb_run_report_init(const struct pb_run_opts *o, const struct pb_topology *topo,
                       const struct pb_workload *const *workloads, size_t n, int argc, char **argv,
                       struct pb_report *rep)
{
    struct pb_report_setup setup = {
        .topo = topo,
        .git_commit = POPBENCH_GIT_COMMIT,
        .build_type = POPBENCH_BUILD_TYPE,
        .cflags = POPBENCH_CFLAGS,
        .argc = argc,
        .argv = argv,
        .jemalloc_active = pb_cli_jemalloc_active(),
        .jemalloc_version = pb_cli_jemalloc_version(),
        .hwloc_version = POPBENCH_HWLOC_VERSION,
        .urcu_version = POPBENCH_URCU_VERSION,
        .sqlite_version = sqlite3_libversion(),
        .seed = o->seed_given ? o->seed : (n ? workloads[0]->seed : 0),
        .placement = pb_placement_name(o->placement),
        .claim_mode = pb_run_claim_mode_name(o->claim_mode),
        .options = &o->options,
        .workloads = workloads,
        .nr_workloads = n,
    };
    int rc = pb_report_init(rep, &setup);
    if (rc == 0 && (rc = record_settings(rep->doc, o)) != 0)
        pb_report_free(rep);
    if (rc)
        fprintf(stderr, "popbench: cannot make the results document: %s\n", strerror(-rc));
    return rc ? PB_EXIT_FAILED : 0;
}

int pb_run_session(const struct pb_run_opts *o, const struct pb_topology *topo,
                   const struct pb_workload *const *workloads, size_t n, int argc, char **argv,
                   struct pb_report *rep)
{
    int rc = pb_run_report_init(o, topo, workloads, n, argc, argv, rep);
    if (rc)
        return rc;
    if (o->calibration && (rc = copy_calibration(rep->doc, o->calibration)) != 0) {
        pb_report_free(rep);
        return rc;
    }
    if (!pb_cli_jemalloc_active() && !o->quiet)
        fprintf(stderr,
                "popbench: note: jemalloc does not serve malloc in this build (sanitizer?); "
                "the results say so\n");
    if (pb_topology_oversubscribed(topo) && !o->quiet)
        fprintf(stderr,
                "popbench: note: topology '%s' has %u vCPUs on %u real PUs: oversubscribed\n",
                topo->spec, topo->nr_vcpus, topo->nr_real_pus);

    struct sigaction sa = {.sa_handler = on_sigint};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);

    struct session ss = {.o = o, .topo = topo, .rep = rep, .precision = json_object()};
    ss.prog = (struct progress){.on = !o->quiet && isatty(STDERR_FILENO), .workloads = n};
    struct pb_rng order_rng;
    pb_rng_seed(&order_rng, o->seed_given ? o->seed : 1);
    uint64_t t_begin = pb_now_ns();
    for (size_t i = 0; i < n && !ss.stopped; i++) {
        const struct pb_workload *wl = workloads[i];
        unsigned threads = o->nr_threads ? o->threads[0] : pb_run_default_threads(wl);
        if (!o->lock_given && !o->quiet &&
            (pb_topology_oversubscribed(topo) ||
             pb_run_total_threads(wl, threads) > topo->nr_real_pus))
            fprintf(stderr,
                    "%spopbench: note: %s runs %u threads on %u real PUs: mutex lock "
                    "(--lock ticket to spin anyway)\n",
                    ss.prog.on ? "\r\033[K" : "", wl->name, pb_run_total_threads(wl, threads),
                    topo->nr_real_pus);
        /* The budget left, shared by the workloads left. */
        uint64_t spent = pb_now_ns() - t_begin;
        uint64_t share = o->budget_ns > spent ? (o->budget_ns - spent) / (n - i) : 0;
        ss.prog.workload = i;
        run_workload(&ss, wl, share, &order_rng);
    }
    if (ss.prog.on)
        fputs("\r\033[K", stderr);
    ss.stopped |= atomic_load(&interrupted);
    if (pb_results_context_set_json(rep->doc, "precision", ss.precision) != 0)
        fprintf(stderr, "popbench run: cannot record the precision reached\n");
    pb_report_finish(rep, ss.stopped);
    int wrc = write_results(rep->doc, o->out);
    if (!o->quiet)
        fprintf(stderr, "popbench: %zu runs in %.1f s%s%s\n", rep->nr,
                (double)(pb_now_ns() - t_begin) / 1e9, o->out ? ", results in " : "",
                o->out ? o->out : "");
    if (ss.stopped) {
        fprintf(stderr, "popbench run: interrupted: the results hold the runs that finished "
                        "(partial)\n");
        return PB_EXIT_INTERRUPT;
    }
    if (ss.failed) {
        fprintf(stderr, "popbench run: %u run(s) failed; first: %s\n", ss.failed, ss.first_failure);
        return PB_EXIT_FAILED;
    }
    return wrc ? PB_EXIT_FAILED : 0;
}

int pb_cmd_run(int argc, char **argv)
{
    struct pb_run_opts o;
    int first = 0, rc;
    char err[ERR_LEN];

    if ((rc = pb_run_parse("run", argc, argv, &o, &first)) != 0)
        return rc < 0 ? 0 : rc;
    pb_clock_init();
    if (o.self_test)
        return self_test_overhead(&o);

    struct pb_topology topo;
    if (pb_topology_load(o.topology, &topo, err, sizeof(err)) != 0)
        return pb_cli_error("run", "%s", err);
    struct pb_run_workloads set;
    if (pb_run_load_workloads("run", o.workloads_dir, argv + first, argc - first, &topo, &set) !=
        0) {
        pb_run_workloads_free(&set);
        pb_topology_free(&topo);
        return PB_EXIT_USAGE;
    }
    struct pb_report rep;
    rc = pb_run_session(&o, &topo, set.runs, set.nr_runs, argc + 1, argv - 1, &rep);
    if (rc != PB_EXIT_USAGE && rep.doc) {
        if (strcmp(o.format, "table") == 0)
            pb_run_print_verdicts(rep.doc, stdout);
        else if (strcmp(o.format, "csv") == 0)
            pb_results_print_csv(rep.doc, stdout);
        else if (strcmp(o.format, "json") == 0 &&
                 pb_results_print_json(rep.doc, stdout, err, sizeof(err)) != 0)
            fprintf(stderr, "popbench run: %s\n", err);
        fflush(stdout);
        pb_report_free(&rep);
    }
    pb_run_workloads_free(&set);
    pb_topology_free(&topo);
    return rc;
}
