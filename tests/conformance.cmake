# Conformance suite: every backend against the CPU scalar reference
# (generated kernel cases, gradients, training steps, ONNX node tests), the
# ABI guard, and the plugin SDK (out-of-tree example built against an
# installed mlopt).
mlopt_add_check_test(test_conformance_abi SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conformance_abi.c TIMEOUT 10)
mlopt_add_check_test(test_conformance_gradcheck SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conformance_gradcheck.c
  TIMEOUT 30)
mlopt_add_check_test(test_conformance_onnx_pb SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_conformance_onnx_pb.c TIMEOUT 10)
foreach(t test_conformance_gradcheck)
  foreach(be cpu opencl vulkan)
    if(TARGET mlopt_backend_${be})
      add_dependencies(${t} mlopt_backend_${be})
    endif()
  endforeach()
endforeach()

if(TARGET mlopt_cli)
  foreach(be cpu opencl vulkan)
    if(TARGET mlopt_backend_${be})
      add_test(NAME conformance_${be}
        COMMAND $<TARGET_FILE:mlopt_cli> conformance --backend=${be}
                --expected "${CMAKE_CURRENT_SOURCE_DIR}/onnx_expected_pass.txt")
      # Cross-backend ONNX rule: a test passing on cpu must pass here too.
      set_tests_properties(conformance_${be} PROPERTIES TIMEOUT 900
        ENVIRONMENT "XDG_CACHE_HOME=${CMAKE_BINARY_DIR}/conformance-cache;MLOPT_NUM_THREADS=2;MLOPT_BACKEND=")
    endif()
  endforeach()
  add_test(NAME conformance_plugin_sdk
    COMMAND bash "${CMAKE_CURRENT_SOURCE_DIR}/conformance_sdk.sh" "${CMAKE_BINARY_DIR}" "${PROJECT_SOURCE_DIR}")
  set_tests_properties(conformance_plugin_sdk PROPERTIES TIMEOUT 300 ENVIRONMENT "MLOPT_BACKEND=")
endif()
