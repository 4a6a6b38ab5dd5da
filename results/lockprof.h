/*
 * lockprof.h: popbench's lock figures in the shape of Xen's lock profiler (xenlockprof), so
 * that Xen developers can lay them beside their own.
 *
 * Xen's profiler reports per lock a lock count, the time it was held, a block count and the
 * time spent blocked. A results file's run section holds the same four per lock class
 * (results/FORMAT.md, popbench.runs[].locks):
 *   Xen lock_cnt    = acquisitions      Xen time_hold  = hold_ns_total
 *   Xen block_cnt   = contended         Xen time_block = wait_ns_total
 * A class sums every lock of its kind (all domains' page_alloc locks are one row), where Xen
 * lists each lock instance.
 *
 * Threads: read-only on the documents; call from one thread per output stream.
 */
#ifndef POPBENCH_RESULTS_LOCKPROF_H
#define POPBENCH_RESULTS_LOCKPROF_H

#include <stdio.h>

#include "results/results.h"

/*
 * Per entry that has a lock section: a heading (its name, repetition and measure phase), then
 * one line per lock as xenlockprof prints it,
 *   NAME: lock:    COUNT(    HELD.SSSSSSSSSs), block:    COUNT(    BLOCKED.SSSSSSSSSs)
 * and the totals (profiling time = the measure phase, locked time, blocked time). Entries
 * without locks are named in one line. 0, or -EIO when out could not be written.
 */
int pb_lockprof_print(const struct pb_results *doc, FILE *out);

/*
 * B against A, per benchmark both have (matched by name) and per lock: the median over the
 * repetitions of each of the four figures, A's line, B's line and the ratios B/A. 0, -ENOENT
 * when they have no benchmark in common (nothing is printed), -ENOMEM, -EIO.
 */
int pb_lockprof_compare(const struct pb_results *a, const struct pb_results *b, FILE *out);

#endif
