# The workload parser under libFuzzer (clang's -fsanitize=fuzzer with ASan and UBSan): built with
# clang whatever compiler builds the rest, and run by ctest for a fixed number of executions.
option(POPBENCH_FUZZ "Build the workload parser's libFuzzer target and its test (needs clang)" ON)
set(POPBENCH_FUZZ_RUNS 50000 CACHE STRING "Executions of the workload fuzzer in its ctest test")

set(_pb_fuzzer none)
if(POPBENCH_FUZZ AND POPBENCH_SANITIZE STREQUAL "")
  find_program(PB_CLANG NAMES clang clang-16 clang-15 clang-14)
  if(PB_CLANG AND NOT DEFINED PB_CLANG_LIBFUZZER)
    # Debian ships libFuzzer's runtime apart from clang (libclang-rt-dev): try to link one.
    set(_probe ${CMAKE_BINARY_DIR}/libfuzzer-probe.c)
    file(WRITE ${_probe}
      "#include <stddef.h>\n#include <stdint.h>\n"
      "int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n")
    execute_process(COMMAND ${PB_CLANG} -fsanitize=fuzzer,address ${_probe}
                            -o ${CMAKE_BINARY_DIR}/libfuzzer-probe
                    RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
    if(_rc EQUAL 0)
      set(PB_CLANG_LIBFUZZER ON CACHE INTERNAL "clang links libFuzzer")
    else()
      set(PB_CLANG_LIBFUZZER OFF CACHE INTERNAL "clang links libFuzzer")
    endif()
  endif()
  if(PB_CLANG AND PB_CLANG_LIBFUZZER)
    set(_pb_fuzzer ${CMAKE_CURRENT_BINARY_DIR}/workload-fuzzer)
    set(_sources ${CMAKE_CURRENT_LIST_DIR}/fuzz/fuzz_workload.c ${PB_WORKLOAD_SOURCES}
                 ${CMAKE_SOURCE_DIR}/core/options.c ${CMAKE_SOURCE_DIR}/core/pb.c
                 ${CMAKE_SOURCE_DIR}/core/input.c)
    file(GLOB _headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/workloads/*.h
                                         ${CMAKE_SOURCE_DIR}/core/*.h)
    string(REPLACE ";" " " _yaml_cflags "${YAML_CFLAGS}")
    add_custom_command(OUTPUT ${_pb_fuzzer}
      COMMAND ${PB_CLANG} -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined
              -fno-sanitize-recover=undefined -fno-omit-frame-pointer
              -Wall -Wextra -Werror -Wundef -Wmissing-prototypes -Wstrict-prototypes
              -D_GNU_SOURCE -DPOPBENCH_DEBUG=1 -DPOPBENCH_SOURCE_DIR="${CMAKE_SOURCE_DIR}"
              -I${CMAKE_SOURCE_DIR} ${YAML_CFLAGS} ${_sources} ${YAML_LDFLAGS} -lm
              -o ${_pb_fuzzer}
      DEPENDS ${_sources} ${_headers}
      COMMENT "Building the workload fuzzer with clang"
      VERBATIM)
    add_custom_target(fuzz_workload ALL DEPENDS ${_pb_fuzzer})
  else()
    message(STATUS "popbench: no clang with libFuzzer (Debian: clang, libclang-rt-dev): "
                   "test_fuzz_workload will be skipped")
  endif()
endif()

if(POPBENCH_SANITIZE STREQUAL "")
  add_test(NAME test_fuzz_workload
    COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/fuzz/run_fuzz_workload.sh ${_pb_fuzzer}
            ${CMAKE_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/fuzz-workload ${POPBENCH_FUZZ_RUNS})
  set_tests_properties(test_fuzz_workload PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 900)
endif()
