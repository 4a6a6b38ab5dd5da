# The heap states measurements start from (bench/heap_prep.h): shared by the runner and the
# microbenchmarks, so that "a fragmented heap" is one thing everywhere.
pb_module(pb_heap_prep SOURCES ${CMAKE_CURRENT_LIST_DIR}/heap_prep.c
  LIBS pb_memop pb_heap pb_clear pb_interrupt pb_common)
