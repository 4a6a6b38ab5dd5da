/*
 * bounded_call.h: runs a call that could block forever (opening a FIFO, reading a device) in a
 * child process with a deadline, so that a test of "never blocks" fails with a message instead
 * of hanging until ctest's timeout.
 */
#ifndef POPBENCH_TESTS_BOUNDED_CALL_H
#define POPBENCH_TESTS_BOUNDED_CALL_H

#include <stddef.h>

/* What the call reports back: an int and a line of text. */
struct bounded_result {
    int rc;
    char text[4096];
};

/*
 * Runs fn(arg, result) in a child that SIGALRM kills after `seconds`. Returns 0 with the
 * child's result, or -ETIMEDOUT when the deadline passed (the call blocked), or -ECHILD when
 * the child died otherwise.
 */
int bounded_call(void (*fn)(void *arg, struct bounded_result *out), void *arg, unsigned seconds,
                 struct bounded_result *out);

#endif
