pb_module(pb_lock SOURCES ${CMAKE_CURRENT_LIST_DIR}/lock.c LIBS pb_common)
