# The workload loader: shipped files, fixtures (tests/data/workloads), parsing helpers, hostile
# files (FIFOs, devices, deep nesting), fuzz.
pb_test(test_workload SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_workload.c
  ${CMAKE_CURRENT_LIST_DIR}/unit/bounded_call.c LIBS pb_workload LABELS unit)
target_compile_definitions(test_workload PRIVATE POPBENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
# The same hostile files through the popbench command, each under a deadline.
add_test(NAME test_harness_input_files
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/harness/test_harness_input_files.sh
          $<TARGET_FILE:popbench>)
set_tests_properties(test_harness_input_files PROPERTIES LABELS unit TIMEOUT 900)
