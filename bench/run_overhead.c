/*
 * run_overhead.c: the harness's own cost per timed call (popbench run --self-test-overhead):
 * an order-0 call untimed, the same call through timed_call, what timed_call adds alone, and a
 * call of PB_RUN_OVERHEAD_BATCH extents, alternated and best of 7 each.
 */
#include "bench/runner_impl.h"

#include <errno.h>
#include <string.h>

#include "bench/heap_prep.h"

/* Calls of `extents` order-0 extents, n frames in all, into a fresh domain, each through
 * timed_call when `timed`. Returns the mean ns per call. */
static double overhead_loop(struct pb_heap *h, uint64_t n, unsigned extents, bool timed,
                            struct recorder *rec, uint64_t *gfns)
{
    struct pb_domain *d;
    struct pb_memop_caller caller = {.privilege = PB_PRIV_CONTROL};
    struct pb_memop_result res;
    uint64_t end, calls = n / extents;
    struct pb_reservation r = {
        .extent_start = gfns, .extent_list_len = extents, .nr_extents = extents, .domid = 1};

    PB_BUG_ON(pb_heap_prep_live_domain(h, 1, n, pb_stream_gfn_space(n), PB_LOCK_TICKET, &d) != 0);
    /* The whole loop is timed: clock reads around each call would be part of what it costs.
     * Filling the list is ~0.2 ns per extent against the hundreds a call costs. */
    uint64_t t_begin = pb_clock_ns();
    for (uint64_t c = 0; c < calls; c++) {
        for (unsigned i = 0; i < extents; i++)
            gfns[i] = c * extents + i;
        if (timed)
            timed_call(rec, h, &caller, &r, &res, &end);
        else
            pb_populate_physmap(h, &caller, &r, 0, &res);
    }
    uint64_t elapsed = pb_clock_ns() - t_begin;
    pb_memop_domain_destroy(h, d);
    return (double)elapsed / (double)calls;
}

/* What timed_call adds, alone: two clock reads, one record, the counters. */
static double recording_cost(struct recorder *rec, uint64_t n)
{
    struct pb_memop_result res = {.nr_done = 1, .c = {.extents = 1, .frames = 1}};
    uint64_t t_begin = pb_clock_ns();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t t0 = pb_clock_ns();
        __asm__ __volatile__("" : : "r"(&res) : "memory"); /* the call would be here */
        uint64_t t1 = pb_clock_ns();
        pb_memop_counts_add(&rec->mc, &res.c);
        pb_hist_record(rec->call1_h, pb_clock_diff(t0, t1));
        ctr_add(&rec->ctr.pages, res.c.frames);
        ctr_add(&rec->ctr.extents, res.nr_done);
        ctr_add(&rec->ctr.calls, 1);
    }
    return (double)(pb_clock_ns() - t_begin) / (double)n;
}

static double min_of(double a, double b)
{
    return a < b ? a : b;
}

int pb_run_self_test_overhead(const char *variant, enum pb_lock_kind lock_kind, uint64_t n,
                              struct pb_run_overhead *out, char *err, size_t errlen)
{
    struct pb_heap *h;
    struct recorder rec = {0};
    int rc;

    if (!out || n == 0 || !variant)
        return -EINVAL;
    rec.call1_h = pb_hist_alloc();
    rec.callm_h = pb_hist_alloc();
    rec.invm_h = pb_hist_alloc();
    if (!rec.call1_h || !rec.callm_h || !rec.invm_h) {
        rc = -ENOMEM;
        goto out_hist;
    }
    pb_clock_init();
    n = (n + PB_RUN_OVERHEAD_BATCH - 1) / PB_RUN_OVERHEAD_BATCH * PB_RUN_OVERHEAD_BATCH;
    rc = pb_heap_prep_machine(1, 2 * n + 1024, variant, lock_kind, &h);
    if (rc) {
        pb_errf(err, errlen, "cannot build the machine: %s", strerror(-rc));
        goto out_hist;
    }
    pb_rcu_register_thread();
    /* Alternate the loops; the best of each filters out interference from other processes. */
    uint64_t gfns[PB_RUN_OVERHEAD_BATCH];
    *out = (struct pb_run_overhead){1e300, 1e300, 1e300, 1e300};
    for (int rep = 0; rep < 7; rep++) {
        out->op_ns = min_of(out->op_ns, overhead_loop(h, n, 1, false, &rec, gfns));
        out->timed_op_ns = min_of(out->timed_op_ns, overhead_loop(h, n, 1, true, &rec, gfns));
        out->recording_ns = min_of(out->recording_ns, recording_cost(&rec, n));
        out->batch_op_ns =
            min_of(out->batch_op_ns, overhead_loop(h, n, PB_RUN_OVERHEAD_BATCH, false, &rec, gfns));
    }
    pb_heap_destroy(h);
    pb_rcu_unregister_thread();
out_hist:
    pb_hist_free(rec.call1_h);
    pb_hist_free(rec.callm_h);
    pb_hist_free(rec.invm_h);
    return rc;
}
