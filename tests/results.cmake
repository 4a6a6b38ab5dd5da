# The results library: document round trip, schema, atomic writes, CSV/table, reader errors.
pb_test(test_results SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_results.c
  LIBS pb_results m LABELS unit)
target_compile_definitions(test_results PRIVATE
  PB_RESULTS_TEST_DATA="${CMAKE_SOURCE_DIR}/tests/data/results"
  PB_RESULTS_SCHEMA="${CMAKE_SOURCE_DIR}/results/schema-v1.json")

# Google Benchmark's compare.py reads what popbench writes (skipped without libbenchmark-tools).
add_test(NAME test_results_compare_py
  COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/unit/test_results_compare.sh $<TARGET_FILE:test_results>)
set_tests_properties(test_results_compare_py PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 300)
