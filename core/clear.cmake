pb_module(pb_clear SOURCES ${CMAKE_CURRENT_LIST_DIR}/clear.c LIBS pb_common)
