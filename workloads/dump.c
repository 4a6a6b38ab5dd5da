/*
 * dump.c: a resolved workload printed in the file format, every default filled in; the dump of
 * a single workload loads back to the same workload.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "workloads/reader.h"
#include "workloads/schema.h"

/* The shortest text that strtod reads back as v. */
static void fmt_double(double v, char *buf, size_t len)
{
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, len, "%.0f", v); /* 20, not 2e+01 */
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static void dump_quoted(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void dump_phase(FILE *out, const char *key, const struct pb_wl_phase *ph)
{
    switch (ph->unit) {
    case PB_WL_PHASE_TIME:
        fprintf(out, "  %s: %s\n", key, wl_ns_str(ph->ns).s);
        break;
    case PB_WL_PHASE_OPS:
        fprintf(out, "  %s: %" PRIu64 "ops\n", key, ph->ops);
        break;
    case PB_WL_PHASE_UNTIL_BUILT:
        fprintf(out, "  %s: until-built\n", key);
        break;
    }
}

static void dump_single(FILE *out, const struct pb_workload *wl)
{
    const bool builds = wl_builds(wl);
    const struct pb_wl_balloon *b = &wl->churn.balloon;
    char num[40];

    fprintf(out, "name: ");
    dump_quoted(out, wl->name);
    fprintf(out, "\ndescription: ");
    dump_quoted(out, wl->description);
    fprintf(out, "\nseed: %" PRIu64 "\nmachine:\n", wl->seed);
    if (wl->machine.from_topology && wl->machine.nodes == 0)
        fprintf(out, "  from: topology\n");
    else
        fprintf(out, "  nodes: %u\n  memory_per_node: %s\n", wl->machine.nodes,
                wl_pages_str(wl->machine.pages_per_node).s);
    fprintf(out, "  backing: %s\ndomains:\n", wl_backing_names[wl->machine.backing]);
    for (unsigned i = 0; i < wl->nr_groups; i++) {
        const struct pb_wl_domain_group *g = &wl->groups[i];

        fprintf(out, "  - count: %u\n    memory: %s\n    max_memory: %s\n", g->count,
                wl_pages_str(g->memory_pages).s, wl_pages_str(g->max_pages).s);
        fprintf(out, "    claim: %s\n", g->claim_pages ? wl_pages_str(g->claim_pages).s : "none");
        if (g->claim_pages)
            fprintf(out, "    claim_mode: %s\n", wl_claim_mode_names[g->claim_mode]);
        fprintf(out, "    affinity: ");
        if (g->affinity == PB_WL_AFFINITY_ALL) {
            fprintf(out, "all\n");
        } else if (g->affinity == PB_WL_AFFINITY_VNUMA) {
            fprintf(out, "{vnuma: %u}\n", g->vnuma_nodes);
        } else {
            const char *sep = "[";
            for (unsigned n = 0; n < PB_WL_MAX_NODES; n++)
                if (g->node_mask & (UINT64_C(1) << n)) {
                    fprintf(out, "%s%u", sep, n);
                    sep = ", ";
                }
            fprintf(out, "]\n");
        }
        fprintf(out, "    privilege: %s\n    start: %s\n", wl_privilege_names[g->privilege],
                wl_start_names[g->start]);
    }
    if (builds) {
        fprintf(out, "builders:\n  %s: %u\n",
                wl->builders.kind == PB_WL_BUILDERS_POOL ? "pool" : "threads_per_domain",
                wl->builders.threads);
        if (wl->orders.mode == PB_WL_ORDERS_MEMINIT) {
            fprintf(out, "orders: meminit\n");
        } else {
            fprintf(out, "orders:\n");
            for (int o = 0; o < PB_WL_NR_ORDERS; o++) {
                fmt_double(wl->orders.weight[o], num, sizeof(num));
                fprintf(out, "  %u: %s\n", pb_wl_orders[o], num);
            }
        }
        if (wl->orders.mode == PB_WL_ORDERS_MIX) {
            fprintf(out, "extents_per_call:\n");
            for (int o = 0; o < PB_WL_NR_ORDERS; o++)
                fprintf(out, "  %u: %u\n", pb_wl_orders[o], wl->orders.extents_per_call[o]);
        }
    }
    switch (wl->preemption.kind) {
    case PB_WL_PREEMPT_NONE:
        fprintf(out, "preemption: none\n");
        break;
    case PB_WL_PREEMPT_TIMESLICE:
        fprintf(out, "preemption:\n  timeslice: %s\n", wl_ns_str(wl->preemption.timeslice_ns).s);
        break;
    case PB_WL_PREEMPT_EVERY:
        fprintf(out, "preemption:\n  every: %u\n", wl->preemption.every_extents);
        break;
    case PB_WL_PREEMPT_PROBABILITY:
        fmt_double(wl->preemption.probability, num, sizeof(num));
        fprintf(out, "preemption:\n  probability: %s\n", num);
        break;
    }
    fmt_double(wl->churn.recreate_per_second, num, sizeof(num));
    fprintf(out, "churn:\n  recreate_per_second: %s\n", num);
    if (b->pacing != PB_WL_BALLOON_OFF) {
        fprintf(out, "  balloon:\n");
        if (b->pacing == PB_WL_BALLOON_RATE) {
            fprintf(out, "    pages_per_second: %" PRIu64 "\n    threads: %u\n",
                    b->pages_per_second, b->threads);
        } else {
            fmt_double(b->ratio, num, sizeof(num));
            fprintf(out, "    ratio: %s\n", num);
        }
        fmt_double(b->depth, num, sizeof(num));
        fprintf(out, "    order: %u\n    extents_per_call: %u\n    depth: %s\n    free: %s\n",
                b->order, b->extents_per_call, num, b->free_dirty ? "scrub_domheap" : "clean");
    }
    fprintf(out, "p2m_readers:\n  threads: %u\n  lookups_per_second: %" PRIu64 "\n",
            wl->p2m_readers.threads, wl->p2m_readers.lookups_per_second);
    fprintf(out, "scrub:\n  mode: %s\n", wl_scrub_names[wl->scrub.mode]);
    if (wl->scrub.mode == PB_WL_SCRUB_BACKGROUND)
        fprintf(out, "  workers_per_node: %u\n", wl->scrub.workers_per_node);
    fprintf(out, "heap:\n  state: %s\n", wl_heap_names[wl->heap.state]);
    if (wl->heap.state == PB_WL_HEAP_FRAGMENTED || wl->heap.state == PB_WL_HEAP_USED)
        fprintf(out, "  ageing_passes: %u\n", wl->heap.ageing_passes);
    if (wl->heap.state == PB_WL_HEAP_DIRTY) {
        fmt_double(wl->heap.dirty_fraction, num, sizeof(num));
        fprintf(out, "  dirty_fraction: %s\n", num);
    }
    if (pb_workload_heap_seeded(wl->heap.state))
        fprintf(out, "  seed: %" PRIu64 "\n", wl->heap.seed);
    fprintf(out, "phases:\n");
    dump_phase(out, "warmup", &wl->phases.warmup);
    dump_phase(out, "measure", &wl->phases.measure);
    fprintf(out, "  repetitions: %u\n", wl->phases.repetitions);
    /* Only the options the workload sets: the others are the model's, not the workload's. */
    if (wl->options.set)
        fprintf(out, "options:\n");
    for (unsigned i = 0; i < PB_OPT_NR; i++)
        if (wl->options.set & (1u << i))
            fprintf(out, "  %s: %" PRId64 "\n", pb_option_desc(i)->name,
                    pb_options_get(&wl->options, (enum pb_option)i));
}

int pb_workload_dump(FILE *out, const struct pb_workload *wl)
{
    if (!out || !wl || !wl->name || !wl->description)
        return -EINVAL;
    if (wl->kind == PB_WL_SUITE) {
        fprintf(out, "# suite %s: %s\n", wl->name, wl->description);
        for (unsigned i = 0; i < wl->nr_members; i++) {
            fprintf(out, "---\n");
            dump_single(out, &wl->members[i]);
        }
    } else {
        dump_single(out, wl);
    }
    return ferror(out) ? -EIO : 0;
}
