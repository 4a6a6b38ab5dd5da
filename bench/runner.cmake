# The runner's other files (bench/runner_impl.h lists them) join runner.c in pb_harness
# (popbench.cmake): the event count its threads block on, setup, slots, timed calls, one file
# per worker role, results and the overhead calibration.
target_sources(pb_harness PRIVATE
  ${CMAKE_CURRENT_LIST_DIR}/event.c
  ${CMAKE_CURRENT_LIST_DIR}/run_worker.c
  ${CMAKE_CURRENT_LIST_DIR}/run_setup.c
  ${CMAKE_CURRENT_LIST_DIR}/run_slot.c
  ${CMAKE_CURRENT_LIST_DIR}/run_timed.c
  ${CMAKE_CURRENT_LIST_DIR}/role_builder.c
  ${CMAKE_CURRENT_LIST_DIR}/role_balloon.c
  ${CMAKE_CURRENT_LIST_DIR}/role_reader.c
  ${CMAKE_CURRENT_LIST_DIR}/role_recreate.c
  ${CMAKE_CURRENT_LIST_DIR}/run_results.c
  ${CMAKE_CURRENT_LIST_DIR}/run_overhead.c)
target_link_libraries(pb_harness PUBLIC pb_heap_prep)
