# The harness behind `popbench run` (cli/run.c): topology and pinning, the runner, workload
# streams, reports.
pb_module(pb_harness
  SOURCES
          ${CMAKE_CURRENT_LIST_DIR}/topology.c
          ${CMAKE_CURRENT_LIST_DIR}/stream.c
          ${CMAKE_CURRENT_LIST_DIR}/runner.c
          ${CMAKE_CURRENT_LIST_DIR}/report.c
  LIBS pb_memop pb_scrub pb_heap pb_p2m pb_hist pb_workload pb_results pb_ceiling pb_common
       PkgConfig::HWLOC PkgConfig::URCU_MEMB m)
