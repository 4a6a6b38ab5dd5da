/*
 * lockprof.c: lock figures as Xen's lock profiler prints them (lockprof.h).
 */
#include "results/lockprof.h"

#include "core/pb.h"
#include "results/results_internal.h"
#include "results/stats.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Xen's four figures, in results/FORMAT.md's names. */
enum { LP_LOCKS, LP_HELD, LP_BLOCKS, LP_BLOCKED, LP_NR };
static const char *const lp_field[LP_NR] = {"acquisitions", "hold_ns_total", "contended",
                                            "wait_ns_total"};

/* One lock's line in xenlockprof's layout: counts, and times in seconds. A lock whose holds
 * are not timed (results "hold_timed": false) says so instead of showing a time held. */
static void print_line(FILE *out, const char *indent, const char *name, const double v[LP_NR],
                       bool held_timed)
{
    char held[32];
    if (held_timed)
        snprintf(held, sizeof(held), "%20.9fs", v[LP_HELD] / 1e9);
    else
        snprintf(held, sizeof(held), "%21s", "not timed");
    fprintf(out, "%s%-50s: lock:%12.0f(%s), block:%12.0f(%20.9fs)\n", indent, name, v[LP_LOCKS],
            held, v[LP_BLOCKS], v[LP_BLOCKED] / 1e9);
}

static bool hold_timed(const json_t *lock)
{
    const json_t *t = json_object_get(lock, "hold_timed");
    return !json_is_false(t);
}

static const json_t *locks_of(const struct pb_results_bench *b)
{
    return json_object_get(pb_results_bench_run_json(b), "locks");
}

int pb_lockprof_print(const struct pb_results *doc, FILE *out)
{
    if (!doc || !out)
        return -EINVAL;
    for (size_t i = 0; i < pb_results_bench_count(doc); i++) {
        const struct pb_results_bench *b = pb_results_bench_at(doc, i);
        const json_t *locks = locks_of(b), *l;
        double measure_ns;
        bool timed = pb_results_bench_counter(b, "measure_ns", &measure_ns) == 0;
        fprintf(out, "%s%s repetition %u", i ? "\n" : "", pb_results_bench_name(b),
                pb_results_bench_repetition_index(b));
        if (!json_array_size(locks)) {
            fputs(": no lock figures\n", out);
            continue;
        }
        fputs(":\n", out);
        double total[LP_NR] = {0};
        size_t k;
        json_array_foreach(locks, k, l)
        {
            double v[LP_NR];
            for (int f = 0; f < LP_NR; f++)
                total[f] += v[f] = (double)pb_results_uint(l, lp_field[f]);
            print_line(out, "", pb_results_str(l, "name"), v, hold_timed(l));
        }
        if (timed)
            fprintf(out, "total profiling time: %20.9fs\n", measure_ns / 1e9);
        fprintf(out, "total locked time:    %20.9fs\n", total[LP_HELD] / 1e9);
        fprintf(out, "total blocked time:   %20.9fs\n", total[LP_BLOCKED] / 1e9);
    }
    return ferror(out) ? -EIO : 0;
}

/* The median over g's repetitions of each figure of lock `name`; false when none has it. */
static bool lock_medians(const struct pb_results_group *g, const char *name, double *scratch,
                         double med[LP_NR], bool *held_timed)
{
    *held_timed = true;
    for (int f = 0; f < LP_NR; f++) {
        size_t n = 0;
        for (size_t r = 0; r < g->nrep; r++) {
            size_t k;
            const json_t *l;
            json_array_foreach(locks_of(g->rep[r]), k, l)
            {
                if (strcmp(pb_results_str(l, "name"), name) == 0) {
                    scratch[n++] = (double)pb_results_uint(l, lp_field[f]);
                    *held_timed = *held_timed && hold_timed(l);
                }
            }
        }
        if (n == 0)
            return false;
        med[f] = pb_median(scratch, n);
    }
    return true;
}

/* Appends the lock names of g's repetitions not in names yet (a JSON object used as a set,
 * keeping its order in list). */
static int collect_names(const struct pb_results_group *g, json_t *seen, json_t *list)
{
    for (size_t r = 0; r < g->nrep; r++) {
        size_t k;
        const json_t *l;
        json_array_foreach(locks_of(g->rep[r]), k, l)
        {
            const char *name = pb_results_str(l, "name");
            if (json_object_get(seen, name))
                continue;
            if (json_object_set_new(seen, name, json_true()) ||
                json_array_append_new(list, json_string(name)))
                return -ENOMEM;
        }
    }
    return 0;
}

static double ratio(double b, double a)
{
    return a != 0 ? b / a : (b == 0 ? 1 : INFINITY);
}

static int compare_group(const struct pb_results_group *ga, const struct pb_results_group *gb,
                         FILE *out)
{
    json_t *seen = json_object(), *names = json_array();
    double *scratch = malloc((ga->nrep + gb->nrep + 1) * sizeof(*scratch));
    int rc = seen && names && scratch ? 0 : -ENOMEM;
    rc = rc ? rc : collect_names(ga, seen, names);
    rc = rc ? rc : collect_names(gb, seen, names);
    if (rc == 0) {
        fprintf(out, "%s, median of %zu repetition%s (A) and %zu (B):\n", ga->name, ga->nrep,
                ga->nrep == 1 ? "" : "s", gb->nrep);
        if (!json_array_size(names))
            fputs("  no lock figures\n", out);
    }
    size_t i;
    const json_t *nm;
    json_array_foreach(names, i, nm)
    {
        const char *name = json_string_value(nm);
        double a[LP_NR], b[LP_NR];
        bool ta, tb;
        bool in_a = rc == 0 && lock_medians(ga, name, scratch, a, &ta);
        bool in_b = rc == 0 && lock_medians(gb, name, scratch, b, &tb);
        if (rc)
            break;
        char label[128];
        snprintf(label, sizeof(label), "%s, A", name);
        if (in_a)
            print_line(out, "  ", label, a, ta);
        else
            fprintf(out, "  %-50s: not in A\n", label);
        snprintf(label, sizeof(label), "%s, B", name);
        if (in_b)
            print_line(out, "  ", label, b, tb);
        else
            fprintf(out, "  %-50s: not in B\n", label);
        if (in_a && in_b)
            fprintf(out, "  %-50s: lock %.3f, held %.3f, block %.3f, blocked %.3f\n", "B/A",
                    ratio(b[LP_LOCKS], a[LP_LOCKS]),
                    ta && tb ? ratio(b[LP_HELD], a[LP_HELD]) : NAN, /* nan: not timed */
                    ratio(b[LP_BLOCKS], a[LP_BLOCKS]), ratio(b[LP_BLOCKED], a[LP_BLOCKED]));
    }
    json_decref(seen);
    json_decref(names);
    free(scratch);
    return rc;
}

int pb_lockprof_compare(const struct pb_results *a, const struct pb_results *b, FILE *out)
{
    if (!a || !b || !out)
        return -EINVAL;
    if (pb_results_make_view(a) || pb_results_make_view(b))
        return -ENOMEM;
    size_t shown = 0;
    for (size_t i = 0; i < pb_results_group_count(a); i++) {
        const struct pb_results_group *ga = pb_results_group_at(a, i);
        const struct pb_results_group *gb = pb_results_find_group(b, ga->name);
        if (!gb)
            continue;
        if (shown++)
            fputc('\n', out);
        int rc = compare_group(ga, gb, out);
        if (rc)
            return rc;
    }
    if (shown == 0)
        return -ENOENT;
    return ferror(out) ? -EIO : 0;
}
