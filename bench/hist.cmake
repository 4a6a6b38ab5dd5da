pb_module(pb_hist SOURCES ${CMAKE_CURRENT_LIST_DIR}/hist.c LIBS pb_common m)
# Cost of one pb_hist_record() and of one clock read: a benchmark, not a test.
add_executable(popbench-histbench ${CMAKE_CURRENT_LIST_DIR}/histbench.c)
target_link_libraries(popbench-histbench PRIVATE pb_hist)
