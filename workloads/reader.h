/*
 * reader.h: reading a workload document by its schema (internal to workloads/).
 *
 * Every getter takes the node at fault and the dotted path of the key ("domains[0].memory"),
 * checks the type and range, and on failure writes one message `FILE:LINE:COL: what was found
 * (expected what)` and returns -EINVAL. The first error stops the load.
 *
 * Glossary:
 *   wl_parser  one file being read: its name as given (messages name it so), its YAML document,
 *              the caller's message buffer and the chain of files that include it.
 *   wl_chain   the files being loaded, outermost first: a suite that names one of them closes
 *              a cycle.
 *   wl_str     a short piece of a message, returned by value (a description of a node, a size).
 */
#ifndef POPBENCH_WORKLOADS_READER_H
#define POPBENCH_WORKLOADS_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <yaml.h>

#include "workloads/workload.h"

#define WL_PAGE_BYTES (UINT64_C(1) << PB_WL_PAGE_SHIFT)
#define WL_MIB_PAGES  (UINT64_C(1) << (20 - PB_WL_PAGE_SHIFT))
#define WL_MAX_PAGES  (UINT64_C(1) << (44 - PB_WL_PAGE_SHIFT)) /* 16 TiB */
#define WL_MAX_OPS    PB_WL_MAX_PHASE_OPS
#define WL_NS_PER_S   UINT64_C(1000000000)

#define WL_PRINTF(f, a) __attribute__((format(printf, f, a)))

struct wl_chain {
    char *real[PB_WL_MAX_NESTING + 2]; /* realpath() of each file */
    unsigned depth;
};

struct wl_parser {
    const char *file; /* as given: messages name it so */
    yaml_document_t doc;
    char *err;
    size_t errlen;
    struct wl_chain *chain;
};

struct wl_str {
    char s[96];
};

/* ---- Messages ---- */

/* Appends to the message in err (never past errlen). */
void wl_msg_append(char *err, size_t errlen, const char *fmt, ...) WL_PRINTF(3, 4);
/* Writes `FILE:LINE:COL: <fmt>` and returns -EINVAL. */
int wl_fail_at(char *err, size_t errlen, const char *file, struct pb_wl_pos pos, const char *fmt,
               ...) WL_PRINTF(5, 6);
#define WL_FAIL(p, node, ...)                                                                      \
    wl_fail_at((p)->err, (p)->errlen, (p)->file, wl_pos_of(node), __VA_ARGS__)
/* Writes `FILE: out of memory` and returns -ENOMEM. */
int wl_oom(char *err, size_t errlen, const char *file);
/* At most 40 bytes of untrusted text for a message, unprintable bytes as '?'. */
void wl_sanitize(const char *s, size_t len, char *out, size_t outlen);

/* ---- Nodes ---- */

struct pb_wl_pos wl_pos_of(const yaml_node_t *n);
yaml_node_t *wl_node_at(struct wl_parser *p, int index);
const char *wl_sval(const yaml_node_t *n);
/* A scalar with text (not null, no embedded NUL): what every typed getter starts from. */
bool wl_is_text(const yaml_node_t *n);
bool wl_text_is(const yaml_node_t *n, const char *s);
/* "'4GB'", "the quoted string '2'", "a list", "empty": what a node is, for "'path' is <what>". */
struct wl_str wl_describe(const yaml_node_t *n);
/* "in 'path'", or "at the top level" for "". */
struct wl_str wl_where(const char *path);
/* "path.key" ("key" at the top level). */
struct wl_str wl_key(const char *path, const char *key);
/* "a, b, c" */
void wl_join(const char *const *words, size_t n, char *buf, size_t len);

/*
 * Checks that `n` is a mapping whose keys are all in `keys`, each at most once, and hands back
 * each key's value and key node (NULL when absent).
 */
int wl_map_fields(struct wl_parser *p, yaml_node_t *n, const char *path, const char *const *keys,
                  size_t nkeys, yaml_node_t **vals, yaml_node_t **keynodes);
int wl_missing(struct wl_parser *p, yaml_node_t *map, const char *path, const char *key,
               const char *expected);
/* Two keys that exclude each other: the message points at the later one. */
int wl_conflict(struct wl_parser *p, yaml_node_t *k1, yaml_node_t *k2, const char *path,
                const char *expected);

/* ---- Typed values ---- */

int wl_get_uint(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min, uint64_t max,
                uint64_t *out);
int wl_get_unsigned(struct wl_parser *p, yaml_node_t *n, const char *path, unsigned min,
                    unsigned max, unsigned *out);
/* A plain decimal number in [lo, hi], or (lo, hi] when lo_open; no hex, inf or nan. */
int wl_get_number(struct wl_parser *p, yaml_node_t *n, const char *path, double lo, bool lo_open,
                  double hi, double *out);
/* One of `names`: *out is its index. */
int wl_get_choice(struct wl_parser *p, yaml_node_t *n, const char *path, const char *const *names,
                  size_t count, unsigned *out);
/* A size of whole frames, in pages. */
int wl_get_pages(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min_pages,
                 uint64_t max_pages, uint64_t *out);
int wl_get_duration(struct wl_parser *p, yaml_node_t *n, const char *path, uint64_t min,
                    uint64_t max, uint64_t *out);
/* A duration, "<N>ops" or (measure only) until-built. */
int wl_get_phase(struct wl_parser *p, yaml_node_t *n, const char *path, bool measure,
                 struct pb_wl_phase *ph);

/* ---- Names ---- */

/* Letters, digits, '-', '_' and '.', not first '.', at most 64: a workload's name. */
bool wl_valid_name(const char *s);
/* "dir/name.yaml" -> "name", malloc'd (NULL when out of memory). */
char *wl_file_stem(const char *path);

/* ---- Units (units.c) ---- */

/* Reads the decimal digits at *s (at least one) into *v, moving *s past them; false when there
 * is no digit or the value overflows 64 bits. */
bool wl_parse_digits(const char **s, uint64_t *v);
struct wl_str wl_pages_str(uint64_t pages); /* "512MiB" */
struct wl_str wl_ns_str(uint64_t ns);       /* "500ms" */

#endif
