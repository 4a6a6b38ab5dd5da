/*
 * verdict.h: how sure a comparison is. The interval of a ratio B/A, the verdict it supports,
 * the rule that decides when a run has repeated enough, and a run's verdicts per workload.
 * `popbench run` (its table and its stopping rule), `popbench compare` and `popbench calibrate`
 * all decide through these functions, so that they speak one vocabulary.
 *
 * Glossary
 *   ratio       B / A of one metric: a variant against the reference variant (the same run),
 *               or a file against another
 *   interval    the 95% confidence interval of that ratio (struct pb_ratio_interval)
 *   half-width  how precise an interval is, relative to its ratio: max(hi/ratio - 1,
 *               1 - lo/ratio); "+-3%" is 0.03
 *   min effect  the smallest change that matters: inside 1 +- min effect is "no difference"
 *   verdict     better / worse (the whole interval beyond 1 +- min effect, in the metric's
 *               direction), no difference (the whole interval inside), inconclusive (it
 *               straddles a bound, or there is no interval)
 *   round       one repetition of every variant of a workload, back to back (a paired design:
 *               the ratio is taken per round)
 *
 * Everything here is pure (no globals); the bootstrap takes an explicit seed.
 */
#ifndef POPBENCH_RESULTS_VERDICT_H
#define POPBENCH_RESULTS_VERDICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "results/metrics.h"
#include "results/results.h"

#define PB_VERDICT_CONF      0.95 /* level of every interval a verdict rests on */
#define PB_VERDICT_PRECISION 0.03 /* default target half-width and minimum effect: +-3% */
#define PB_VERDICT_RESAMPLES 2000 /* bootstrap rounds */

enum pb_verdict {
    PB_VERDICT_BETTER,
    PB_VERDICT_WORSE,
    PB_VERDICT_NO_DIFFERENCE,
    PB_VERDICT_INCONCLUSIVE,
};
/* "better", "worse", "no difference", "inconclusive". */
const char *pb_verdict_name(enum pb_verdict v);

enum pb_interval_method {
    PB_INTERVAL_NONE,      /* too few values, or values no method can take: no interval */
    PB_INTERVAL_EQUAL,     /* both sides hold one and the same value throughout: [1, 1] */
    PB_INTERVAL_PAIRED_T,  /* t-interval of the mean log ratio over paired rounds */
    PB_INTERVAL_WELCH_T,   /* Welch t-interval of the difference of mean logs */
    PB_INTERVAL_BOOTSTRAP, /* percentile bootstrap of the ratio of medians */
};
/* "none", "equal", "paired-t", "welch-t", "bootstrap". */
const char *pb_interval_method_name(enum pb_interval_method m);

struct pb_ratio_interval {
    double ratio;  /* B/A: geometric mean ratio (t methods) or ratio of medians */
    double lo, hi; /* the interval; NAN with PB_INTERVAL_NONE */
    size_t n;      /* rounds (paired), or the smaller of the two samples */
    enum pb_interval_method method;
};

/*
 * Paired: a[i] and b[i] were measured in the same round. The t-interval of the mean of
 * log(b[i] / a[i]), exponentiated. Why this interval: a round runs every variant back to back
 * with the same seed, so whatever the machine did meanwhile (another tenant, a frequency step)
 * touches both sides of its ratio and cancels in it, and the ratios of different rounds are
 * close to independent. Throughput and latency change by factors, so the logarithm turns a
 * ratio into a difference whose spread does not depend on the level, and the interval
 * brackets the geometric mean ratio. The t quantile accounts for a spread estimated from few
 * rounds (3 to a few dozen here); a bootstrap from so few rounds undercovers (its percentile
 * intervals are too narrow below about 20 samples), which would stop runs early and make the
 * verdicts over-confident. Every value must be finite and > 0 (-EDOM otherwise). n < 2 gives
 * no interval (ratio b[0]/a[0] when n == 1). 0, -EINVAL or -EDOM.
 */
int pb_interval_paired(const double *a, const double *b, size_t n, double conf,
                       struct pb_ratio_interval *out);
/* Unpaired (two files, no common rounds): Welch's t-interval of mean log b - mean log a. Every
 * value finite and > 0; fewer than 2 values a side give no interval. 0, -EINVAL or -EDOM. */
int pb_interval_unpaired(const double *a, size_t na, const double *b, size_t nb, double conf,
                         struct pb_ratio_interval *out);
/* One series alone (a run of one variant): the t-interval of its geometric mean, relative to
 * it (ratio 1): how precisely the level is known. 0, -EINVAL or -EDOM. */
int pb_interval_level(const double *v, size_t n, double conf, struct pb_ratio_interval *out);

/*
 * The interval the verdicts of one metric rest on: paired t when paired and every value is
 * positive; [1, 1] when both sides hold one value throughout (zero lock waits on both sides);
 * unpaired, tail percentiles (p99 and beyond: skewed, a few repetitions) by a seeded percentile
 * bootstrap of the ratio of medians, other metrics by Welch's t on logs; a bootstrap too where
 * a value is 0. Paired needs na == nb. 0 (out->method may be PB_INTERVAL_NONE), -EINVAL,
 * -ENOMEM.
 */
