# Shared build settings: warnings, sanitizers, debug level, dependencies.
include_guard(GLOBAL)
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
  message(FATAL_ERROR "pkg-config not found: install the Debian package 'pkg-config' (or run scripts/setup)")
endif()

# pb_require_pkg(VAR module debian-package): a missing library names its Debian package.
function(pb_require_pkg var module debpkg)
  pkg_check_modules(${var} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${var}_FOUND)
    message(FATAL_ERROR "popbench needs ${module} (pkg-config): install the Debian package '${debpkg}' (or run scripts/setup)")
  endif()
endfunction()

pb_require_pkg(HWLOC "hwloc>=2.0" libhwloc-dev)
pb_require_pkg(NUMA numa libnuma-dev)
pb_require_pkg(URCU_MEMB liburcu-memb liburcu-dev)
pb_require_pkg(URCU_CDS liburcu-cds liburcu-dev)
pb_require_pkg(JEMALLOC jemalloc libjemalloc-dev)
pb_require_pkg(JANSSON jansson libjansson-dev)
pb_require_pkg(SQLITE3 sqlite3 libsqlite3-dev)
pb_require_pkg(YAML yaml-0.1 libyaml-dev)
pb_require_pkg(CMOCKA cmocka libcmocka-dev)
find_package(benchmark 1.7 QUIET)
if(NOT benchmark_FOUND)
  message(FATAL_ERROR "popbench needs Google Benchmark >= 1.7: install the Debian package 'libbenchmark-dev' (or run scripts/setup)")
endif()
find_package(Threads REQUIRED)

add_library(pb_warnings INTERFACE)
target_compile_options(pb_warnings INTERFACE
  -Wall -Wextra -Werror -Wundef
  $<$<COMPILE_LANGUAGE:C>:-Wmissing-prototypes -Wstrict-prototypes>)
target_compile_definitions(pb_warnings INTERFACE POPBENCH_DEBUG=${POPBENCH_DEBUG}
  POPBENCH_COUNT_SHARED=${POPBENCH_COUNT_SHARED} _GNU_SOURCE)

if(POPBENCH_SANITIZE STREQUAL "address")
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
elseif(POPBENCH_SANITIZE STREQUAL "thread")
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
elseif(NOT POPBENCH_SANITIZE STREQUAL "")
  message(FATAL_ERROR "POPBENCH_SANITIZE must be '', 'address' or 'thread', not '${POPBENCH_SANITIZE}'")
endif()

# The git commit the binary was built from, for the results' environment: pb_git_commit.h,
# rewritten at every build when the commit changed (link pb_git_commit_h to include it).
set(PB_GIT_COMMIT_H ${CMAKE_BINARY_DIR}/generated/pb_git_commit.h)
add_custom_target(pb_git_commit
  COMMAND ${CMAKE_COMMAND} -DSOURCE_DIR=${CMAKE_SOURCE_DIR} -DOUT=${PB_GIT_COMMIT_H}
          -P ${CMAKE_SOURCE_DIR}/cmake/git_commit.cmake
  BYPRODUCTS ${PB_GIT_COMMIT_H}
  VERBATIM)
add_library(pb_git_commit_h INTERFACE)
target_include_directories(pb_git_commit_h INTERFACE ${CMAKE_BINARY_DIR}/generated)
add_dependencies(pb_git_commit_h pb_git_commit)

# pb_module(name SOURCES ... LIBS ...): one core/ or bench/ concept as a static library.
function(pb_module name)
  cmake_parse_arguments(M "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} STATIC ${M_SOURCES})
  target_include_directories(${name} PUBLIC ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC pb_warnings Threads::Threads ${M_LIBS})
endfunction()

# pb_test(name SOURCES ... LIBS ... [LABELS ...] [ARGS ...]): a cmocka test registered with ctest.
function(pb_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS;LABELS;ARGS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE pb_warnings PkgConfig::CMOCKA Threads::Threads ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT} LABELS "${T_LABELS}")
endfunction()

# Each concept adds itself through a fragment (core/*.cmake, tests/*.cmake, ...), so adding
# one never edits a shared list.
macro(pb_include_fragments)
  file(GLOB _frags CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cmake)
  list(SORT _frags)
  foreach(_f IN LISTS _frags)
    include(${_f})
  endforeach()
endmacro()
