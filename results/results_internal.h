/*
 * results_internal.h: what the results/ files share and nothing else includes.
 */
#ifndef POPBENCH_RESULTS_RESULTS_INTERNAL_H
#define POPBENCH_RESULTS_RESULTS_INTERNAL_H

#include "core/pb.h"
#include "results/results.h"

struct pb_results_view;

/* One thread owns a document (results.h): no field needs a lock. */
struct pb_results {
    json_t *root;                      /* {"context", "benchmarks", "popbench": {"runs"}}, owned */
    json_t *context;                   /* borrowed from root */
    json_t *benchmarks;                /* borrowed from root */
    json_t *runs;                      /* borrowed from root */
    struct pb_results_bench **benches; /* one handle per element of benchmarks, same order */
    size_t nbenches;
    size_t cap;
    json_t *index;                /* pb_results_key() -> position in benches, owned */
    char *path;                   /* the file it was loaded from; NULL when built */
    struct pb_results_view *view; /* made on first use; dropped by every change */
};

struct pb_results_bench {
    struct pb_results *doc;
    json_t *entry; /* borrowed: an element of doc->benchmarks */
    json_t *run;   /* borrowed: its element of doc->runs, NULL until a section is set */
};

/* ---- the format's fields (results_check.c) ---- */

enum pb_field_type { FT_STRING, FT_UINT, FT_NUMBER, FT_BOOL, FT_ARRAY, FT_OBJECT };

struct pb_field_rule {
    const char *key;
    enum pb_field_type type;
    bool required;
};

/* The context's keys and an entry's fixed fields, in the order they are written. */
extern const struct pb_field_rule pb_results_context_rules[];
extern const size_t pb_results_ncontext_rules;
extern const struct pb_field_rule pb_results_bench_rules[];
extern const size_t pb_results_nbench_rules;
/* context.calibration's fields, all required when it is there. */
#define PB_RESULTS_NCALIBRATION_FIELDS 11
extern const struct pb_field_rule pb_results_calibration_rules[PB_RESULTS_NCALIBRATION_FIELDS];
/* The counts of a lock, a thread and the scrub section of a run. */
#define PB_RESULTS_NLOCK_FIELDS   6
#define PB_RESULTS_NTHREAD_FIELDS 6
#define PB_RESULTS_NSCRUB_FIELDS  4
extern const char *const pb_results_lock_fields[PB_RESULTS_NLOCK_FIELDS];
extern const char *const pb_results_thread_fields[PB_RESULTS_NTHREAD_FIELDS];
extern const char *const pb_results_scrub_fields[PB_RESULTS_NSCRUB_FIELDS];

const struct pb_field_rule *pb_results_find_rule(const struct pb_field_rule *rules, size_t n,
                                                 const char *key); /* NULL if not there */
bool pb_results_is_fixed_field(const char *name);
bool pb_results_valid_backing(const char *v); /* "real", "none" or "mixed" */
/* A non-negative integral JSON number: a count. */
bool pb_results_is_uint(const json_t *v);
/* A string field of an object, NULL when absent; a count field of a checked object. */
const char *pb_results_str(const json_t *obj, const char *key);
/* A number field of an object: 0, -ENOENT when absent, -EINVAL when not a number. */
int pb_results_number(const json_t *obj, const char *key, double *value);
uint64_t pb_results_uint(const json_t *obj, const char *key);

/*
 * The key of an entry's identity in an index: "<repetition_index>:<name>" (the first ':' ends
 * the number, so no two identities share a key). In buf when it fits, else malloc'd into
 * *heap (free it); NULL without memory.
 */
const char *pb_results_key(char *buf, size_t sz, const char *name, uint64_t repetition_index,
                           char **heap);

/* The document of root (taken over), with no entry handles yet; NULL without memory. */
struct pb_results *pb_results_wrap(json_t *root);
/* Appends a handle for entry (and its run section) and indexes it. 0 or -ENOMEM. */
int pb_results_append_handle(struct pb_results *doc, json_t *entry, json_t *run);
/* Drops the per-metric view: the next reader makes it again. */
void pb_results_changed(struct pb_results *doc);
void pb_results_view_free(struct pb_results_view *view);

/*
 * Checks a whole document; "<what>: <problem naming the field>" into err. 0, -EINVAL or
 * -ENOMEM. With index, *index is the new index of its entries (pb_results_key() -> position).
 */
int pb_results_check(const json_t *root, const char *what, json_t **index, char *err, size_t errsz);
/* A copy (sharing the values) whose keys are in the format's order, for writing. */
json_t *pb_results_ordered_root(const struct pb_results *doc);

#endif
