# Scrub bandwidth, drain time and allocation throughput with and without background
# scrubbing: a benchmark, not a test.
add_executable(popbench-scrubbench ${CMAKE_CURRENT_LIST_DIR}/scrubbench.c)
target_link_libraries(popbench-scrubbench PRIVATE pb_scrub pb_heap pb_clear pb_warnings)
