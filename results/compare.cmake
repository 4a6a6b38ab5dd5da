# compare, gate and history over results files (the commands around them are in cli/).
pb_module(pb_compare
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/compare.c
    ${CMAKE_CURRENT_LIST_DIR}/gate.c
    ${CMAKE_CURRENT_LIST_DIR}/history.c
  LIBS pb_verdict pb_results pb_common PkgConfig::JANSSON PkgConfig::SQLITE3 m)
