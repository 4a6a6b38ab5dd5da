# memory_op: populate_physmap / decrease_reservation with continuations, the preemption
# source, and the toolstack side (libxenctrl wrappers, meminit_hvm-style builder).
pb_module(pb_memop
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/memop.c ${CMAKE_CURRENT_LIST_DIR}/preempt.c
          ${CMAKE_CURRENT_LIST_DIR}/toolstack.c
  LIBS pb_heap pb_p2m pb_scrub pb_common m)
