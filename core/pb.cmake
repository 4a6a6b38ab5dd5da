pb_module(pb_common SOURCES ${CMAKE_CURRENT_LIST_DIR}/pb.c ${CMAKE_CURRENT_LIST_DIR}/clock.c
  ${CMAKE_CURRENT_LIST_DIR}/input.c)
