/*
 * cli.h: the popbench command's room: one entry point per command (cli/<command>.c) and the
 * flag parsing they share. The libraries below (bench/, results/, workloads/) return data and
 * errors; only these files print usage, choose exit statuses and talk to the user.
 *
 * Every command takes argv[0] as its own name and --help. Exit status: 0 success (gate: pass),
 * 1 a run failed or a regression (gate), 2 bad input or an error (the message names the flag
 * or file and what was expected; also standard output that could not be written: a full
 * disk, a closed pipe), 3 inconclusive (gate), 130 interrupted by SIGINT and 143 by SIGTERM
 * (run).
 */
#ifndef POPBENCH_CLI_CLI_H
#define POPBENCH_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    PB_EXIT_OK = 0,
    PB_EXIT_FAILED = 1, /* a run failed validation; the gate found a regression */
    PB_EXIT_USAGE = 2,
    PB_EXIT_INCONCLUSIVE = 3,
    PB_EXIT_INTERRUPT = 130,  /* 128 + SIGINT */
    PB_EXIT_TERMINATED = 143, /* 128 + SIGTERM */
};

/* The commands (docs/popbench.md). */
int pb_cmd_run(int argc, char **argv);
int pb_cmd_list(int argc, char **argv);
int pb_cmd_topology(int argc, char **argv);
int pb_cmd_compare(int argc, char **argv);
int pb_cmd_gate(int argc, char **argv);
int pb_cmd_history(int argc, char **argv);
int pb_cmd_plot(int argc, char **argv);
int pb_cmd_calibrate(int argc, char **argv);

/* jemalloc serves this process's malloc (the binary links it; a sanitizer replaces it). */
bool pb_cli_jemalloc_active(void);
const char *pb_cli_jemalloc_version(void); /* NULL without jemalloc */

/* ---- flags ---------------------------------------------------------------------------- */

#define PB_CLI_MAX_THREAD_COUNTS 64

/*
 * Flushes and closes stdout after command cmd returned rc: when anything written to it was
 * lost (stdio's error flag, or the final flush or close failing: a full disk, a read-only
 * file), says so on stderr and returns PB_EXIT_USAGE in place of a success; else rc.
 */
int pb_cli_close_stdout(const char *cmd, int rc);

/* "popbench CMD: message" on stderr; returns PB_EXIT_USAGE. */
int pb_cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt's error (c is ':' for a missing value, else '?') in our words; PB_EXIT_USAGE. */
int pb_cli_option_error(const char *cmd, int c, int argc, char **argv);

/*
 * A number for --flag in [lo, hi]; with percent, "5%" means 0.05. On bad input prints what was
 * expected and returns -EINVAL.
 */
int pb_cli_double(const char *cmd, const char *flag, const char *arg, double lo, double hi,
                  bool percent, double *out);
/* compare's and gate's --min-effect (c 'e': 0 to 0.99, or a percentage) and --alpha (c 'a'). */
int pb_cli_effect_alpha(const char *cmd, int c, const char *arg, double *min_effect, double *alpha);
int pb_cli_u64(const char *cmd, const char *flag, const char *arg, uint64_t lo, uint64_t hi,
               uint64_t *out);
/* An unsigned decimal integer, no sign; 0 or -EINVAL (nothing printed). */
int pb_cli_parse_u64(const char *s, uint64_t *out);
/* "1,2,4", "1-4", "1-2,8" (1 to 1024), duplicates dropped, at most PB_CLI_MAX_THREAD_COUNTS;
 * 0, -EINVAL or -E2BIG (nothing printed). */
int pb_cli_parse_threads(const char *s, unsigned *v, unsigned *n);

/* The allocator variants' names, ", "-separated, into buf. */
void pb_cli_variant_list(char *buf, size_t len);

/* A comma-separated list as a NULL-ended vector (free with pb_strv_free); NULL on ENOMEM. */
char **pb_cli_split(const char *list);

#endif
