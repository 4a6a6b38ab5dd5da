/*
 * changepoint.h: every change point of a series (a metric over commits), by E-divisive with a
 * permutation test (Matteson & James, "A nonparametric approach for multiple change point
 * analysis of multivariate data", JASA 2014), the method of MongoDB's and Apache Otava's
 * performance CI.
 *
 * The series is split recursively. For a segment, the split tau that maximises the energy
 * divergence of its two sides,
 *   q(tau) = m n / (m + n) * (2/(m n) sum |x - y|  -  sum |x - x'| / C(m, 2)  -  sum |y - y'| /
 * C(n, 2)) (x the m points before tau, y the n after, pairs over distinct points, alpha = 1), is
 * its candidate; the candidate of largest q over all segments is tested by permuting the points
 * within every segment and taking the largest q again: p = (1 + #{permutations with max q >=
 * observed}) / (1 + permutations). A candidate with p < alpha becomes a change point and its
 * segment is split; the first candidate that is not significant ends the search. On a series
 * with no change, a change is reported with probability at most alpha.
 *
 * Costs O(n^2) per permutation. Pure: every function is deterministic given its seed, touches
 * nothing global and may run on any thread.
 */
#ifndef POPBENCH_RESULTS_CHANGEPOINT_H
#define POPBENCH_RESULTS_CHANGEPOINT_H

#include <stddef.h>
#include <stdint.h>

struct pb_cp_opts {
    double alpha;          /* significance level of each permutation test, (0, 1) */
    unsigned permutations; /* rounds of each test, >= 1 */
    uint64_t seed;         /* of the permutations (core/prng.h) */
    size_t min_seg;        /* points on each side of a change, >= 1 */
    size_t max_changes;    /* stop after this many; 0: no limit */
};
/* alpha 0.05, 199 permutations, seed 1, min_seg 2, no limit. */
void pb_cp_opts_default(struct pb_cp_opts *o);

struct pb_cp {
    size_t index; /* first point after the change: the change lies between index-1 and index */
    double q;     /* the energy divergence of the split that found it */
    double p;     /* its permutation p-value */
    size_t order; /* 0 for the first found (the strongest), 1 for the next, ... */
    double mean_before; /* mean of the segment before it, in the final segmentation */
    double mean_after;  /* mean of the segment after it */
};

/*
 * Every change point of x[0..n), ascending by index, malloc'd into *out (NULL when none) with
 * *ncp of them. Returns 0, -EINVAL (bad options, or a value that is not finite) or -ENOMEM.
 * A series shorter than 2 * min_seg has none.
 */
int pb_changepoints_find(const double *x, size_t n, const struct pb_cp_opts *o, struct pb_cp **out,
                         size_t *ncp);

#endif
