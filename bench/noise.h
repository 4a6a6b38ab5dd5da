/*
 * noise.h: what disturbed a measurement, measured rather than guessed.
 *
 *   steal time        jiffies the hypervisor ran someone else on the PUs the workers were
 *                     pinned to (/proc/stat, per-CPU lines), as a share of those PUs' time
 *   frequency         cpufreq's scaling_cur_freq of those PUs, lowest and highest seen
 *   involuntary       context switches the workers did not ask for (getrusage RUSAGE_THREAD,
 *   switches          each worker at the start and the end of the measure phase, summed)
 *   migrations        samples of sched_getcpu() that found a worker off the PU it is pinned
 *                     to (taken every PB_NOISE_PROBE_EVERY operations and at every park)
 *   oversubscription  threads per real PU
 *
 * A source that cannot be read (no /proc/stat line for a PU, no cpufreq, a failing getrusage or
 * sched_getcpu) leaves its figure unavailable, never a made-up zero. A repetition is disturbed
 * when steal time exceeds PB_NOISE_STEAL_PCT of its measured CPU time, when any sample found a
 * pinned worker migrated, or (not oversubscribed) when its workers were switched out
 * involuntarily more than PB_NOISE_NIVCSW_RATE times per worker-second.
 *
 * Threads: snapshots are taken by the measuring thread; a struct pb_noise belongs to it.
 */
#ifndef POPBENCH_BENCH_NOISE_H
#define POPBENCH_BENCH_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PB_NOISE_STEAL_PCT   5.0  /* steal above this % of the measured CPU time: disturbed */
#define PB_NOISE_NIVCSW_RATE 20.0 /* involuntary switches per worker-second: disturbed */
#define PB_NOISE_PROBE_EVERY 32   /* operations between two sched_getcpu() samples */
#define PB_NOISE_MAX_PUS     1024

/* Where the probes read; NULL members: the system's own. Tests point them elsewhere. */
struct pb_noise_paths {
    const char *proc_stat; /* "/proc/stat" */
    const char *sys_cpu;   /* "/sys/devices/system/cpu" */
};

/* The sources at one instant, for the PUs asked. */
struct pb_noise_snapshot {
    bool stat_ok;          /* every PU's line was found with a steal field */
    uint64_t steal, total; /* jiffies summed over the PUs (total: every field to steal) */
    bool freq_ok;          /* every PU's scaling_cur_freq was read */
    double mhz_min, mhz_max;
};

/* Reads /proc/stat and cpufreq for OS CPUs pus[0..n). 0, or -EINVAL for bad arguments. */
int pb_noise_snapshot(const struct pb_noise_paths *paths, const unsigned *pus, unsigned n,
                      struct pb_noise_snapshot *s);

struct pb_noise {
    unsigned intervals; /* measured intervals added */
    bool steal_ok;      /* every interval had its steal time */
    uint64_t steal_ticks, total_ticks;
    double steal_pct; /* 100 * steal / total; valid when steal_ok */
    bool freq_ok;     /* every snapshot had its frequency */
    double mhz_min, mhz_max;
    bool nivcsw_ok;     /* every worker read its own */
    uint64_t nivcsw;    /* involuntary switches, summed over the workers */
    bool migrations_ok; /* every sample succeeded and there was one */
    uint64_t cpu_samples, migrations;
    uint64_t worker_ns;      /* workers x measured time: the rate's denominator */
    unsigned threads_per_pu; /* the most threads on one real PU */
    bool disturbed;
    char why[192]; /* what disturbed it, or "" */
};

/* Starts an account with every source assumed readable until an interval says otherwise. */
void pb_noise_init(struct pb_noise *n);
/* Adds the measured interval between snapshots a and b (taken over the same PUs). */
void pb_noise_add_interval(struct pb_noise *n, const struct pb_noise_snapshot *a,
                           const struct pb_noise_snapshot *b);
/* Sets disturbed and why from the figures and the thresholds above. */
void pb_noise_judge(struct pb_noise *n);

#endif
