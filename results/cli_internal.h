/* cli_internal.h: flag parsing shared by the commands in results/ (not a public interface). */
#ifndef POPBENCH_RESULTS_CLI_INTERNAL_H
#define POPBENCH_RESULTS_CLI_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/pb.h"

enum {
    PB_EXIT_OK = 0,
    PB_EXIT_REGRESSION = 1,
    PB_EXIT_USAGE = 2,
    PB_EXIT_INCONCLUSIVE = 3,
};

/* Formats a message into err (errlen bytes, may be 0); for APIs that explain their -EINVAL. */

/* "popbench CMD: message" on stderr. */
void pb_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A number for --flag in [lo, hi]; with percent, "5%" means 0.05. On bad input prints what was
 * expected and returns -EINVAL.
 */
int pb_cli_double(const char *cmd, const char *flag, const char *arg, double lo, double hi,
                  bool percent, double *out);
int pb_cli_u64(const char *cmd, const char *flag, const char *arg, uint64_t lo, uint64_t hi,
               uint64_t *out);

/* A comma-separated list as a NULL-ended vector (free with pb_strv_free); NULL on ENOMEM. */
char **pb_cli_split(const char *list);

#endif
