# scripts/sweep end to end on this machine's CPUs (1 and 2 threads), and its dry run.
pb_harness_shell_test(test_harness_sweep LABELS unit)
