# Tests of the structure-optimization passes (core/passes/): masks,
# unstructured and structured pruning, layer removal, Net2Net, activation swap.
foreach(t test_passes_masks test_passes_structured test_passes_layers)
  mlopt_add_check_test(${t} SOURCES ${CMAKE_CURRENT_LIST_DIR}/${t}.c TIMEOUT 30)
  foreach(plugin mlopt_backend_cpu mlopt_backend_opencl mlopt_backend_vulkan)
    if(TARGET ${plugin})
      add_dependencies(${t} ${plugin})
    endif()
  endforeach()
endforeach()
