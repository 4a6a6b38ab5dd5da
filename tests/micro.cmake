# Every microbenchmark runs once, briefly, and its JSON parses with every benchmark present.
add_test(NAME test_micro_runs_every_benchmark
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/unit/test_micro.sh $<TARGET_FILE:popbench-micro>)
set_tests_properties(test_micro_runs_every_benchmark PROPERTIES LABELS unit TIMEOUT 900)
