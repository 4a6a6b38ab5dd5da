/*
 * noise.c: the noise probes (noise.h): /proc/stat's steal time and cpufreq's frequency of the
 * PUs a run uses, and the judgement of a repetition.
 */
#include "bench/noise.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Steal and total jiffies of each PU asked, from the "cpuN ..." lines. */
static bool read_stat(const char *path, const unsigned *pus, unsigned n, uint64_t *steal,
                      uint64_t *total)
{
    FILE *f = fopen(path, "r");
    char line[512];
    unsigned found = 0;

    *steal = *total = 0;
    if (!f)
        return false;
    while (fgets(line, sizeof(line), f)) {
        unsigned cpu;
        uint64_t v[8];
        /* user nice system idle iowait irq softirq steal: guest time is inside user and nice */
        int got = sscanf(line,
                         "cpu%u %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                         " %" SCNu64 " %" SCNu64 " %" SCNu64,
                         &cpu, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (got < 1)
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (pus[i] != cpu)
                continue;
            if (got < 9) {
                fclose(f);
                return false; /* a kernel without the steal field: unavailable */
            }
            for (int k = 0; k < 8; k++)
                *total += v[k];
            *steal += v[7];
            found++;
        }
    }
    fclose(f);
    return found == n && n > 0;
}

static bool read_mhz(const char *sys_cpu, unsigned cpu, double *mhz)
{
    char path[512];
    unsigned long long khz;
    snprintf(path, sizeof(path), "%s/cpu%u/cpufreq/scaling_cur_freq", sys_cpu, cpu);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fscanf(f, "%llu", &khz) == 1 && khz > 0;
    fclose(f);
    *mhz = (double)khz / 1000.0;
    return ok;
}

int pb_noise_snapshot(const struct pb_noise_paths *paths, const unsigned *pus, unsigned n,
                      struct pb_noise_snapshot *s)
{
    if (!s || (n && !pus) || n > PB_NOISE_MAX_PUS)
        return -EINVAL;
    const char *stat = paths && paths->proc_stat ? paths->proc_stat : "/proc/stat";
    const char *sys = paths && paths->sys_cpu ? paths->sys_cpu : "/sys/devices/system/cpu";
    memset(s, 0, sizeof(*s));
    s->stat_ok = read_stat(stat, pus, n, &s->steal, &s->total);
    s->freq_ok = n > 0;
    s->mhz_min = INFINITY;
    s->mhz_max = 0;
    for (unsigned i = 0; i < n && s->freq_ok; i++) {
        double mhz;
        s->freq_ok = read_mhz(sys, pus[i], &mhz);
        s->mhz_min = fmin(s->mhz_min, mhz);
        s->mhz_max = fmax(s->mhz_max, mhz);
    }
    return 0;
}

void pb_noise_init(struct pb_noise *n)
{
    *n = (struct pb_noise){.steal_ok = true,
                           .freq_ok = true,
                           .nivcsw_ok = true,
                           .migrations_ok = true,
                           .mhz_min = INFINITY};
}

void pb_noise_add_interval(struct pb_noise *n, const struct pb_noise_snapshot *a,
                           const struct pb_noise_snapshot *b)
{
    n->intervals++;
    /* Counters that went backwards (a CPU went offline and came back) say nothing. */
    if (a->stat_ok && b->stat_ok && b->steal >= a->steal && b->total >= a->total) {
        n->steal_ticks += b->steal - a->steal;
        n->total_ticks += b->total - a->total;
    } else {
        n->steal_ok = false;
    }
    if (a->freq_ok && b->freq_ok) {
        n->mhz_min = fmin(n->mhz_min, fmin(a->mhz_min, b->mhz_min));
        n->mhz_max = fmax(n->mhz_max, fmax(a->mhz_max, b->mhz_max));
    } else {
        n->freq_ok = false;
    }
}

static void why_add(struct pb_noise *n, const char *fmt, double v, double limit)
{
    size_t len = strlen(n->why);
    snprintf(n->why + len, sizeof(n->why) - len, fmt, len ? "; " : "", v, limit);
}

void pb_noise_judge(struct pb_noise *n)
{
    /* No tick elapsed (a phase far below a jiffy): the share is unknown, not 0. */
    if (n->intervals == 0 || n->total_ticks == 0)
        n->steal_ok = false;
    n->steal_pct = n->steal_ok ? 100.0 * (double)n->steal_ticks / (double)n->total_ticks : NAN;
    if (n->intervals == 0)
        n->freq_ok = false;
    if (n->cpu_samples == 0)
        n->migrations_ok = false;
    n->disturbed = false;
    n->why[0] = '\0';
    if (n->steal_ok && n->steal_pct > PB_NOISE_STEAL_PCT) {
        n->disturbed = true;
        why_add(n, "%ssteal %.1f%% > %.0f%%", n->steal_pct, PB_NOISE_STEAL_PCT);
    }
    if (n->migrations_ok && n->migrations > 0) {
        n->disturbed = true;
        why_add(n, "%s%.0f samples off the pinned PU (limit %.0f)", (double)n->migrations, 0);
    }
    double rate = n->worker_ns ? (double)n->nivcsw * 1e9 / (double)n->worker_ns : 0;
    if (n->nivcsw_ok && n->threads_per_pu <= 1 && rate > PB_NOISE_NIVCSW_RATE) {
        n->disturbed = true;
        why_add(n, "%s%.0f involuntary switches per worker-second > %.0f", rate,
                PB_NOISE_NIVCSW_RATE);
    }
}
