pb_test(test_clear SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_clear.c LIBS pb_clear LABELS unit)
