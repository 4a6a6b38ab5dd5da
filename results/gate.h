/*
 * gate.h: the CI performance gate's judgement of a fresh results file against a baseline
 * (`popbench gate`, cli/gate.c).
 *
 * Two tiers, each metric in the one the metric table (metrics.def) gives it:
 *   deterministic  lock_acq_per_page, scrub_pages_per_page, continuations_per_call,
 *                  instructions and the plain counts. Gated hard, within a tolerance (0.5% for
 *                  instructions, exact for the rest). A repeatable benchmark (one thread, and
 *                  the same number of calls, `iterations`, in every repetition of both files:
 *                  an operation-bounded run) is compared repetition by repetition, baseline
 *                  rep i against fresh rep i: repetition r runs seed + r, so its counts differ
 *                  from the other repetitions' by design but repeat exactly from run to run.
 *                  Otherwise the medians are compared, which needs the baseline's repetitions
 *                  to agree within the tolerance; where they do not (a timed or multi-threaded
 *                  run, whose repetitions are not repeatable) a per-page metric falls back to
 *                  the Mann-Whitney test with the minimum effect, and a plain count is only
 *                  shown; the note says so.
 *   wallclock      throughput, latency and lock wait. Gated only as the ratio of a variant to
 *                  the reference variant measured in the same run, repetition by repetition,
 *                  fresh ratios against baseline ratios with the Mann-Whitney test and the
 *                  minimum effect. A failure there is a regression only when a re-run
 *                  (confirm) fails too; without one it is inconclusive. Judged only where the
 *                  fresh file's machine shows it can support such a verdict: its
 *                  context.calibration must exist, with an A/A false-alarm rate no higher
 *                  than alpha and a detection rate of the known effect of at least
 *                  PB_GATE_MIN_DETECTION; otherwise the tier is refused and says why.
 *
 * Nothing here is shared between threads: a result belongs to its caller.
 */
#ifndef POPBENCH_RESULTS_GATE_H
#define POPBENCH_RESULTS_GATE_H

#include <stdbool.h>
#include <stddef.h>

#include "results/results.h"

enum pb_gate_tiers { PB_GATE_DETERMINISTIC = 1, PB_GATE_WALLCLOCK = 2, PB_GATE_ALL = 3 };

/* The least share of runs with a known injected slowdown that the machine's verdicts must
 * catch (context.calibration.effect_detection_rate) for a wall-clock verdict. */
#define PB_GATE_MIN_DETECTION 0.9

struct pb_gate_opts {
    const char *reference;      /* the variant wall-clock ratios are taken to */
    enum pb_gate_tiers tier;    /* which tiers to judge */
    double min_effect;          /* wall-clock: smallest relative change that fails */
    double alpha;               /* significance level of the Mann-Whitney tests */
    double instr_tol;           /* relative tolerance of instructions */
    double count_tol;           /* relative tolerance of the other deterministic metrics */
    const char *const *metrics; /* NULL-ended names to gate, or NULL: the table's gated ones */
};
/* xen, both tiers, 5%, 0.05, 0.5%, exact, the table's metrics. */
void pb_gate_opts_default(struct pb_gate_opts *o);

enum pb_gate_outcome {
    PB_GATE_PASS,         /* gated: within the tolerance, or better */
    PB_GATE_FAIL,         /* gated: a regression or a changed count */
    PB_GATE_INCONCLUSIVE, /* cannot tell: missing values, too few repetitions, unconfirmed */
    PB_GATE_INFO,         /* shown, not gated */
};

struct pb_gate_row {
    char *bench;        /* the benchmark's name */
    const char *metric; /* borrowed from a document, or "-" for a whole benchmark */
    const char *tier;   /* "deterministic" or "wallclock" */
    double base, fresh; /* the values compared (medians, or ratios to the reference); NAN: none */
    double ratio;       /* fresh / base; NAN: none */
    char tolerance[48]; /* "exact", "0.5%", "5% p<0.05", or "-" */
    enum pb_gate_outcome outcome;
    const char *verdict; /* "pass", "better", "REGRESSION", "CHANGED", "inconclusive", ... */
    char note[160];      /* how it was judged */
};

struct pb_gate_result {
    struct pb_gate_row *row; /* the deterministic tier's rows, then the wall-clock tier's */
    size_t nrow, cap;
    size_t gated;        /* rows that passed or failed */
    size_t failed;       /* rows that failed */
    size_t inconclusive; /* rows that could not be judged */
    /* The wall-clock tier was asked for and refused: refusal says why (no calibration, too
     * many false alarms, too few detections); calibration is what was found, when it was. */
    bool wallclock_refused;
    char refusal[384];
};

/* Judges fresh (and its re-run confirm, or NULL) against base; 0, -EINVAL or -ENOMEM. */
int pb_gate_judge(const struct pb_gate_opts *o, const struct pb_results *base,
                  const struct pb_results *fresh, const struct pb_results *confirm,
                  struct pb_gate_result *out);
void pb_gate_result_free(struct pb_gate_result *r);

#endif
