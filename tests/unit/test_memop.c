/*
 * memory_op's rules (XEN-MODEL.md §5-7, core/memop.h), each test named after its rule:
 * construct_memop_from_reservation, the order limits, bad reservations, continuations, the
 * domain-build scrub path, replacement, decrease_reservation and destroy.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/clear.h"
#include "core/domain.h"
#include "core/heap.h"
#include "core/m2p.h"
#include "core/memflags.h"
#include "core/memop.h"
#include "core/p2m.h"
#include "core/preempt.h"
#include "core/scrub.h"
#include "core/toolstack.h"
#include "tests/common/memop_fixture.h"

#define DOMID   1
#define MAX_GFN (1ull << 20) /* 4 GiB of guest space */

static const struct pb_memop_caller DOMU = {.privilege = PB_PRIV_DOMU};
static const struct pb_memop_caller CONTROL = {.privilege = PB_PRIV_CONTROL};
static const struct pb_memop_caller HARDWARE = {.privilege = PB_PRIV_HARDWARE};

/* ------------------------------------------------------------------------------------------
 * Fixtures.
 */

/* The variant the whole suite runs against (main runs it once per variant). */
static const char *variant;

static struct pb_heap *machine(unsigned nodes, uint64_t frames_per_node, enum pb_backing backing)
{
    struct pb_machine_desc desc = {.nr_nodes = nodes, .backing = backing};
    for (unsigned n = 0; n < nodes; n++)
        desc.node_frames[n] = frames_per_node;
    struct pb_heap *h = NULL;
    assert_int_equal(pb_heap_create(&desc, variant, PB_LOCK_TICKET, &h), 0);
    return h;
}

static void assert_valid(struct pb_heap *h)
{
    char msg[256] = "";
    if (pb_heap_validate(h, msg, sizeof(msg)))
        fail_msg("validator: %s", msg);
}

static struct pb_domain *domain(struct pb_heap *h, unsigned id, uint64_t max_pages, bool finished)
{
    struct pb_domain_config cfg = {.max_pages = max_pages};
    struct pb_domain *d = NULL;
    assert_int_equal(pb_memop_domain_create(h, id, &cfg, MAX_GFN, PB_LOCK_TICKET, &d), 0);
    if (finished)
        assert_int_equal(pb_memop_finish_creation(h, d), 0);
    return d;
}

static struct pb_reservation resv(const uint64_t *gfns, uint64_t nr, unsigned order, unsigned flags)
{
    return (struct pb_reservation){.extent_start = gfns,
                                   .extent_list_len = nr,
                                   .nr_extents = nr,
                                   .extent_order = order,
                                   .mem_flags = flags,
                                   .domid = DOMID};
}

/* gfns[i] = first + i * 2^order */
static uint64_t *gfn_run(uint64_t first, uint64_t nr, unsigned order)
{
    uint64_t *g = calloc(nr ? nr : 1, sizeof(*g));
    assert_non_null(g);
    for (uint64_t i = 0; i < nr; i++)
        g[i] = first + (i << order);
    return g;
}

/* The p2m as a list of entries (p2m_for_each), for exact comparisons. */
struct p2m_dump {
    size_t n, cap;
    struct dump_entry {
        uint64_t gfn, mfn;
        unsigned order;
        enum p2m_type type;
    } * e;
};

static int dump_visit(void *ctx, uint64_t gfn, uint64_t mfn, unsigned int order, enum p2m_type type)
{
    struct p2m_dump *dp = ctx;
    if (dp->n == dp->cap) {
        dp->cap = dp->cap ? 2 * dp->cap : 64;
        dp->e = realloc(dp->e, dp->cap * sizeof(*dp->e));
        PB_BUG_ON(!dp->e);
    }
    dp->e[dp->n++] = (struct dump_entry){gfn, mfn, order, type};
    return 0;
}

static struct p2m_dump dump(struct pb_domain *d)
{
    struct p2m_dump dp = {0};
    assert_int_equal(p2m_for_each(pb_domain_p2m(d), dump_visit, &dp), 0);
    return dp;
}

static void assert_dumps_equal(const struct p2m_dump *a, const struct p2m_dump *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->e[i].gfn, b->e[i].gfn);
        assert_int_equal(a->e[i].mfn, b->e[i].mfn);
        assert_int_equal(a->e[i].order, b->e[i].order);
        assert_int_equal(a->e[i].type, b->e[i].type);
    }
}

/* What "nothing changed" compares: the heap, its counters, the domain and its p2m. */
struct snapshot {
    uint64_t total_avail, need_scrub, tot_pages;
    struct pb_heap_counters hc;
    struct p2m_dump p2m;
};

static struct snapshot snap(struct pb_heap *h, struct pb_domain *d)
{
    struct snapshot s = {.total_avail = pb_heap_total_avail(h), .tot_pages = 0};
    for (unsigned n = 0; n < pb_heap_nr_nodes(h); n++)
        s.need_scrub += pb_heap_node_need_scrub(h, n);
    pb_heap_read_counters(h, &s.hc);
    if (d) {
        s.tot_pages = pb_domain_tot_pages(d);
        s.p2m = dump(d);
    }
    return s;
}

static void assert_unchanged(struct pb_heap *h, struct pb_domain *d, struct snapshot *before)
{
    struct snapshot now = snap(h, d);
    assert_int_equal(now.total_avail, before->total_avail);
    assert_int_equal(now.need_scrub, before->need_scrub);
    assert_int_equal(now.tot_pages, before->tot_pages);
    assert_memory_equal(&now.hc, &before->hc, sizeof(now.hc));
    assert_dumps_equal(&now.p2m, &before->p2m);
    assert_valid(h);
    free(now.p2m.e);
}

/* Make every free frame dirty: allocate all, write into each, free them back dirty. */
static void dirty_heap(struct pb_heap *h)
{
    size_t cap = 1024, n = 0;
    struct blk {
        uint64_t mfn;
        unsigned order;
    } *b = malloc(cap * sizeof(*b));
    assert_non_null(b);
    for (unsigned order = PB_MAX_ORDER + 1; order-- > 0;) {
        uint64_t mfn;
        while (pb_alloc_heap_pages(h, 1, PB_NR_ZONES - 1, order, 0, NULL, &mfn) == 0) {
            if (n == cap)
                b = realloc(b, (cap *= 2) * sizeof(*b));
            b[n++] = (struct blk){mfn, order};
        }
    }
    for (size_t i = 0; i < n; i++) {
        for (uint64_t f = 0; f < (1ull << b[i].order); f++)
            pb_dirty_fill(pb_frame_data(h, b[i].mfn + f));
        assert_int_equal(pb_free_heap_pages(h, b[i].mfn, b[i].order, true), 0);
    }
    free(b);
}

