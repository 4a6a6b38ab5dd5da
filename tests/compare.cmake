# Tests of compare, gate, history and plot: synthetic results files written by the tests, and
# the commands (cli/) run on them.
set(_cmp_fixture ${CMAKE_CURRENT_LIST_DIR}/unit/results_fixture.c)
pb_test(test_compare SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_compare.c ${_cmp_fixture}
  LIBS pb_cli LABELS unit)
pb_test(test_gate SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_gate.c ${_cmp_fixture}
  LIBS pb_cli LABELS unit)
pb_test(test_history SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_history.c ${_cmp_fixture}
  LIBS pb_cli PkgConfig::SQLITE3 LABELS unit)
pb_test(test_plot SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_plot.c ${_cmp_fixture}
  LIBS pb_cli LABELS unit)
target_compile_definitions(test_plot PRIVATE
  PB_TEST_DATA_DIR="${CMAKE_SOURCE_DIR}/tests/data/compare")
