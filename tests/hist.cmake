pb_test(test_hist SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_hist.c LIBS pb_hist m LABELS unit)
