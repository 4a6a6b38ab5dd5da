/*
 * run.c: `popbench run`: loads the workloads, plans the runs (per workload, repetition and
 * thread count, the variants in a seeded order), runs them through the runner, writes the
 * results as the runs finish, and prints the summary (docs/popbench.md).
 *
 * Exit status: 0 success; 1 a run failed (its validator found a broken invariant, a worker
 * failed); 2 bad input (flag, workload file, topology, --out); 130 interrupted by SIGINT, 143
 * by SIGTERM (what was measured is written, marked partial; with nothing measured --out is
 * left as it was).
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/ceiling.h"
#include "bench/interrupt.h"
#include "bench/report.h"
#include "bench/runner.h"
#include "bench/stream.h"
#include "bench/topology.h"
#include "core/clock.h"
#include "core/heap.h"
#include "core/prng.h"
#include "results/lockprof.h"
#include "results/results.h"
#include "workloads/workload.h"

#include <sys/stat.h>

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

/* The baseline and the per-node design: the comparison the default suite is for, in about a
 * minute on 2 CPUs. `--variant all` runs every variant. */
#define DEFAULT_VARIANTS "xen,pernode"

#define MAX_VARIANTS 16
#define ERR_LEN      2048

/* ---------------------------------------------------------------------------------------------
 * Interruption: SIGINT (Ctrl-C) and SIGTERM (what CI runners, timeout and systemd send) alike.
 */

static _Atomic bool interrupted;         /* the runs and the set-up loops stop on it */
static _Atomic int interrupt_signal;     /* the first signal that stopped the run, or 0 */
static _Atomic uint64_t steps_at_signal; /* set-up steps counted when it came */

static void on_signal(int sig)
{
    int none = 0;
    if (atomic_compare_exchange_strong(&interrupt_signal, &none, sig))
        atomic_store(&steps_at_signal, pb_setup_steps());
    atomic_store(&interrupted, true);
    /* A second Ctrl-C or SIGTERM ends the process the ordinary way. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

/* Without SA_RESTART: a blocking open of a FIFO given as --out returns when a signal comes. */
static void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pb_setup_watch(&interrupted);
}

/* 130 for SIGINT, 143 for SIGTERM, after saying what was kept. */
static int interrupted_exit(const char *out, size_t measured)
{
    int sig = atomic_load(&interrupt_signal);
    sig = sig ? sig : SIGINT; /* the test hook raises SIGINT from inside a run */
    fprintf(stderr, "popbench run: interrupted by %s (%" PRIu64 " set-up steps ran after it): %s\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", pb_setup_steps() - atomic_load(&steps_at_signal),
            measured ? "the results hold the runs that finished (partial)"
            : out    ? "nothing was measured, --out left as it was"
                     : "nothing was measured");
    return sig == SIGTERM ? PB_EXIT_TERMINATED : PB_EXIT_INTERRUPT;
}

/* ---------------------------------------------------------------------------------------------
 * Option values.
 */

static int parse_variants(const char *s, const char **out, unsigned *n, char *bad, size_t badlen)
{
    char buf[512];
    *n = 0;
    if (!s || !*s || strlen(s) >= sizeof(buf))
        return -EINVAL;
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        const char *found = NULL;
        for (const char *const *v = pb_variant_names(); *v; v++)
            if (strcmp(*v, tok) == 0)
                found = *v;
        if (!found) {
            snprintf(bad, badlen, "%s", tok);
            return -ENOENT;
        }
        bool dup = false;
        for (unsigned i = 0; i < *n; i++)
            dup |= out[i] == found;
        if (dup)
            continue;
        if (*n == MAX_VARIANTS)
            return -E2BIG;
        out[(*n)++] = found;
    }
    return *n ? 0 : -EINVAL;
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

/* ---------------------------------------------------------------------------------------------
 * popbench run
 */

