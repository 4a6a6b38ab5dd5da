# compare, gate, history and plot over results files; popbench-results runs them standalone.
pb_module(pb_compare
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/stats.c
    ${CMAKE_CURRENT_LIST_DIR}/compare.c
    ${CMAKE_CURRENT_LIST_DIR}/compare_table.c
    ${CMAKE_CURRENT_LIST_DIR}/gate.c
    ${CMAKE_CURRENT_LIST_DIR}/history.c
    ${CMAKE_CURRENT_LIST_DIR}/cli.c
  LIBS pb_results pb_common PkgConfig::JANSSON PkgConfig::SQLITE3 m)
# plot runs scripts/plot from the source tree with Debian's python (it has matplotlib).
target_compile_definitions(pb_compare PRIVATE
  POPBENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}" POPBENCH_PYTHON="/usr/bin/python3")

add_executable(popbench-results ${CMAKE_CURRENT_LIST_DIR}/main.c)
target_link_libraries(popbench-results PRIVATE pb_compare)
