#include "results/stats.h"

#include "core/pb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

double pb_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo >= n - 1)
        return sorted[n - 1];
    double frac = pos - (double)lo;
    return sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]);
}

double pb_median(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    double small[64];
    double *tmp = n <= PB_ARRAY_SIZE(small) ? small : malloc(n * sizeof(*tmp));
    if (!tmp)
        return NAN;
    memcpy(tmp, v, n * sizeof(*tmp));
    qsort(tmp, n, sizeof(*tmp), cmp_double);
    double m = pb_quantile_sorted(tmp, n, 0.5);
    if (tmp != small)
        free(tmp);
    return m;
}

double pb_geomean(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (!(v[i] > 0) || !isfinite(v[i]))
            return NAN;
        sum += log(v[i]);
    }
    return exp(sum / (double)n);
}

double pb_mean(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return sum / (double)n;
}

double pb_stddev(const double *v, size_t n)
{
    if (n == 0)
        return NAN;
    if (n == 1)
        return 0;
    double m = pb_mean(v, n), ss = 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - m) * (v[i] - m);
    return sqrt(ss / (double)(n - 1));
}

double pb_cv(const double *v, size_t n)
{
    double m = pb_mean(v, n);
    if (n < 2 || m == 0)
        return NAN;
    return pb_stddev(v, n) / fabs(m);
}

/* ---- Student's t ---------------------------------------------------------------------- */

/* The continued fraction of the incomplete beta function (modified Lentz). */
static double beta_cf(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1, d = 1 - (a + b) * x / (a + 1);
    if (fabs(d) < tiny)
        d = tiny;
    d = 1 / d;
    double h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1) * (a + m2));
        d = 1 + num * d;
        c = 1 + num / c;
        d = 1 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1));
        d = 1 + num * d;
        c = 1 + num / c;
        d = 1 / (fabs(d) < tiny ? tiny : d);
        c = fabs(c) < tiny ? tiny : c;
        double step = d * c;
        h *= step;
        if (fabs(step - 1) < 1e-15)
            break;
    }
    return h;
}

/* I_x(a, b), the regularized incomplete beta function. */
static double inc_beta(double a, double b, double x)
{
    if (x <= 0)
        return 0;
    if (x >= 1)
        return 1;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    if (x < (a + 1) / (a + b + 2))
        return front * beta_cf(a, b, x) / a;
    return 1 - front * beta_cf(b, a, 1 - x) / b;
}

double pb_t_cdf(double t, double df)
{
    if (!(df > 0) || isnan(t))
        return NAN;
    if (isinf(t))
        return t > 0 ? 1 : 0;
    double tail = 0.5 * inc_beta(df / 2, 0.5, df / (df + t * t));
    return t >= 0 ? 1 - tail : tail;
}

