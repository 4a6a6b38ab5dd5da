# Bandwidth of the pb_clear() methods: a benchmark, not a test.
add_executable(popbench-clearbench ${CMAKE_CURRENT_LIST_DIR}/clearbench.c)
target_link_libraries(popbench-clearbench PRIVATE pb_clear)
