/*
 * report.c: runs -> results document (see report.h and results/FORMAT.md).
 */
#include "bench/report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/heap.h"

struct pb_report_entry {
    struct pb_results_bench *b;
    char workload[128], variant[64];
    unsigned threads, repetition;
    double pps;
};

/*
 * context.options: every option as the runs used it (default, or --option's); and
 * context.workload_options: what each workload's own `options` set that --option did not.
 */
static int add_options(struct pb_results *d, const struct pb_report_setup *s)
{
    struct pb_options opts;
    const struct pb_option_desc *o;
    int rc = 0;

    pb_options_init(&opts);
    if (s->options)
        pb_options_merge(&opts, s->options);
    for (unsigned i = 0; !rc && (o = pb_option_desc(i)); i++)
        rc = pb_results_context_set_option(d, NULL, o->name, opts.value[i]);
    for (size_t w = 0; !rc && w < s->nr_workloads; w++) {
        const struct pb_options *own = &s->workloads[w]->options;
        for (unsigned i = 0; !rc && (o = pb_option_desc(i)); i++)
            if ((own->set & ~opts.set) & (1u << i))
                rc =
                    pb_results_context_set_option(d, s->workloads[w]->name, o->name, own->value[i]);
    }
    return rc;
}

int pb_report_init(struct pb_report *r, const struct pb_report_setup *s)
{
    int rc;

    memset(r, 0, sizeof(*r));
    if ((rc = pb_results_create(&r->doc)) != 0)
        return rc;
    struct pb_results *d = r->doc;
    rc = pb_results_fill_environment(d);
    rc = rc ? rc : pb_results_set_build_info(d, s->git_commit, s->build_type, s->cflags);
    rc = rc ? rc : pb_results_set_command_line(d, s->argc, s->argv);
    if (s->hwloc_version)
        rc = rc ? rc : pb_results_set_library_version(d, "hwloc", s->hwloc_version);
    if (s->urcu_version)
        rc = rc ? rc : pb_results_set_library_version(d, "urcu", s->urcu_version);
    if (s->sqlite_version)
        rc = rc ? rc : pb_results_set_library_version(d, "sqlite3", s->sqlite_version);
    if (s->jemalloc_version)
        rc = rc ? rc : pb_results_set_library_version(d, "jemalloc", s->jemalloc_version);
    rc = rc ? rc : pb_results_context_set_string(d, "topology_real", s->topo->real_desc);
    rc = rc ? rc
            : pb_results_context_set_string(d, "topology_virtual",
                                            s->topo->is_virtual ? s->topo->spec : "real");
    rc = rc ? rc
            : pb_results_context_set_bool(d, "oversubscribed", pb_topology_oversubscribed(s->topo));
    rc = rc ? rc : pb_results_context_set_bool(d, "jemalloc_active", s->jemalloc_active);
    rc = rc ? rc : pb_results_context_set_int(d, "seed", (int64_t)(s->seed & INT64_MAX));
    rc = rc ? rc : pb_results_context_set_string(d, "placement", s->placement);
    rc = rc ? rc
            : pb_results_context_set_string(d, "claim_mode",
                                            s->claim_mode ? s->claim_mode : "workload");
    rc = rc ? rc : pb_results_context_set_string(d, "clock_source", pb_clock_source());
    rc = rc ? rc : pb_results_context_set_int(d, "real_pus", s->topo->nr_real_pus);
    rc = rc ? rc : pb_results_context_set_int(d, "virtual_cpus", s->topo->nr_vcpus);
    rc = rc ? rc : add_options(d, s);
    if (rc) {
        pb_report_free(r);
        return rc;
    }
    return 0;
}

void pb_report_free(struct pb_report *r)
{
    if (!r)
        return;
    pb_results_free(r->doc);
    free(r->entries);
    pb_ceiling_table_free(&r->ceiling);
    memset(r, 0, sizeof(*r));
}

