/*
 * schema.c: the sections of a single workload after its domains (builders, orders, extents per
 * call, preemption, churn, p2m readers, scrub, heap, phases), the thread budget, and the checks
 * between sections that do not depend on the machine.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/heap.h"
#include "core/memop.h"
#include "core/pb.h"
#include "workloads/reader.h"
#include "workloads/schema.h"

#define MAX_EXTENTS_PER_CALL (1u << 20)
#define MIN_TOOLSTACK_PAGES  256u /* 1 MiB: room around the VGA hole */
#define MAX_RATE             (UINT64_C(1) << 40)
#define DEFAULT_WARMUP_NS    WL_NS_PER_S
#define DEFAULT_MEASURE_NS   (5 * WL_NS_PER_S)

_Static_assert(MAX_EXTENTS_PER_CALL <= PB_MEMOP_MAX_EXTENTS, "a call the format allows, Xen takes");
_Static_assert(18 <= PB_MAX_ORDER, "the largest order a workload asks for is the model's");

const unsigned pb_wl_orders[PB_WL_NR_ORDERS] = {0, 9, 18};

const char *const wl_privilege_names[3] = {"domu", "control", "hardware"};
const char *const wl_start_names[2] = {"build", "running"};
const char *const wl_claim_mode_names[2] = {"host", "nodes"};
const char *const wl_backing_names[4] = {"auto", "real", "none", "aliased"};
const char *const wl_scrub_names[3] = {"on-alloc", "background", "none"};
const char *const wl_heap_names[5] = {"clean", "fragmented", "dirty", "boot-dirty", "used"};
const char *const wl_order_keys[PB_WL_NR_ORDERS] = {"0", "9", "18"};

/* Populate_physmap's order limit of each privilege (Xen's memop-max-order defaults). */
static const unsigned order_limit[] = {
    [PB_WL_PRIV_DOMU] = 9,
    [PB_WL_PRIV_CONTROL] = 18,
    [PB_WL_PRIV_HARDWARE] = 12,
};

static int parse_builders(struct wl_parser *p, yaml_node_t *n, struct pb_wl_builders *b,
                          struct wl_marks *marks)
{
    static const char *const keys[] = {"threads_per_domain", "pool"};
    static const unsigned max[] = {64, 1024};
    const char *either = "either threads_per_domain or pool";
    yaml_node_t *v[2], *k[2];
    int rc, which;

    b->kind = PB_WL_BUILDERS_PER_DOMAIN;
    b->threads = 1;
    if (!n)
        return 0;
    if ((rc = wl_map_fields(p, n, "builders", keys, 2, v, k)))
        return rc;
    if (v[0] && v[1])
        return wl_conflict(p, k[0], k[1], "builders", either);
    if (!v[0] && !v[1])
        return wl_missing(p, n, "builders", "threads_per_domain", either);
    which = v[0] ? 0 : 1;
    b->kind = which ? PB_WL_BUILDERS_POOL : PB_WL_BUILDERS_PER_DOMAIN;
    marks->builder_threads = v[which];
    return wl_get_unsigned(p, v[which], wl_key("builders", keys[which]).s, 1, max[which],
                           &b->threads);
}

/* A mapping whose keys are the orders ("0", "9", "18"): v[i] is order slot i's value. */
static int parse_per_order(struct wl_parser *p, yaml_node_t *n, const char *path,
                           yaml_node_t *v[PB_WL_NR_ORDERS])
{
    yaml_node_t *k[PB_WL_NR_ORDERS];

    return wl_map_fields(p, n, path, wl_order_keys, PB_WL_NR_ORDERS, v, k);
}

static int parse_orders(struct wl_parser *p, yaml_node_t *n, struct pb_wl_orders *o)
{
    yaml_node_t *v[PB_WL_NR_ORDERS];
    bool any = false;
    int rc;

    o->mode = PB_WL_ORDERS_MEMINIT;
    if (!n)
        return 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (wl_text_is(n, "meminit"))
            return 0;
        return WL_FAIL(p, n,
                       "'orders' is %s (expected meminit or a mapping of weights for orders 0, 9 "
                       "and 18)",
                       wl_describe(n).s);
    }
    if ((rc = parse_per_order(p, n, "orders", v)))
        return rc;
    o->mode = PB_WL_ORDERS_MIX;
    for (int i = 0; i < PB_WL_NR_ORDERS; i++) {
        if (!v[i])
            continue;
        if ((rc = wl_get_number(p, v[i], wl_key("orders", wl_order_keys[i]).s, 0, false, 1e6,
                                &o->weight[i])))
            return rc;
        o->weight_pos[i] = wl_pos_of(v[i]);
        any |= o->weight[i] > 0;
    }
    if (!any)
        return WL_FAIL(p, n,
                       "'orders' has no weight above 0 (expected at least one order to "
                       "allocate)");
    return 0;
}

