/*
 * metrics.h: the one table of metrics (results/metrics.def): what each figure of a benchmark
 * entry measures, which way is better, how the gate judges it, where the terminal table shows
 * it. Everything that names, orders, compares or gates a metric asks here.
 *
 * A name the table does not list (a counter another writer added) is lower-is-better, or
 * higher-is-better when it ends in "_per_second"; it is not a percentile and not gated unless
 * asked for.
 *
 * Threads: the table is read-only; every function may be called from any thread.
 */
#ifndef POPBENCH_RESULTS_METRICS_H
#define POPBENCH_RESULTS_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum pb_metric_direction {
    PB_METRIC_LOWER,  /* latencies, costs per page, times, instructions */
    PB_METRIC_HIGHER, /* rates (*_per_second), speed-ups, locality */
    PB_METRIC_INFO,   /* plain counts: never better or worse, only equal or not */
};

enum pb_metric_tier {
    PB_TIER_DETERMINISTIC, /* repeats exactly in an operation-bounded run: gated hard */
    PB_TIER_WALLCLOCK,     /* gated by default, as a ratio to a reference variant */
    PB_TIER_UNGATED,       /* wall-clock, gated only when asked for by name */
};

struct pb_metric {
    const char *name;
    const char *unit; /* "pages/s", "ns", "%", "fraction", "name" (a string), ... */
    enum pb_metric_direction direction;
    enum pb_metric_tier tier;
    double percentile; /* 50 ... 99.99, 100 for the maximum; 0: not a latency percentile */
    unsigned column;   /* position in the run's terminal table; 0: not shown there */
    const char *title; /* that column's heading */
};

/* PB_M_pages_per_second, ...: a metric's index in pb_metrics[], in the table's order. */
enum pb_metric_id {
#define PB_METRIC(name, ...) PB_M_##name,
#include "results/metrics.def"
#undef PB_METRIC
    PB_NMETRICS
};

extern const struct pb_metric pb_metrics[PB_NMETRICS];

/* The headline figures (metrics.def's PB_HEADLINE lines): PB_H_pages_per_second, ... */
enum pb_headline_id {
#define PB_METRIC(...)
#define PB_HEADLINE(name, title) PB_H_##name,
#include "results/metrics.def"
#undef PB_HEADLINE
#undef PB_METRIC
    PB_NHEADLINES
};

struct pb_headline {
    enum pb_metric_id id; /* its row of pb_metrics[] */
    const char *title;    /* its heading in the tables */
};
extern const struct pb_headline pb_headlines[PB_NHEADLINES];
/* Whether name is a headline figure. */
bool pb_metric_is_headline(const char *name);

/* The table's row for name, NULL when it has none. */
const struct pb_metric *pb_metric_find(const char *name);
/* Report order: the table's order, then other names (which sort by name: equal ranks). */
size_t pb_metric_rank(const char *name);
enum pb_metric_direction pb_metric_direction(const char *name);
enum pb_metric_tier pb_metric_tier(const char *name);
/* p99 and beyond, and the maximum, of a latency. */
bool pb_metric_is_tail(const char *name);
/* A string figure (lock_hottest), not a number. */
bool pb_metric_is_text(const char *name);

const char *pb_metric_direction_name(enum pb_metric_direction d); /* "higher", "lower", ... */
const char *pb_metric_tier_name(enum pb_metric_tier t);           /* "deterministic", ... */

/*
 * The table as context.metrics (results/FORMAT.md): name -> {rank, unit, direction, tier, tail,
 * percentile (for percentiles only)}. A new reference, NULL without memory.
 */
json_t *pb_metric_table_json(void);

#endif