/* ------------------------------------------------------------------------------------------
 * construct_memop_from_reservation.
 */

static void test_construct_address_bits_up_to_page_shift_are_einval(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1 << 16, PB_BACKING_NONE); /* 2^17 frames: 29 address bits */
    unsigned mf = 0xdead;
    for (unsigned bits = 1; bits <= 12; bits++) {
        assert_int_equal(pb_construct_memop_from_reservation(h, &CONTROL, bits, &mf), -EINVAL);
        assert_int_equal(mf, 0xdead);
    }
    assert_int_equal(pb_construct_memop_from_reservation(h, &CONTROL, 0, &mf), 0);
    assert_int_equal(mf, 0);
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, 13, &mf), 0);
    assert_int_equal(mf, MEMF_bits(13));
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, 28, &mf), 0);
    assert_int_equal(mf, MEMF_bits(28));
    /* As wide as the machine or wider: no cap at all. */
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, 29, &mf), 0);
    assert_int_equal(mf, 0);
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, 64, &mf), 0);
    assert_int_equal(mf, 0);
    pb_heap_destroy(h);
}

static void test_construct_privileged_node_beyond_max_numnodes_is_einval(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1024, PB_BACKING_NONE);
    const struct pb_memop_caller *priv[] = {&CONTROL, &HARDWARE};
    for (size_t i = 0; i < 2; i++) {
        unsigned mf = 0xdead;
        assert_int_equal(pb_construct_memop_from_reservation(h, priv[i], XENMEMF_node(64), &mf),
                         -EINVAL);
        assert_int_equal(
            pb_construct_memop_from_reservation(h, priv[i], XENMEMF_exact_node(200), &mf), -EINVAL);
        assert_int_equal(mf, 0xdead);
        /* Below MAX_NUMNODES a node the machine lacks is accepted (the search falls back). */
        assert_int_equal(pb_construct_memop_from_reservation(h, priv[i], XENMEMF_node(2), &mf), 0);
        assert_int_equal(mf, MEMF_node(2));
        assert_int_equal(
            pb_construct_memop_from_reservation(h, priv[i], XENMEMF_exact_node(7), &mf), 0);
        assert_int_equal(mf, MEMF_node(7) | MEMF_exact_node);
        assert_int_equal(pb_construct_memop_from_reservation(h, priv[i], XENMEMF_node(1), &mf), 0);
        assert_int_equal(mf, MEMF_node(1));
        assert_int_equal(
            pb_construct_memop_from_reservation(h, priv[i], XENMEMF_exact_node(0), &mf), 0);
        assert_int_equal(mf, MEMF_node(0) | MEMF_exact_node);
    }
    pb_heap_destroy(h);
}

static void test_construct_unprivileged_node_hint_is_ignored(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1024, PB_BACKING_NONE);
    unsigned mf = 0xdead;
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, XENMEMF_node(1), &mf), 0);
    assert_int_equal(mf, 0);
    /* Even a node the machine does not have: propagate_node drops a guest's hint unread. */
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, XENMEMF_node(200), &mf), 0);
    assert_int_equal(mf, 0);
    pb_heap_destroy(h);
}

static void test_construct_unprivileged_exact_node_request_is_einval(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1024, PB_BACKING_NONE);
    unsigned mf = 0xdead;
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, XENMEMF_exact_node(0), &mf),
                     -EINVAL);
    assert_int_equal(mf, 0xdead);
    /* The exact flag with no node means nothing, for anyone. */
    assert_int_equal(pb_construct_memop_from_reservation(h, &DOMU, XENMEMF_exact_node_request, &mf),
                     0);
    assert_int_equal(mf, 0);
    assert_int_equal(
        pb_construct_memop_from_reservation(h, &CONTROL, XENMEMF_exact_node_request, &mf), 0);
    assert_int_equal(mf, 0);
    pb_heap_destroy(h);
}

static void test_construct_vnode_without_vnuma_is_ignored(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1024, PB_BACKING_NONE);
    unsigned mf = 0xdead;
    assert_int_equal(
        pb_construct_memop_from_reservation(h, &DOMU, XENMEMF_vnode | XENMEMF_exact_node(1), &mf),
        0);
    assert_int_equal(mf, 0);
    assert_int_equal(pb_construct_memop_from_reservation(
                         h, &CONTROL, XENMEMF_vnode | XENMEMF_exact_node(9), &mf),
                     0);
    assert_int_equal(mf, 0);
    pb_heap_destroy(h);
}

