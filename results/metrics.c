/*
 * metrics.c: pb_metrics[] from metrics.def, and lookups by name (a sorted index, made once).
 */
#include "results/metrics.h"

#include "core/pb.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

const struct pb_metric pb_metrics[PB_NMETRICS] = {
#define PB_METRIC(name, unit, dir, tier, pct, col, title)                                          \
    {#name, unit, PB_METRIC_##dir, PB_TIER_##tier, pct, col, title},
#include "results/metrics.def"
#undef PB_METRIC
};

const struct pb_headline pb_headlines[PB_NHEADLINES] = {
#define PB_METRIC(...)
#define PB_HEADLINE(name, title) {PB_M_##name, title},
#include "results/metrics.def"
#undef PB_HEADLINE
#undef PB_METRIC
};

bool pb_metric_is_headline(const char *name)
{
    for (size_t i = 0; name && i < PB_NHEADLINES; i++)
        if (strcmp(pb_metrics[pb_headlines[i].id].name, name) == 0)
            return true;
    return false;
}

/* Indices into pb_metrics[] in name order; read-only once made. */
static unsigned short by_name[PB_NMETRICS];
static pthread_once_t by_name_once = PTHREAD_ONCE_INIT;

static int cmp_index(const void *a, const void *b)
{
    return strcmp(pb_metrics[*(const unsigned short *)a].name,
                  pb_metrics[*(const unsigned short *)b].name);
}

static void make_index(void)
{
    for (size_t i = 0; i < PB_NMETRICS; i++)
        by_name[i] = (unsigned short)i;
    qsort(by_name, PB_NMETRICS, sizeof(by_name[0]), cmp_index);
}

static int cmp_key(const void *key, const void *elem)
{
    return strcmp(key, pb_metrics[*(const unsigned short *)elem].name);
}

const struct pb_metric *pb_metric_find(const char *name)
{
    if (!name)
        return NULL;
    pthread_once(&by_name_once, make_index);
    const unsigned short *i = bsearch(name, by_name, PB_NMETRICS, sizeof(by_name[0]), cmp_key);
    return i ? &pb_metrics[*i] : NULL;
}

size_t pb_metric_rank(const char *name)
{
    const struct pb_metric *m = pb_metric_find(name);
    return m ? (size_t)(m - pb_metrics) : PB_NMETRICS;
}

enum pb_metric_direction pb_metric_direction(const char *name)
{
    const struct pb_metric *m = pb_metric_find(name);
    if (m)
        return m->direction;
    size_t n = name ? strlen(name) : 0, s = strlen("_per_second");
    return n >= s && strcmp(name + n - s, "_per_second") == 0 ? PB_METRIC_HIGHER : PB_METRIC_LOWER;
}

enum pb_metric_tier pb_metric_tier(const char *name)
{
    const struct pb_metric *m = pb_metric_find(name);
    return m ? m->tier : PB_TIER_UNGATED;
}

bool pb_metric_is_tail(const char *name)
{
    const struct pb_metric *m = pb_metric_find(name);
    return m && m->percentile >= 99;
}

bool pb_metric_is_text(const char *name)
{
    const struct pb_metric *m = pb_metric_find(name);
    return m && strcmp(m->unit, "name") == 0;
}

const char *pb_metric_direction_name(enum pb_metric_direction d)
{
    static const char *const names[] = {[PB_METRIC_LOWER] = "lower",
                                        [PB_METRIC_HIGHER] = "higher",
                                        [PB_METRIC_INFO] = "informational"};
    PB_BUG_ON((size_t)d >= PB_ARRAY_SIZE(names));
    return names[d];
}

const char *pb_metric_tier_name(enum pb_metric_tier t)
{
    static const char *const names[] = {[PB_TIER_DETERMINISTIC] = "deterministic",
                                        [PB_TIER_WALLCLOCK] = "wallclock",
                                        [PB_TIER_UNGATED] = "ungated"};
    PB_BUG_ON((size_t)t >= PB_ARRAY_SIZE(names));
    return names[t];
}

json_t *pb_metric_table_json(void)
{
    json_t *table = json_object();
    for (size_t i = 0; table && i < PB_NMETRICS; i++) {
        const struct pb_metric *m = &pb_metrics[i];
        json_t *row = json_pack("{s:I, s:s, s:s, s:s, s:b}", "rank", (json_int_t)i, "unit", m->unit,
                                "direction", pb_metric_direction_name(m->direction), "tier",
                                pb_metric_tier_name(m->tier), "tail", m->percentile >= 99);
        if (row && m->percentile > 0 &&
            json_object_set_new(row, "percentile", json_real(m->percentile))) {
            json_decref(row);
            row = NULL;
        }
        if (!row || json_object_set_new(table, m->name, row)) {
            json_decref(table);
            table = NULL;
        }
    }
    return table;
}