static int hist_to_results(struct pb_results_bench *b, const char *name, const struct pb_hist *h)
{
    struct pb_hist_iter it;
    struct pb_hist_bucket hb;
    size_t n = 0, cap = 64;
    struct pb_results_bucket *v;
    int rc;

    if (!h || pb_hist_count(h) == 0)
        return 0;
    v = malloc(cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    pb_hist_iter_init(&it, h);
    while (pb_hist_iter_next(&it, &hb)) {
        if (n == cap) {
            struct pb_results_bucket *nv = realloc(v, 2 * cap * sizeof(*v));
            if (!nv) {
                free(v);
                return -ENOMEM;
            }
            v = nv;
            cap *= 2;
        }
        /* hist buckets are inclusive [lo, hi]; the format's are [lo, hi). */
        v[n++] = (struct pb_results_bucket){.lo = hb.lo, .hi = hb.hi + 1, .count = hb.count};
    }
    rc = pb_results_bench_set_histogram(b, name, v, n);
    free(v);
    return rc;
}

/* A latency's six metrics from its histogram: the table's rows from p50 on (p50 ... p99.99,
 * then the maximum). */
static int set_percentiles(struct pb_results_bench *b, enum pb_metric_id p50,
                           const struct pb_hist *h)
{
    int rc = 0;

    if (!h || pb_hist_count(h) == 0)
        return 0;
    for (enum pb_metric_id id = p50; id < p50 + 6 && !rc; id++) {
        uint64_t v = pb_hist_max(h);
        if (pb_metrics[id].percentile < 100)
            pb_hist_percentile(h, pb_metrics[id].percentile, &v);
        rc = pb_results_bench_set_counter(b, pb_metrics[id].name, (double)v);
    }
    return rc;
}

/* A counter and a count, named by the metric table. */
static int set(struct pb_results_bench *b, enum pb_metric_id id, double v)
{
    return pb_results_bench_set_counter(b, pb_metrics[id].name, v);
}

static int count(struct pb_results_bench *b, enum pb_metric_id id, uint64_t v)
{
    return pb_results_bench_set_count(b, pb_metrics[id].name, v);
}

static double per(double a, double b)
{
    return b > 0 ? a / b : 0;
}

/* The noise as counters: a figure whose source could not be read is left out, never 0. */
static int add_noise_counters(struct pb_results_bench *b, const struct pb_noise *n)
{
    int rc = 0;
    if (n->steal_ok)
        rc = rc ? rc : set(b, PB_M_noise_steal_pct, n->steal_pct);
    if (n->nivcsw_ok)
        rc = rc ? rc : count(b, PB_M_noise_involuntary_switches, n->nivcsw);
    if (n->migrations_ok)
        rc = rc ? rc : count(b, PB_M_noise_migrations, n->migrations);
    if (n->freq_ok) {
        rc = rc ? rc : set(b, PB_M_noise_cpu_mhz_min, n->mhz_min);
        rc = rc ? rc : set(b, PB_M_noise_cpu_mhz_max, n->mhz_max);
    }
    return rc ? rc : count(b, PB_M_disturbed, n->disturbed);
}

static int add_counters(struct pb_results_bench *b, const struct pb_run_result *res)
{
    double secs = (double)res->measure_ns / 1e9;
    double pages = (double)res->pages;
    int rc = 0;

    rc = rc ? rc : set(b, PB_M_pages_per_second, per(pages, secs));
    rc = rc ? rc : set(b, PB_M_gib_per_second, per(pages / 262144.0, secs));
    rc = rc ? rc : set(b, PB_M_extents_per_second, per((double)res->extents, secs));
    rc = rc ? rc : set(b, PB_M_calls_per_second, per((double)res->calls, secs));
    rc = rc ? rc : set_percentiles(b, PB_M_call_p50_ns, res->call_h);
    rc = rc ? rc : set_percentiles(b, PB_M_invocation_p50_ns, res->invocation_h);

    /* Locks: the classes' totals per page; contended % of the class that waited most. */
    uint64_t acq = 0, wait = 0;
    const struct pb_run_lock_class *hot = NULL;
    for (unsigned i = 0; i < res->nr_lock_classes; i++) {
        const struct pb_run_lock_class *c = &res->locks[i];
        acq += c->st.acquisitions;
        wait += c->st.wait_ns_total;
        if (!hot || c->st.wait_ns_total > hot->st.wait_ns_total ||
            (c->st.wait_ns_total == hot->st.wait_ns_total &&
             c->st.acquisitions > hot->st.acquisitions))
            hot = c;
    }
    if (res->pages > 0) {
        rc = rc ? rc : set(b, PB_M_lock_acq_per_page, per((double)acq, pages));
        rc = rc ? rc : set(b, PB_M_lock_wait_ns_per_page, per((double)wait, pages));
    }
    if (hot && hot->st.acquisitions > 0) {
        rc = rc ? rc
                : set(b, PB_M_lock_contended_pct,
                      100.0 * (double)hot->st.contended / (double)hot->st.acquisitions);
        rc =
            rc ? rc : pb_results_bench_set_string(b, pb_metrics[PB_M_lock_hottest].name, hot->name);
    }
    uint64_t scrubbed = res->scrub.on_alloc + res->scrub.background + res->scrub.domain_build;
    if (res->pages > 0)
        rc = rc ? rc : set(b, PB_M_scrub_pages_per_page, per((double)scrubbed, pages));
    rc = rc ? rc : count(b, PB_M_scrub_backlog_max_pages, res->scrub_backlog_max);
    if (res->calls > 0)
        rc = rc ? rc
                : set(b, PB_M_continuations_per_call,
                      per((double)res->continuations, (double)res->calls));
    rc = rc ? rc : count(b, PB_M_pages_populated, res->pages);
    rc = rc ? rc : count(b, PB_M_extents, res->extents);
    rc = rc ? rc : count(b, PB_M_calls, res->calls);
    rc = rc ? rc : count(b, PB_M_continuations, res->continuations);

    /* popbench's own, beyond the format's list. */
    rc = rc ? rc : count(b, PB_M_measure_ns, res->measure_ns);
    rc = rc ? rc : count(b, PB_M_decrease_calls, res->decrease_calls);
    rc = rc ? rc : count(b, PB_M_pages_decreased, res->decrease_pages);
    rc = rc ? rc : count(b, PB_M_domains_built, res->domains_built);
    rc = rc ? rc : count(b, PB_M_build_failures, res->build_failures);
    rc = rc ? rc : count(b, PB_M_claim_failures, res->claim_failures);
    rc = rc ? rc : count(b, PB_M_recreations, res->recreations);
    if (res->locality_counted) {
        rc = rc ? rc : count(b, PB_M_node_claim_fallbacks, res->node_claim_fallbacks);
        rc = rc ? rc : count(b, PB_M_locality_domains, res->locality_domains);
        rc = rc ? rc : count(b, PB_M_remote_pages, res->locality_pages - res->local_pages);
        /* A fraction of no pages is neither 0 nor 1: left out. */
        if (res->locality_pages > 0) {
            rc = rc ? rc
                    : set(b, PB_M_locality, (double)res->local_pages / (double)res->locality_pages);
            rc = rc ? rc : set(b, PB_M_locality_min, res->locality_min);
        }
    }
    rc = rc ? rc : count(b, PB_M_preempt_checks, res->preempt_checks);
    rc = rc ? rc : count(b, PB_M_preemptions, res->preemptions);
    rc = rc ? rc : count(b, PB_M_scrub_preemptions, res->scrub_preemptions);
    rc = rc ? rc : count(b, PB_M_stash_hits, res->stash_hits);
    rc = rc ? rc : count(b, PB_M_heap_allocs, res->heap.allocs);
    rc = rc ? rc : count(b, PB_M_heap_alloc_failures, res->heap.alloc_failures);
    rc = rc ? rc : count(b, PB_M_heap_second_pass, res->heap.second_pass);
    rc = rc ? rc : count(b, PB_M_heap_splits, res->heap.splits);
    rc = rc ? rc : count(b, PB_M_heap_merges, res->heap.merges);
    rc = rc ? rc : count(b, PB_M_dirty_alloc_pages, res->heap.dirty_alloc_pages);
    rc = rc ? rc : count(b, PB_M_tlb_flushes, res->heap.tlb_flushes);
    rc = rc ? rc : count(b, PB_M_heap_dma_retries, res->heap.dma_retries);
    if (res->heap.pcp_refills || res->heap.pcp_drains) { /* pcp only */
        rc = rc ? rc : count(b, PB_M_pcp_refills, res->heap.pcp_refills);
        rc = rc ? rc : count(b, PB_M_pcp_drains, res->heap.pcp_drains);
    }
    if (res->scrub.idle_busy_skips || res->scrub.idle_busy_yields) { /* xen's idle scrubbing */
        rc = rc ? rc : count(b, PB_M_scrub_idle_busy_skips, res->scrub.idle_busy_skips);
        rc = rc ? rc : count(b, PB_M_scrub_idle_busy_yields, res->scrub.idle_busy_yields);
    }
    /* What clearing cost: bytes over the time spent clearing, against the host's bandwidth. */
    if (res->clear.ns > 0)
        rc = rc ? rc : set(b, PB_M_clear_gbps, pb_run_clear_gbps(res));
    if (pb_run_clear_ratio(res) > 0)
        rc = rc ? rc : set(b, PB_M_clear_bandwidth_ratio, pb_run_clear_ratio(res));
    rc = rc ? rc : count(b, PB_M_rounds, res->rounds);
    rc = rc ? rc : add_noise_counters(b, &res->noise);
    rc = rc ? rc : count(b, PB_M_max_threads_per_pu, res->max_threads_per_pu);
    rc = rc ? rc : count(b, PB_M_total_threads, res->total_threads);
    if (res->thread_pps_max > 0) {
        rc = rc ? rc : set(b, PB_M_thread_min_pages_per_second, res->thread_pps_min);
        rc = rc ? rc : set(b, PB_M_thread_max_pages_per_second, res->thread_pps_max);
    }
    if (res->lookups > 0) {
        rc = rc ? rc : count(b, PB_M_p2m_lookups, res->lookups);
        rc = rc ? rc : set(b, PB_M_p2m_lookups_per_second, per((double)res->lookups, secs));
        rc = rc ? rc : set_percentiles(b, PB_M_p2m_lookup_p50_ns, res->lookup_h);
    }
    if (res->decrease_calls > 0)
        rc = rc ? rc : set_percentiles(b, PB_M_decrease_p50_ns, res->decrease_h);
    if (res->build_h && pb_hist_count(res->build_h) > 0)
        rc = rc ? rc : set_percentiles(b, PB_M_build_p50_ns, res->build_h);
    return rc;
}

/* run.measure: {rounds, round_ns, floor_ns, floor_met} (results/FORMAT.md). */
static int add_measure_section(struct pb_results_bench *b, const struct pb_run_result *res)
{
    json_t *ns = json_array();
    for (unsigned i = 0; ns && res->round_ns && i < res->rounds; i++)
        if (json_array_append_new(ns, json_integer((json_int_t)res->round_ns[i]))) {
            json_decref(ns);
            ns = NULL;
        }
    if (!ns)
        return -ENOMEM;
    json_t *m = json_pack("{s:I, s:o, s:I, s:b}", "rounds", (json_int_t)res->rounds, "round_ns", ns,
                          "floor_ns", (json_int_t)res->floor_ns, "floor_met", res->floor_met);
    return m ? pb_results_bench_set_run_json(b, "measure", m) : -ENOMEM;
}

/* A figure, or "unavailable" when its source could not be read. */
static json_t *or_unavailable(bool ok, json_t *v)
{
    if (ok)
        return v;
    json_decref(v);
    return json_string("unavailable");
}

/* run.noise: every probe's figure or "unavailable", and whether it disturbed the repetition. */
static int add_noise_section(struct pb_results_bench *b, const struct pb_noise *n)
{
    json_t *mhz = n->freq_ok ? json_pack("[f, f]", n->mhz_min, n->mhz_max) : NULL;
    json_t *o = json_pack(
        "{s:o, s:o, s:o, s:o, s:I, s:o, s:b, s:s}", "steal_pct",
        or_unavailable(n->steal_ok, json_real(n->steal_ok ? n->steal_pct : 0)),
        "involuntary_switches", or_unavailable(n->nivcsw_ok, json_integer((json_int_t)n->nivcsw)),
        "migrations", or_unavailable(n->migrations_ok, json_integer((json_int_t)n->migrations)),
        "cpu_samples", json_integer((json_int_t)n->cpu_samples), "threads_per_pu",
        (json_int_t)n->threads_per_pu, "cpu_mhz", or_unavailable(n->freq_ok, mhz), "disturbed",
        n->disturbed, "disturbed_by", n->why);
    return o ? pb_results_bench_set_run_json(b, "noise", o) : -ENOMEM;
}

static int add_run_section(struct pb_results_bench *b, const struct pb_run_result *res)
{
    int rc = 0;

    rc = rc ? rc : hist_to_results(b, "call_ns", res->call_h);
    rc = rc ? rc : hist_to_results(b, "invocation_ns", res->invocation_h);
    rc = rc ? rc : hist_to_results(b, "decrease_ns", res->decrease_h);
    rc = rc ? rc : hist_to_results(b, "p2m_lookup_ns", res->lookup_h);
    rc = rc ? rc : hist_to_results(b, "build_ns", res->build_h);
    for (unsigned i = 0; i < res->nr_locks && !rc; i++) {
        const struct pb_run_lock_class *c = &res->locks[i];
        struct pb_results_lock l = {
            .name = c->name,
            .acquisitions = c->st.acquisitions,
            .contended = c->st.contended,
            .wait_ns_total = c->st.wait_ns_total,
            .wait_ns_max =
                c->st.wait_ns_max < c->st.wait_ns_total ? c->st.wait_ns_max : c->st.wait_ns_total,
            .hold_ns_total = c->st.hold_ns_total,
            .hold_ns_max =
                c->st.hold_ns_max < c->st.hold_ns_total ? c->st.hold_ns_max : c->st.hold_ns_total,
            .hold_untimed = c->st.hold_untimed,
        };
        if (l.contended > l.acquisitions)
            l.contended = l.acquisitions;
        rc = pb_results_bench_add_lock(b, &l);
    }
    if (!rc && res->nr_samples > 0) {
        rc = pb_results_bench_set_timeseries(b, PB_RUN_SAMPLE_MS, res->t_ms, res->nr_samples);
        rc = rc ? rc : pb_results_bench_add_series(b, "pages", res->ts_pages, res->nr_samples);
        rc = rc ? rc
                : pb_results_bench_add_series(b, "scrub_backlog", res->ts_backlog, res->nr_samples);
    }
    for (unsigned i = 0; i < res->nr_thr && !rc; i++) {
        const struct pb_run_thread *t = &res->thr[i];
        struct pb_results_thread rt = {.index = t->index,
                                       .vcpu = t->vcpu,
                                       .node = t->node,
                                       .pu = t->pu,
                                       .pages = t->pages,
                                       .calls = t->calls};
        rc = pb_results_bench_add_thread(b, &rt);
    }
    if (!rc) {
        struct pb_results_scrub s = {.on_alloc = res->scrub.on_alloc,
                                     .background = res->scrub.background,
                                     .domain_build = res->scrub.domain_build,
                                     .aborts = res->scrub.aborts};
        rc = pb_results_bench_set_scrub(b, &s);
    }
    rc = rc ? rc : add_measure_section(b, res);
    rc = rc ? rc : add_noise_section(b, &res->noise);
    return rc ? rc : pb_results_bench_set_validator(b, res->validator);
}

/* context.<key> holds "workload: what" for every workload run, each once, joined by "; ". */
static int context_per_workload(struct pb_results *doc, const char *key, const char *workload,
                                const char *what)
{
    const char *was = pb_results_context_string(doc, key);
    size_t wl = strlen(workload);

    for (const char *p = was; p && *p; p = strstr(p, "; ") ? strstr(p, "; ") + 2 : NULL)
        if (strncmp(p, workload, wl) == 0 && p[wl] == ':')
            return 0;
    char *now = NULL;
    if (asprintf(&now, "%s%s%s: %s", was ? was : "", was ? "; " : "", workload, what) < 0)
        return -ENOMEM;
    int rc = pb_results_context_set_string(doc, key, now);
    free(now);
    return rc;
}

/* The host's clear bandwidth: per method, the fastest (AUTO's choice for cold memory). */
static int add_clear_host(struct pb_results *d, const struct pb_clear_host *h)
{
    static const enum pb_clear_method methods[] = {PB_CLEAR_MEMSET, PB_CLEAR_STOSB, PB_CLEAR_NT};
    char key[64];
    int rc = pb_results_context_set_number(d, "clear_host_gbps", h->gbps[h->fastest]);

    rc = rc ? rc
            : pb_results_context_set_string(d, "clear_host_method",
                                            pb_clear_method_name(h->fastest));
    rc = rc ? rc
            : pb_results_context_set_int(d, "clear_host_buffer_bytes", (int64_t)h->buffer_bytes);
    rc = rc ? rc
            : pb_results_context_set_int(d, "clear_host_region_bytes", (int64_t)h->region_bytes);
    rc = rc ? rc : pb_results_context_set_int(d, "clear_host_trials", h->trials);
    rc = rc ? rc : pb_results_context_set_int(d, "llc_bytes", (int64_t)h->llc_bytes);
    rc = rc ? rc : pb_results_context_set_int(d, "alias_llc_factor", PB_ALIAS_LLC_FACTOR);
    for (size_t i = 0; i < PB_ARRAY_SIZE(methods) && !rc; i++) {
        snprintf(key, sizeof(key), "clear_host_gbps_%s", pb_clear_method_name(methods[i]));
        rc = pb_results_context_set_number(d, key, h->gbps[methods[i]]);
    }
    return rc;
}

int pb_report_add(struct pb_report *r, const struct pb_report_id *id,
                  const struct pb_run_result *res)
{
    struct pb_results_bench *b;
    double mean = res->call_h ? pb_hist_mean(res->call_h) : 0;
    struct pb_results_bench_spec spec = {
        .workload = id->workload,
        .variant = id->variant,
        .lock_kind = pb_lock_kind_name(res->lock_kind),
        .threads = id->threads,
        .repetition_index = id->repetition,
        .repetitions = id->repetitions,
        .iterations = res->calls,
        .real_time_ns = isfinite(mean) ? mean : 0,
        .cpu_time_ns = res->calls ? (double)res->cpu_ns / (double)res->calls : 0,
    };
    int rc;

    if (r->nr == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 32;
        struct pb_report_entry *e = realloc(r->entries, cap * sizeof(*e));
        if (!e)
            return -ENOMEM;
        r->entries = e;
        r->cap = cap;
    }
    if ((rc = pb_results_add_bench(r->doc, &spec, &b)) != 0)
        return rc;
    if ((rc = add_counters(b, res)) != 0 || (rc = add_run_section(b, res)) != 0)
        return rc;
    if (id->inject_alloc_delay_ns &&
        (rc = count(b, PB_M_inject_alloc_delay_ns, id->inject_alloc_delay_ns)) != 0)
        return rc;

    struct pb_report_entry *e = &r->entries[r->nr++];
    memset(e, 0, sizeof(*e));
    e->b = b;
    snprintf(e->workload, sizeof(e->workload), "%s", id->workload);
    snprintf(e->variant, sizeof(e->variant), "%s", id->variant);
    e->threads = id->threads;
    e->repetition = id->repetition;
    e->pps = res->measure_ns ? (double)res->pages * 1e9 / (double)res->measure_ns : 0;

    /* What the context learns from the runs. */
    const char *now = res->backing[0] ? res->backing : "none";
    const char *was = pb_results_context_string(r->doc, "backing");
    if (!was)
        rc = pb_results_context_set_string(r->doc, "backing", now);
    else if (strcmp(was, now) != 0)
        rc = pb_results_context_set_string(r->doc, "backing", "mixed");
    if (!rc && res->backing_nodes[0])
        rc = context_per_workload(r->doc, "backing_nodes", id->workload, res->backing_nodes);
    if (!rc && res->start_state[0])
        rc = context_per_workload(r->doc, "start_state", id->workload, res->start_state);
    if (!rc && res->clear_host_measured)
        rc = add_clear_host(r->doc, &res->clear_host);
    bool over = false;
    pb_results_context_bool(r->doc, "oversubscribed", &over);
    if (!rc && !over && res->max_threads_per_pu > 1)
        rc = pb_results_context_set_bool(r->doc, "oversubscribed", true);
    return rc;
}

int pb_report_set_repetitions(struct pb_report *r, const char *workload, unsigned repetitions)
{
    int rc = 0;
    for (size_t i = 0; i < r->nr && !rc; i++)
        if (strcmp(r->entries[i].workload, workload) == 0 && r->entries[i].repetition < repetitions)
            rc = pb_results_bench_set_repetitions(r->entries[i].b, repetitions);
    return rc;
}

int pb_report_add_ceiling(struct pb_report *r, const struct pb_report_id *id,
                          const struct pb_ceiling_result *res)
{
    char what[256];
    int rc = pb_ceiling_table_add(&r->ceiling, id->workload, id->threads, id->repetition,
                                  res->steps_per_second);
    if (!rc && !pb_results_context_string(r->doc, "ceiling_reference"))
        rc = pb_results_context_set_string(
            r->doc, "ceiling_reference",
            pb_ceiling_describe(res->buffer_bytes, what, sizeof(what)));
    return rc;
}

/* The ceiling beside an entry whose speed-up (0: none) is against `base` threads. */
static int set_ceiling(struct pb_report *r, const struct pb_report_entry *e, unsigned base,
                       double speedup)
{
    double c, med, lo, hi, rate;
    if (!pb_ceiling_speedup(&r->ceiling, e->workload, e->threads, base, e->repetition, &c))
        return 0;
    int rc = set(e->b, PB_M_ceiling_speedup, c);
    rc = rc ? rc : count(e->b, PB_M_ceiling_base_threads, base);
    if (!rc &&
        pb_ceiling_speedup_spread(&r->ceiling, e->workload, e->threads, base, &med, &lo, &hi)) {
        rc = set(e->b, PB_M_ceiling_speedup_min, lo);
        rc = rc ? rc : set(e->b, PB_M_ceiling_speedup_max, hi);
    }
    if (!rc && pb_ceiling_rate(&r->ceiling, e->workload, e->threads, e->repetition, &rate))
        rc = set(e->b, PB_M_ceiling_steps_per_second, rate);
    if (!rc && speedup > 0 && c > 0)
        rc = set(e->b, PB_M_ceiling_efficiency, speedup / c);
    return rc;
}

int pb_report_finish(struct pb_report *r, bool partial)
{
    int rc = pb_results_set_partial(r->doc, partial);

    /* Each entry against the smallest thread count of its workload/variant, same repetition. */
    for (size_t i = 0; i < r->nr && !rc; i++) {
        struct pb_report_entry *e = &r->entries[i], *base = NULL;
        bool sweep = false;
        for (size_t j = 0; j < r->nr; j++) {
            struct pb_report_entry *o = &r->entries[j];
            if (strcmp(o->workload, e->workload) || strcmp(o->variant, e->variant))
                continue;
            if (o->threads != e->threads)
                sweep = true;
            if (o->repetition == e->repetition && (!base || o->threads < base->threads))
                base = o;
        }
        double speedup = 0;
        if (sweep && base && base->pps > 0) {
            speedup = e->pps / base->pps;
            double linear = (double)e->threads / (double)base->threads;
            rc = set(e->b, PB_M_speedup, speedup);
            rc = rc ? rc : set(e->b, PB_M_scaling_efficiency, speedup / linear);
            rc = rc ? rc : count(e->b, PB_M_speedup_base_threads, base->threads);
        }
        rc = rc ? rc : set_ceiling(r, e, sweep && base ? base->threads : 1, speedup);
    }
    return rc;
}
