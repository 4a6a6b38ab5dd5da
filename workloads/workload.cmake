# Workload files (workloads/*.yaml) and their loader (core/input.c reads any user file safely; the
# topology's XML too).
set(PB_WORKLOAD_SOURCES
  ${CMAKE_CURRENT_LIST_DIR}/units.c
  ${CMAKE_CURRENT_LIST_DIR}/reader.c
  ${CMAKE_CURRENT_LIST_DIR}/machine.c
  ${CMAKE_CURRENT_LIST_DIR}/schema.c
  ${CMAKE_CURRENT_LIST_DIR}/suite.c
  ${CMAKE_CURRENT_LIST_DIR}/load.c
  ${CMAKE_CURRENT_LIST_DIR}/dir.c
  ${CMAKE_CURRENT_LIST_DIR}/dump.c
  CACHE INTERNAL "the workload loader's sources")
pb_module(pb_workload SOURCES ${PB_WORKLOAD_SOURCES} LIBS pb_options pb_common PkgConfig::YAML)
