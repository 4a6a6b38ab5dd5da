pb_module(pb_heap
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/heap.c ${CMAKE_CURRENT_LIST_DIR}/domain.c
          ${CMAKE_CURRENT_LIST_DIR}/validate.c
  LIBS pb_lock pb_clear pb_common PkgConfig::NUMA)