static int parse_extents(struct wl_parser *p, yaml_node_t *n, struct pb_wl_orders *o)
{
    static const unsigned defaults[PB_WL_NR_ORDERS] = {512, 64, 1};
    yaml_node_t *v[PB_WL_NR_ORDERS];
    int rc;

    memcpy(o->extents_per_call, defaults, sizeof(defaults));
    if (!n)
        return 0;
    if ((rc = parse_per_order(p, n, "extents_per_call", v)))
        return rc;
    for (int i = 0; i < PB_WL_NR_ORDERS; i++)
        if (v[i] && (rc = wl_get_unsigned(p, v[i], wl_key("extents_per_call", wl_order_keys[i]).s,
                                          1, MAX_EXTENTS_PER_CALL, &o->extents_per_call[i])))
            return rc;
    return 0;
}

static int parse_preemption(struct wl_parser *p, yaml_node_t *n, struct pb_wl_preemption *pr)
{
    static const char *const keys[] = {"timeslice", "every", "probability"};
    const char *one = "one of timeslice, every or probability";
    yaml_node_t *v[3], *k[3];
    int rc, given = 0, which = -1;

    pr->kind = PB_WL_PREEMPT_NONE;
    if (!n)
        return 0;
    if (n->type == YAML_SCALAR_NODE) {
        if (wl_text_is(n, "none"))
            return 0;
        return WL_FAIL(p, n,
                       "'preemption' is %s (expected none, or a mapping with timeslice, every or "
                       "probability)",
                       wl_describe(n).s);
    }
    if ((rc = wl_map_fields(p, n, "preemption", keys, 3, v, k)))
        return rc;
    for (int i = 0; i < 3; i++) {
        if (!v[i])
            continue;
        if (given++)
            return wl_conflict(p, k[which], k[i], "preemption", one);
        which = i;
    }
    switch (which) {
    case 0:
        pr->kind = PB_WL_PREEMPT_TIMESLICE;
        return wl_get_duration(p, v[0], "preemption.timeslice", 1000, WL_NS_PER_S,
                               &pr->timeslice_ns);
    case 1:
        pr->kind = PB_WL_PREEMPT_EVERY;
        return wl_get_unsigned(p, v[1], "preemption.every", 1, MAX_EXTENTS_PER_CALL,
                               &pr->every_extents);
    case 2:
        pr->kind = PB_WL_PREEMPT_PROBABILITY;
        return wl_get_number(p, v[2], "preemption.probability", 0, true, 1, &pr->probability);
    default:
        return wl_missing(p, n, "preemption", "timeslice", one);
    }
}

static int parse_balloon(struct wl_parser *p, yaml_node_t *n, struct pb_wl_balloon *b,
                         struct wl_marks *marks)
{
    static const char *const keys[] = {"pages_per_second", "ratio", "threads", "order",
                                       "extents_per_call", "depth", "free"};
    enum { RATE, RATIO, THREADS, ORDER, EXTENTS, DEPTH, FREE, NKEYS };
    /* scrub_domheap: Xen's option of that name, off by default: free_domheap_pages then frees
     * a live domain's pages for scrubbing, as it always does a dying domain's. */
    static const char *const free_names[] = {"clean", "scrub_domheap"};
    const char *either = "either pages_per_second or ratio";
    yaml_node_t *v[NKEYS], *k[NKEYS];
    unsigned idx;
    int rc;