static void test_construct_errors_make_populate_return_start_and_change_nothing(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    no_preemption();
    uint64_t gfns[2] = {0, 1};
    const struct {
        const struct pb_memop_caller *c;
        unsigned flags;
    } bad[] = {
        {&CONTROL, 12},
        {&CONTROL, XENMEMF_node(64)},
        {&DOMU, XENMEMF_exact_node(0)},
    };
    struct snapshot s = snap(h, d);
    for (size_t i = 0; i < PB_ARRAY_SIZE(bad); i++) {
        struct pb_reservation r = resv(gfns, 2, 0, bad[i].flags);
        struct pb_memop_result res;
        assert_int_equal(populate(h, bad[i].c, &r, 1, &res), 1);
        assert_int_equal(res.error, -EINVAL);
        assert_false(res.preempted);
        assert_unchanged(h, d, &s);
    }
    free(s.p2m.e);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * Order limits and bad reservations.
 */

static void test_order_limit_is_the_callers(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 20, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 20, true);
    no_preemption();
    const struct {
        const struct pb_memop_caller *c;
        unsigned limit;
    } cases[] = {{&DOMU, 9}, {&HARDWARE, 12}, {&CONTROL, 18}};
    uint64_t gfn = 0;
    for (size_t i = 0; i < PB_ARRAY_SIZE(cases); i++) {
        unsigned limit = cases[i].limit;
        assert_int_equal(pb_memop_max_order(cases[i].c), limit);
        struct pb_memop_result res;
        /* One above the limit: no progress. */
        struct snapshot s = snap(h, d);
        uint64_t g = 0;
        struct pb_reservation r = resv(&g, 1, limit + 1, 0);
        assert_int_equal(populate(h, cases[i].c, &r, 0, &res), 0);
        assert_int_equal(res.error, -EPERM);
        assert_unchanged(h, d, &s);
        free(s.p2m.e);
        /* At the limit: done. */
        r = resv(&gfn, 1, limit, 0);
        assert_int_equal(populate(h, cases[i].c, &r, 0, &res), 1);
        assert_int_equal(res.error, 0);
        gfn += 1ull << limit;
        gfn = (gfn + (1ull << 18) - 1) & ~((1ull << 18) - 1);
    }
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_order_limits_are_configurable_and_pod_allows_max_order(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    no_preemption();
    const struct pb_order_limits lim = {.domu = 2, .control = 30, .hardware = 0};
    const struct pb_memop_caller domu = {.privilege = PB_PRIV_DOMU, .limits = &lim};
    const struct pb_memop_caller ctl = {.privilege = PB_PRIV_CONTROL, .limits = &lim};
    const struct pb_memop_caller hw = {.privilege = PB_PRIV_HARDWARE, .limits = &lim};
    assert_int_equal(pb_memop_max_order(&domu), 2);
    assert_int_equal(pb_memop_max_order(&ctl), PB_MAX_ORDER); /* capped at MAX_ORDER */
    /* The largest over the caller's roles: every caller has the domU limit too. */
    assert_int_equal(pb_memop_max_order(&hw), 2);
    uint64_t g = 0;
    struct pb_memop_result res;
    struct pb_reservation r = resv(&g, 1, 3, 0);
    assert_int_equal(populate(h, &domu, &r, 0, &res), 0);
    assert_int_equal(res.error, -EPERM);
    /* PoD: any order up to MAX_ORDER, whoever asks; 19 never. */
    r = resv(&g, 1, 18, XENMEMF_populate_on_demand);
    assert_int_equal(populate(h, &hw, &r, 0, &res), 1);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.pod_frames, 1u << 18);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    r = resv(&g, 1, 19, XENMEMF_populate_on_demand);
    assert_int_equal(populate(h, &ctl, &r, 0, &res), 0);
    assert_int_equal(res.error, -EPERM);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_bad_reservations_return_what_xen_returns_and_change_nothing(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 14, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 14, true);
    no_preemption();
    uint64_t gfns[4] = {0, 512, 1024, 1536};
    struct pb_memop_result res;
    /* Something mapped first, so "unchanged" covers replacing too. */
    struct pb_reservation r = resv(gfns, 1, 9, 0);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
    struct snapshot s = snap(h, d);

    /* order 19 */
    r = resv(gfns, 4, 19, 0);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -EPERM);
    assert_unchanged(h, d, &s);
    /* nr_extents 0: 0 done, no error */
    r = resv(gfns, 0, 0, 0);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, 0);
    /* start beyond the end: returned as is */
    r = resv(gfns, 4, 0, 0);
    assert_int_equal(populate(h, &CONTROL, &r, 7, &res), 7);
    assert_int_equal(res.error, 0);
    assert_unchanged(h, d, &s);
    /* huge nr_extents: too many to continue, refused whole */
    r = resv(gfns, PB_MEMOP_MAX_EXTENTS + 1ull, 0, 0);
    r.extent_list_len = UINT64_MAX;
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -E2BIG);
    assert_unchanged(h, d, &s);
    /* more extents than the gfn list holds: nothing read beyond it */
    r = resv(gfns, 1000, 0, 0);
    r.extent_list_len = 4;
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -EFAULT);
    r.extent_start = NULL;
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -EFAULT);
    assert_unchanged(h, d, &s);
    /* a gfn beyond the domain's space (or an extent running past it): stops there */
    uint64_t far[3] = {MAX_GFN, MAX_GFN - 256, UINT64_MAX};
    for (int i = 0; i < 3; i++) {
        r = resv(&far[i], 1, 9, 0);
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
        assert_int_equal(res.error, -EINVAL);
        assert_unchanged(h, d, &s);
    }
    /* unknown domain */
    r = resv(gfns, 4, 0, 0);
    r.domid = 77;
    assert_int_equal(populate(h, &CONTROL, &r, 2, &res), 2);
    assert_int_equal(res.error, -ESRCH);
    r.domid = PB_MAX_DOMAINS + 5;
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.error, -ESRCH);
    assert_unchanged(h, d, &s);
    /* API misuse */
    assert_int_equal(pb_populate_physmap(NULL, &CONTROL, &r, 0, &res), -EINVAL);
    assert_int_equal(pb_populate_physmap(h, NULL, &r, 0, &res), -EINVAL);
    assert_int_equal(pb_populate_physmap(h, &CONTROL, NULL, 0, &res), -EINVAL);
    assert_int_equal(pb_populate_physmap(h, &CONTROL, &r, 0, NULL), -EINVAL);
    assert_int_equal(pb_decrease_reservation(NULL, &CONTROL, &r, 0, false, &res), -EINVAL);
    assert_unchanged(h, d, &s);
    free(s.p2m.e);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_gfn_beyond_the_space_stops_at_that_extent(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    no_preemption();
    uint64_t gfns[4] = {0, 1, MAX_GFN, 3};
    struct pb_reservation r = resv(gfns, 4, 0, 0);
    struct pb_memop_result res;
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 2);
    assert_int_equal(res.error, -EINVAL);
    assert_int_equal(res.c.extents, 2);
    assert_int_equal(pb_domain_tot_pages(d), 2);
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_dying_domain_populates_nothing(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    for (int finished = 0; finished <= 1; finished++) {
        struct pb_domain *d = domain(h, DOMID, 1 << 12, finished);
        no_preemption();
        uint64_t gfns[2] = {0, 512};
        struct pb_reservation r = resv(gfns, 1, 9, 0);
        struct pb_memop_result res;
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
        r = resv(gfns, 2, 9, 0);
        pb_domain_kill(d);
        struct snapshot s = snap(h, d);
        assert_int_equal(populate(h, &CONTROL, &r, 1, &res), 1);
        assert_int_equal(res.error, -EINVAL);
        assert_int_equal(res.c.extents, 0);
        assert_unchanged(h, d, &s);
        /* PoD neither. */
        r.mem_flags = XENMEMF_populate_on_demand;
        assert_int_equal(populate(h, &CONTROL, &r, 1, &res), 1);
        assert_int_equal(res.error, -EINVAL);
        assert_unchanged(h, d, &s);
        free(s.p2m.e);
        pb_memop_domain_destroy(h, d);
    }
    pb_heap_destroy(h);
}

