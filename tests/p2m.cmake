# The unit test fails chosen node allocations through the linker's --wrap.
pb_test(test_p2m SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_p2m.c LIBS pb_p2m LABELS unit)
target_link_options(test_p2m PRIVATE -Wl,--wrap=aligned_alloc)
pb_test(test_p2m_torture SOURCES ${CMAKE_CURRENT_LIST_DIR}/torture/test_p2m_torture.c LIBS pb_p2m
  LABELS torture)
