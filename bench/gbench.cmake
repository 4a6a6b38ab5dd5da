# Google Benchmark from C (bench/gbench/pbgb.h). The library is C++ inside, so every program
# that links it needs the C++ runtime. CMake links a C program with the C++ driver when it links
# a static C++ library such as pb_gbench; pb_gbench_executable() also says so explicitly.
add_library(pb_gbench STATIC ${CMAKE_CURRENT_LIST_DIR}/gbench/pbgb.cc)
target_include_directories(pb_gbench PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(pb_gbench PUBLIC pb_warnings benchmark::benchmark Threads::Threads)
target_link_libraries(pb_gbench PRIVATE pb_git_commit_h)
# Which popbench build made a report: added to every report's context by pbgb_init().
target_compile_definitions(pb_gbench PRIVATE
  PBGB_BUILD_TYPE="$<CONFIG> POPBENCH_DEBUG=${POPBENCH_DEBUG}$<$<BOOL:${POPBENCH_SANITIZE}>: sanitize=${POPBENCH_SANITIZE}>")

# pb_gbench_executable(name SOURCES ... [LIBS ...]): a benchmark program, C or C++, using the
# shim; linked by the C++ driver.
function(pb_gbench_executable name)
  cmake_parse_arguments(G "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${G_SOURCES})
  target_link_libraries(${name} PRIVATE pb_gbench ${G_LIBS})
  set_target_properties(${name} PROPERTIES LINKER_LANGUAGE CXX)
endfunction()

# The shim's per-iteration cost against the same loop in C++ (docs/gbench.md).
pb_gbench_executable(pb_gbench_overhead_c SOURCES ${CMAKE_CURRENT_LIST_DIR}/gbench/overhead_c.c)
pb_gbench_executable(pb_gbench_overhead_native
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/gbench/overhead_native.cc)
# A loop of a few instructions that straddles a 64-byte line costs a cycle more per iteration
# on some cores (measured: 0.28 vs 0.56 ns on this project's AMD EPYC VMs), whichever language
# it is in; aligned loops make the two programs differ only in their code.
foreach(_t pb_gbench_overhead_c pb_gbench_overhead_native)
  target_compile_options(${_t} PRIVATE -falign-loops=64)
endforeach()
