# Verdicts: intervals, the verdict logic, the stopping rule on synthetic samples, a run's
# verdicts from a results document (results/verdict.h).
pb_test(test_verdict SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_verdict.c
  ${CMAKE_CURRENT_LIST_DIR}/unit/results_fixture.c
  LIBS pb_verdict pb_results m LABELS unit)
# The noise probes on files the test writes, and what cannot be read (bench/noise.h).
pb_test(test_noise SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_noise.c
  LIBS pb_harness m LABELS unit)
