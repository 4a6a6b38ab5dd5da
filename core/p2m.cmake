pb_module(pb_p2m SOURCES ${CMAKE_CURRENT_LIST_DIR}/p2m.c LIBS pb_lock pb_common PkgConfig::URCU_MEMB)
