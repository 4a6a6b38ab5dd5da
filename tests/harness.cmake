# The popbench harness: streams, topology, reports (unit); whole runs (stress, also under the
# sanitizers); the command itself through shell tests.
pb_test(test_harness_stream SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_harness_stream.c
  LIBS pb_harness LABELS unit)
pb_test(test_harness_topology SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_harness_topology.c
  ${CMAKE_CURRENT_LIST_DIR}/unit/bounded_call.c LIBS pb_harness LABELS unit)
# Backings, starting states and the host's clear bandwidth (unit, also under the sanitizers).
pb_test(test_harness_backing SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_harness_backing.c
  LIBS pb_harness LABELS "unit;stress")
pb_test(test_harness_report SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_harness_report.c
  LIBS pb_harness m LABELS unit)
pb_test(test_harness_runner SOURCES ${CMAKE_CURRENT_LIST_DIR}/stress/test_harness_runner.c
  LIBS pb_harness LABELS stress)
# The worker roles one step at a time, on the test's thread (bench/runner_impl.h).
pb_test(test_harness_roles SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_harness_roles.c
  LIBS pb_harness LABELS unit)
# The event count workers block on; also under the sanitizers.
pb_test(test_harness_event SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_harness_event.c
  LIBS pb_harness LABELS "unit;stress")

# Reads what `popbench run` wrote, for the shell tests.
add_executable(harness_results_check ${CMAKE_CURRENT_LIST_DIR}/common/harness_results_check.c)
target_link_libraries(harness_results_check PRIVATE pb_results pb_warnings)

# pb_harness_shell_test(name script LABELS ...): script POPBENCH CHECKER WORKLOADS_DIR.
function(pb_harness_shell_test name)
  cmake_parse_arguments(S "" "" "LABELS" ${ARGN})
  add_test(NAME ${name}
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/harness/${name}.sh $<TARGET_FILE:popbench>
            $<TARGET_FILE:harness_results_check> ${CMAKE_SOURCE_DIR}/workloads)
  set_tests_properties(${name} PROPERTIES LABELS "${S_LABELS}" TIMEOUT 600)
endfunction()
pb_harness_shell_test(test_harness_cli LABELS unit)
# Every shipped workload through the whole binary: under the sanitizers too.
pb_harness_shell_test(test_harness_workloads LABELS stress)
pb_harness_shell_test(test_harness_sigint LABELS stress)
# --out's destinations (device, FIFO, link, directory, full disk) and what failed or interrupted
# runs leave; the results commands on hostile files; concurrent history imports.
pb_harness_shell_test(test_harness_out LABELS unit)
pb_harness_shell_test(test_harness_results_cli LABELS unit)

add_test(NAME test_harness_compare_py
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/harness/test_harness_compare_py.sh $<TARGET_FILE:popbench>
          ${CMAKE_SOURCE_DIR}/workloads)
set_tests_properties(test_harness_compare_py PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 600)
