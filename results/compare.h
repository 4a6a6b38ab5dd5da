/*
 * compare.h: comparing the repetitions of two sets of benchmarks metric by metric: B against
 * A, file against file or variant against variant, from the results reader's per-metric view
 * (results.h), with the intervals and the verdicts of results/verdict.h.
 *
 * Glossary:
 *   pb_cmp_row    the verdict on one metric of one benchmark, B against A
 *   pb_cmp_result the rows of one comparison, with what could not be paired
 *
 * Nothing here is shared between threads: every structure is owned by the caller that built it.
 */
#ifndef POPBENCH_RESULTS_COMPARE_H
#define POPBENCH_RESULTS_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "results/results.h"
#include "results/verdict.h"

/*
 * Environment keys of the contexts that differ, as "key: 'a' vs 'b'" lines (NULL-ended, NULL
 * when they agree). compiler and build_type always count; cpu_model and num_cpus only where
 * asked (counts per page do not depend on the CPU, wall-clock figures do).
 */
char **pb_env_mismatch(const struct pb_results *a, const struct pb_results *b, bool with_cpu_model,
                       bool with_num_cpus);
void pb_strv_free(char **v);

struct pb_cmp_opts {
    double min_effect;          /* smallest relative change that is a verdict, e.g. 0.03 */
    double alpha;               /* 1 - the level of the intervals (0.05: 95%) */
    unsigned resamples;         /* bootstrap rounds */
    uint64_t seed;              /* bootstrap seed */
    const char *const *metrics; /* NULL-ended list to restrict to, or NULL (see all) */
    bool all;                   /* without metrics: every metric, not just the headline ones */
};
/* min_effect PB_VERDICT_PRECISION (3%), alpha 0.05, 2000 resamples, seed 1, the headlines. */
void pb_cmp_opts_default(struct pb_cmp_opts *o);

struct pb_cmp_row {
    char *bench;        /* benchmark name, or workload/threads:N when comparing variants */
    const char *metric; /* borrowed from the document of A */
    size_t na, nb;      /* repetitions with a finite value (pairs, when paired) */
    double med_a, med_b;
    double cv_a, cv_b; /* coefficients of variation; NAN below 2 values */
    double ratio;      /* B/A: the interval's estimate (geometric mean ratio, or of medians) */
    double p;          /* Mann-Whitney two-sided p (unpaired, 2+ a side); else NAN */
    bool exact;        /* p from the exact distribution */
    bool has_ci;       /* an interval of the ratio exists */
    double ci_lo, ci_hi;
    enum pb_interval_method method;
    enum pb_verdict verdict; /* pb_verdict_decide of the interval (results/verdict.h) */
};

struct pb_cmp_result {
    char *label_a, *label_b;
    char **env_mismatch; /* NULL-ended, NULL when the environments agree */
    bool partial_a, partial_b;
    bool paired; /* variants of one file, paired by repetition (round) */
    size_t nrow, cap;
    struct pb_cmp_row *row;
    char **only_a, **only_b; /* NULL-ended benchmark names without a partner, or NULL */
    size_t nonly_a, nonly_b; /* how many */
    size_t ncommon;          /* benchmarks compared (both sides have them) */
    double geomean;          /* of pages_per_second ratios over benchmarks that have both */
    size_t ngeomean;
    double ci_level;   /* 1 - alpha */
    double min_effect; /* the verdicts' */
};

/* B against A, benchmark by benchmark (matched by name). */
int pb_compare_files(const struct pb_results *a, const struct pb_results *b,
                     const struct pb_cmp_opts *o, struct pb_cmp_result *out);
/* Variant vb against va inside one file, matching workload and threads, each repetition of
 * vb paired with va's of the same index (the same round); -ENOENT when the file has no
 * benchmark of one of them. */
int pb_compare_variants(const struct pb_results *f, const char *va, const char *vb,
                        const struct pb_cmp_opts *o, struct pb_cmp_result *out);
/*
 * One metric's verdict from the two samples (what both functions above apply per row): the
 * interval of pb_interval_for (paired: a[i] and b[i] from the same round, na == nb) and its
 * verdict; the Mann-Whitney p of unpaired samples alongside.
 */
int pb_compare_samples(const char *metric, const double *a, size_t na, const double *b, size_t nb,
                       bool paired, const struct pb_cmp_opts *o, struct pb_cmp_row *row);
void pb_cmp_result_free(struct pb_cmp_result *r);
const struct pb_cmp_row *pb_cmp_find(const struct pb_cmp_result *r, const char *bench,
                                     const char *metric);

#endif
