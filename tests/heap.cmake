pb_test(test_heap SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_heap.c LIBS pb_heap LABELS unit)
pb_test(test_heap_stress SOURCES ${CMAKE_CURRENT_LIST_DIR}/stress/test_heap_stress.c
  LIBS pb_heap LABELS stress)
# Sanitized builds run fewer operations: the same interleavings matter, not the count.
if(POPBENCH_SANITIZE)
  target_compile_definitions(test_heap_stress PRIVATE STRESS_OPS=600)
endif()
pb_test(test_node_claims SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_node_claims.c LIBS pb_heap
  LABELS unit)
