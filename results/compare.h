/*
 * compare.h: comparing the repetitions of two sets of benchmarks metric by metric: B against
 * A, file against file or variant against variant, from the results reader's per-metric view
 * (results.h).
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

/*
 * Environment keys of the contexts that differ, as "key: 'a' vs 'b'" lines (NULL-ended, NULL
 * when they agree). compiler and build_type always count; cpu_model and num_cpus only where
 * asked (counts per page do not depend on the CPU, wall-clock figures do).
 */
char **pb_env_mismatch(const struct pb_results *a, const struct pb_results *b, bool with_cpu_model,
                       bool with_num_cpus);
void pb_strv_free(char **v);

struct pb_cmp_opts {
    double min_effect;          /* smallest relative change that is a verdict, e.g. 0.05 */
    double alpha;               /* significance level, also 1 - the bootstrap interval's level */
    unsigned resamples;         /* bootstrap rounds */
    uint64_t seed;              /* bootstrap seed */
    const char *const *metrics; /* NULL-ended list to restrict to, or NULL for all */
};
void pb_cmp_opts_default(struct pb_cmp_opts *o);

enum pb_verdict {
    PB_VERDICT_BETTER,
    PB_VERDICT_WORSE,
    PB_VERDICT_NOISE,
    PB_VERDICT_INSUFFICIENT, /* fewer than 2 repetitions a side, or too few for p < alpha */
};
const char *pb_verdict_name(enum pb_verdict v);

struct pb_cmp_row {
    char *bench;        /* benchmark name, or workload/threads:N when comparing variants */
    const char *metric; /* borrowed from the document of A */
    size_t na, nb;      /* repetitions with a finite value */
    double med_a, med_b;
    double ratio; /* med_b / med_a; NAN when med_a is 0 and med_b is not */
    double p;     /* Mann-Whitney two-sided p; NAN when insufficient */
    bool exact;   /* p from the exact distribution */
    bool has_ci;  /* bootstrap interval of the ratio (tail percentiles) */
    double ci_lo, ci_hi;
    enum pb_verdict verdict;
};

struct pb_cmp_result {
    char *label_a, *label_b;
    char **env_mismatch; /* NULL-ended, NULL when the environments agree */
    bool partial_a, partial_b;
    size_t nrow, cap;
    struct pb_cmp_row *row;
    char **only_a, **only_b; /* NULL-ended benchmark names without a partner, or NULL */
    size_t nonly_a, nonly_b; /* how many */
    size_t ncommon;          /* benchmarks compared (both sides have them) */
    double geomean;          /* of pages_per_second ratios over benchmarks that have both */
    size_t ngeomean;
    double ci_level; /* 1 - alpha */
};

/* B against A, benchmark by benchmark (matched by name). */
int pb_compare_files(const struct pb_results *a, const struct pb_results *b,
                     const struct pb_cmp_opts *o, struct pb_cmp_result *out);
/* Variant vb against va inside one file, matching workload and threads; -ENOENT when the
 * file has no benchmark of one of them. */
int pb_compare_variants(const struct pb_results *f, const char *va, const char *vb,
                        const struct pb_cmp_opts *o, struct pb_cmp_result *out);
/* One metric's verdict from the two samples (what both functions above apply per row). */
int pb_compare_samples(const char *metric, const double *a, size_t na, const double *b, size_t nb,
                       const struct pb_cmp_opts *o, struct pb_cmp_row *row);
void pb_cmp_result_free(struct pb_cmp_result *r);
const struct pb_cmp_row *pb_cmp_find(const struct pb_cmp_result *r, const char *bench,
                                     const char *metric);

#endif