    if ((rc = wl_map_fields(p, n, "churn.balloon", keys, NKEYS, v, k)))
        return rc;
    if (v[RATE] && v[RATIO])
        return wl_conflict(p, k[RATE], k[RATIO], "churn.balloon", either);
    if (v[RATE]) {
        b->pacing = PB_WL_BALLOON_RATE;
        if ((rc = wl_get_uint(p, v[RATE], "churn.balloon.pages_per_second", 0, MAX_RATE,
                              &b->pages_per_second)))
            return rc;
        b->threads = 1;
        marks->balloon_threads = v[THREADS];
        if (v[THREADS] &&
            (rc = wl_get_unsigned(p, v[THREADS], "churn.balloon.threads", 1, 256, &b->threads)))
            return rc;
    } else if (v[RATIO]) {
        b->pacing = PB_WL_BALLOON_RATIO;
        if ((rc = wl_get_number(p, v[RATIO], "churn.balloon.ratio", 0, true, 1000, &b->ratio)))
            return rc;
        if (v[THREADS])
            return wl_conflict(p, k[RATIO], k[THREADS], "churn.balloon",
                               "threads only with pages_per_second: with ratio the builders "
                               "balloon");
        marks->balloon_ratio = v[RATIO];
    } else {
        return wl_missing(p, n, "churn.balloon", "pages_per_second", either);
    }
    b->order = 0;
    if (v[ORDER]) {
        if ((rc = wl_get_choice(p, v[ORDER], "churn.balloon.order", wl_order_keys, PB_WL_NR_ORDERS,
                                &idx)))
            return rc;
        b->order = pb_wl_orders[idx];
        marks->balloon_order = v[ORDER];
    }
    b->extents_per_call = b->order == 0 ? 512 : 1;
    if (v[EXTENTS] && (rc = wl_get_unsigned(p, v[EXTENTS], "churn.balloon.extents_per_call", 1,
                                            MAX_EXTENTS_PER_CALL, &b->extents_per_call)))
        return rc;
    b->depth = 0.25;
    marks->balloon_depth = v[DEPTH];
    if (v[DEPTH] && (rc = wl_get_number(p, v[DEPTH], "churn.balloon.depth", 0, true, 1, &b->depth)))
        return rc;
    b->free_dirty = false;
    if (v[FREE]) {
        if ((rc = wl_get_choice(p, v[FREE], "churn.balloon.free", free_names, 2, &idx)))
            return rc;
        b->free_dirty = idx == 1;
    }
    return 0;
}

static int parse_churn(struct wl_parser *p, yaml_node_t *n, struct pb_wl_churn *c,
                       struct wl_marks *marks)
{
    static const char *const keys[] = {"balloon", "recreate_per_second"};
    yaml_node_t *v[2], *k[2];
    int rc;

    if (!n)
        return 0;
    if ((rc = wl_map_fields(p, n, "churn", keys, 2, v, k)))
        return rc;
    if (v[0] && (rc = parse_balloon(p, v[0], &c->balloon, marks)))
        return rc;
    if (v[1] && (rc = wl_get_number(p, v[1], "churn.recreate_per_second", 0, false, 1e6,
                                    &c->recreate_per_second)))
        return rc;
    return 0;
}

static int parse_readers(struct wl_parser *p, yaml_node_t *n, struct pb_wl_p2m_readers *r,
                         struct wl_marks *marks)
{
    static const char *const keys[] = {"threads", "lookups_per_second"};
    yaml_node_t *v[2], *k[2];
    int rc;

    if (!n)
        return 0;
    if ((rc = wl_map_fields(p, n, "p2m_readers", keys, 2, v, k)))
        return rc;
    if (!v[0])
        return wl_missing(p, n, "p2m_readers", "threads", "the number of reader threads");
    marks->reader_threads = v[0];
    if ((rc = wl_get_unsigned(p, v[0], "p2m_readers.threads", 0, 256, &r->threads)))
        return rc;
    if (v[1] && (rc = wl_get_uint(p, v[1], "p2m_readers.lookups_per_second", 0, MAX_RATE,
                                  &r->lookups_per_second)))
        return rc;
    return 0;
}

static int parse_scrub(struct wl_parser *p, yaml_node_t *n, struct pb_wl_scrub *s,
                       struct wl_marks *marks)
{
    static const char *const keys[] = {"mode", "workers_per_node"};
    yaml_node_t *v[2], *k[2];
    unsigned idx;
    int rc;