static void test_short_count_is_the_first_extent_not_completed(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 5, true); /* room for 5 frames */
    no_preemption();
    uint64_t *g = gfn_run(0, 8, 0);
    struct pb_reservation r = resv(g, 8, 0, 0);
    struct pb_memop_result res;
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 5);
    assert_int_equal(res.error, -E2BIG); /* assign_pages: beyond max_pages */
    assert_false(res.preempted);
    assert_int_equal(pb_domain_tot_pages(d), 5);
    /* Re-issued from there: still extent 5, and nothing changes. */
    assert_int_equal(populate(h, &DOMU, &r, 5, &res), 5);
    assert_valid(h);
    free(g);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * Continuations.
 */

struct build_outcome {
    struct p2m_dump p2m;
    struct pb_heap_counters hc;
    struct pb_xc_stats xc;
    uint64_t tot_pages, total_avail;
    struct pb_scrub_counters sc;
};

/* Build 'nr' extents of 'order' into a fresh domain of a fresh machine, under `preempt`. */
static struct build_outcome build(unsigned nr, unsigned order, bool finished, bool dirty,
                                  bool backed, const struct pb_preempt_policy *preempt)
{
    struct pb_heap *h = machine(2, 1 << 13, backed ? PB_BACKING_REAL : PB_BACKING_NONE);
    if (dirty)
        dirty_heap(h);
    if (backed)
        assert_int_equal(pb_heap_set_verify(h, PB_VERIFY_FULL), 0);
    struct pb_domain *d = domain(h, DOMID, 1 << 14, finished);
    struct pb_scrub_counters sc0;
    pb_scrub_read_counters(h, &sc0);
    assert_int_equal(pb_preempt_configure(preempt), 0);
    uint64_t *g = gfn_run(4096, nr, order);
    struct build_outcome o = {0};
    assert_int_equal(
        pb_xc_domain_populate_physmap_exact(h, &CONTROL, DOMID, nr, order, 0, g, &o.xc), 0);
    no_preemption();
    o.p2m = dump(d);
    pb_heap_read_counters(h, &o.hc);
    o.tot_pages = pb_domain_tot_pages(d);
    o.total_avail = pb_heap_total_avail(h);
    pb_scrub_read_counters(h, &o.sc);
    o.sc.domain_build -= sc0.domain_build;
    o.sc.on_alloc -= sc0.on_alloc;
    o.sc.verified -= sc0.verified;
    o.sc.verify_failures -= sc0.verify_failures;
    /* Every mapped frame is the domain's and, with backing, reads zero. */
    for (size_t i = 0; i < o.p2m.n; i++) {
        const struct dump_entry *e = &o.p2m.e[i];
        assert_int_equal(e->type, P2M_RAM_RW);
        for (uint64_t f = 0; f < (1ull << e->order); f++) {
            unsigned owner = 0;
            assert_true(pb_heap_frame_in_use(h, e->mfn + f, &owner));
            assert_int_equal(owner, DOMID);
            assert_false(pb_heap_frame_dirty(h, e->mfn + f));
            if (backed)
                assert_true(pb_page_is_zero(pb_frame_data(h, e->mfn + f)));
        }
    }
    assert_valid(h);
    free(g);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
    return o;
}

static void assert_same_build(const struct build_outcome *a, const struct build_outcome *b)
{
    assert_dumps_equal(&a->p2m, &b->p2m);
    assert_memory_equal(&a->hc, &b->hc, sizeof(a->hc));
    assert_int_equal(a->tot_pages, b->tot_pages);
    assert_int_equal(a->total_avail, b->total_avail);
    assert_int_equal(a->xc.c.extents, b->xc.c.extents);
    assert_int_equal(a->xc.c.frames, b->xc.c.frames);
    assert_int_equal(a->xc.c.released_frames, b->xc.c.released_frames);
    assert_int_equal(a->xc.c.flush_filter_skipped, b->xc.c.flush_filter_skipped);
    assert_int_equal(a->sc.domain_build, b->sc.domain_build);
    assert_int_equal(a->sc.on_alloc, b->sc.on_alloc);
}

static void test_preempting_every_check_gives_the_same_p2m_and_counters(void **state)
{
    (void)state;
    const struct pb_preempt_policy none = {.kind = PB_PREEMPT_NONE};
    const struct pb_preempt_policy every = {.kind = PB_PREEMPT_EVERY_N, .every_n = 1};
    const struct pb_preempt_policy prob = {.kind = PB_PREEMPT_PROB, .probability = 0.3, .seed = 3};
    const unsigned orders[] = {0, 4, 9};
    for (int finished = 0; finished <= 1; finished++)
        for (size_t k = 0; k < PB_ARRAY_SIZE(orders); k++) {
            unsigned nr = orders[k] == 9 ? 16 : 300;
            struct build_outcome a = build(nr, orders[k], finished, false, false, &none);
            struct build_outcome b = build(nr, orders[k], finished, false, false, &every);
            struct build_outcome c = build(nr, orders[k], finished, false, false, &prob);
            assert_same_build(&a, &b);
            assert_same_build(&a, &c);
            assert_int_equal(a.xc.hypercalls, 1);
            assert_int_equal(a.xc.continuations, 0);
            /* Every check preempts: one extent per invocation (a clean heap: no scrub). */
            assert_int_equal(b.xc.hypercalls, nr);
            assert_int_equal(b.xc.continuations, nr - 1);
            assert_true(c.xc.continuations > 0 && c.xc.continuations < nr - 1);
            free(a.p2m.e);
            free(b.p2m.e);
            free(c.p2m.e);
        }
}

