# The results library: document round trip, the reader and its per-metric view, the files
# older popbench wrote, the metric table (test_results); atomic writes, CSV, table
# (test_results_write); the written files against the JSON Schema (python3-jsonschema).
set(_results_fixture ${CMAKE_CURRENT_LIST_DIR}/unit/results_fixture.c)
pb_test(test_results SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_results.c ${_results_fixture}
  LIBS pb_results m LABELS unit)
target_compile_definitions(test_results PRIVATE
  PB_RESULTS_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data/results"
  PB_RESULTS_SCHEMA="${CMAKE_SOURCE_DIR}/results/schema-v1.json")
pb_test(test_results_write
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_results_write.c ${_results_fixture}
  LIBS pb_results m LABELS unit)

add_test(NAME test_results_schema
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/unit/test_results_schema.sh $<TARGET_FILE:test_results>
          ${CMAKE_SOURCE_DIR})
set_tests_properties(test_results_schema PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)

# Google Benchmark's compare.py reads what popbench writes (skipped without libbenchmark-tools).
add_test(NAME test_results_compare_py
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/unit/test_results_compare.sh $<TARGET_FILE:test_results>)
set_tests_properties(test_results_compare_py PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)

# E-divisive change points: planted shifts found in place, the false-alarm rate in noise.
pb_test(test_changepoint SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_changepoint.c
  LIBS pb_results m LABELS unit)

# Lock figures in the shape of Xen's lock profiler.
pb_test(test_lockprof SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_lockprof.c ${_results_fixture}
  LIBS pb_results m LABELS unit)