    s->mode = PB_WL_SCRUB_ON_ALLOC;
    if (!n)
        return 0;
    s->pos = wl_pos_of(n);
    if ((rc = wl_map_fields(p, n, "scrub", keys, 2, v, k)))
        return rc;
    if (v[0]) {
        if ((rc = wl_get_choice(p, v[0], "scrub.mode", wl_scrub_names, 3, &idx)))
            return rc;
        s->mode = (enum pb_wl_scrub_mode)idx;
    }
    if (s->mode != PB_WL_SCRUB_BACKGROUND) {
        if (v[1])
            return WL_FAIL(p, k[1],
                           "key 'workers_per_node' in 'scrub' with mode %s (expected it only "
                           "with mode: background)",
                           wl_scrub_names[s->mode]);
        return 0;
    }
    s->workers_per_node = 1;
    if (!v[1])
        return 0;
    s->pos = wl_pos_of(v[1]);
    marks->scrub_workers = v[1];
    return wl_get_unsigned(p, v[1], "scrub.workers_per_node", 1, 64, &s->workers_per_node);
}

static int parse_heap(struct wl_parser *p, yaml_node_t *n, struct pb_wl_heap *h, uint64_t seed)
{
    static const char *const keys[] = {"state", "ageing_passes", "dirty_fraction", "seed"};
    enum { STATE, PASSES, FRACTION, SEED };
    yaml_node_t *v[4], *k[4];
    unsigned idx = 0;
    int rc;

    /* Xen's default bootscrub=idle: memory is dirty until idle CPUs have scrubbed it. */
    h->state = PB_WL_HEAP_BOOT_DIRTY;
    if (!n)
        return 0;
    if ((rc = wl_map_fields(p, n, "heap", keys, 4, v, k)))
        return rc;
    if (v[STATE]) {
        if ((rc = wl_get_choice(p, v[STATE], "heap.state", wl_heap_names,
                                PB_ARRAY_SIZE(wl_heap_names), &idx)))
            return rc;
        h->state = (enum pb_wl_heap_state)idx;
    }
    const bool aged = h->state == PB_WL_HEAP_FRAGMENTED || h->state == PB_WL_HEAP_USED;
    const bool seeded = pb_workload_heap_seeded(h->state);
    if (k[PASSES] && !aged)
        return WL_FAIL(p, k[PASSES],
                       "key 'ageing_passes' in 'heap' with state %s (expected it only with "
                       "state: fragmented or used)",
                       wl_heap_names[h->state]);
    if (k[FRACTION] && h->state != PB_WL_HEAP_DIRTY)
        return WL_FAIL(p, k[FRACTION],
                       "key 'dirty_fraction' in 'heap' with state %s (expected it only with "
                       "state: dirty)",
                       wl_heap_names[h->state]);
    if (v[SEED] && !seeded)
        return WL_FAIL(p, k[SEED],
                       "key 'seed' in 'heap' with state %s (expected it only with state: "
                       "fragmented, used or dirty)",
                       wl_heap_names[h->state]);
    if (!seeded)
        return 0;
    h->seed = seed;
    if (v[SEED] && (rc = wl_get_uint(p, v[SEED], "heap.seed", 0, UINT64_MAX, &h->seed)))
        return rc;
    if (aged) {
        h->ageing_passes = h->state == PB_WL_HEAP_USED ? 2 : 4;
        if (v[PASSES])
            return wl_get_unsigned(p, v[PASSES], "heap.ageing_passes", 1, 64, &h->ageing_passes);
        return 0;
    }
    h->dirty_fraction = 0.5;
    if (v[FRACTION])
        return wl_get_number(p, v[FRACTION], "heap.dirty_fraction", 0, true, 1, &h->dirty_fraction);
    return 0;
}

int pb_workload_backing_parse(const char *s, enum pb_wl_backing *backing)
{
    for (size_t i = 0; s && backing && i < PB_ARRAY_SIZE(wl_backing_names); i++)
        if (strcmp(s, wl_backing_names[i]) == 0) {
            *backing = (enum pb_wl_backing)i;
            return 0;
        }
    return -EINVAL;
}

bool pb_workload_heap_seeded(enum pb_wl_heap_state state)
{
    return state == PB_WL_HEAP_FRAGMENTED || state == PB_WL_HEAP_USED || state == PB_WL_HEAP_DIRTY;
}

const char *pb_workload_heap_state_name(enum pb_wl_heap_state state)
{
    return (unsigned)state < PB_ARRAY_SIZE(wl_heap_names) ? wl_heap_names[state] : NULL;
}

static int parse_phases(struct wl_parser *p, yaml_node_t *n, struct pb_wl_phases *ph,
                        struct wl_marks *marks)
{
    static const char *const keys[] = {"warmup", "measure", "repetitions"};
    yaml_node_t *v[3], *k[3];
    int rc;

