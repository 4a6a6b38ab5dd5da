# popbench-micro: microbenchmarks of core operations through the Google Benchmark shim.
pb_gbench_executable(popbench-micro SOURCES ${CMAKE_CURRENT_LIST_DIR}/micro.c
  LIBS pb_heap_prep pb_memop pb_heap pb_p2m pb_clear pb_lock pb_jemalloc_ref pb_ceiling
       PkgConfig::HWLOC)
