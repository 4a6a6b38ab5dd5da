pb_test(test_pcp SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_pcp.c LIBS pb_heap LABELS unit)
