pb_test(test_options SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_options.c
  LIBS pb_heap pb_options LABELS unit)