static void test_every_n_completes_n_extents_per_invocation(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    uint64_t *g = gfn_run(0, 10, 0);
    struct pb_reservation r = resv(g, 10, 0, 0);
    preempt_every(3);
    struct pb_memop_result res;
    uint64_t start = 0;
    const uint64_t expect[] = {3, 6, 9, 10}; /* the 3rd check stops before the 4th extent */
    for (int call = 0; call < 4; call++) {
        start = populate(h, &DOMU, &r, start, &res);
        assert_int_equal(start, expect[call]);
        assert_int_equal(res.preempted, call < 3);
        assert_int_equal(res.error, 0);
    }
    assert_int_equal(pb_domain_tot_pages(d), 10);
    no_preemption();
    free(g);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

/* ------------------------------------------------------------------------------------------
 * The domain-build path.
 */

static void test_build_scrub_preempted_gives_the_same_clean_frames(void **state)
{
    (void)state;
    const struct pb_preempt_policy none = {.kind = PB_PREEMPT_NONE};
    const struct pb_preempt_policy every = {.kind = PB_PREEMPT_EVERY_N, .every_n = 1};
    /* Order 10: 1024 dirty frames per extent, so the scrub checks 3 times inside each. */
    struct build_outcome a = build(6, 10, false, true, true, &none);
    struct build_outcome b = build(6, 10, false, true, true, &every);
    assert_same_build(&a, &b);
    assert_int_equal(a.xc.c.scrub_preemptions, 0);
    assert_int_equal(b.xc.c.scrub_preemptions, 6 * 3);
    assert_int_equal(b.xc.c.stash_hits, 6 * 3);
    assert_int_equal(b.xc.continuations, 6 * 3 + 5);
    /* The build path scrubbed every frame itself; allocation scrubbed none. */
    assert_int_equal(a.sc.domain_build, 6 * 1024);
    assert_int_equal(a.sc.on_alloc, 0);
    assert_int_equal(a.sc.verified, 6 * 1024);
    assert_int_equal(b.sc.verified, 6 * 1024);
    assert_int_equal(a.sc.verify_failures + b.sc.verify_failures, 0);
    free(a.p2m.e);
    free(b.p2m.e);
}

static void test_dirty_heap_build_path_scrubs_and_full_verification_finds_zero(void **state)
{
    (void)state;
    const struct pb_preempt_policy prob = {.kind = PB_PREEMPT_PROB, .probability = 0.5, .seed = 9};
    struct build_outcome o = build(24, 9, false, true, true, &prob);
    assert_int_equal(o.sc.domain_build, 24 * 512);
    assert_int_equal(o.sc.verified, 24 * 512);
    assert_int_equal(o.sc.verify_failures, 0);
    assert_int_equal(o.xc.c.flush_filter_skipped, 24 * 512);
    free(o.p2m.e);
    /* A finished domain on a dirty heap: allocation scrubs, the build path does not. */
    o = build(24, 9, true, true, true, &prob);
    assert_int_equal(o.sc.domain_build, 0);
    assert_int_equal(o.sc.on_alloc, 24 * 512);
    assert_int_equal(o.sc.verified, 24 * 512);
    assert_int_equal(o.sc.verify_failures, 0);
    assert_int_equal(o.xc.c.flush_filter_skipped, 0);
    free(o.p2m.e);
}

/*
 * A heap that scrubs nothing (a workload's `scrub: none`): the build path and allocation both
 * hand dirty frames out as they are, counted, never cleared, verified or stashed.
 */
static void test_no_scrub_hands_dirty_frames_out_as_they_are(void **state)
{
    (void)state;
    const struct pb_preempt_policy every = {.kind = PB_PREEMPT_EVERY_N, .every_n = 1};
    for (int finished = 0; finished <= 1; finished++) {
        struct pb_heap *h = machine(2, 1 << 13, PB_BACKING_REAL);
        dirty_heap(h);
        assert_int_equal(pb_heap_set_verify(h, PB_VERIFY_FULL), 0);
        assert_false(pb_heap_no_scrub(h));
        assert_int_equal(pb_heap_set_no_scrub(h, true), 0);
        assert_true(pb_heap_no_scrub(h));
        struct pb_domain *d = domain(h, DOMID, 1 << 14, finished);
        uint64_t backlog = pb_scrub_backlog(h);
        struct pb_scrub_counters sc0, sc;
        struct pb_heap_counters hc0, hc;
        pb_scrub_read_counters(h, &sc0);
        pb_heap_read_counters(h, &hc0);
        uint64_t *g = gfn_run(4096, 24, 9);
        struct pb_xc_stats xc = {0};
        assert_int_equal(pb_preempt_configure(&every), 0);
        assert_int_equal(pb_xc_domain_populate_physmap_exact(h, &CONTROL, DOMID, 24, 9, 0, g, &xc),
                         0);
        no_preemption();
        pb_scrub_read_counters(h, &sc);
        pb_heap_read_counters(h, &hc);
        /* Nothing scrubbed, verified or stashed; one extent per invocation, no more. */
        assert_int_equal(sc.on_alloc + sc.domain_build - sc0.on_alloc - sc0.domain_build, 0);
        assert_int_equal(sc.verified - sc0.verified, 0);
        assert_int_equal(xc.c.scrub_preemptions + xc.c.stash_hits + xc.c.verify_failures, 0);
        assert_int_equal(xc.continuations, 23);
        assert_int_equal(xc.c.flush_filter_skipped, finished ? 0 : 24 * 512);
        /* Counted as handed out dirty; no longer counted as dirty free memory. */
        assert_int_equal(hc.dirty_alloc_pages - hc0.dirty_alloc_pages, 24 * 512);
        assert_int_equal(hc.scrubbed_on_alloc - hc0.scrubbed_on_alloc, 0);
        assert_int_equal(backlog - pb_scrub_backlog(h), 24 * 512);
        struct p2m_dump p = dump(d);
        assert_int_equal(p.n, 24);
        for (size_t i = 0; i < p.n; i++)
            for (uint64_t f = 0; f < 512; f++) {
                assert_false(pb_heap_frame_dirty(h, p.e[i].mfn + f));
                assert_false(pb_page_is_zero(pb_frame_data(h, p.e[i].mfn + f)));
            }
        assert_valid(h);
        free(p.e);
        free(g);
        pb_memop_domain_destroy(h, d);
        pb_heap_destroy(h);
    }
}

static void test_finishing_with_a_stashed_extent_is_ebusy_and_frees_it(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 13, PB_BACKING_REAL);
    dirty_heap(h);
    uint64_t avail = pb_heap_total_avail(h);
    struct pb_domain *d = domain(h, DOMID, 1 << 14, false);
    uint64_t g = 0;
    struct pb_reservation r = resv(&g, 1, 10, 0);
    struct pb_memop_result res;
    preempt_every(1);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_int_equal(res.c.scrub_preemptions, 1);
    no_preemption();
    struct pb_memop_global_counters g0, g1;
    pb_memop_global_counters_read(&g0);
    assert_int_equal(pb_memop_finish_creation(h, d), -EBUSY);
    assert_false(pb_domain_creation_finished(d));
    assert_int_equal(pb_domain_tot_pages(d), 0);
    assert_int_equal(pb_heap_total_avail(h), avail);
    assert_int_equal(pb_memop_finish_creation(h, d), 0);
    assert_true(pb_domain_creation_finished(d));
    pb_memop_global_counters_read(&g1);
    assert_int_equal(g1.batched_tlb_flushes - g0.batched_tlb_flushes, 0); /* none, as Xen */
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_stash_of_another_order_is_not_resumed(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 13, PB_BACKING_REAL);
    dirty_heap(h);
    struct pb_domain *d = domain(h, DOMID, 1 << 14, false);
    uint64_t g = 0;
    struct pb_reservation r = resv(&g, 1, 10, 0);
    struct pb_memop_result res;
    preempt_every(1);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 0);
    assert_true(res.preempted);
    assert_int_equal(res.c.scrub_preemptions, 1);
    assert_int_equal(pb_domain_tot_pages(d), 0); /* the stashed extent is nobody's yet */
    /* A call of another order finds the stash useless: it is freed, not mapped. */
    no_preemption();
    r = resv(&g, 1, 9, 0);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
    assert_int_equal(res.c.stash_hits, 0);
    assert_int_equal(pb_domain_tot_pages(d), 512);
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    assert_valid(h);
    pb_heap_destroy(h);
}

