# The heap: the buddy allocator and its variants (heap.c, pcp.c), claims and the host-wide
# counters (claims.c), the machine (machine.c), scrubbing (scrub.c: scrub.h's API, whose heap
# side alloc and free call), domains, validator.
pb_module(pb_heap
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/heap.c ${CMAKE_CURRENT_LIST_DIR}/claims.c
          ${CMAKE_CURRENT_LIST_DIR}/pcp.c ${CMAKE_CURRENT_LIST_DIR}/machine.c
          ${CMAKE_CURRENT_LIST_DIR}/scrub.c
          ${CMAKE_CURRENT_LIST_DIR}/domain.c ${CMAKE_CURRENT_LIST_DIR}/validate.c
  LIBS pb_lock pb_clear pb_options pb_common PkgConfig::NUMA)
