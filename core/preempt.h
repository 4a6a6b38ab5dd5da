/*
 * preempt.h: the preemption source of the modelled hypercalls (XEN-MODEL.md §6).
 *
 * Xen's long hypercalls call hypercall_preempt_check() between units of work; it says yes when
 * a softirq (a timer tick, a scheduling request) is pending, and the hypercall then returns
 * through a continuation that re-enters it where it stopped. Here each thread carries its own
 * "pending" flag, raised by a policy that stands for what would have interrupted the CPU:
 *
 *   NONE       never raised: every call runs to completion.
 *   TIMESLICE  a timer tick: raised once slice_ns (default 1 ms) have passed since the thread's
 *              last preemption (or since it configured the policy).
 *   EVERY_N    raised on every n-th check since the last preemption (1: every check).
 *   PROB       raised on each check with probability p, from a seeded xorshift generator, so
 *              a run repeats exactly.
 *
 * A check that finds the flag raised consumes it and counts a preemption: the caller is
 * expected to return and be re-entered (the continuation), as in Xen.
 *
 * Cost: TIMESLICE must not read the clock on every check of a tight loop (an order-0 extent
 * takes a few hundred ns). It reads it every `clock_stride` checks; stride 0 (the default)
 * adapts: the stride doubles while clock reads come less than slice/64 apart and halves when
 * they come more than slice/16 apart (1..256), so the slice overshoots by at most about 1/16
 * and the clock costs a fraction of a nanosecond per check. memopbench measures it.
 *
 * Threads: every function acts on the calling thread's state only (thread-local); nothing is
 * shared, so nothing needs a lock. A thread that never configures a policy has NONE.
 */
#ifndef POPBENCH_CORE_PREEMPT_H
#define POPBENCH_CORE_PREEMPT_H

#include <stdbool.h>
#include <stdint.h>

#define PB_PREEMPT_DEFAULT_SLICE_NS 1000000u /* 1 ms, like a scheduler tick */
#define PB_PREEMPT_MAX_STRIDE       256u

enum pb_preempt_kind {
    PB_PREEMPT_NONE,
    PB_PREEMPT_TIMESLICE,
    PB_PREEMPT_EVERY_N,
    PB_PREEMPT_PROB,
};

struct pb_preempt_policy {
    enum pb_preempt_kind kind;
    uint64_t slice_ns;     /* TIMESLICE: 0 means PB_PREEMPT_DEFAULT_SLICE_NS */
    unsigned clock_stride; /* TIMESLICE: checks per clock read, 0 = adaptive, at most 256 */
    uint64_t every_n;      /* EVERY_N: >= 1 */
    double probability;    /* PROB: in [0, 1] */
    uint64_t seed;         /* PROB: generator seed (0 is replaced by a fixed nonzero one) */
};

/* Per-thread counts since the thread started or last reset them. */
struct pb_preempt_counters {
    uint64_t checks;      /* pb_hypercall_preempt_check() calls */
    uint64_t preemptions; /* of those, how many said yes */
    uint64_t clock_reads; /* TIMESLICE: how many read the clock */
};

/*
 * Install a policy for the calling thread: clears the pending flag and restarts the slice or
 * the count; keeps the counters. -EINVAL (nothing changes) for NULL, an unknown kind, every_n
 * 0, a probability outside [0, 1] or a clock_stride above PB_PREEMPT_MAX_STRIDE.
 */
int pb_preempt_configure(const struct pb_preempt_policy *policy);
/* The calling thread's policy. */
void pb_preempt_policy_get(struct pb_preempt_policy *out);

/* hypercall_preempt_check(): whether the caller should stop and continue later. */
bool pb_hypercall_preempt_check(void);
/* Raise the calling thread's pending flag now (as an interrupt would): the next check says yes. */
void pb_preempt_raise(void);

void pb_preempt_counters_read(struct pb_preempt_counters *out);
void pb_preempt_counters_reset(void);

const char *pb_preempt_kind_name(enum pb_preempt_kind kind);

#endif