double pb_t_quantile(double p, double df)
{
    if (!(p > 0 && p < 1) || !(df > 0))
        return NAN;
    if (p < 0.5)
        return -pb_t_quantile(1 - p, df);
    double lo = 0, hi = 1;
    while (pb_t_cdf(hi, df) < p && hi < 1e12)
        hi *= 2;
    for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
        double mid = (lo + hi) / 2;
        if (pb_t_cdf(mid, df) < p)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

/* ---- Mann-Whitney U ------------------------------------------------------------------- */

struct ranked {
    double v;
    bool first; /* from sample a */
};

static int cmp_ranked(const void *pa, const void *pb)
{
    return cmp_double(&((const struct ranked *)pa)->v, &((const struct ranked *)pb)->v);
}

/*
 * P(U >= u) under the null for samples of m and n distinct values. The number of arrangements
 * with U = k is the coefficient of q^k in the Gaussian binomial [m+n choose m]_q, built as
 * prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i); every intermediate is an integer below 2^53 while
 * m + n <= PB_MWU_EXACT_MAX, so doubles hold them exactly.
 */
static double mwu_exact_sf(double u, size_t m, size_t n)
{
    size_t cap = m * n + m + 1;
    double *c = calloc(cap, sizeof(*c));
    if (!c)
        return NAN;
    c[0] = 1;
    size_t deg = 0;
    for (size_t i = 1; i <= m; i++) {
        size_t shift = n + i;
        for (size_t k = deg + shift; k >= shift; k--)
            c[k] -= c[k - shift];
        deg += shift;
        for (size_t k = i; k <= deg; k++)
            c[k] += c[k - i];
        deg -= i;
    }
    double total = 0, tail = 0;
    for (size_t k = 0; k <= deg; k++) {
        total += c[k];
        if ((double)k >= u)
            tail += c[k];
    }
    free(c);
    return tail / total;
}

int pb_mwu_test(const double *a, size_t na, const double *b, size_t nb, struct pb_mwu *out)
{
    if (!a || !b || !out || na == 0 || nb == 0)
        return -EINVAL;
    size_t n = na + nb;
    struct ranked *r = malloc(n * sizeof(*r));
    if (!r)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        r[i].first = i < na;
        r[i].v = i < na ? a[i] : b[i - na];
        if (!isfinite(r[i].v)) {
            free(r);
            return -EINVAL;
        }
    }
    qsort(r, n, sizeof(*r), cmp_ranked);

    /* Average ranks over runs of ties; tie_term = sum of (t^3 - t) over those runs. */
    double rank_sum_a = 0, tie_term = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && r[j].v == r[i].v)
            j++;
        double t = (double)(j - i), avg_rank = (double)(i + j + 1) / 2.0;
        for (size_t k = i; k < j; k++)
            if (r[k].first)
                rank_sum_a += avg_rank;
        tie_term += t * t * t - t;
        i = j;
    }
    free(r);

    double dna = (double)na, dnb = (double)nb, dn = (double)n;
    double u1 = rank_sum_a - dna * (dna + 1) / 2;
    double u = fmax(u1, dna * dnb - u1);
    out->u = u1;
    if (tie_term == 0 && n <= PB_MWU_EXACT_MAX) {
        out->exact = true;
        out->p = 2 * mwu_exact_sf(u, na, nb);
    } else {
        out->exact = false;
        double var = dna * dnb / 12.0 * ((dn + 1) - tie_term / (dn * (dn - 1)));
        if (!(var > 0)) {
            out->p = 1; /* every value tied */
        } else {
            double z = (u - dna * dnb / 2 - 0.5) / sqrt(var);
            out->p = erfc(z / sqrt(2.0)); /* 2 * upper normal tail */
        }
    }
    if (out->p > 1)
        out->p = 1;
    return isnan(out->p) ? -ENOMEM : 0;
}

double pb_mwu_min_p(size_t na, size_t nb)
{
    if (na == 0 || nb == 0)
        return 1;
    double log_choose =
        lgamma((double)(na + nb + 1)) - lgamma((double)(na + 1)) - lgamma((double)(nb + 1));
    return fmin(1, 2 * exp(-log_choose));
}

/* ---- Random numbers and the bootstrap ------------------------------------------------- */

/* Repetitions are few: an insertion sort is several times cheaper than qsort's calls there,
 * and the bootstrap sorts thousands of resamples per metric. */
#define INSERTION_SORT_MAX 32

static double resampled_median(struct pb_rng *rng, const double *v, size_t n, double *scratch)
{
    for (size_t i = 0; i < n; i++)
        scratch[i] = v[pb_rng_below(rng, n)];
    if (n > INSERTION_SORT_MAX) {
        qsort(scratch, n, sizeof(*scratch), cmp_double);
    } else {
        for (size_t i = 1; i < n; i++) {
            double x = scratch[i];
            size_t j = i;
            for (; j > 0 && scratch[j - 1] > x; j--)
                scratch[j] = scratch[j - 1];
            scratch[j] = x;
        }
    }
    return pb_quantile_sorted(scratch, n, 0.5);
}

