# popbench-instr: fixed counts of core operations for the gate's callgrind instruction tier
# (scripts/gate runs it under callgrind and writes results/baselines/ci-instr.json's format).
add_executable(popbench-instr ${CMAKE_CURRENT_LIST_DIR}/instr.c)
target_link_libraries(popbench-instr PRIVATE pb_heap_prep pb_memop pb_heap pb_p2m pb_results pb_warnings
  pb_git_commit_h)
string(TOUPPER "${CMAKE_BUILD_TYPE}" _pb_instr_bt)
target_compile_definitions(popbench-instr PRIVATE
  POPBENCH_BUILD_TYPE="${CMAKE_BUILD_TYPE}$<$<BOOL:${POPBENCH_SANITIZE}>: sanitize=${POPBENCH_SANITIZE}> POPBENCH_DEBUG=${POPBENCH_DEBUG}"
  POPBENCH_CFLAGS="${CMAKE_C_FLAGS} ${CMAKE_C_FLAGS_${_pb_instr_bt}}")
