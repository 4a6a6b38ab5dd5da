pb_test(test_jemalloc_ref SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_jemalloc_ref.c
  LIBS pb_jemalloc_ref LABELS unit)