struct run_opts {
    const char *variants[MAX_VARIANTS];
    unsigned nr_variants;
    unsigned threads[PB_CLI_MAX_THREAD_COUNTS];
    unsigned nr_threads;
    bool lock_given;
    enum pb_lock_kind lock;
    const char *topology;
    enum pb_placement placement;
    unsigned repetitions; /* 0: the workload's */
    bool measure_given, warmup_given;
    struct pb_wl_phase measure, warmup;
    bool seed_given;
    uint64_t seed;
    const char *out;
    const char *format;
    bool quiet;
    enum pb_verify_mode verify;
    enum pb_clear_method clear;
    enum pb_run_claim_mode claim_mode;
    bool backing_given;
    enum pb_wl_backing backing;
    struct pb_options options; /* --option NAME=VALUE, repeatable */
    const char *workloads_dir;
    bool self_test;
    uint64_t self_test_ops;
    long interrupt_after;          /* test hook: SIGINT during run N+1; -1 = never */
    uint64_t interrupt_setup_step; /* test hook: a signal at set-up step N; 0 = never */
    int interrupt_signal;          /* ... SIGINT or SIGTERM */
};

static void run_usage(FILE *out)
{
    fputs(
        "usage: popbench run [WORKLOAD ...] [options]\n"
        "Runs workloads (names from the workloads directory, or paths to .yaml files; none:\n"
        "the 'default' suite) on every variant and thread count asked for, and reports\n"
        "throughput, tail latency and lock contention.\n"
        "\n"
        "  --variant LIST        allocator variants, comma-separated, or all "
        "(default: " DEFAULT_VARIANTS ")\n"
        "  --threads LIST        primary thread counts: 1,2,4 or 1-4 (default: the workload's)\n"
        "  --lock KIND           ticket or mutex (default: ticket; mutex when oversubscribed)\n"
        "  --topology SPEC       real (default), a hwloc synthetic string, or an XML file\n"
        "  --placement P         compact (default) or scatter\n"
        "  --repetitions N       repetitions of each run (default: the workload's)\n"
        "  --duration D          measure phase of this duration (e.g. 2s, 500ms)\n"
        "  --ops N               measure phase of N operations\n"
        "  --warmup D|Nops       warm-up phase (default: the workload's)\n"
        "  --seed N              seed of the run order; also replaces the workloads' seeds\n"
        "  --out FILE            write the results (JSON) to FILE as the runs finish (a\n"
        "                        link's target is replaced; a FIFO or device is written once)\n"
        "  --format F            stdout: table (default), json, csv, lockprof or none\n"
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

static int parse_run_opts(int argc, char **argv, struct run_opts *o, int *first_arg)
{
    const char *cmd = "run";
    char err[ERR_LEN], bad[128];
    int c;
    uint64_t v;

    *o = (struct run_opts){
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
    };
    pb_options_init(&o->options);
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":", run_options, NULL)) != -1) {
        switch (c) {
        case OPT_VARIANT: {
            int rc;
            o->nr_variants = 0;
            if (strcmp(optarg, "all") == 0) {
                for (const char *const *v = pb_variant_names(); *v && o->nr_variants < MAX_VARIANTS;
                     v++)
                    o->variants[o->nr_variants++] = *v;
                break;
            }
            rc = parse_variants(optarg, o->variants, &o->nr_variants, bad, sizeof(bad));
            if (rc) {
                pb_cli_variant_list(err, sizeof(err));
                if (rc == -ENOENT)
                    return pb_cli_error(cmd, "--variant: unknown variant '%s' (expected %s)", bad,
                                        err);
                return pb_cli_error(
                    cmd,
                    "--variant: '%s' is not a list of variants (expected some of %s, "
                    "comma-separated)",
                    optarg, err);
            }
            break;
        }
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
            if (v > PB_WL_MAX_MEASURE_NS) {
                out_of_range(optarg, 1, PB_WL_MAX_MEASURE_NS, err, sizeof(err));
                return pb_cli_error(cmd, "--duration: %s", err);
            }
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
        parse_variants(DEFAULT_VARIANTS, o->variants, &o->nr_variants, bad, sizeof(bad));
    *first_arg = optind;
    return 0;
}

/* The workloads to run: suites flattened, machines bound. */
struct wl_set {
    struct pb_workload *loaded; /* as loaded (singles and suites) */
    size_t nr_loaded;
    const struct pb_workload **runs; /* the singles, in order */
    size_t nr_runs;
};

static void wl_set_free(struct wl_set *s)
{
    for (size_t i = 0; i < s->nr_loaded; i++)
        pb_workload_free(&s->loaded[i]);
    free(s->loaded);
    free(s->runs);
    memset(s, 0, sizeof(*s));
}

/*
 * A workload that runs more than once (`run w w`, or twice in a suite, perhaps with other
 * phases or seeds) would give entries of the same name: its k-th run from the second on is
 * named NAME#k ('#' is never in a workload's own name), so that every run measured is kept.
 */
static int name_repeats(struct wl_set *set)
{
    for (size_t i = 1; i < set->nr_runs; i++) {
        unsigned seen = 1;
        for (size_t j = 0; j < i; j++)
            seen += strcmp(set->runs[j]->name, set->runs[i]->name) == 0;
        if (seen == 1)
            continue;
        struct pb_workload *w = (struct pb_workload *)set->runs[i];
        char *name;
        if (asprintf(&name, "%s#%u", w->name, seen) < 0)
            return -ENOMEM;
        free(w->name);
        w->name = name;
    }
    return 0;
}

/* The workloads directory must be one before names are looked up in it. */
static int check_workloads_dir(const char *dir, char **names, int n)
{
    static char *deflt[] = {"default"};
    struct stat st;
    bool by_name = n == 0;
    for (int i = 0; i < n; i++)
        by_name |= !strchr(names[i], '/') && !strstr(names[i], ".yaml");
    if (!by_name || (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)))
        return 0;
    pb_cli_error("run",
                 "--workloads-dir: '%s'%s (expected the directory to look '%s' up in; the "
                 "default is the source tree's workloads/)",
                 dir, stat(dir, &st) == 0 ? " is not a directory" : ": No such directory",
                 n ? names[0] : deflt[0]);
    return -ENOENT;
}

