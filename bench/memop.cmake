# memory_op costs: preemption checks, p2m lookups with and without a writer, building a 4 GiB
# domain with and without preemption and scrubbing: a benchmark, not a test.
add_executable(popbench-memopbench ${CMAKE_CURRENT_LIST_DIR}/memopbench.c)
target_link_libraries(popbench-memopbench PRIVATE pb_memop pb_warnings)
