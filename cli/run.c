/*
 * run.c: `popbench run`: its flags, and the command: loads the workloads and runs them through
 * the runner in rounds (per workload, one repetition of every variant and thread count, the
 * variants in a seeded order, the parallel ceiling among them) until the ratios to the
 * reference variant are precise enough or the time budget is spent (cli/run.h,
 * results/verdict.h); writes the results as the runs finish, and prints the comparison
 * (docs/popbench.md).
 *
 * Exit status: 0 success; 1 a run failed (its validator found a broken invariant, a worker
 * failed); 2 bad input (flag, workload file, topology, --out); 130 interrupted by SIGINT, 143
 * by SIGTERM (what was measured is written, marked partial; with nothing measured --out is
 * left as it was).
 */
#include "cli/run.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/interrupt.h"
#include "core/clock.h"
#include "core/pb.h"
#include "results/verdict.h"

#ifndef POPBENCH_SOURCE_DIR
#define POPBENCH_SOURCE_DIR "."
#endif

/* The baseline and the per-node design: the comparison the default suite is for, in about
 * three minutes on 2 CPUs. `--variant all` runs every variant. */
#define DEFAULT_VARIANTS "xen,pernode"
/* The whole run's time budget for repetitions: the default suite (8 workloads, two variants)
 * stays within about three minutes on 2 CPUs. */
#define DEFAULT_BUDGET_NS (170 * NS_PER_SEC)
#define DEFAULT_FLOOR_NS  (500 * NS_PER_MSEC)
#define DEFAULT_MIN_REPS  3
#define DEFAULT_MAX_REPS  30
#define NS_PER_SEC        UINT64_C(1000000000)
#define NS_PER_MSEC       UINT64_C(1000000)
#define ERR_LEN           2048

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

/* A duration outside [lo, hi], the range a workload file allows: what was expected. */
static int out_of_range(const char *s, uint64_t lo, uint64_t hi, char *err, size_t errlen)
{
    char a[32] = "?", b[32] = "?";
    pb_format_duration(lo, a, sizeof(a));
    pb_format_duration(hi, b, sizeof(b));
    snprintf(err, errlen, "'%s' is out of range (expected a duration from %s to %s)", s, a, b);
    return -ERANGE;
}

/* A duration or "<N>ops" (the workload file's phase syntax), in the workload file's range. */
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
        if (pb_cli_parse_u64(num, &ops) || ops > PB_WL_MAX_PHASE_OPS) {
            snprintf(err, errlen,
                     "'%s' is not an operation count (expected 0 to %" PRIu64
                     " ops, such as 10000ops)",
                     s, PB_WL_MAX_PHASE_OPS);
            return -EINVAL;
        }
        *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_OPS, .ops = ops};
        return 0;
    }
    uint64_t ns;
    int rc = pb_parse_duration(s, &ns, err, errlen);
    if (rc)
        return rc;
    if (ns > PB_WL_MAX_WARMUP_NS)
        return out_of_range(s, 0, PB_WL_MAX_WARMUP_NS, err, errlen);
    *ph = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = ns};
    return 0;
}