static int load_workloads(const char *dir, char **names, int n, const struct pb_topology *topo,
                          struct wl_set *set)
{
    char path[PATH_MAX], err[ERR_LEN];
    static char *deflt[] = {"default"};

    memset(set, 0, sizeof(*set));
    if (check_workloads_dir(dir, names, n))
        return -ENOENT;
    if (n == 0) {
        names = deflt;
        n = 1;
    }
    set->loaded = calloc((size_t)n, sizeof(*set->loaded));
    if (!set->loaded)
        return -ENOMEM;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        int rc = pb_workload_find(names[i], dir, path, sizeof(path), err, sizeof(err));
        if (rc) {
            fprintf(stderr, "popbench run: %s\n", err);
            return rc;
        }
        rc = pb_workload_load(path, &set->loaded[i], err, sizeof(err));
        set->nr_loaded = (size_t)i + 1;
        if (rc) {
            fprintf(stderr, "popbench run: %s\n", err);
            return rc;
        }
        /* A machine `from: topology` takes the virtual topology's nodes and memory. */
        uint64_t pages = topo->node_memory[0] >> PB_WL_PAGE_SHIFT;
        rc = pb_workload_bind_machine(&set->loaded[i], topo->nr_nodes, pages, err, sizeof(err));
        if (rc) {
            fprintf(stderr, "popbench run: %s\n", err);
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
    return name_repeats(set);
}

struct planned_run {
    const struct pb_workload *wl;
    const char *variant; /* "ceiling" for the parallel ceiling */
    unsigned threads;    /* 0: the workload's */
    unsigned rep, reps;
    bool ceiling; /* the parallel ceiling (bench/ceiling.h) at `threads`, not a variant */
};

struct progress {
    bool on;
    size_t index, total;
    const struct planned_run *run;
    uint64_t shown_ns;
};

static void progress_cb(void *ctx, uint64_t elapsed_ns, uint64_t pages)
{
    struct progress *p = ctx;
    char rate[PB_RESULTS_FMT_LEN];
    double s = (double)elapsed_ns / 1e9;

    if (!p->on)
        return;
    unsigned threads = p->run->threads ? p->run->threads : pb_run_default_threads(p->run->wl);
    fprintf(stderr, "\r\033[K[%zu/%zu] %s/%s/threads:%u rep %u/%u  %.1fs  %s pages/s", p->index + 1,
            p->total, p->run->wl->name, p->run->variant, threads, p->run->rep + 1, p->run->reps, s,
            pb_results_fmt_rate(s > 0 ? (double)pages / s : 0, rate));
    fflush(stderr);
}

/* ---------------------------------------------------------------------------------------------
 * --out: probed before anything runs, written as the runs finish, and once more at the end.
 *
 * Rewriting the whole document after every run would cost time quadratic in the runs (a
 * thousand short runs: minutes), so a file is rewritten after a run only once CHECKPOINT_NS
 * have passed since the last write, and at least CHECKPOINT_COST times the last write's cost:
 * writing stays a small share of the time, and a crash or SIGKILL loses at most the runs of
 * that interval. The first run is written at once; an interruption (SIGINT, SIGTERM) writes
 * everything measured. A FIFO or a device is written once, at the end. With nothing
 * measured, the file is not touched.
 */

#define CHECKPOINT_NS   UINT64_C(1000000000) /* 1 s */
#define CHECKPOINT_COST 20

struct out_file {
    const char *path; /* NULL: no --out */
    enum pb_file_kind kind;
    size_t written;            /* entries in the last write */
    uint64_t last_ns, cost_ns; /* when the last write ended, and what it took */
};

/* A bad --out is found before the first run: exit 2, naming the flag. */
static int out_probe(struct out_file *f, const char *path)
{
    char err[PB_RESULTS_ERR_LEN];
    *f = (struct out_file){.path = path};
    if (!path || pb_file_probe(path, &f->kind, err, sizeof(err)) == 0)
        return 0;
    return pb_cli_error("run", "--out: %s", err);
}

static int out_write(struct out_file *f, const struct pb_report *rep)
{
    char err[PB_RESULTS_ERR_LEN];
    uint64_t t0 = pb_now_ns();
    int rc = pb_results_write_json(rep->doc, f->path, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "popbench run: --out: %s\n", err);
        return rc;
    }
    f->last_ns = pb_now_ns();
    f->cost_ns = f->last_ns - t0;
    f->written = rep->nr;
    return 0;
}

