# End-to-end tests of the `mlopt` command (shell driven).
add_executable(tb_verify ${CMAKE_CURRENT_LIST_DIR}/cli/tb_verify.c)
target_include_directories(tb_verify PRIVATE "${PROJECT_SOURCE_DIR}/include" "${PROJECT_SOURCE_DIR}/core")
target_link_libraries(tb_verify PRIVATE mlopt)

if(TARGET mlopt_cli)
  foreach(case accuracy resume augment-dropout-resume logdir bad-input nonfinite backends
               backend-accuracy-opencl backend-accuracy-vulkan)
    add_test(NAME cli_${case} COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/cli/e2e.sh" "$<TARGET_FILE:mlopt_cli>" ${case}
             "$<TARGET_FILE:tb_verify>")
    set_tests_properties(cli_${case} PROPERTIES TIMEOUT 900 ENVIRONMENT "MLOPT_BACKEND=")
  endforeach()
  if(MLOPT_SANITIZE)
    # LeakSanitizer's exit-time tracer crashes (SIGSEGV in StopTheWorld) in a
    # process that still has PoCL's worker threads; leak checking of the
    # OpenCL plugin itself runs in conformance_opencl / test_opencl_kernels.
    set_tests_properties(cli_backend-accuracy-opencl PROPERTIES ENVIRONMENT "MLOPT_BACKEND=;ASAN_OPTIONS=detect_leaks=0")
  endif()
endif()
