pb_test(test_lock SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_lock.c LIBS pb_lock LABELS unit)
pb_test(test_lock_stress SOURCES ${CMAKE_CURRENT_LIST_DIR}/stress/test_lock_stress.c LIBS pb_lock LABELS stress)
