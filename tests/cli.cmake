# End-to-end tests of the `mlopt` command (shell driven).
if(TARGET mlopt_cli)
  foreach(case accuracy resume augment-dropout-resume logdir bad-input nonfinite backends
               backend-accuracy-opencl backend-accuracy-vulkan)
    add_test(NAME cli_${case} COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/cli/e2e.sh" "$<TARGET_FILE:mlopt_cli>" ${case})
    set_tests_properties(cli_${case} PROPERTIES TIMEOUT 900 ENVIRONMENT "MLOPT_BACKEND=")
  endforeach()
endif()
