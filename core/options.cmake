# The model's tunables: one table (options.h), read by the heap, filled by the harness.
pb_module(pb_options SOURCES ${CMAKE_CURRENT_LIST_DIR}/options.c LIBS pb_common)
