# Set-up loops' look at the user's interruption (bench/interrupt.h): the heap preparation and
# the runner's set-up use it.
pb_module(pb_interrupt SOURCES ${CMAKE_CURRENT_LIST_DIR}/interrupt.c LIBS pb_common)