    ph->warmup = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = DEFAULT_WARMUP_NS};
    ph->measure = (struct pb_wl_phase){.unit = PB_WL_PHASE_TIME, .ns = DEFAULT_MEASURE_NS};
    ph->repetitions = 1;
    if (!n)
        return 0;
    if ((rc = wl_map_fields(p, n, "phases", keys, 3, v, k)))
        return rc;
    marks->measure = v[1];
    if ((v[0] && (rc = wl_get_phase(p, v[0], "phases.warmup", false, &ph->warmup))) ||
        (v[1] && (rc = wl_get_phase(p, v[1], "phases.measure", true, &ph->measure))) ||
        (v[2] && (rc = wl_get_unsigned(p, v[2], "phases.repetitions", 1, PB_WL_MAX_REPETITIONS,
                                       &ph->repetitions))))
        return rc;
    return 0;
}

/* ---------------------------------------------------------------------------------------------
 * Checks between sections
 */

unsigned wl_building_domains(const struct pb_workload *wl)
{
    unsigned n = 0;

    for (unsigned i = 0; i < wl->nr_groups; i++)
        if (wl->groups[i].start == PB_WL_START_BUILD)
            n += wl->groups[i].count;
    return n;
}

bool wl_builds(const struct pb_workload *wl)
{
    return wl_building_domains(wl) > 0 || wl->churn.recreate_per_second > 0;
}

int wl_check_measure(struct wl_parser *p, const struct pb_workload *wl, yaml_node_t *at,
                     const char *path)
{
    if (wl->phases.measure.unit == PB_WL_PHASE_UNTIL_BUILT && wl_building_domains(wl) == 0)
        return WL_FAIL(p, at,
                       "'%s' is 'until-built' but %s has no domain with start: build (expected a "
                       "duration or an operation count)",
                       path, wl->name);
    return 0;
}

/* The threads of each role, as the runner starts them for the workload's own thread counts. */
struct wl_roles {
    unsigned builders, balloon, readers, recreate, scrub;
};

static struct wl_roles roles(const struct pb_workload *wl, unsigned nodes)
{
    const bool rate = wl->churn.balloon.pacing == PB_WL_BALLOON_RATE;
    const unsigned building = wl_building_domains(wl);
    struct wl_roles r = {0};

    if (wl_builds(wl))
        r.builders = wl->builders.kind == PB_WL_BUILDERS_POOL
                         ? wl->builders.threads
                         : wl->builders.threads * (building ? building : 1);
    r.balloon = rate ? wl->churn.balloon.threads : 0;
    /* With nothing built and no balloon workers, the readers are the primaries: one at least. */
    r.readers =
        !wl_builds(wl) && !rate && wl->p2m_readers.threads == 0 ? 1 : wl->p2m_readers.threads;
    r.recreate = wl->churn.recreate_per_second > 0;
    r.scrub = wl->scrub.mode == PB_WL_SCRUB_BACKGROUND ? wl->scrub.workers_per_node * nodes : 0;
    return r;
}

unsigned wl_threads(const struct pb_workload *wl, unsigned nodes)
{
    struct wl_roles r = roles(wl, nodes);

    return r.builders + r.balloon + r.readers + r.recreate + r.scrub;
}

/* At most PB_WL_MAX_THREADS threads: the message points at the role with the most. */
static int check_threads(struct wl_parser *p, const struct pb_workload *wl,
                         const struct wl_marks *marks)
{
    const unsigned nodes = wl->machine.from_topology ? 0 : wl->machine.nodes;
    const struct wl_roles r = roles(wl, nodes);
    const unsigned total = wl_threads(wl, nodes);
    struct pb_wl_pos at = wl->domains_pos;
    unsigned most = r.builders;
    const char *hint = wl->builders.kind == PB_WL_BUILDERS_PER_DOMAIN
                           ? "builders: pool: N builds many domains with N threads"
                           : "fewer builders";

    if (total <= PB_WL_MAX_THREADS)
        return 0;
    if (marks->builder_threads)
        at = wl_pos_of(marks->builder_threads);
    if (r.balloon > most && marks->balloon_threads) {
        most = r.balloon;
        at = wl_pos_of(marks->balloon_threads);
        hint = "fewer balloon workers";
    }
    if (r.readers > most && marks->reader_threads) {
        most = r.readers;
        at = wl_pos_of(marks->reader_threads);
        hint = "fewer p2m readers";
    }
    if (r.scrub > most && marks->scrub_workers) {
        at = wl_pos_of(marks->scrub_workers);
        hint = "fewer scrub workers";
    }
    return wl_fail_at(p->err, p->errlen, p->file, at,
                      "the workload starts %u threads: %u builders, %u balloon workers, %u p2m "
                      "readers, %u recreate, %u scrub workers (expected at most %d in all: %s)",
                      total, r.builders, r.balloon, r.readers, r.recreate, r.scrub,
                      PB_WL_MAX_THREADS, hint);
}

