# memory_op, the preemption source and the toolstack side (core/memop.h, preempt.h, toolstack.h).
pb_test(test_memop SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_memop.c LIBS pb_memop LABELS unit)
pb_test(test_preempt SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_preempt.c LIBS pb_memop m
  LABELS unit)
pb_test(test_toolstack SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_toolstack.c LIBS pb_memop
  LABELS unit)
pb_test(test_memop_torture SOURCES ${CMAKE_CURRENT_LIST_DIR}/torture/test_memop_torture.c
  LIBS pb_memop LABELS torture)
# Sanitized builds run fewer operations: the same interleavings matter, not the count.
if(POPBENCH_SANITIZE)
  target_compile_definitions(test_memop_torture PRIVATE TORTURE_OPS=3000)
endif()
