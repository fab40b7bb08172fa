# INT8 quantization: ABI 1.1 integer kernels bit-exact on every backend,
# and (test_quant_model) PTQ / BN folding / quantized checkpoints / QAT.
mlopt_add_check_test(test_quant_kernels SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_quant_kernels.c TIMEOUT 60
  LIBS ${CMAKE_DL_LIBS})
foreach(plugin mlopt_backend_cpu mlopt_backend_opencl mlopt_backend_vulkan)
  if(TARGET ${plugin})
    add_dependencies(test_quant_kernels ${plugin})
  endif()
endforeach()
mlopt_add_check_test(test_quant_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_quant_model.c TIMEOUT 60)
foreach(plugin mlopt_backend_cpu mlopt_backend_opencl mlopt_backend_vulkan)
  if(TARGET ${plugin})
    add_dependencies(test_quant_model ${plugin})
  endif()
endforeach()
