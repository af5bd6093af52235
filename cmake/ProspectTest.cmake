include(GoogleTest)
# prospect_gtest(<name> SOURCES a.cpp ... [LABELS unit ...] [FIXTURES_REQUIRED f ...] [RESOURCE_LOCK r] [TIMEOUT s])
# One GoogleTest executable; its cases are registered with CTest one by one (discovered at test time,
# so the build never runs them). Tests run with the build folder as working directory.
function(prospect_gtest name)
  cmake_parse_arguments(T "" "TIMEOUT;RESOURCE_LOCK" "SOURCES;LABELS;FIXTURES_REQUIRED" ${ARGN})
  if(NOT T_LABELS)
    set(T_LABELS unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE prospect GTest::gtest GTest::gtest_main GTest::gmock)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  target_compile_definitions(${name} PRIVATE
    PROSPECT_SOURCE_DIR="${CMAKE_SOURCE_DIR}" PROSPECT_BINARY_DIR="${CMAKE_BINARY_DIR}"
    PROSPECT_PYTHON="${PROSPECT_PYTHON}")
  # gtest_discover_tests flattens PROPERTIES into one list, so a second label or fixture would become a
  # property name and be lost without a word: register such a test with add_test instead.
  list(LENGTH T_LABELS n_labels)
  list(LENGTH T_FIXTURES_REQUIRED n_fixtures)
  if(n_labels GREATER 1 OR n_fixtures GREATER 1)
    message(FATAL_ERROR "prospect_gtest(${name}): one label and one fixture at most (add_test for more)")
  endif()
  set(props LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
  if(T_FIXTURES_REQUIRED)
    list(APPEND props FIXTURES_REQUIRED "${T_FIXTURES_REQUIRED}")
  endif()
  if(T_RESOURCE_LOCK)
    list(APPEND props RESOURCE_LOCK "${T_RESOURCE_LOCK}")
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
    PROPERTIES ${props})
endfunction()

# MPI tests: every one holds the lock "mpi" so two never oversubscribe the 2 cores together.
set(PROSPECT_MPIRUN ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe --bind-to none)
