# Knowledge distillation (core/passes/distill.c): loss and gradient against
# finite differences, teacher untouched, alpha 0 == plain trainer, hint
# gradients, and cpu/opencl/vulkan loss curves.
mlopt_add_check_test(test_distill SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_distill.c TIMEOUT 30)
foreach(plugin mlopt_backend_cpu mlopt_backend_opencl mlopt_backend_vulkan)
  if(TARGET ${plugin})
    add_dependencies(test_distill ${plugin})
  endif()
endforeach()