static int check_orders_fit(struct wl_parser *p, const struct pb_workload *wl)
{
    for (unsigned i = 0; i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];
        const bool built = g->start == PB_WL_START_BUILD || wl->churn.recreate_per_second > 0;

        /* An extent larger than max_pages always fails assign_pages with -E2BIG. */
        for (int o = 0; built && wl->orders.mode == PB_WL_ORDERS_MIX && o < PB_WL_NR_ORDERS; o++)
            if (wl->orders.weight[o] > 0 && (UINT64_C(1) << pb_wl_orders[o]) > g->max_pages)
                return wl_fail_at(p->err, p->errlen, p->file, wl->orders.weight_pos[o],
                                  "'orders.%u' is %g but domains[%u] has max_memory %s, less "
                                  "than one order-%u extent (expected 0)",
                                  pb_wl_orders[o], wl->orders.weight[o], i,
                                  wl_pages_str(g->max_pages).s, pb_wl_orders[o]);
    }
    return 0;
}

static int check_balloon(struct wl_parser *p, const struct pb_workload *wl,
                         const struct wl_marks *marks)
{
    const struct pb_wl_balloon *b = &wl->churn.balloon;

    for (unsigned i = 0; b->pacing != PB_WL_BALLOON_OFF && i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];
        const unsigned limit = order_limit[g->privilege];

        if (b->order > limit)
            return WL_FAIL(p, marks->balloon_order,
                           "'churn.balloon.order' is '%u' but domains[%u] is a %s domain, limited "
                           "to order %u (expected an order up to %u)",
                           b->order, i, wl_privilege_names[g->privilege], limit, limit);
        if ((double)g->memory_pages * b->depth < (double)(UINT64_C(1) << b->order)) {
            yaml_node_t *at = marks->balloon_depth ? marks->balloon_depth : marks->balloon_order;
            return wl_fail_at(p->err, p->errlen, p->file, at ? wl_pos_of(at) : g->memory_pos,
                              "balloon depth %g of domains[%u]'s %s is less than one order-%u "
                              "extent (expected a depth of at least %g)",
                              b->depth, i, wl_pages_str(g->memory_pages).s, b->order,
                              (double)(UINT64_C(1) << b->order) / (double)g->memory_pages);
        }
    }
    return 0;
}

/* Checks between sections that do not depend on the machine. */
static int check_workload(struct wl_parser *p, const struct pb_workload *wl,
                          const struct wl_marks *marks)
{
    const char *nothing = "no domain has start: build and churn.recreate_per_second is 0";
    yaml_node_t *const build_keys[] = {marks->builders, marks->orders, marks->extents};
    static const char *const build_names[] = {"builders", "orders", "extents_per_call"};
    int rc;

    for (size_t i = 0; !wl_builds(wl) && i < PB_ARRAY_SIZE(build_keys); i++)
        if (build_keys[i])
            return WL_FAIL(p, build_keys[i],
                           "key '%s' has no effect: %s (expected it only when something is "
                           "built)",
                           build_names[i], nothing);
    if (!wl_builds(wl) && marks->balloon_ratio)
        return WL_FAIL(p, marks->balloon_ratio,
                       "'churn.balloon.ratio' is %s but %s (expected pages_per_second)",
                       wl_describe(marks->balloon_ratio).s, nothing);
    if (wl_builds(wl) && wl->orders.mode == PB_WL_ORDERS_MEMINIT && marks->extents)
        return WL_FAIL(p, marks->extents,
                       "key 'extents_per_call' has no effect with orders: meminit: the toolstack's "
                       "calls have its own sizes (expected it only with a mapping of weights)");
    for (unsigned i = 0; i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];
        /* libxl lays a guest out around the VGA hole (gfns 0xa0-0xbf). */
        const bool toolstack = g->start == PB_WL_START_RUNNING ||
                               (wl_builds(wl) && wl->orders.mode == PB_WL_ORDERS_MEMINIT);
        const unsigned vnodes = g->vnuma_nodes ? g->vnuma_nodes : 1;
        if (toolstack && g->memory_pages / vnodes < MIN_TOOLSTACK_PAGES)
            return wl_fail_at(p->err, p->errlen, p->file, g->memory_pos,
                              "'domains[%u].memory' is %s, too small for the toolstack's HVM "
                              "layout (expected at least 1MiB%s)",
                              i, wl_pages_str(g->memory_pages).s, vnodes > 1 ? " per vnode" : "");
    }
    if ((rc = check_orders_fit(p, wl)) || (rc = check_balloon(p, wl, marks)) ||
        (rc = check_threads(p, wl, marks)))
        return rc;
    if (marks->measure && (rc = wl_check_measure(p, wl, marks->measure, "phases.measure")))
        return rc;
    return 0;
}

