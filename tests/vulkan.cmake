# Vulkan backend tests: every slot cross-checked against the CPU backend's
# scalar reference, with the Khronos validation layer on where installed.
if(TARGET mlopt_backend_vulkan)
  mlopt_add_check_test(test_vulkan_kernels SOURCES test_vulkan_kernels.c TIMEOUT 120
    LIBS ${CMAKE_DL_LIBS})
  add_dependencies(test_vulkan_kernels mlopt_backend_vulkan mlopt_backend_cpu)
  # Again with the discrete-GPU GEMM tiling and a 64-wide workgroup, so a
  # software device also checks the tile configuration GPUs use and that no
  # kernel depends on the workgroup (or subgroup) size.
  add_test(NAME test_vulkan_kernels_gpu_tiles COMMAND test_vulkan_kernels)
  set_tests_properties(test_vulkan_kernels_gpu_tiles PROPERTIES TIMEOUT 540
    ENVIRONMENT "CK_DEFAULT_TIMEOUT=120;CK_RUN_CASE=kernels;MLOPT_VULKAN_GEMM_TILES=64,64,16,4,4;MLOPT_VULKAN_WG=64;MLOPT_TEST_PLUGIN_DIR=${MLOPT_BUILD_PLUGIN_DIR}")
endif()
