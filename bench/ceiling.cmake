# The parallel ceiling: a reference workload that shares no data, run beside every
# multi-threaded measurement (popbench run, popbench-micro) on the same pinned threads.
pb_module(pb_ceiling SOURCES ${CMAKE_CURRENT_LIST_DIR}/ceiling.c
  LIBS pb_common pb_results PkgConfig::HWLOC)
