# The C shim over Google Benchmark: registers C benchmarks, runs them to a JSON file, checks it.
pb_test(test_gbench_shim SOURCES ${CMAKE_CURRENT_LIST_DIR}/unit/test_gbench_shim.c
  LIBS pb_gbench PkgConfig::JANSSON LABELS unit)
# C sources, C++ inside pb_gbench: link with the C++ driver (CMake infers it too; say so).
set_target_properties(test_gbench_shim PROPERTIES LINKER_LANGUAGE CXX)
