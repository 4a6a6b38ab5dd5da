/*
 * run.h: `popbench run`'s flags and its loop, shared with `popbench calibrate`, which runs the
 * same loop many times (cli/calibrate.c).
 *
 * The loop, per workload: rounds of one repetition of every variant (each thread count, the
 * variants in a seeded order), until the interval of every variant's pages/s against the
 * reference is within the target half-width, the workload's share of the time budget is
 * spent, the maximum repetition count is reached or Ctrl-C (results/verdict.h decides). A
 * fixed repetition count (--repetitions, or an ops-bounded measure phase) runs as asked. With
 * more than one primary thread, every round also runs the parallel ceiling (bench/ceiling.h)
 * at each thread count and at 1, at a seeded place among the variants: beside them, never one
 * of them (no verdict).
 *
 * The files: run.c the flags and the command, run_workloads.c the workloads and the results
 * document's settings, run_session.c the loop and the signals, run_out.c --out and stdout.
 */
#ifndef POPBENCH_CLI_RUN_H
#define POPBENCH_CLI_RUN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/report.h"
#include "bench/runner.h"
#include "bench/topology.h"
#include "cli/cli.h"
#include "core/options.h"
#include "results/results.h"
#include "workloads/workload.h"

#define PB_RUN_MAX_VARIANTS 16
#define PB_RUN_LABEL_LEN    64

/* One variant of a run: a variant by name, or a copy of it (labels xen, xen.2, ...). */
struct pb_run_variant {
    char label[PB_RUN_LABEL_LEN]; /* what the results call it */
    const char *variant;          /* the allocator it runs (pb_variant_names) */
    uint64_t inject_ns;           /* --inject LABEL=NS: the known slowdown of this copy */
};

struct pb_run_opts {
    struct pb_run_variant variants[PB_RUN_MAX_VARIANTS];
    unsigned nr_variants;
    unsigned reference; /* index into variants */
    const char *reference_given;
    unsigned threads[PB_CLI_MAX_THREAD_COUNTS];
    unsigned nr_threads;
    bool lock_given;
    enum pb_lock_kind lock;
    const char *topology;
    enum pb_placement placement;
    unsigned repetitions; /* 0: adaptive (or the workload's, for an ops-bounded phase) */
    unsigned min_reps, max_reps;
    double precision, min_effect; /* min_effect < 0: the precision */
    uint64_t budget_ns;
    uint64_t floor_ns;
    bool measure_given, warmup_given;
    struct pb_wl_phase measure, warmup;
    bool seed_given;
    uint64_t seed;
    const char *out;
    const char *format;
    const char *calibration; /* --calibration FILE */
    bool quiet;
    enum pb_verify_mode verify;
    enum pb_clear_method clear;
    enum pb_run_claim_mode claim_mode;
    bool backing_given;
    enum pb_wl_backing backing; /* --backing, when given: every workload's */
    struct pb_options options;  /* --option NAME=VALUE, repeatable */
    const char *workloads_dir;
    bool self_test;
    uint64_t self_test_ops;
    long interrupt_after;          /* test hook: SIGINT during run N+1; -1 = never */
    uint64_t interrupt_setup_step; /* test hook: a signal at set-up step N; 0 = never */
    int interrupt_signal;          /* ... SIGINT or SIGTERM */
    /* --inject given before --variant: checked against the labels once all flags are read */
    char inject_pending[PB_RUN_MAX_VARIANTS][PB_RUN_LABEL_LEN];
    uint64_t inject_pending_ns[PB_RUN_MAX_VARIANTS];
    unsigned nr_inject_pending;
};

/*
 * Parses run's flags (cmd names the command in messages) into o; *first_arg is the first
 * workload argument. 0; -1 after --help (printed); PB_EXIT_USAGE after a message.
 */
int pb_run_parse(const char *cmd, int argc, char **argv, struct pb_run_opts *o, int *first_arg);
/* Variants from "xen,xen,pernode" (labels xen, xen.2, pernode) or "all": 0, -ENOENT (the
 * unknown name into bad), -E2BIG or -EINVAL. */
