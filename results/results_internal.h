/*
 * results_internal.h: what the results/ files share and nothing else includes.
 */
#ifndef POPBENCH_RESULTS_RESULTS_INTERNAL_H
#define POPBENCH_RESULTS_RESULTS_INTERNAL_H

#include "core/pb.h"
#include "results/results.h"

/* One thread owns a document (results.h): no field needs a lock. */
struct pb_results {
    json_t *root;                      /* {"context", "benchmarks", "popbench": {"runs"}}, owned */
    json_t *context;                   /* borrowed from root */
    json_t *benchmarks;                /* borrowed from root */
    json_t *runs;                      /* borrowed from root */
    struct pb_results_bench **benches; /* one handle per element of benchmarks, same order */
    size_t nbenches;
    size_t cap;
};

struct pb_results_bench {
    struct pb_results *doc;
    json_t *entry; /* borrowed: an element of doc->benchmarks */
    json_t *run;   /* borrowed: its element of doc->runs, NULL until a section is set */
};

/* The fixed fields of a bench entry, in the order they are written. */
extern const char *const pb_results_bench_fixed[];
extern const size_t pb_results_bench_nfixed;
/* The counters the format defines, in the order they are written (lock_hottest included). */
extern const char *const pb_results_known_counters[];
extern const size_t pb_results_nknown_counters;

bool pb_results_is_fixed_field(const char *name);
/* -1 if the format does not define it. */
int pb_results_known_counter_rank(const char *name);

/* Checks a whole document; "<what>: <problem naming the field>" into err. 0 or -EINVAL. */
int pb_results_check(const json_t *root, const char *what, char *err, size_t errsz);
/* A copy (sharing the values) whose keys are in the format's order, for writing. */
json_t *pb_results_ordered_root(const struct pb_results *doc);

#endif