int pb_bootstrap_ratio_ci(const double *a, size_t na, const double *b, size_t nb,
                          unsigned resamples, double conf, uint64_t seed, double *lo, double *hi)
{
    if (!a || !b || !lo || !hi || na == 0 || nb == 0 || resamples == 0 || !(conf > 0) ||
        !(conf < 1))
        return -EINVAL;
    double *ratios = malloc(resamples * sizeof(*ratios));
    double *scratch = malloc((na > nb ? na : nb) * sizeof(*scratch));
    if (!ratios || !scratch) {
        free(ratios);
        free(scratch);
        return -ENOMEM;
    }
    struct pb_rng rng;
    pb_rng_seed(&rng, seed);
    size_t kept = 0;
    for (unsigned i = 0; i < resamples; i++) {
        double ma = resampled_median(&rng, a, na, scratch);
        double mb = resampled_median(&rng, b, nb, scratch);
        double ratio = mb / ma;
        if (ma != 0 && isfinite(ratio))
            ratios[kept++] = ratio;
    }
    free(scratch);
    int rc = 0;
    if (kept * 2 < resamples) {
        rc = -EDOM;
    } else {
        qsort(ratios, kept, sizeof(*ratios), cmp_double);
        *lo = pb_quantile_sorted(ratios, kept, (1 - conf) / 2);
        *hi = pb_quantile_sorted(ratios, kept, (1 + conf) / 2);
    }
    free(ratios);
    return rc;
}

/* ---- Change point --------------------------------------------------------------------- */

/*
 * The best split of x (already centred on its mean, so the sums of squares stay well
 * conditioned): largest pooled two-sample t over splits with min_seg points on each side.
 * ss_total is the total sum of squares, used to recognise a noiseless split.
 */
static double best_split(const double *x, size_t n, size_t min_seg, double ss_total,
                         size_t *best_index)
{
    double sum_all = 0, sq_all = 0;
    for (size_t i = 0; i < n; i++) {
        sum_all += x[i];
        sq_all += x[i] * x[i];
    }
    double best_t = -1, sum1 = 0, sq1 = 0;
    *best_index = min_seg;
    for (size_t k = 0; k + min_seg <= n; k++) {
        if (k >= min_seg) {
            double n1 = (double)k, n2 = (double)(n - k);
            double sum2 = sum_all - sum1, sq2 = sq_all - sq1;
            double m1 = sum1 / n1, m2 = sum2 / n2;
            double ss = fmax(0, sq1 - sum1 * m1) + fmax(0, sq2 - sum2 * m2);
            double diff = fabs(m1 - m2), t;
            if (ss <= 1e-12 * ss_total)
                t = diff > 0 ? INFINITY : 0;
            else
                t = diff / sqrt(ss / (double)(n - 2) * (1 / n1 + 1 / n2));
            if (t > best_t) {
                best_t = t;
                *best_index = k;
            }
        }
        sum1 += x[k];
        sq1 += x[k] * x[k];
    }
    return best_t;
}

int pb_changepoint_find(const double *x, size_t n, size_t min_seg, unsigned permutations,
                        uint64_t seed, struct pb_changepoint *out)
{
    if (!x || !out || min_seg < 1 || n < 2 * min_seg)
        return -EINVAL;
    double mean = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]))
            return -EINVAL;
        mean += x[i];
    }
    mean /= (double)n;
    double *c = calloc(n, sizeof(*c)); /* calloc: gcc cannot see n > 0 */
    if (!c)
        return -ENOMEM;
    double ss_total = 0;
    for (size_t i = 0; i < n; i++) {
        c[i] = x[i] - mean;
        ss_total += c[i] * c[i];
    }

    size_t index;
    double t_obs = best_split(c, n, min_seg, ss_total, &index);
    size_t as_extreme = 0;
    struct pb_rng rng;
    pb_rng_seed(&rng, seed);
    for (unsigned p = 0; p < permutations && t_obs > 0; p++) {
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = pb_rng_below(&rng, i + 1);
            double tmp = c[i];
            c[i] = c[j];
            c[j] = tmp;
        }
        size_t ignored;
        if (best_split(c, n, min_seg, ss_total, &ignored) >= t_obs)
            as_extreme++;
    }
    free(c);

    double before = 0, after = 0;
    for (size_t i = 0; i < n; i++) {
        if (i < index)
            before += x[i];
        else
            after += x[i];
    }
    out->index = index;
    out->mean_before = before / (double)index;
    out->mean_after = after / (double)(n - index);
    out->t = t_obs;
    out->p = t_obs > 0 ? (double)(1 + as_extreme) / (double)(1 + permutations) : 1.0;
    return 0;
}
