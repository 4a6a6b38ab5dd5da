# The parallel ceiling: its run, buffers and table; its threads also under the sanitizers.
pb_test(test_ceiling SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_ceiling.c LIBS pb_ceiling
  LABELS "unit;stress")