/*
 * Frames an owner freed carry a TLB stamp. A domain being built skips the per-page filter;
 * Xen's code then finds the stamps overwritten and flushes nothing (option build_tlb_flush 0,
 * the default); Xen's intent (1) is one filtered flush per populate_physmap invocation.
 */
static void test_build_tlb_flush_as_xen_code_and_as_intended(void **state)
{
    (void)state;
    for (int intended = 0; intended <= 1; intended++) {
        struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
        struct pb_options o;
        pb_options_init(&o);
        assert_int_equal(pb_options_set(&o, "build_tlb_flush", intended), 0);
        /* pcp: caches that pass every frame through, so the frames freed are those taken. */
        assert_int_equal(pb_options_set(&o, "pcp_batch_order0", 1), 0);
        assert_int_equal(pb_options_set(&o, "pcp_high_order0", 0), 0);
        assert_int_equal(pb_heap_set_options(h, &o), 0);
        no_preemption();
        /* A running guest takes 8 frames and gives them back: they carry stamps now. */
        struct pb_domain *old = domain(h, DOMID + 1, 1 << 12, true);
        uint64_t *g = gfn_run(0, 8, 0);
        struct pb_reservation r = resv(g, 8, 0, 0);
        r.domid = DOMID + 1;
        struct pb_memop_result res;
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 8);
        assert_int_equal(pb_decrease_reservation(h, &CONTROL, &r, 0, false, &res), 8);
        pb_memop_domain_destroy(h, old);

        struct pb_domain *d = domain(h, DOMID, 1 << 12, false);
        struct pb_heap_counters hc0, hc1;
        struct pb_memop_global_counters g0, g1;
        pb_heap_read_counters(h, &hc0);
        pb_memop_global_counters_read(&g0);
        r = resv(g, 4, 0, 0);
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 4);
        assert_int_equal(res.c.flush_filter_skipped, 4);
        r = resv(g + 4, 4, 0, 0);
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 4);
        assert_int_equal(pb_memop_finish_creation(h, d), 0);
        assert_true(pb_domain_creation_finished(d));
        assert_int_equal(pb_memop_finish_creation(h, d), 0); /* once only */
        pb_heap_read_counters(h, &hc1);
        pb_memop_global_counters_read(&g1);
        assert_int_equal(hc1.tlb_flushes - hc0.tlb_flushes, 0); /* no per-allocation flush */
        /* All 8 frames were freed before the first call's flush: that one covers them all. */
        assert_int_equal(g1.batched_tlb_flushes - g0.batched_tlb_flushes, intended ? 1 : 0);
        /* After creation every allocation filters its own flushes again. */
        r = resv(g, 4, 0, 0);
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 4);
        assert_int_equal(res.c.flush_filter_skipped, 0);
        assert_int_equal(pb_memop_finish_creation(NULL, d), -EINVAL);
        assert_int_equal(pb_memop_finish_creation(h, NULL), -EINVAL);
        free(g);
        pb_memop_domain_destroy(h, d);
        pb_heap_destroy(h);
    }
}

/* ------------------------------------------------------------------------------------------
 * Replacement, PoD, decrease_reservation, destroy.
 */

static void test_replacing_a_mapped_gfn_keeps_the_old_frame_until_the_domain_dies(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    no_preemption();
    const struct pb_m2p *m2p = pb_heap_m2p(h);
    uint64_t avail0 = pb_heap_total_avail(h);
    uint64_t g = 0;
    struct pb_memop_result res;
    struct pb_reservation r = resv(&g, 1, 0, 0);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    struct p2m_entry e1, e2;
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), 0, &e1), 0);
    assert_int_equal(pb_m2p_get(m2p, e1.mfn), 0);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    assert_int_equal(res.c.released_frames, 0);
    assert_int_equal(res.c.replaced_frames, 1);
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), 0, &e2), 0);
    assert_int_not_equal(e1.mfn, e2.mfn);
    /* The old frame is still the domain's, in tot_pages, without a gfn. */
    unsigned owner;
    assert_true(pb_heap_frame_in_use(h, e1.mfn, &owner));
    assert_int_equal(owner, DOMID);
    assert_int_equal(pb_m2p_get(m2p, e1.mfn), PB_M2P_INVALID);
    assert_int_equal(pb_m2p_get(m2p, e2.mfn), 0);
    assert_int_equal(pb_domain_tot_pages(d), 2);
    assert_int_equal(pb_heap_total_avail(h), avail0 - 2);
    /* A 2 MiB extent over it replaces it; a 4 KiB one inside the 2 MiB splits it. */
    r = resv(&g, 1, 9, 0);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    assert_int_equal(res.c.replaced_frames, 1);
    assert_int_equal(pb_domain_tot_pages(d), 2 + 512);
    uint64_t g7 = 7;
    r = resv(&g7, 1, 0, 0);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    assert_int_equal(res.c.replaced_frames, 1);
    assert_int_equal(pb_domain_tot_pages(d), 3 + 512);
    assert_int_equal(pb_heap_total_avail(h), avail0 - 3 - 512);
    assert_int_equal(p2m_validate(pb_domain_p2m(d)), 0);
    assert_valid(h);
    /* Death frees them all. */
    pb_memop_domain_destroy(h, d);
    assert_int_equal(pb_heap_total_avail(h), avail0);
    assert_int_equal(pb_m2p_get(m2p, e1.mfn), PB_M2P_INVALID);
    pb_heap_destroy(h);
}

