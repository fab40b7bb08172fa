# Tests of hyperparameter tuning and architecture search (core/search/,
# mlopt tune / search / report): synthetic objectives and tiny synthetic
# datasets only, so that they run in seconds.
mlopt_add_check_test(test_search_samplers SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_search_samplers.c TIMEOUT 20)
mlopt_add_check_test(test_search_asha SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_search_asha.c TIMEOUT 20)
mlopt_add_check_test(test_search_evolution SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_search_evolution.c TIMEOUT 20)
mlopt_add_check_test(test_search_journal SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_search_journal.c TIMEOUT 60)
if(TARGET mlopt_cli)
  foreach(case tune search dedupe resume budget kill report)
    add_test(NAME search_cli_${case} COMMAND bash "${CMAKE_CURRENT_LIST_DIR}/search_cli.sh"
             "$<TARGET_FILE:mlopt_cli>" ${case})
    set_tests_properties(search_cli_${case} PROPERTIES TIMEOUT 300
      ENVIRONMENT "MLOPT_BACKEND=cpu;MLOPT_PLUGIN_PATH=${MLOPT_BUILD_PLUGIN_DIR};MLOPT_NUM_THREADS=1")
  endforeach()
endif()
