# Workload files (workloads/*.yaml) and their loader.
pb_module(pb_workload SOURCES ${CMAKE_CURRENT_LIST_DIR}/workload.c LIBS pb_options pb_common PkgConfig::YAML)
