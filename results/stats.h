/*
 * stats.h: the statistics that compare, gate and history rest on. Every function is pure (no
 * globals); randomised ones take an explicit seed so that a report repeats exactly.
 */
#ifndef POPBENCH_RESULTS_STATS_H
#define POPBENCH_RESULTS_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/prng.h"

/* Exact Mann-Whitney distribution is used up to this many values in both samples together. */
#define PB_MWU_EXACT_MAX 50

/* Median of n finite values (n >= 1); v is not modified. NAN when n == 0. */
double pb_median(const double *v, size_t n);

/* Quantile q in [0, 1] of n ascending values, interpolating linearly between order statistics. */
double pb_quantile_sorted(const double *sorted, size_t n, double q);

/* Geometric mean of n positive values; NAN when n == 0 or any value is not positive. */
double pb_geomean(const double *v, size_t n);

/* Sample mean and standard deviation (n - 1 in the denominator; 0 for one value). */
double pb_mean(const double *v, size_t n);
double pb_stddev(const double *v, size_t n);
/* Coefficient of variation: stddev / |mean|; NAN for fewer than 2 values or a mean of 0. */
double pb_cv(const double *v, size_t n);

/*
 * Student's t distribution with df > 0 degrees of freedom (df may be fractional, as Welch's
 * approximation gives): its CDF, and the quantile of probability p in (0, 1), e.g.
 * pb_t_quantile(0.975, 4) = 2.776. From the regularized incomplete beta function (a continued
 * fraction), inverted by bisection: accurate to about 1e-9. NAN for arguments out of range.
 */
double pb_t_cdf(double t, double df);
double pb_t_quantile(double p, double df);

struct pb_mwu {
    double u;   /* U of the first sample: pairs (a, b) with a > b, a tie counting one half */
    double p;   /* two-sided p-value */
    bool exact; /* exact null distribution (no ties, small samples) or normal approximation */
};

/*
 * Two-sided Mann-Whitney U test of a against b. With no ties and na + nb <= PB_MWU_EXACT_MAX
 * the p-value is exact (2 * P(U >= max(U1, U2)) under the null, from the Gaussian binomial
 * coefficients); otherwise it is the normal approximation with tie correction and continuity
 * correction. Both match scipy.stats.mannwhitneyu with method "exact" / "asymptotic". If every
 * value is tied the samples cannot be told apart and p = 1. Returns 0, or -EINVAL when a sample
 * is empty or holds a value that is not finite.
 */
int pb_mwu_test(const double *a, size_t na, const double *b, size_t nb, struct pb_mwu *out);

/*
 * The smallest two-sided p-value samples of na and nb values can reach (complete separation,
 * no ties): 2 / C(na + nb, na). When it is not below alpha the test cannot find anything.
 */
double pb_mwu_min_p(size_t na, size_t nb);

/*
 * Percentile-bootstrap confidence interval (level conf, e.g. 0.95) of median(b) / median(a):
 * each of `resamples` rounds draws na values from a and nb from b with replacement. Rounds whose
 * median(a) is 0 are dropped. Returns 0, -EINVAL on bad arguments, -EDOM when fewer than half
 * of the rounds gave a finite ratio.
 */
int pb_bootstrap_ratio_ci(const double *a, size_t na, const double *b, size_t nb,
                          unsigned resamples, double conf, uint64_t seed, double *lo, double *hi);

struct pb_changepoint {
    size_t index;       /* first point after the change */
    double mean_before; /* mean of x[0 .. index) */
    double mean_after;  /* mean of x[index .. n) */
    double t;           /* pooled-variance two-sample t of that split (INFINITY: no noise) */
    double p;           /* permutation p-value of the maximal t over all splits */
};

/*
 * Single change point: the split of x into two segments (each at least min_seg points) that
 * maximises the pooled-variance two-sample t statistic. Its significance comes from a seeded
 * permutation test of that maximum (so the search over splits is accounted for):
 * p = (1 + #{permutations with max t >= observed}) / (1 + permutations).
 * Returns 0, or -EINVAL when n < 2 * min_seg, min_seg < 1, or a value is not finite.
 */
int pb_changepoint_find(const double *x, size_t n, size_t min_seg, unsigned permutations,
                        uint64_t seed, struct pb_changepoint *out);

#endif
