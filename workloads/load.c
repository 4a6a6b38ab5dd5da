/*
 * load.c: a workload file: read safely, its YAML checked for depth before libyaml composes it,
 * its top level (name, description, and a suite or a workload), and the public load and free.
 *
 * The loader walks the document by the schema, never generically, so aliases that make a node
 * its own child cannot send it round in circles. Every message carries the start mark of the node
 * at fault; the first error stops the load.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/pb.h"
#include "core/input.h"
#include "workloads/reader.h"
#include "workloads/schema.h"

#define MAX_DESCRIPTION 200

/* libyaml's error, in our message form. */
static int yaml_failure(struct wl_parser *p, const yaml_parser_t *yp, const char *buf)
{
    struct pb_wl_pos at = {1, 1};

    if (yp->error == YAML_MEMORY_ERROR)
        return wl_oom(p->err, p->errlen, p->file);
    if (yp->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset, not a mark. */
        for (size_t i = 0; i < yp->problem_offset && buf[i]; i++) {
            if (buf[i] == '\n') {
                at.line++;
                at.col = 1;
            } else {
                at.col++;
            }
        }
        return wl_fail_at(p->err, p->errlen, p->file, at,
                          "invalid text: %s (expected UTF-8 text without control characters)",
                          yp->problem ? yp->problem : "unreadable");
    }
    at.line = (uint32_t)yp->problem_mark.line + 1;
    at.col = (uint32_t)yp->problem_mark.column + 1;
    if (yp->context)
        return wl_fail_at(p->err, p->errlen, p->file, at,
                          "invalid YAML: %s (%s that starts at %zu:%zu)",
                          yp->problem ? yp->problem : "?", yp->context, yp->context_mark.line + 1,
                          yp->context_mark.column + 1);
    return wl_fail_at(p->err, p->errlen, p->file, at, "invalid YAML: %s (expected valid YAML)",
                      yp->problem ? yp->problem : "?");
}

static struct pb_wl_pos mark_pos(yaml_mark_t m)
{
    return (struct pb_wl_pos){(uint32_t)m.line + 1, (uint32_t)m.column + 1};
}

/*
 * Reads the events of the whole stream before anything composes it: libyaml's scanner takes time
 * quadratic in the nesting of flow collections, and its composer in the number of anchors, so
 * both are refused as soon as they pass the format's limits (PB_WL_MAX_DEPTH, PB_WL_MAX_ANCHORS),
 * after a bounded amount of scanning. Syntax errors are found here too, with libyaml's message.
 */
static int check_shape(struct wl_parser *p, const char *buf, size_t len)
{
    yaml_parser_t yp;
    yaml_event_t ev;
    unsigned depth = 0, anchors = 0;
    int rc = 0;

    if (!yaml_parser_initialize(&yp))
        return wl_oom(p->err, p->errlen, p->file);
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    while (!rc) {
        yaml_event_type_t type;
        const char *anchor = NULL;

        if (!yaml_parser_parse(&yp, &ev)) {
            rc = yaml_failure(p, &yp, buf);
            break;
        }
        type = ev.type;
        if (type == YAML_SEQUENCE_START_EVENT)
            anchor = (const char *)ev.data.sequence_start.anchor;
        else if (type == YAML_MAPPING_START_EVENT)
            anchor = (const char *)ev.data.mapping_start.anchor;
        else if (type == YAML_SCALAR_EVENT)
            anchor = (const char *)ev.data.scalar.anchor;
        if ((type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) &&
            ++depth > PB_WL_MAX_DEPTH)
            rc = wl_fail_at(p->err, p->errlen, p->file, mark_pos(ev.start_mark),
                            "a list or mapping nested %u deep (expected at most %d levels)", depth,
                            PB_WL_MAX_DEPTH);
        else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT)
            depth--;
        else if (anchor && ++anchors > PB_WL_MAX_ANCHORS)
            rc = wl_fail_at(p->err, p->errlen, p->file, mark_pos(ev.start_mark),
                            "anchor number %u (expected at most %d anchors)", anchors,
                            PB_WL_MAX_ANCHORS);
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&yp);
    return rc;
}

