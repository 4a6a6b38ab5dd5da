/*
 * cli.h: the command entry points behind `popbench compare|gate|history|plot`. argv[0] is the
 * command name; each takes --help. Exit status: 0 success (gate: pass), 1 regression (gate),
 * 2 bad input or error (the message names the flag or file and what was expected),
 * 3 inconclusive or environment differs (gate).
 */
#ifndef POPBENCH_RESULTS_CLI_H
#define POPBENCH_RESULTS_CLI_H

int pb_cmd_compare(int argc, char **argv);
int pb_cmd_gate(int argc, char **argv);
int pb_cmd_history(int argc, char **argv);
int pb_cmd_plot(int argc, char **argv);

#endif
