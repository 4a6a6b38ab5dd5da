# The conformance suite: one test per rule of XEN-MODEL.md, named after the rule and the Xen
# function it follows, run on every variant the rule applies to (the suite's table of
# deviations says where a variant differs on purpose).
pb_test(test_conformance SOURCES ${CMAKE_CURRENT_LIST_DIR}/conformance/test_conformance.c
  LIBS pb_memop LABELS unit conformance)
