# Vulkan backend tests: every slot cross-checked against the CPU backend's
# scalar reference, with the Khronos validation layer on where installed.
if(TARGET mlopt_backend_vulkan)
  mlopt_add_check_test(test_vulkan_kernels SOURCES test_vulkan_kernels.c TIMEOUT 120
    LIBS ${CMAKE_DL_LIBS})
  add_dependencies(test_vulkan_kernels mlopt_backend_vulkan mlopt_backend_cpu)
endif()
