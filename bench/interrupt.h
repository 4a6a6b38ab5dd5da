/*
 * interrupt.h: stopping set-up when the user asks (SIGINT, SIGTERM). Setting a run up (ageing
 * or dirtying a large heap, building running domains) can take minutes; every long set-up loop
 * calls pb_setup_interrupted() once per step and gives up with -EINTR when it says so, so that
 * an interruption stops set-up within a step of its arrival.
 *
 * The flag is the one the command's signal handler sets (pb_run_config.interrupt): the command
 * registers it with pb_setup_watch(). Without one nothing is ever interrupted (the
 * microbenchmarks). The step count is process-wide.
 *
 * Threads: pb_setup_interrupted() may be called from any thread; pb_setup_steps() from a
 * signal handler too (a lock-free atomic load).
 */
#ifndef POPBENCH_BENCH_INTERRUPT_H
#define POPBENCH_BENCH_INTERRUPT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* The flag set-up loops look at; NULL: none. */
void pb_setup_watch(const _Atomic bool *flag);
/* One step of a set-up loop: counts it; true once the watched flag is raised. */
bool pb_setup_interrupted(void);
/* The steps counted so far. */
uint64_t pb_setup_steps(void);
/* Test hook: step number `step` (1-based; 0: never) raises signal sig in the process first. */
void pb_setup_raise_at(uint64_t step, int sig);

#endif