/* The file's one document into p->doc; its root, or NULL with the message written. */
static int load_document(struct wl_parser *p, const char *buf, size_t len, yaml_node_t **root)
{
    yaml_parser_t yp;
    yaml_document_t extra;
    yaml_node_t *second;
    int rc = 0;

    if ((rc = check_shape(p, buf, len)))
        return rc;
    if (!yaml_parser_initialize(&yp))
        return wl_oom(p->err, p->errlen, p->file);
    yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&yp, &p->doc)) {
        rc = yaml_failure(p, &yp, buf);
        yaml_parser_delete(&yp);
        return rc;
    }
    *root = yaml_document_get_root_node(&p->doc);
    if (!*root) {
        rc = wl_fail_at(p->err, p->errlen, p->file, (struct pb_wl_pos){1, 1},
                        "the file is empty (expected a mapping of workload keys)");
    } else if (!yaml_parser_load(&yp, &extra)) {
        rc = yaml_failure(p, &yp, buf);
    } else {
        if ((second = yaml_document_get_root_node(&extra)))
            rc = wl_fail_at(p->err, p->errlen, p->file, wl_pos_of(second),
                            "a second YAML document (expected one workload per file)");
        yaml_document_delete(&extra);
    }
    yaml_parser_delete(&yp);
    if (rc)
        yaml_document_delete(&p->doc);
    return rc;
}

static int parse_description(struct wl_parser *p, yaml_node_t *n, struct pb_workload *wl)
{
    char *nl;

    if (!wl_is_text(n))
        return WL_FAIL(p, n, "'description' is %s (expected one line of text)", wl_describe(n).s);
    wl->description = strdup(wl_sval(n));
    if (!wl->description)
        return wl_oom(p->err, p->errlen, p->file);
    /* A block scalar ends in a newline; more lines than one do not fit `popbench list`. */
    for (nl = wl->description + strlen(wl->description); nl > wl->description && nl[-1] == '\n';)
        *--nl = '\0';
    if (strchr(wl->description, '\n')) {
        unsigned lines = 1;
        for (const char *c = wl->description; *c; c++)
            lines += *c == '\n';
        return WL_FAIL(p, n, "'description' has %u lines (expected one line of text)", lines);
    }
    if (!wl->description[0])
        return WL_FAIL(p, n, "'description' is %s (expected one line of text)", wl_describe(n).s);
    if (strlen(wl->description) > MAX_DESCRIPTION)
        return WL_FAIL(p, n, "'description' is %zu characters long (expected at most %d)",
                       strlen(wl->description), MAX_DESCRIPTION);
    return 0;
}

/* A workload's name is its file's stem: it names results entries, so it must be a valid name. */
static int check_name(struct wl_parser *p, yaml_node_t *name, const struct pb_workload *wl)
{
    const char *rule = "letters, digits, '-', '_' and '.', at most 64, not first '.'";
    char shown[64];

    if (name && (!wl_is_text(name) || !wl_valid_name(wl_sval(name))))
        return WL_FAIL(p, name, "'name' is %s (expected a workload name: %s)", wl_describe(name).s,
                       rule);
    if (name && strcmp(wl_sval(name), wl->name) != 0)
        return WL_FAIL(p, name, "'name' is %s (expected '%s', the file's name without .yaml)",
                       wl_describe(name).s, wl->name);
    if (wl_valid_name(wl->name))
        return 0;
    wl_sanitize(wl->name, strlen(wl->name), shown, sizeof(shown));
    pb_errf(p->err, p->errlen,
            "%s: the file's name without .yaml, '%s', is not a workload name (expected %s: "
            "rename the file)",
            p->file, shown, rule);
    return -EINVAL;
}

