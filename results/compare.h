/*
 * compare.h: reading results files (format version 1) for comparison, and comparing the
 * repetitions of two sets of benchmarks metric by metric.
 *
 * Glossary:
 *   pb_rfile   one results file: its environment and its benchmarks
 *   pb_rbench  one benchmark identity (workload/variant/threads:N) and its repetitions
 *   pb_rmetric one numeric counter of a benchmark, one value per repetition
 *   pb_cmp_row the verdict on one metric of one benchmark, B against A
 *
 * Nothing here is shared between threads: every structure is owned by the caller that built it.
 */
#ifndef POPBENCH_RESULTS_COMPARE_H
#define POPBENCH_RESULTS_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PB_RESULTS_VERSION 1

/* The part of a run's context that decides whether two runs can be compared. */
struct pb_renv {
    char *host_name;
    char *cpu_model;
    char *compiler;
    char *build_type;
    char *git_commit;
    char *date;    /* ISO 8601, as written by the run */
    long num_cpus; /* -1 when absent */
    bool partial;  /* the run was interrupted: only finished repetitions are present */
};

struct pb_rmetric {
    char *name;
    double *val; /* [bench->nrep]; NAN where a repetition lacks the metric */
};

struct pb_rbench {
    char *name; /* workload/variant/threads:N */
    char *workload;
    char *variant;
    long threads;
    size_t nrep;
    long *rep_index; /* [nrep], ascending */
    size_t nmetric;
    struct pb_rmetric *metric; /* in report order (pb_metric_rank) */
};

struct pb_rfile {
    char *path;
    struct pb_renv env;
    size_t nbench;
    struct pb_rbench *bench; /* in file order of first appearance */
};

/*
 * Loads a results file. Google Benchmark aggregate entries (run_type "aggregate") are skipped;
 * every other numeric key of a benchmark entry is a metric, except its identity (repetitions,
 * repetition_index, threads, family_index, per_family_instance_index). Returns 0, or -EINVAL
 * with a message naming the file and what was expected in err, or -ENOMEM / -errno of fopen.
 */
int pb_rfile_load(const char *path, struct pb_rfile **out, char *err, size_t errlen);
void pb_rfile_free(struct pb_rfile *rf);

const struct pb_rbench *pb_rfile_find(const struct pb_rfile *rf, const char *name);
const struct pb_rbench *pb_rfile_find_variant(const struct pb_rfile *rf, const char *workload,
                                              const char *variant, long threads);
const struct pb_rmetric *pb_rbench_metric(const struct pb_rbench *b, const char *name);
/* The finite values of a metric, in repetition order; returns how many (at most b->nrep). */
size_t pb_metric_values(const struct pb_rbench *b, const struct pb_rmetric *m, double *out);

enum pb_direction {
    PB_HIGHER_IS_BETTER, /* *_per_second */
    PB_LOWER_IS_BETTER,  /* latencies, per-page costs, instructions */
    PB_INFORMATIONAL,    /* plain counts: pages_populated, extents, calls, continuations, ... */
};
enum pb_direction pb_metric_direction(const char *metric);
/* Tail latency percentiles (p99 and beyond, max): judged by a bootstrap interval. */
bool pb_metric_is_tail(const char *metric);
/* Sort key that puts throughput first, then latency, locks, scrub, others by name. */
int pb_metric_rank(const char *metric);

/*
 * Environment keys that differ between two runs, as "key: 'a' vs 'b'" lines (NULL-ended).
 * compiler and build_type always count; cpu_model and num_cpus only where asked (counts per
 * page do not depend on the CPU, wall-clock figures do).
 */
char **pb_env_mismatch(const struct pb_renv *a, const struct pb_renv *b, bool with_cpu_model,
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
    const char *metric; /* points into the loaded file of A */
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
    double geomean;          /* of pages_per_second ratios over benchmarks that have both */
    size_t ngeomean;
    double ci_level; /* 1 - alpha */
};

/* B against A, benchmark by benchmark (matched by name). */
int pb_compare_files(const struct pb_rfile *a, const struct pb_rfile *b,
                     const struct pb_cmp_opts *o, struct pb_cmp_result *out);
/* Variant vb against va inside one file, matching workload and threads; -ENOENT when the
 * file has no benchmark of one of them. */
int pb_compare_variants(const struct pb_rfile *f, const char *va, const char *vb,
                        const struct pb_cmp_opts *o, struct pb_cmp_result *out);
/* One metric's verdict from the two samples (what both functions above apply per row). */
int pb_compare_samples(const char *metric, const double *a, size_t na, const double *b, size_t nb,
                       const struct pb_cmp_opts *o, struct pb_cmp_row *row);
void pb_cmp_result_free(struct pb_cmp_result *r);
const struct pb_cmp_row *pb_cmp_find(const struct pb_cmp_result *r, const char *bench,
                                     const char *metric);

enum pb_format { PB_FORMAT_TABLE, PB_FORMAT_MARKDOWN, PB_FORMAT_JSON };
/* Writes the comparisons; JSON is one document {"comparisons": [...]} for all of them. */
int pb_cmp_print(const struct pb_cmp_result *r, size_t n, enum pb_format fmt,
                 const struct pb_cmp_opts *o, FILE *out);

#endif