static void test_misaligned_gfn_maps_in_smaller_entries(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    no_preemption();
    uint64_t g = 1000; /* 8-aligned, not 512-aligned */
    struct pb_memop_result res;
    struct pb_reservation r = resv(&g, 1, 9, 0);
    assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 1);
    struct p2m_entry first;
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), 1000, &first), 0);
    for (uint64_t i = 0; i < 512; i++) {
        struct p2m_entry e;
        assert_int_equal(p2m_lookup(pb_domain_p2m(d), 1000 + i, &e), 0);
        assert_int_equal(e.type, P2M_RAM_RW);
        assert_int_equal(e.mfn, first.mfn + i);
        assert_int_equal(e.order, 0);
    }
    assert_int_equal(first.mfn % 512, 0);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.ram_frames, 512);
    /* Decrease takes it back the same way. */
    assert_int_equal(pb_decrease_reservation(h, &CONTROL, &r, 0, false, &res), 1);
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.ram_frames, 0);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    assert_valid(h);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_pod_marks_the_range_without_allocating(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    no_preemption();
    uint64_t gfns[2] = {0, 512};
    struct pb_memop_result res;
    struct pb_reservation r = resv(gfns, 2, 9, XENMEMF_populate_on_demand);
    uint64_t avail = pb_heap_total_avail(h);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 2);
    assert_int_equal(res.c.pod_frames, 1024);
    assert_int_equal(pb_heap_total_avail(h), avail);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    struct p2m_entry e;
    assert_int_equal(p2m_lookup(pb_domain_p2m(d), 700, &e), 0);
    assert_int_equal(e.type, P2M_POD);
    /* RAM over PoD is fine; PoD over RAM is refused and changes nothing. */
    uint64_t g = 512 + 5;
    struct pb_reservation ram = resv(&g, 1, 0, 0);
    assert_int_equal(populate(h, &DOMU, &ram, 0, &res), 1);
    struct snapshot s = snap(h, d);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    assert_int_equal(res.error, -EBUSY);
    free(s.p2m.e);
    s = snap(h, d);
    assert_int_equal(populate(h, &DOMU, &r, 1, &res), 1);
    assert_unchanged(h, d, &s);
    free(s.p2m.e);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_decrease_reservation_returns_the_frames_and_unmaps(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 13, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 13, true);
    no_preemption();
    uint64_t avail0 = pb_heap_total_avail(h);
    uint64_t *g = gfn_run(0, 8, 9);
    struct pb_memop_result res;
    struct pb_reservation r = resv(g, 8, 9, 0);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 8);
    /* Preemptible like populate: every check preempts, one extent per invocation. */
    preempt_every(1);
    r = resv(g, 4, 9, 0);
    uint64_t start = 0;
    for (int call = 0; call < 4; call++) {
        assert_int_equal(pb_decrease_reservation(h, &DOMU, &r, start, false, &res), start + 1);
        assert_int_equal(res.preempted, call < 3);
        assert_int_equal(res.c.released_frames, 512);
        start++;
    }
    no_preemption();
    assert_int_equal(pb_domain_tot_pages(d), 4 * 512);
    assert_int_equal(pb_heap_node_need_scrub(h, 0), 0); /* a live guest's: clean */
    /* dirty = true: they go back dirty. */
    r = resv(g + 4, 4, 9, 0);
    assert_int_equal(pb_decrease_reservation(h, &DOMU, &r, 0, true, &res), 4);
    assert_int_equal(pb_heap_node_need_scrub(h, 0), 4 * 512);
    assert_int_equal(pb_domain_tot_pages(d), 0);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.ram_frames, 0);
    assert_int_equal(pc.leaves + pc.mids, 0);
    assert_int_equal(pb_heap_total_avail(h), avail0);
    /* A hole: stops there, nothing of that extent unmapped. */
    r = resv(g, 2, 9, 0);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 2);
    struct snapshot s = snap(h, d);
    uint64_t holes[2] = {512, 4096};
    struct pb_reservation hr = resv(holes, 2, 9, 0);
    assert_int_equal(pb_decrease_reservation(h, &DOMU, &hr, 0, false, &res), 1);
    assert_int_equal(res.error, -ENOENT);
    assert_int_equal(pb_domain_tot_pages(d), 512);
    free(s.p2m.e);
    s = snap(h, d);
    assert_int_equal(pb_decrease_reservation(h, &DOMU, &hr, 1, false, &res), 1);
    assert_unchanged(h, d, &s);
    free(s.p2m.e);
    /* Order above the caller's limit: no progress. */
    hr = resv(holes, 1, 10, 0);
    assert_int_equal(pb_decrease_reservation(h, &DOMU, &hr, 0, false, &res), 0);
    assert_int_equal(res.error, -EPERM);
    free(g);
    pb_memop_domain_destroy(h, d);
    assert_int_equal(pb_heap_total_avail(h), avail0);
    pb_heap_destroy(h);
}

