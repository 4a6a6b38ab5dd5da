/*
 * changepoint.c: E-divisive change points with a permutation test (changepoint.h).
 */
#include "results/changepoint.h"

#include "core/prng.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

void pb_cp_opts_default(struct pb_cp_opts *o)
{
    *o = (struct pb_cp_opts){
        .alpha = 0.05, .permutations = 199, .seed = 1, .min_seg = 2, .max_changes = 0};
}

/* Sum of |y[i] - y[j]| over the pairs i < j of y[a..b). */
static double pair_sum(const double *y, size_t a, size_t b)
{
    double s = 0;
    for (size_t i = a; i < b; i++)
        for (size_t j = i + 1; j < b; j++)
            s += fabs(y[i] - y[j]);
    return s;
}

/* The mean over pairs of a side's within-distances: 0 for a side of one point. */
static double within(double sum, size_t k)
{
    return k < 2 ? 0 : sum / ((double)k * (double)(k - 1) / 2);
}

/*
 * The split of y[a..b) of largest q with at least min_seg points a side: q into *q and the
 * first point of the right side into *tau. False when the segment is too short to split.
 * Moving tau right by one moves y[tau] from the right side to the left: the within-sums
 * change by its distances to each side, so all splits cost O((b - a)^2).
 */
static bool best_split(const double *y, size_t a, size_t b, size_t min_seg, double *q, size_t *tau)
{
    if (b - a < 2 * min_seg)
        return false;
    double total = pair_sum(y, a, b), left = 0, right = total;
    bool found = false;
    *q = 0;
    *tau = a;
    for (size_t t = a; t + min_seg <= b; t++) {
        if (t - a >= min_seg) {
            double m = (double)(t - a), n = (double)(b - t);
            double between = total - left - right;
            double e = 2 * between / (m * n) - within(left, t - a) - within(right, b - t);
            double v = m * n / (m + n) * e;
            if (!found || v > *q) {
                *q = v;
                *tau = t;
                found = true;
            }
        }
        /* y[t] joins the left side. */
        for (size_t i = a; i < t; i++)
            left += fabs(y[t] - y[i]);
        for (size_t j = t + 1; j < b; j++)
            right -= fabs(y[t] - y[j]);
    }
    return found;
}

/* The segments: bounds[0] = 0 < bounds[1] < ... < bounds[k] = n. */
struct segs {
    size_t *bound;
    size_t k; /* segments */
};

/* The largest q of a split over all segments of y; false when none can be split. */
static bool best_of_all(const double *y, const struct segs *s, size_t min_seg, double *q,
                        size_t *tau)
{
    bool any = false;
    for (size_t i = 0; i < s->k; i++) {
        double v = 0;
        size_t t = 0;
        if (best_split(y, s->bound[i], s->bound[i + 1], min_seg, &v, &t) && (!any || v > *q)) {
            *q = v;
            *tau = t;
            any = true;
        }
    }
    return any;
}

/* Fisher-Yates within each segment. */
static void shuffle_within(double *y, const struct segs *s, struct pb_rng *rng)
{
    for (size_t i = 0; i < s->k; i++) {
        size_t a = s->bound[i], len = s->bound[i + 1] - a;
        for (size_t j = len; j > 1; j--) {
            size_t r = (size_t)pb_rng_below(rng, j);
            double t = y[a + j - 1];
            y[a + j - 1] = y[a + r];
            y[a + r] = t;
        }
    }
}

/* The permutation p-value of an observed largest q; stops counting once p >= alpha. */
static double permutation_p(const double *x, size_t n, const struct segs *s,
                            const struct pb_cp_opts *o, double observed, struct pb_rng *rng,
                            double *scratch)
{
    size_t as_large = 0;
    double stop = o->alpha * (1.0 + o->permutations);
    memcpy(scratch, x, n * sizeof(*scratch));
    for (unsigned r = 0; r < o->permutations; r++) {
        double q = 0;
        size_t tau = 0;
        shuffle_within(scratch, s, rng);
        if (best_of_all(scratch, s, o->min_seg, &q, &tau) && q >= observed)
            as_large++;
        if ((double)(1 + as_large) >= stop)
            break; /* not significant, whatever the remaining rounds give */
    }
    return (double)(1 + as_large) / (1.0 + o->permutations);
}

static int cmp_index(const void *a, const void *b)
{
    size_t x = ((const struct pb_cp *)a)->index, y = ((const struct pb_cp *)b)->index;
    return (x > y) - (x < y);
}

static double mean_of(const double *x, size_t a, size_t b)
{
    double s = 0;
    for (size_t i = a; i < b; i++)
        s += x[i];
    return s / (double)(b - a);
}

int pb_changepoints_find(const double *x, size_t n, const struct pb_cp_opts *o, struct pb_cp **out,
                         size_t *ncp)
{
    if (!o || !out || !ncp || (n && !x) || !(o->alpha > 0 && o->alpha < 1) ||
        o->permutations == 0 || o->min_seg == 0)
        return -EINVAL;
    *out = NULL;
    *ncp = 0;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return -EINVAL;
    size_t most = n / o->min_seg + 2;
    struct segs s = {.bound = calloc(most + 1, sizeof(*s.bound)), .k = 1};
    struct pb_cp *cp = calloc(most, sizeof(*cp));
    double *scratch = calloc(n + 1, sizeof(*scratch));
    if (!s.bound || !cp || !scratch) {
        free(s.bound);
        free(cp);
        free(scratch);
        return -ENOMEM;
    }
    s.bound[1] = n;
    struct pb_rng rng;
    pb_rng_seed(&rng, o->seed);
    size_t found = 0, tau = 0;
    double q = 0;
    while ((!o->max_changes || found < o->max_changes) &&
           best_of_all(x, &s, o->min_seg, &q, &tau)) {
        double p = permutation_p(x, n, &s, o, q, &rng, scratch);
        if (p >= o->alpha)
            break;
        cp[found] = (struct pb_cp){.index = tau, .q = q, .p = p, .order = found};
        found++;
        /* Insert tau among the bounds, which stay ascending. */
        size_t i = s.k + 1;
        while (s.bound[i - 1] > tau) {
            s.bound[i] = s.bound[i - 1];
            i--;
        }
        s.bound[i] = tau;
        s.k++;
    }
    free(scratch);
    free(s.bound);
    if (found == 0) {
        free(cp);
        return 0;
    }
    qsort(cp, found, sizeof(*cp), cmp_index);
    for (size_t i = 0; i < found; i++) {
        size_t lo = i ? cp[i - 1].index : 0, hi = i + 1 < found ? cp[i + 1].index : n;
        cp[i].mean_before = mean_of(x, lo, cp[i].index);
        cp[i].mean_after = mean_of(x, cp[i].index, hi);
    }
    *out = cp;
    *ncp = found;
    return 0;
}
