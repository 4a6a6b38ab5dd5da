# The popbench command: its commands as a library (the tests call them), and the binary,
# built here as build*/cli/popbench.
string(TOUPPER "${CMAKE_BUILD_TYPE}" _pb_bt)
set(_pb_cli_defs
  POPBENCH_VERSION_STRING="${PROJECT_VERSION}"
  POPBENCH_BUILD_TYPE="${CMAKE_BUILD_TYPE}$<$<BOOL:${POPBENCH_SANITIZE}>: sanitize=${POPBENCH_SANITIZE}> POPBENCH_DEBUG=${POPBENCH_DEBUG}"
  POPBENCH_CFLAGS="${CMAKE_C_FLAGS} ${CMAKE_C_FLAGS_${_pb_bt}}"
  POPBENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
  POPBENCH_PYTHON="/usr/bin/python3"
  POPBENCH_HWLOC_VERSION="${HWLOC_VERSION}"
  POPBENCH_URCU_VERSION="${URCU_MEMB_VERSION}")

pb_module(pb_cli
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/flags.c
    ${CMAKE_CURRENT_LIST_DIR}/table.c
    ${CMAKE_CURRENT_LIST_DIR}/run.c
    ${CMAKE_CURRENT_LIST_DIR}/run_out.c
    ${CMAKE_CURRENT_LIST_DIR}/run_session.c
    ${CMAKE_CURRENT_LIST_DIR}/run_table.c
    ${CMAKE_CURRENT_LIST_DIR}/run_workloads.c
    ${CMAKE_CURRENT_LIST_DIR}/calibrate.c
    ${CMAKE_CURRENT_LIST_DIR}/jemalloc.c
    ${CMAKE_CURRENT_LIST_DIR}/list.c
    ${CMAKE_CURRENT_LIST_DIR}/topology.c
    ${CMAKE_CURRENT_LIST_DIR}/compare.c
    ${CMAKE_CURRENT_LIST_DIR}/gate.c
    ${CMAKE_CURRENT_LIST_DIR}/history.c
    ${CMAKE_CURRENT_LIST_DIR}/plot.c
  LIBS pb_harness pb_compare pb_verdict pb_results pb_workload PkgConfig::SQLITE3 pb_git_commit_h)
target_compile_definitions(pb_cli PRIVATE ${_pb_cli_defs})

add_executable(popbench ${CMAKE_CURRENT_LIST_DIR}/main.c)
# jemalloc replaces malloc for the whole process; gcc links with --as-needed here, which would
# drop it silently (nothing calls it by name but mallctl), so it is linked unconditionally and
# run.c checks at startup that it is active.
target_link_libraries(popbench PRIVATE pb_cli pb_warnings pb_git_commit_h
  -Wl,--no-as-needed -ljemalloc -Wl,--as-needed PkgConfig::JEMALLOC)
target_compile_definitions(popbench PRIVATE ${_pb_cli_defs})
