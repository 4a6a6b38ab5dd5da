/*
 * preempt.c: the per-thread preemption source behind pb_hypercall_preempt_check().
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/pb.h"
#include "core/preempt.h"
#include "core/prng.h"

#define DEFAULT_SEED 0x9e3779b97f4a7c15ull

/* One thread's source; thread-local, so only its thread touches it. Zeroed = NONE. */
struct preempt_state {
    struct pb_preempt_policy policy;
    bool pending;
    uint64_t since_preempt; /* EVERY_N: checks since the last preemption */
    uint64_t deadline_ns;   /* TIMESLICE: when the pending flag is raised */
    uint64_t last_read_ns;  /* TIMESLICE: the last clock read */
    unsigned stride;        /* TIMESLICE: checks per clock read */
    unsigned countdown;     /* TIMESLICE: checks left until the next read */
    struct pb_rng rng;      /* PROB: the draws */
    uint64_t threshold;     /* PROB: a draw below it preempts */
    bool always;            /* PROB: p == 1 */
    struct pb_preempt_counters ctr;
};

static _Thread_local struct preempt_state st;

static uint64_t slice_of(const struct pb_preempt_policy *p)
{
    return p->slice_ns ? p->slice_ns : PB_PREEMPT_DEFAULT_SLICE_NS;
}

static void restart_slice(uint64_t now)
{
    st.deadline_ns = now + slice_of(&st.policy);
}

int pb_preempt_configure(const struct pb_preempt_policy *policy)
{
    if (!policy)
        return -EINVAL;
    switch (policy->kind) {
    case PB_PREEMPT_NONE:
        break;
    case PB_PREEMPT_TIMESLICE:
        if (policy->clock_stride > PB_PREEMPT_MAX_STRIDE)
            return -EINVAL;
        break;
    case PB_PREEMPT_EVERY_N:
        if (policy->every_n == 0)
            return -EINVAL;
        break;
    case PB_PREEMPT_PROB:
        /* Written so that NaN fails too. */
        if (!(policy->probability >= 0.0 && policy->probability <= 1.0))
            return -EINVAL;
        break;
    default:
        return -EINVAL;
    }
    struct pb_preempt_counters keep = st.ctr;
    memset(&st, 0, sizeof(st));
    st.ctr = keep;
    st.policy = *policy;
    if (policy->kind == PB_PREEMPT_TIMESLICE) {
        st.stride = policy->clock_stride ? policy->clock_stride : 1;
        st.countdown = st.stride;
        st.last_read_ns = pb_now_ns();
        restart_slice(st.last_read_ns);
    } else if (policy->kind == PB_PREEMPT_PROB) {
        pb_rng_seed(&st.rng, policy->seed ? policy->seed : DEFAULT_SEED);
        st.always = policy->probability >= 1.0;
        /* p * 2^64, below 2^64 since p < 1 here. */
        st.threshold = st.always ? 0 : (uint64_t)ldexp(policy->probability, 64);
    }
    return 0;
}

void pb_preempt_policy_get(struct pb_preempt_policy *out)
{
    *out = st.policy;
}

/* TIMESLICE, on a check that reads the clock: adapt the stride, raise the flag when due. */
static void timeslice_read(void)
{
    uint64_t now = pb_now_ns();
    uint64_t slice = slice_of(&st.policy);
    uint64_t gap = now - st.last_read_ns;

    st.ctr.clock_reads++;
    st.last_read_ns = now;
    if (st.policy.clock_stride == 0) {
        if (gap < slice / 64 && st.stride < PB_PREEMPT_MAX_STRIDE)
            st.stride *= 2;
        else if (gap > slice / 16 && st.stride > 1)
            st.stride /= 2;
    }
    st.countdown = st.stride;
    if (now >= st.deadline_ns)
        st.pending = true;
}

bool pb_hypercall_preempt_check(void)
{
    st.ctr.checks++;
    if (!st.pending) {
        switch (st.policy.kind) {
        case PB_PREEMPT_NONE:
            return false;
        case PB_PREEMPT_TIMESLICE:
            if (--st.countdown == 0)
                timeslice_read();
            break;
        case PB_PREEMPT_EVERY_N:
            if (++st.since_preempt >= st.policy.every_n)
                st.pending = true;
            break;
        case PB_PREEMPT_PROB:
            st.pending = st.always || pb_rng_next(&st.rng) < st.threshold;
            break;
        }
        if (!st.pending)
            return false;
    }
    /* The continuation: the flag is consumed and the slice or count starts again. */
    st.pending = false;
    st.ctr.preemptions++;
    st.since_preempt = 0;
    if (st.policy.kind == PB_PREEMPT_TIMESLICE)
        restart_slice(st.last_read_ns);
    return true;
}

void pb_preempt_raise(void)
{
    st.pending = true;
    if (st.policy.kind == PB_PREEMPT_TIMESLICE) {
        /* The slice restarts from now, not from a read that may be a stride old. */
        st.last_read_ns = pb_now_ns();
        st.ctr.clock_reads++;
    }
}

void pb_preempt_counters_read(struct pb_preempt_counters *out)
{
    *out = st.ctr;
}

void pb_preempt_counters_reset(void)
{
    memset(&st.ctr, 0, sizeof(st.ctr));
}

const char *pb_preempt_kind_name(enum pb_preempt_kind kind)
{
    switch (kind) {
    case PB_PREEMPT_NONE:
        return "none";
    case PB_PREEMPT_TIMESLICE:
        return "timeslice";
    case PB_PREEMPT_EVERY_N:
        return "every_n";
    case PB_PREEMPT_PROB:
        return "prob";
    }
    return NULL;
}