static void test_decrease_of_pod_entries_unmaps_without_freeing(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain *d = domain(h, DOMID, 1 << 12, true);
    no_preemption();
    uint64_t g = 0;
    struct pb_memop_result res;
    struct pb_reservation r = resv(&g, 1, 9, XENMEMF_populate_on_demand);
    assert_int_equal(populate(h, &DOMU, &r, 0, &res), 1);
    uint64_t avail = pb_heap_total_avail(h);
    r.mem_flags = 0;
    assert_int_equal(pb_decrease_reservation(h, &DOMU, &r, 0, false, &res), 1);
    assert_int_equal(res.c.released_frames, 0);
    assert_int_equal(pb_heap_total_avail(h), avail);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.pod_frames, 0);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_destroy_returns_every_frame_and_tears_the_p2m_down(void **state)
{
    (void)state;
    struct pb_heap *h = machine(2, 1 << 13, PB_BACKING_REAL);
    dirty_heap(h);
    uint64_t avail0 = pb_heap_total_avail(h);
    for (int round = 0; round < 2; round++) {
        struct pb_domain *d = domain(h, DOMID, 1 << 14, false);
        uint64_t *g = gfn_run(0, 6, 10);
        struct pb_memop_result res;
        struct pb_reservation r = resv(g, 3 + round, 10, 0);
        no_preemption();
        assert_int_equal(populate(h, &CONTROL, &r, 0, &res), 3 + round);
        r = resv(g, 6, 10, 0);
        /* Leave a half-scrubbed extent in the stash, and some PoD. */
        preempt_every(1);
        assert_int_equal(populate(h, &CONTROL, &r, 3 + round, &res), 3 + round);
        assert_int_equal(res.c.scrub_preemptions, 1);
        no_preemption();
        uint64_t pg = 1ull << 19;
        struct pb_reservation pod = resv(&pg, 1, 12, XENMEMF_populate_on_demand);
        assert_int_equal(populate(h, &CONTROL, &pod, 0, &res), 1);
        /* The stashed extent is nobody's yet: not in tot_pages. */
        assert_int_equal(pb_domain_tot_pages(d), (3 + round) * 1024);
        pb_memop_domain_destroy(h, d);
        assert_null(pb_domain_get(h, DOMID));
        assert_int_equal(pb_heap_total_avail(h), avail0);
        assert_valid(h);
        free(g);
    }
    /* The domid is free again, with a fresh, empty p2m. */
    struct pb_domain *d = domain(h, DOMID, 16, true);
    struct p2m_counters pc;
    p2m_counters_read(pb_domain_p2m(d), &pc);
    assert_int_equal(pc.ram_frames + pc.pod_frames + pc.mids + pc.leaves, 0);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

static void test_domain_create_errors_leave_nothing(void **state)
{
    (void)state;
    struct pb_heap *h = machine(1, 1 << 12, PB_BACKING_NONE);
    struct pb_domain_config cfg = {.max_pages = 16};
    struct pb_domain *d = NULL, *e = NULL;
    assert_int_equal(pb_memop_domain_create(h, DOMID, &cfg, 0, PB_LOCK_TICKET, &d), -EINVAL);
    assert_int_equal(pb_memop_domain_create(h, DOMID, &cfg, P2M_GFN_LIMIT + 1, PB_LOCK_TICKET, &d),
                     -EINVAL);
    assert_int_equal(pb_memop_domain_create(h, PB_MAX_DOMAINS, &cfg, 16, PB_LOCK_TICKET, &d),
                     -EINVAL);
    assert_int_equal(pb_memop_domain_create(NULL, DOMID, &cfg, 16, PB_LOCK_TICKET, &d), -EINVAL);
    assert_null(pb_domain_get(h, DOMID));
    assert_int_equal(pb_memop_domain_create(h, DOMID, &cfg, 16, PB_LOCK_MUTEX, &d), 0);
    assert_int_equal(pb_memop_domain_create(h, DOMID, &cfg, 16, PB_LOCK_TICKET, &e), -EEXIST);
    assert_ptr_equal(pb_domain_get(h, DOMID), d);
    pb_memop_domain_destroy(h, d);
    pb_heap_destroy(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_construct_address_bits_up_to_page_shift_are_einval),
        cmocka_unit_test(test_construct_privileged_node_beyond_max_numnodes_is_einval),
        cmocka_unit_test(test_construct_unprivileged_node_hint_is_ignored),
        cmocka_unit_test(test_construct_unprivileged_exact_node_request_is_einval),
        cmocka_unit_test(test_construct_vnode_without_vnuma_is_ignored),
        cmocka_unit_test(test_construct_errors_make_populate_return_start_and_change_nothing),
        cmocka_unit_test(test_order_limit_is_the_callers),
        cmocka_unit_test(test_order_limits_are_configurable_and_pod_allows_max_order),
        cmocka_unit_test(test_bad_reservations_return_what_xen_returns_and_change_nothing),
        cmocka_unit_test(test_gfn_beyond_the_space_stops_at_that_extent),
        cmocka_unit_test(test_dying_domain_populates_nothing),
        cmocka_unit_test(test_short_count_is_the_first_extent_not_completed),
        cmocka_unit_test(test_preempting_every_check_gives_the_same_p2m_and_counters),
        cmocka_unit_test(test_every_n_completes_n_extents_per_invocation),
        cmocka_unit_test(test_build_scrub_preempted_gives_the_same_clean_frames),
        cmocka_unit_test(test_dirty_heap_build_path_scrubs_and_full_verification_finds_zero),
        cmocka_unit_test(test_stash_of_another_order_is_not_resumed),
        cmocka_unit_test(test_finishing_with_a_stashed_extent_is_ebusy_and_frees_it),
        cmocka_unit_test(test_no_scrub_hands_dirty_frames_out_as_they_are),
        cmocka_unit_test(test_build_tlb_flush_as_xen_code_and_as_intended),
        cmocka_unit_test(test_replacing_a_mapped_gfn_keeps_the_old_frame_until_the_domain_dies),
        cmocka_unit_test(test_misaligned_gfn_maps_in_smaller_entries),
        cmocka_unit_test(test_pod_marks_the_range_without_allocating),
        cmocka_unit_test(test_decrease_reservation_returns_the_frames_and_unmaps),
        cmocka_unit_test(test_decrease_of_pod_entries_unmaps_without_freeing),
        cmocka_unit_test(test_destroy_returns_every_frame_and_tears_the_p2m_down),
        cmocka_unit_test(test_domain_create_errors_leave_nothing),
    };
    int failed = 0;
    for (const char *const *v = pb_variant_names(); *v; v++) {
        variant = *v;
        failed += cmocka_run_group_tests_name(variant, tests, rcu_group_setup, rcu_group_teardown);
    }
    return failed;
}
