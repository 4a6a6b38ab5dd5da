# The workload loader: shipped files, fixtures (tests/data/workloads), parsing helpers, fuzz.
pb_test(test_workload SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_workload.c LIBS pb_workload
  LABELS unit)
target_compile_definitions(test_workload PRIVATE POPBENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
