pb_test(test_scrub SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_scrub.c
  LIBS pb_scrub pb_heap pb_clear LABELS unit)
pb_test(test_scrub_stress SOURCES ${CMAKE_CURRENT_LIST_DIR}/stress/test_scrub_stress.c
  LIBS pb_scrub pb_heap pb_clear LABELS stress)
# Sanitized builds run fewer operations: the same interleavings matter, not the count.
if(POPBENCH_SANITIZE)
  target_compile_definitions(test_scrub_stress PRIVATE STRESS_OPS=400)
endif()
