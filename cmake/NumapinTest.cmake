# numapin_test(NAME LABEL SOURCES... [LIBS ...] [TIMEOUT seconds])
#
# Builds a GoogleTest binary into build/bin and registers it with ctest under one label:
# unit (pure code, runs anywhere), bpf (real kernel, root), e2e (real cgroups, root),
# prometheus (real Prometheus and node-exporter), lab (guest kernel under qemu).
function(numapin_test name label)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  target_compile_definitions(${name} PRIVATE
    NUMAPIN_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    NUMAPIN_BINARY_DIR="${PROJECT_BINARY_DIR}")
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT ${ARG_TIMEOUT})
endfunction()
