# The results library: the document, its JSON/CSV/table writers and its reader.
pb_module(pb_results
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/results.c
          ${CMAKE_CURRENT_LIST_DIR}/results_env.c
          ${CMAKE_CURRENT_LIST_DIR}/results_write.c
  LIBS pb_common PkgConfig::JANSSON m)
target_compile_definitions(pb_results PRIVATE POPBENCH_VERSION_STRING="${PROJECT_VERSION}")