int pb_interval_for(const char *metric, const double *a, size_t na, const double *b, size_t nb,
                    bool paired, double conf, uint64_t seed, struct pb_ratio_interval *out);

/* Relative half-width (see the glossary); INFINITY without an interval, 0 for [1, 1]. */
double pb_interval_half_width(const struct pb_ratio_interval *iv);

/* The verdict of an interval for a metric going `dir`, min_effect >= 0 (0.03 = 3%). A plain
 * count (PB_METRIC_INFO) is never better or worse: no difference or inconclusive. */
enum pb_verdict pb_verdict_decide(const struct pb_ratio_interval *iv, enum pb_metric_direction dir,
                                  double min_effect);

/* ---- when to stop repeating ------------------------------------------------------------ */

enum pb_stop {
    PB_STOP_NO,          /* add a round */
    PB_STOP_TARGET,      /* every interval is within the target half-width */
    PB_STOP_BUDGET,      /* another round would overrun the time budget */
    PB_STOP_MAX_REPS,    /* the maximum repetition count is reached */
    PB_STOP_INTERRUPTED, /* Ctrl-C */
    PB_STOP_FIXED,       /* a fixed repetition count (--repetitions, or an ops-bounded phase) */
    PB_STOP_FAILED,      /* a run could not be set up: repeating would not help */
};
/* "continue", "target met", "budget", "max repetitions", "interrupted", "fixed repetitions",
 * "run failed".
 * pb_stop_parse: the reverse, -EINVAL for an unknown name. */
const char *pb_stop_name(enum pb_stop s);
int pb_stop_parse(const char *name, enum pb_stop *out);

struct pb_stop_rule {
    double precision;   /* target half-width, > 0 */
    unsigned min_reps;  /* rounds always run (>= 2 for an interval), whatever the budget */
    unsigned max_reps;  /* >= min_reps */
    uint64_t budget_ns; /* time the rounds may take in all; UINT64_MAX: no budget */
};

/*
 * After `reps` rounds that took elapsed_ns in all, the last of them last_round_ns, with the
 * widest interval worst_half_width (INFINITY when some variant has none): stop, and why. The
 * target is checked first, then the maximum, then whether one more round like the last would
 * overrun the budget.
 */
enum pb_stop pb_stop_decide(const struct pb_stop_rule *r, unsigned reps, double worst_half_width,
                            uint64_t elapsed_ns, uint64_t last_round_ns);

/*
 * The widest interval of a workload after n rounds: v[k][i] is variant k's figure (pages/s)
 * in round i, ref the reference's index. Every other variant against the reference, paired;
 * with one variant, that variant's level (pb_interval_level). INFINITY when one has none.
 */
double pb_worst_half_width(const double *const *v, size_t nvariants, size_t ref, size_t n,
                           double conf);

/* ---- a run's verdicts, per workload ------------------------------------------------------ */

/* The headline figures (metrics.def's PB_HEADLINE lines), in the table's order. */
struct pb_variant_verdict {
    const char *variant; /* borrowed from the document */
    size_t reps;
    double pps;                     /* median pages/s */
    double cv;                      /* of pages/s over the repetitions; NAN below 2 */
    double headline[PB_NHEADLINES]; /* medians; NAN where absent */
    struct pb_ratio_interval iv;    /* pages/s against the reference (NONE for itself) */
    enum pb_verdict verdict;        /* of iv (the reference: no difference) */
    size_t disturbed;               /* repetitions marked disturbed */
    double steal_max_pct;           /* largest steal of a repetition; NAN: unavailable */
    size_t migrations;              /* of pinned workers, summed over the repetitions */
    bool noise_exceeds_effect;      /* noise larger than |ratio - 1|, for a verdict beyond */
};

struct pb_workload_verdict {
    const char *workload; /* borrowed */
    unsigned threads;
    const char *reference; /* borrowed; the variant the ratios are against */
    size_t nvariants;
    struct pb_variant_verdict *v; /* the reference first, then the others in document order */
    double half_width;            /* widest interval (context.precision's, or recomputed) */
    const char *stop;             /* why the run stopped repeating (context.precision), or NULL */
    double measure_ns;            /* median measured time of a repetition */
    double rounds;                /* median rounds of a repetition (storms), NAN if unknown */
};

struct pb_run_verdicts {
    double min_effect, precision; /* the run's (context), or the defaults */
    size_t n;
    struct pb_workload_verdict *w;
};

/*
 * The verdicts of a run's results, per workload and thread count: the reference is
 * context.reference, else the first variant of the workload; the minimum effect is
 * context.min_effect (default PB_VERDICT_PRECISION); rounds pair by repetition index.
 * 0, -ENOMEM. Free with pb_run_verdicts_free.
 */
int pb_run_verdicts(const struct pb_results *doc, struct pb_run_verdicts *out);
void pb_run_verdicts_free(struct pb_run_verdicts *v);

#endif
