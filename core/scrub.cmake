pb_module(pb_scrub SOURCES ${CMAKE_CURRENT_LIST_DIR}/scrub.c LIBS pb_heap pb_clear pb_common)