static int parse_root(struct wl_parser *p, yaml_node_t *root, struct pb_workload *wl)
{
    static const char *const keys[WL_NR_ROOT_KEYS] = {
        [WL_NAME] = "name",
        [WL_DESCRIPTION] = "description",
        [WL_MACHINE] = "machine",
        [WL_DOMAINS] = "domains",
        [WL_BUILDERS] = "builders",
        [WL_ORDERS] = "orders",
        [WL_EXTENTS] = "extents_per_call",
        [WL_PREEMPTION] = "preemption",
        [WL_CHURN] = "churn",
        [WL_READERS] = "p2m_readers",
        [WL_SCRUB] = "scrub",
        [WL_HEAP] = "heap",
        [WL_PHASES] = "phases",
        [WL_SEED] = "seed",
        [WL_SUITE] = "suite",
        [WL_OPTIONS] = "options",
    };
    yaml_node_t *v[WL_NR_ROOT_KEYS], *k[WL_NR_ROOT_KEYS];
    int rc;

    if ((rc = wl_map_fields(p, root, "", keys, WL_NR_ROOT_KEYS, v, k)) ||
        (rc = check_name(p, v[WL_NAME], wl)))
        return rc;
    if (!v[WL_DESCRIPTION])
        return wl_missing(p, root, "", "description", "one line saying what the workload does");
    if ((rc = parse_description(p, v[WL_DESCRIPTION], wl)))
        return rc;
    if (!v[WL_SUITE])
        return wl_parse_single(p, root, v, k, wl);
    for (yaml_node_pair_t *pair = root->data.mapping.pairs.start;
         pair < root->data.mapping.pairs.top; pair++) {
        yaml_node_t *key = wl_node_at(p, pair->key);
        if (key != k[WL_NAME] && key != k[WL_DESCRIPTION] && key != k[WL_SUITE])
            return WL_FAIL(p, key,
                           "key '%s' in a suite (expected only name, description and suite)",
                           wl_sval(key));
    }
    wl->kind = PB_WL_SUITE;
    /* The chain holds this file and the suites that include it. */
    if (p->chain->depth > PB_WL_MAX_NESTING)
        return WL_FAIL(p, k[WL_SUITE],
                       "key 'suite' makes suites nest %u deep (expected at most %d)",
                       p->chain->depth, PB_WL_MAX_NESTING);
    return wl_parse_suite(p, v[WL_SUITE], wl);
}

int wl_load_file(const char *path, struct pb_workload *wl, struct wl_chain *chain, char *err,
                 size_t errlen)
{
    struct wl_parser p = {.file = path, .err = err, .errlen = errlen, .chain = chain};
    yaml_node_t *root = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc;

    memset(wl, 0, sizeof(*wl));
    if ((rc = pb_input_read(path, PB_WL_MAX_FILE_BYTES, NULL, "workload file", &buf, &len, err,
                            errlen)))
        return rc;
    wl->path = strdup(path);
    wl->name = wl_file_stem(path);
    if (!wl->path || !wl->name) {
        free(buf);
        return wl_oom(err, errlen, path);
    }
    chain->real[chain->depth] = realpath(path, NULL);
    if (!chain->real[chain->depth]) {
        rc = -errno;
        free(buf);
        pb_errf(err, errlen, "%s: cannot resolve: %s (expected a readable workload file)", path,
                strerror(-rc));
        return rc;
    }
    chain->depth++;
    if (!(rc = load_document(&p, buf, len, &root))) {
        rc = parse_root(&p, root, wl);
        yaml_document_delete(&p.doc);
    }
    chain->depth--;
    free(chain->real[chain->depth]);
    chain->real[chain->depth] = NULL;
    free(buf);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Public API
 */

int pb_workload_load(const char *path, struct pb_workload *wl, char *err, size_t errlen)
{
    struct wl_chain chain = {0};
    int rc;

    if (!path || !wl) {
        pb_errf(err, errlen, "pb_workload_load: no %s (expected a path and a workload)",
                path ? "workload" : "path");
        return -EINVAL;
    }
    rc = wl_load_file(path, wl, &chain, err, errlen);
    if (rc)
        pb_workload_free(wl);
    return rc;
}

void pb_workload_free(struct pb_workload *wl)
{
    if (!wl)
        return;
    for (unsigned i = 0; i < wl->nr_members; i++)
        pb_workload_free(&wl->members[i]);
    free(wl->members);
    free(wl->name);
    free(wl->description);
    free(wl->path);
    free(wl->groups);
    memset(wl, 0, sizeof(*wl));
}

uint64_t pb_workload_timed_ns(const struct pb_workload *wl)
{
    uint64_t ns = 0;

    if (!wl)
        return 0;
    if (wl->kind == PB_WL_SUITE) {
        for (unsigned i = 0; i < wl->nr_members; i++)
            ns += pb_workload_timed_ns(&wl->members[i]);
        return ns;
    }
    if (wl->phases.warmup.unit == PB_WL_PHASE_TIME)
        ns += wl->phases.warmup.ns;
    if (wl->phases.measure.unit == PB_WL_PHASE_TIME)
        ns += wl->phases.measure.ns;
    return ns * wl->phases.repetitions;
}