/* `options`: the model's tunables (core/options.h) by name, each an integer in its range. */
static int parse_options(struct wl_parser *p, yaml_node_t *n, struct pb_options *o)
{
    const char *names[PB_OPT_NR];
    yaml_node_t *v[PB_OPT_NR], *k[PB_OPT_NR];
    int rc;

    pb_options_init(o);
    if (!n)
        return 0;
    for (unsigned i = 0; i < PB_OPT_NR; i++)
        names[i] = pb_option_desc(i)->name;
    if ((rc = wl_map_fields(p, n, "options", names, PB_OPT_NR, v, k)))
        return rc;
    for (unsigned i = 0; i < PB_OPT_NR; i++) {
        const struct pb_option_desc *d = pb_option_desc(i);
        char path[80];
        uint64_t val;
        if (!v[i])
            continue;
        /* Every option's range is within 0 to INT64_MAX. */
        snprintf(path, sizeof(path), "options.%s", d->name);
        if ((rc = wl_get_uint(p, v[i], path, (uint64_t)d->min, (uint64_t)d->max, &val)))
            return rc;
        PB_BUG_ON(pb_options_set(o, d->name, (int64_t)val) != 0);
    }
    return 0;
}

int wl_parse_single(struct wl_parser *p, yaml_node_t *root, yaml_node_t *const *v,
                    yaml_node_t *const *k, struct pb_workload *wl)
{
    struct wl_marks marks = {0};
    int rc;

    wl->kind = PB_WL_SINGLE;
    wl->seed = 1;
    if (v[WL_SEED] && (rc = wl_get_uint(p, v[WL_SEED], "seed", 0, UINT64_MAX, &wl->seed)))
        return rc;
    if ((rc = wl_parse_machine(p, v[WL_MACHINE], &wl->machine)))
        return rc;
    if (!v[WL_DOMAINS])
        return wl_missing(p, root, "", "domains", "a list of domain groups");
    if ((rc = wl_parse_domains(p, v[WL_DOMAINS], wl, &marks)))
        return rc;
    marks.builders = k[WL_BUILDERS];
    marks.orders = k[WL_ORDERS];
    marks.extents = k[WL_EXTENTS];
    if ((rc = parse_builders(p, v[WL_BUILDERS], &wl->builders, &marks)) ||
        (rc = parse_orders(p, v[WL_ORDERS], &wl->orders)) ||
        (rc = parse_extents(p, v[WL_EXTENTS], &wl->orders)) ||
        (rc = parse_preemption(p, v[WL_PREEMPTION], &wl->preemption)) ||
        (rc = parse_churn(p, v[WL_CHURN], &wl->churn, &marks)) ||
        (rc = parse_readers(p, v[WL_READERS], &wl->p2m_readers, &marks)) ||
        (rc = parse_scrub(p, v[WL_SCRUB], &wl->scrub, &marks)) ||
        (rc = parse_heap(p, v[WL_HEAP], &wl->heap, wl->seed)) ||
        (rc = parse_phases(p, v[WL_PHASES], &wl->phases, &marks)) ||
        (rc = parse_options(p, v[WL_OPTIONS], &wl->options)) ||
        (rc = check_workload(p, wl, &marks)))
        return rc;
    if (!wl->machine.from_topology)
        return wl_check_machine(wl, wl->machine.nodes, wl->machine.pages_per_node, p->err,
                                p->errlen);
    return 0;
}
