# Verdicts: intervals of ratios, the verdict they support, the stopping rule of `popbench run`
# and a run's verdicts per workload (run, compare and calibrate decide through it).
pb_module(pb_verdict
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/verdict.c
  LIBS pb_results pb_common m)