int pb_run_parse_variants(const char *list, struct pb_run_opts *o, char *bad, size_t badlen);

/* The workloads to run: suites flattened, machines bound. */
struct pb_run_workloads {
    struct pb_workload *loaded; /* as loaded (singles and suites) */
    size_t nr_loaded;
    const struct pb_workload **runs; /* the singles, in order */
    size_t nr_runs;
};
/* names (none: the default suite) from dir; a message on stderr and -errno on failure. A
 * workload that runs more than once has its k-th run, from the second on, named NAME#k. */
int pb_run_load_workloads(const char *cmd, const char *dir, char **names, int n,
                          const struct pb_topology *topo, struct pb_run_workloads *set);
void pb_run_workloads_free(struct pb_run_workloads *s);

/* A results document with the context of a run of o (environment, settings, argv): what
 * pb_run_session starts from. 0, or PB_EXIT_FAILED after a message. */
int pb_run_report_init(const struct pb_run_opts *o, const struct pb_topology *topo,
                       const struct pb_workload *const *workloads, size_t n, int argc, char **argv,
                       struct pb_report *rep);

/* context.calibration of the popbench calibrate file at path, copied into doc: 0, or the exit
 * status after a message naming --calibration. */
int pb_run_copy_calibration(struct pb_results *doc, const char *path);

/*
 * Before the first run: refuses --verify where the frames cannot be verified (an aliased
 * backing: PB_EXIT_USAGE after a message), then measures the host's clear bandwidth (once per
 * process) when some workload has frames to clear. 0 or PB_EXIT_USAGE.
 */
int pb_run_prepare(const char *cmd, const struct pb_run_opts *o,
                   const struct pb_workload *const *workloads, size_t n);

/*
 * --out: probed before anything runs (a bad one is exit 2, naming the flag), written after
 * runs once a checkpoint is due (rewriting a growing document after every one of a thousand
 * short runs would cost minutes), and at the end; a FIFO or a device is written once, at the
 * end; a run that measured nothing leaves the file as it was (cli/run_out.c).
 */
struct pb_run_out {
    const char *path; /* NULL: no --out */
    enum pb_file_kind kind;
    size_t written;            /* entries in the last write */
    uint64_t last_ns, cost_ns; /* when the last write ended, and what it took */
};
/* 0, or PB_EXIT_USAGE after a message naming cmd and --out. path NULL: no file. */
int pb_run_out_probe(const char *cmd, struct pb_run_out *f, const char *path);
/* After a finished run: the document, marked partial, when a checkpoint is due. */
void pb_run_out_checkpoint(struct pb_run_out *f, struct pb_report *rep);
/* At the end (rep finished): everything measured, or nothing when nothing was. 0 or -errno. */
int pb_run_out_final(struct pb_run_out *f, const struct pb_report *rep);
/* stdout as --format says (table, csv, lockprof, json, none), flushed; 0 or PB_EXIT_USAGE. */
int pb_run_print_results(const char *format, const struct pb_results *doc);

/*
 * Runs every workload of set (workloads[0..n) of it) with o into a new report (argv recorded
 * as the command line), checkpoints out (NULL: no file) after runs and writes it at the end;
 * prints nothing on stdout, only progress and notes. SIGINT and SIGTERM stop it. Returns the
 * exit status: 0, PB_EXIT_FAILED (a run failed, or --out could not be written at the end),
 * PB_EXIT_INTERRUPT (SIGINT), PB_EXIT_TERMINATED (SIGTERM); *rep is made either way (free it
 * with pb_report_free), unless the status is PB_EXIT_USAGE.
 */
int pb_run_session(const struct pb_run_opts *o, const struct pb_topology *topo,
                   const struct pb_workload *const *workloads, size_t n, int argc, char **argv,
                   struct pb_run_out *out, struct pb_report *rep);

/* The run's table: per workload, each variant's headline figures, its ratio to the reference
 * with the interval, the CV, the verdict, the clearing against the host and the scaling
 * against the parallel ceiling where the block has them, and warnings about noise
 * (results/verdict.h). 0, or -ENOMEM. */
int pb_run_print_verdicts(const struct pb_results *doc, FILE *out);

#endif
