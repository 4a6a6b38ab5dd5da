/*
 * interrupt.c: the set-up loops' look at the interruption flag (interrupt.h).
 */
#include "bench/interrupt.h"

#include <signal.h>

static const _Atomic bool *_Atomic watched; /* set by the command before any run */
static _Atomic uint64_t steps;
static _Atomic uint64_t raise_step; /* test hook: 0 = never */
static _Atomic int raise_sig;

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "pb_setup_steps() is read from signal handlers");

void pb_setup_watch(const _Atomic bool *flag)
{
    atomic_store(&watched, flag);
}

bool pb_setup_interrupted(void)
{
    uint64_t n = atomic_fetch_add_explicit(&steps, 1, memory_order_relaxed) + 1;
    if (n == atomic_load_explicit(&raise_step, memory_order_relaxed))
        raise(atomic_load(&raise_sig));
    const _Atomic bool *f = atomic_load_explicit(&watched, memory_order_relaxed);
    return f && atomic_load(f);
}

uint64_t pb_setup_steps(void)
{
    return atomic_load_explicit(&steps, memory_order_relaxed);
}

void pb_setup_raise_at(uint64_t step, int sig)
{
    atomic_store(&raise_sig, sig);
    atomic_store(&raise_step, step);
}