/* A duration of at most `max`, as a measured phase's: 0, or PB_EXIT_USAGE after a message. */
static int parse_measure_ns(const char *cmd, const char *flag, const char *s, uint64_t min,
                            uint64_t max, uint64_t *ns)
{
    char err[ERR_LEN];
    if (pb_parse_duration(s, ns, err, sizeof(err)))
        return pb_cli_error(cmd, "%s: %s", flag, err);
    if (*ns < min || *ns > max) {
        out_of_range(s, min, max, err, sizeof(err));
        return pb_cli_error(cmd, "%s: %s", flag, err);
    }
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
        "  --out FILE            write the results (JSON) to FILE as the runs finish (a\n"
        "                        link's target is replaced; a FIFO or device is written once)\n"
        "  --format F            stdout: table (default), json, csv, lockprof or none\n"
        "  --calibration FILE    copy context.calibration of a popbench calibrate file\n"
        "  --quiet               no progress line and no notes\n"
        "  --verify MODE         off (default), sampled or full: check scrubbed frames read zero\n"
        "  --clear METHOD        auto (default), memset, stosb or nt\n"
        "  --backing B           workload (default: each one's machine.backing), auto, real,\n"
        "                        aliased or none: what backs every workload's frames\n"
        "  --claim-mode MODE     workload (default: each group's claim_mode), host (every\n"
        "                        claim host-wide), nodes (split over each domain's own nodes)\n"
        "                        or none (no claims)\n"
        "  --option NAME=VALUE   set one of the model's options (repeatable; wins over the\n"
        "                        workloads' `options`): the list is below\n"
        "  --workloads-dir DIR   where workload names are looked up\n"
        "  --self-test-overhead  measure the harness's own cost per timed call, then exit\n"
        "  --interrupt-after N   (tests) raise SIGINT during run N+1\n"
        "  --interrupt-setup-step N  (tests) raise --interrupt-signal at set-up step N\n"
        "  --interrupt-signal S  (tests) INT (default) or TERM\n"
        "\n"
        "Exit status: 0 ok, 1 a run failed validation, 2 bad input, 130 interrupted by\n"
        "SIGINT, 143 by SIGTERM.\n"
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
    OPT_BACKING,
    OPT_OPTION,
    OPT_WORKLOADS_DIR,
    OPT_SELF_TEST,
    OPT_INTERRUPT_AFTER,
    OPT_INTERRUPT_SETUP,
    OPT_INTERRUPT_SIGNAL,
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
    {"backing", required_argument, NULL, OPT_BACKING},
    {"option", required_argument, NULL, OPT_OPTION},
    {"workloads-dir", required_argument, NULL, OPT_WORKLOADS_DIR},
    {"self-test-overhead", no_argument, NULL, OPT_SELF_TEST},
    {"interrupt-after", required_argument, NULL, OPT_INTERRUPT_AFTER},
    {"interrupt-setup-step", required_argument, NULL, OPT_INTERRUPT_SETUP},
    {"interrupt-signal", required_argument, NULL, OPT_INTERRUPT_SIGNAL},
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
        .interrupt_signal = SIGINT,
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
            if (pb_cli_parse_u64(optarg, &v) || v < 1 || v > PB_WL_MAX_REPETITIONS)
                return pb_cli_error(cmd, "%s: '%s' is not a repetition count (expected 1 to %d)",
                                    c == OPT_MIN_REPS ? "--min-repetitions" : "--max-repetitions",
                                    optarg, PB_WL_MAX_REPETITIONS);
            if (c == OPT_MIN_REPS)
                o->min_reps = (unsigned)v;
            else
                o->max_reps = (unsigned)v;
            break;
        case OPT_MIN_MEASURE:
            if (parse_measure_ns(cmd, "--min-measure", optarg, 0, PB_WL_MAX_MEASURE_NS,
                                 &o->floor_ns))
                return PB_EXIT_USAGE;
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
            if (pb_cli_parse_u64(optarg, &v) || v < 1 || v > PB_WL_MAX_REPETITIONS)
                return pb_cli_error(
                    cmd, "--repetitions: '%s' is not a repetition count (expected 1 to %d)", optarg,
                    PB_WL_MAX_REPETITIONS);
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
            if (parse_measure_ns(cmd, "--duration", optarg, 1, PB_WL_MAX_MEASURE_NS, &v))
                return PB_EXIT_USAGE;
            o->measure = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = v};
            o->measure_given = true;
            break;
        case OPT_OPS:
            if (o->measure_given && o->measure.unit == PB_WL_PHASE_TIME)
                return pb_cli_error(cmd, "--ops: --duration was given too (expected one of them)");
            if (pb_cli_parse_u64(optarg, &v) || v == 0 || v > PB_WL_MAX_PHASE_OPS)
                return pb_cli_error(
                    cmd, "--ops: '%s' is not an operation count (expected 1 to %" PRIu64 ")",
                    optarg, PB_WL_MAX_PHASE_OPS);
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
                strcmp(optarg, "lockprof") && strcmp(optarg, "none"))
                return pb_cli_error(cmd,
                                    "--format: '%s' is not an output format (expected table, "
                                    "json, csv, lockprof or none)",
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
        case OPT_BACKING:
            o->backing_given = strcmp(optarg, "workload") != 0;
            if (o->backing_given && pb_workload_backing_parse(optarg, &o->backing))
                return pb_cli_error(cmd,
                                    "--backing: '%s' is not a backing (expected workload, auto, "
                                    "real, aliased or none)",
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
        case OPT_INTERRUPT_SETUP:
            if (pb_cli_parse_u64(optarg, &v) || v == 0)
                return pb_cli_error(
                    cmd, "--interrupt-setup-step: '%s' is not a step (expected 1 or more)", optarg);
            o->interrupt_setup_step = v;
            break;
        case OPT_INTERRUPT_SIGNAL:
            if (strcmp(optarg, "INT") && strcmp(optarg, "TERM"))
                return pb_cli_error(
                    cmd, "--interrupt-signal: '%s' is not a signal (expected INT or TERM)", optarg);
            o->interrupt_signal = strcmp(optarg, "INT") == 0 ? SIGINT : SIGTERM;
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
    struct pb_run_out out;
    if (pb_run_out_probe("run", &out, o.out))
        return PB_EXIT_USAGE;
    pb_setup_raise_at(o.interrupt_setup_step, o.interrupt_signal);

    struct pb_topology topo;
    if (pb_topology_load(o.topology, &topo, err, sizeof(err)) != 0)
        return pb_cli_error("run", "%s", err);
    struct pb_run_workloads set;
    if (pb_run_load_workloads("run", o.workloads_dir, argv + first, argc - first, &topo, &set) !=
            0 ||
        pb_run_prepare("run", &o, set.runs, set.nr_runs) != 0) {
        pb_run_workloads_free(&set);
        pb_topology_free(&topo);
        return PB_EXIT_USAGE;
    }
    struct pb_report rep;
    rc = pb_run_session(&o, &topo, set.runs, set.nr_runs, argc + 1, argv - 1, &out, &rep);
    if (rc != PB_EXIT_USAGE && rep.doc) {
        int prc = pb_run_print_results(o.format, rep.doc);
        rc = rc ? rc : prc;
        pb_report_free(&rep);
    }
    pb_run_workloads_free(&set);
    pb_topology_free(&topo);
    return rc;
}
