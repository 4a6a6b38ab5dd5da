# The results library: the metric table, the document, its check and reader, the per-metric
# view, the writers (JSON, CSV, the terminal table, atomic files) and the statistics.
pb_module(pb_results
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/metrics.c
          ${CMAKE_CURRENT_LIST_DIR}/results.c
          ${CMAKE_CURRENT_LIST_DIR}/results_check.c
          ${CMAKE_CURRENT_LIST_DIR}/results_view.c
          ${CMAKE_CURRENT_LIST_DIR}/results_env.c
          ${CMAKE_CURRENT_LIST_DIR}/results_write.c
          ${CMAKE_CURRENT_LIST_DIR}/results_file.c
          ${CMAKE_CURRENT_LIST_DIR}/stats.c
          ${CMAKE_CURRENT_LIST_DIR}/changepoint.c
          ${CMAKE_CURRENT_LIST_DIR}/lockprof.c
  LIBS pb_common PkgConfig::JANSSON m)
target_compile_definitions(pb_results PRIVATE POPBENCH_VERSION_STRING="${PROJECT_VERSION}")