/* After a finished run: the document, marked partial, when a checkpoint is due. */
static void out_checkpoint(struct out_file *f, struct pb_report *rep)
{
    if (!f->path || f->kind == PB_FILE_STREAM || rep->nr == f->written)
        return;
    uint64_t wait =
        CHECKPOINT_COST * f->cost_ns > CHECKPOINT_NS ? CHECKPOINT_COST * f->cost_ns : CHECKPOINT_NS;
    if (f->written && pb_now_ns() - f->last_ns < wait)
        return;
    pb_report_finish(rep, true);
    out_write(f, rep);
}

/* At the end (rep finished): everything measured, or nothing when nothing was. */
static int out_final(struct out_file *f, const struct pb_report *rep)
{
    if (!f->path || rep->nr == 0)
        return 0;
    return out_write(f, rep);
}

/* stdout as --format says; the final flush is checked by main. 0, or PB_EXIT_USAGE. */
static int print_results(const char *format, const struct pb_results *doc)
{
    char err[ERR_LEN] = "";
    int rc = 0;
    if (strcmp(format, "table") == 0)
        rc = pb_results_print_table(doc, stdout);
    else if (strcmp(format, "csv") == 0)
        rc = pb_results_print_csv(doc, stdout);
    else if (strcmp(format, "lockprof") == 0)
        rc = pb_lockprof_print(doc, stdout);
    else if (strcmp(format, "json") == 0)
        rc = pb_results_print_json(doc, stdout, err, sizeof(err));
    if (rc == 0 && fflush(stdout) != 0)
        rc = -errno;
    if (rc == 0)
        return 0;
    if (err[0])
        fprintf(stderr, "popbench run: %s\n", err);
    else
        fprintf(stderr, "popbench run: cannot write the %s to standard output: %s\n", format,
                strerror(-rc));
    return PB_EXIT_USAGE;
}

