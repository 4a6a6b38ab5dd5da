# The popbench command: topology and pinning, the runner, workload streams, reports.
pb_module(pb_harness
  SOURCES
          ${CMAKE_CURRENT_LIST_DIR}/topology.c
          ${CMAKE_CURRENT_LIST_DIR}/stream.c
          ${CMAKE_CURRENT_LIST_DIR}/runner.c
          ${CMAKE_CURRENT_LIST_DIR}/report.c
  LIBS pb_memop pb_scrub pb_heap pb_p2m pb_hist pb_workload pb_results pb_common
       PkgConfig::HWLOC PkgConfig::URCU_MEMB m)

add_executable(popbench ${CMAKE_CURRENT_LIST_DIR}/main.c)
# jemalloc replaces malloc for the whole process; gcc links with --as-needed here, which would
# drop it silently (nothing calls it by name but mallctl), so it is linked unconditionally and
# main.c checks at startup that it is active.
target_link_libraries(popbench PRIVATE pb_harness pb_compare PkgConfig::SQLITE3 pb_git_commit_h
  -Wl,--no-as-needed -ljemalloc -Wl,--as-needed PkgConfig::JEMALLOC)
string(TOUPPER "${CMAKE_BUILD_TYPE}" _pb_bt)
target_compile_definitions(popbench PRIVATE
  POPBENCH_VERSION_STRING="${PROJECT_VERSION}"
  POPBENCH_BUILD_TYPE="${CMAKE_BUILD_TYPE}$<$<BOOL:${POPBENCH_SANITIZE}>: sanitize=${POPBENCH_SANITIZE}> POPBENCH_DEBUG=${POPBENCH_DEBUG}"
  POPBENCH_CFLAGS="${CMAKE_C_FLAGS} ${CMAKE_C_FLAGS_${_pb_bt}}"
  POPBENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
  POPBENCH_HWLOC_VERSION="${HWLOC_VERSION}"
  POPBENCH_URCU_VERSION="${URCU_MEMB_VERSION}")