static int self_test_overhead(const struct run_opts *o)
{
    char err[ERR_LEN];
    struct pb_run_overhead ov;
    const char *variant = o->variants[0];
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

/* The ceiling's threads, pinned as the runs' primaries: worker i on placement's vCPU i. */
struct ceiling_pin {
    const struct pb_topology *topo;
    enum pb_placement placement;
};

static int ceiling_bind(void *ctx, unsigned thread)
{
    const struct ceiling_pin *pin = ctx;
    return pb_topology_bind(pin->topo, pb_topology_place(pin->topo, pin->placement, thread));
}

/*
 * One run of the parallel ceiling, recorded in the report: as long as the measure phase
 * within 200 ms to 1 s (enough slices of the scheduler for a steady rate of a loop that shares
 * nothing), 500 ms beside an operation-bounded or until-built phase. *completed: not
 * interrupted. 0 or a negative errno with a message.
 */
static int run_ceiling(const struct run_opts *o, const struct pb_topology *topo,
                       const struct planned_run *p, struct pb_report *rep, bool *completed,
                       char *err, size_t errlen)
{
    const uint64_t ms = 1000000;
    struct ceiling_pin pin = {topo, o->placement};
    struct pb_wl_phase m = o->measure_given ? o->measure : p->wl->phases.measure;
    uint64_t ns = m.unit != PB_WL_PHASE_TIME ? 500 * ms
                  : m.ns < 200 * ms          ? 200 * ms
                  : m.ns > 1000 * ms         ? 1000 * ms
                                             : m.ns;
    struct pb_ceiling_config cfg = {
        .threads = p->threads,
        .bind = ceiling_bind,
        .bind_ctx = &pin,
        .warmup_ns = 100 * ms,
        .measure_ns = ns,
        .buffer_bytes = pb_ceiling_buffer_bytes(topo->real),
        .interrupt = &interrupted,
    };
    struct pb_ceiling_result res;
    int rc = pb_ceiling_run(&cfg, &res, err, errlen);
    *completed = res.completed;
    if (rc || !res.completed)
        return rc;
    struct pb_report_id id = {.workload = p->wl->name,
                              .variant = p->variant,
                              .threads = p->threads,
                              .repetition = p->rep,
                              .repetitions = p->reps};
    rc = pb_report_add_ceiling(rep, &id, &res);
    if (rc)
        pb_errf(err, errlen, "cannot record the ceiling: %s", strerror(-rc));
    return rc;
}

static void shuffle_variants(const char **v, unsigned n, struct pb_rng *rng)
{
    for (unsigned i = n; i > 1; i--) {
        unsigned j = (unsigned)pb_rng_below(rng, i);
        const char *t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

int pb_cmd_run(int argc, char **argv)
{
    struct run_opts o;
    int first = 0, rc;
    char err[ERR_LEN];

    if ((rc = parse_run_opts(argc, argv, &o, &first)) != 0)
        return rc < 0 ? 0 : rc;
    pb_clock_init();
    if (o.self_test)
        return self_test_overhead(&o);
    struct out_file out;
    if (out_probe(&out, o.out))
        return PB_EXIT_USAGE;
    pb_setup_raise_at(o.interrupt_setup_step, o.interrupt_signal);

    struct pb_topology topo;
    if (pb_topology_load(o.topology, &topo, err, sizeof(err)) != 0)
        return pb_cli_error("run", "%s", err);
    struct wl_set set;
    if (load_workloads(o.workloads_dir, argv + first, argc - first, &topo, &set) != 0) {
        wl_set_free(&set);
        pb_topology_free(&topo);
        return PB_EXIT_USAGE;
    }

    /* Verification needs every frame's own memory: refused before anything runs. */
    for (size_t i = 0; i < set.nr_runs; i++) {
        enum pb_backing backing;
        if (pb_run_backing(set.runs[i], o.backing_given ? &o.backing : NULL, o.verify, &backing,
                           err, sizeof(err)) != 0) {
            fprintf(stderr, "popbench run: --verify: %s\n", err);
            wl_set_free(&set);
            pb_topology_free(&topo);
            return PB_EXIT_USAGE;
        }
    }

    /* The host's clear bandwidth, once, before any run: what every run's clearing is read
     * against, and what AUTO picks for cold memory. */
    if (pb_run_measure_host(set.runs, set.nr_runs, o.backing_given ? &o.backing : NULL, err,
                            sizeof(err)) != 0)
        fprintf(stderr, "popbench run: %s\n", err);

    /* The plan: per workload, repetition and thread count, the variants in a seeded order;
     * with more than one thread, the parallel ceiling among them at that count (and at 1). */
    struct pb_rng order_rng, ceiling_rng;
    pb_rng_seed(&order_rng, o.seed_given ? o.seed : 1);
    pb_rng_seed(&ceiling_rng, pb_rng_stream_seed(o.seed_given ? o.seed : 1, 1));
    size_t cap = 0, nplan = 0;
    for (size_t i = 0; i < set.nr_runs; i++) {
        unsigned reps = o.repetitions ? o.repetitions : set.runs[i]->phases.repetitions;
        cap += (size_t)reps * (o.nr_threads ? o.nr_threads : 1) * (o.nr_variants + 2);
    }
    struct planned_run *plan = calloc(cap ? cap : 1, sizeof(*plan));
    if (!plan) {
        wl_set_free(&set);
        pb_topology_free(&topo);
        return PB_EXIT_FAILED;
    }
    for (size_t i = 0; i < set.nr_runs; i++) {
        const struct pb_workload *wl = set.runs[i];
        unsigned reps = o.repetitions ? o.repetitions : wl->phases.repetitions;
        unsigned nt = o.nr_threads ? o.nr_threads : 1, most = 0;
        bool has_one = false;
        for (unsigned t = 0; t < nt; t++) {
            unsigned n = o.nr_threads ? o.threads[t] : pb_run_default_threads(wl);
            most = n > most ? n : most;
            has_one |= n == 1;
        }
        for (unsigned r = 0; r < reps; r++)
            for (unsigned t = 0; t < nt; t++) {
                const char *v[MAX_VARIANTS];
                memcpy(v, o.variants, sizeof(v));
                shuffle_variants(v, o.nr_variants, &order_rng);
                size_t first = nplan;
                for (unsigned k = 0; k < o.nr_variants; k++)
                    plan[nplan++] = (struct planned_run){.wl = wl,
                                                         .variant = v[k],
                                                         .threads = o.nr_threads ? o.threads[t] : 0,
                                                         .rep = r,
                                                         .reps = reps};
                unsigned n = o.nr_threads ? o.threads[t] : pb_run_default_threads(wl);
                for (int one = 0; most > 1 && one < 2; one++) {
                    if (one && (has_one || t > 0))
                        break;
                    /* Between the variants of the same minutes, at a seeded place. */
                    size_t at = first + (size_t)pb_rng_below(&ceiling_rng, nplan - first + 1);
                    memmove(&plan[at + 1], &plan[at], (nplan - at) * sizeof(*plan));
                    plan[at] = (struct planned_run){.wl = wl,
                                                    .variant = "ceiling",
                                                    .threads = one ? 1 : n,
                                                    .rep = r,
                                                    .reps = reps,
                                                    .ceiling = true};
                    nplan++;
                }
            }
    }

    struct pb_report rep;
    struct pb_report_setup setup = {
        .topo = &topo,
        .git_commit = POPBENCH_GIT_COMMIT,
        .build_type = POPBENCH_BUILD_TYPE,
        .cflags = POPBENCH_CFLAGS,
        .argc = argc + 1,
        .argv = argv - 1,
        .jemalloc_active = pb_cli_jemalloc_active(),
        .jemalloc_version = pb_cli_jemalloc_version(),
        .hwloc_version = POPBENCH_HWLOC_VERSION,
        .urcu_version = POPBENCH_URCU_VERSION,
        .sqlite_version = sqlite3_libversion(),
        .seed = o.seed_given ? o.seed : (set.nr_runs ? set.runs[0]->seed : 0),
        .placement = pb_placement_name(o.placement),
        .claim_mode = pb_run_claim_mode_name(o.claim_mode),
        .options = &o.options,
        .workloads = set.runs,
        .nr_workloads = set.nr_runs,
    };
    if ((rc = pb_report_init(&rep, &setup)) != 0) {
        fprintf(stderr, "popbench run: cannot make the results document: %s\n", strerror(-rc));
        free(plan);
        wl_set_free(&set);
        pb_topology_free(&topo);
        return PB_EXIT_FAILED;
    }
    if (!setup.jemalloc_active && !o.quiet)
        fprintf(stderr,
                "popbench: note: jemalloc does not serve malloc in this build (sanitizer?); "
                "the results say so\n");
    if (pb_topology_oversubscribed(&topo) && !o.quiet)
        fprintf(stderr,
                "popbench: note: topology '%s' has %u vCPUs on %u real PUs: oversubscribed\n",
                topo.spec, topo.nr_vcpus, topo.nr_real_pus);

    catch_signals();

    struct progress prog = {.on = !o.quiet && isatty(STDERR_FILENO), .total = nplan};
    unsigned failed = 0;
    bool stopped = false;
    char first_failure[ERR_LEN + 256] = "";
    uint64_t t_begin = pb_now_ns();
    size_t variant_runs = 0; /* --interrupt-after counts these, not the ceiling's */
    for (size_t i = 0; i < nplan && !stopped; i++) {
        const struct planned_run *p = &plan[i];
        const struct pb_workload *wl = p->wl;
        if (p->ceiling) {
            bool completed = false;
            prog.index = i;
            prog.run = p;
            progress_cb(&prog, 0, 0);
            if (run_ceiling(&o, &topo, p, &rep, &completed, err, sizeof(err)) != 0) {
                if (prog.on)
                    fputs("\r\033[K", stderr);
                fprintf(stderr, "popbench run: %s/ceiling/threads:%u: %s\n", wl->name, p->threads,
                        err);
                failed++;
                if (!first_failure[0])
                    snprintf(first_failure, sizeof(first_failure), "%s/ceiling: %s", wl->name, err);
            }
            stopped |= !completed && atomic_load(&interrupted);
            continue;
        }
        unsigned threads = p->threads ? p->threads : pb_run_default_threads(wl);
        unsigned total = pb_run_total_threads(wl, threads);
        enum pb_lock_kind lock = o.lock;
        if (!o.lock_given) {
            bool over = pb_topology_oversubscribed(&topo) || total > topo.nr_real_pus;
            lock = over ? PB_LOCK_MUTEX : PB_LOCK_TICKET;
            if (over && !o.quiet && (i == 0 || plan[i - 1].wl != wl))
                fprintf(stderr,
                        "%spopbench: note: %s runs %u threads on %u real PUs: mutex lock "
                        "(--lock ticket to spin anyway)\n",
                        prog.on ? "\r\033[K" : "", wl->name, total, topo.nr_real_pus);
        }
        struct pb_run_config cfg = {
            .wl = wl,
            .variant = p->variant,
            .lock_kind = lock,
            .threads = p->threads,
            .topo = &topo,
            .placement = o.placement,
            .seed = (o.seed_given ? o.seed : wl->seed) + p->rep,
            .warmup = o.warmup_given ? o.warmup : wl->phases.warmup,
            .measure = o.measure_given ? o.measure : wl->phases.measure,
            .verify = o.verify,
            .clear = o.clear,
            .claim_mode = o.claim_mode,
            .backing = o.backing_given ? &o.backing : NULL,
            .options = &o.options,
            .interrupt = &interrupted,
            .raise_sigint_in_measure =
                o.interrupt_after >= 0 && (size_t)o.interrupt_after == variant_runs++,
            .progress = progress_cb,
            .progress_ctx = &prog,
        };
        struct pb_run_result res;
        prog.index = i;
        prog.run = p;
        rc = pb_run(&cfg, &res, err, sizeof(err));
        if (rc) {
            if (prog.on)
                fputs("\r\033[K", stderr);
            fprintf(stderr, "popbench run: %s/%s: %s\n", wl->name, p->variant, err);
            pb_run_result_free(&res);
            failed++;
            if (!first_failure[0])
                snprintf(first_failure, sizeof(first_failure), "%s/%s: %s", wl->name, p->variant,
                         err);
            continue;
        }
        if (!res.completed) {
            pb_run_result_free(&res);
            stopped = true;
            break;
        }
        struct pb_report_id id = {.workload = wl->name,
                                  .variant = p->variant,
                                  .threads = threads,
                                  .repetition = p->rep,
                                  .repetitions = p->reps};
        rc = pb_report_add(&rep, &id, &res);
        if (rc) {
            fprintf(stderr, "popbench run: cannot record %s/%s: %s\n", wl->name, p->variant,
                    strerror(-rc));
            failed++;
        }
        if (!res.valid) {
            failed++;
            if (prog.on)
                fputs("\r\033[K", stderr);
            fprintf(stderr, "popbench run: %s/%s/threads:%u rep %u: FAILED: %s\n", wl->name,
                    p->variant, threads, p->rep, res.validator);
            if (!first_failure[0])
                snprintf(first_failure, sizeof(first_failure), "%s/%s: %s", wl->name, p->variant,
                         res.validator);
        }
        /* A figure no host could show: clearing faster than this host clears memory, or
         * clearing that cost nothing because no memory backs the frames. */
        uint64_t scrubbed = res.scrub.on_alloc + res.scrub.domain_build + res.scrub.background;
        if (!o.quiet && pb_run_clear_ratio(&res) > 1)
            fprintf(stderr,
                    "%spopbench: warning: %s/%s cleared at %.2fx this host's clear bandwidth "
                    "(%.1f GB/s against %.1f GB/s)\n",
                    prog.on ? "\r\033[K" : "", wl->name, p->variant, pb_run_clear_ratio(&res),
                    pb_run_clear_gbps(&res), res.clear_host.gbps[res.clear_host.fastest]);
        else if (!o.quiet && scrubbed > 0 && res.clear.bytes == 0)
            fprintf(stderr,
                    "%spopbench: note: %s/%s scrubbed %" PRIu64
                    " pages that no memory backs (backing: none): clearing cost nothing\n",
                    prog.on ? "\r\033[K" : "", wl->name, p->variant, scrubbed);
        for (unsigned k = 0; k < res.nr_thr && !o.quiet; k++)
            if (!res.thr[k].cpu_ok) {
                fprintf(stderr,
                        "%spopbench: warning: %s/%s worker %u ran on CPU %d, pinned to %u\n",
                        prog.on ? "\r\033[K" : "", wl->name, p->variant, k, res.thr[k].cpu_seen,
                        res.thr[k].pu);
                break;
            }
        pb_run_result_free(&res);
        if (i + 1 < nplan)
            out_checkpoint(&out, &rep);
        if (atomic_load(&interrupted))
            stopped = true;
    }
    if (prog.on)
        fputs("\r\033[K", stderr);
    stopped |= atomic_load(&interrupted);
    pb_report_finish(&rep, stopped);
    int wrc = out_final(&out, &rep);
    int prc = print_results(o.format, rep.doc);
    size_t measured = rep.nr;
    if (!o.quiet)
        fprintf(stderr, "popbench: %zu of %zu runs in %.1f s%s%s\n", rep.nr, nplan,
                (double)(pb_now_ns() - t_begin) / 1e9, o.out && measured ? ", results in " : "",
                o.out && measured ? o.out : "");

    pb_report_free(&rep);
    free(plan);
    wl_set_free(&set);
    pb_topology_free(&topo);
    if (stopped)
        return interrupted_exit(o.out, measured);
    if (failed) {
        fprintf(stderr, "popbench run: %u run(s) failed; first: %s%s\n", failed, first_failure,
                o.out && !measured ? " (nothing was measured, --out left as it was)" : "");
        return PB_EXIT_FAILED;
    }
    return wrc ? PB_EXIT_FAILED : prc;
}
