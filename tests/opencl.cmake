# OpenCL backend tests: cross-checks against the CPU reference.  Generous
# timeout: PoCL compiles the kernel program (and CLBlast its GEMM kernels)
# at each context creation.
mlopt_add_check_test(test_opencl_kernels SOURCES test_opencl_kernels.c TIMEOUT 300 LIBS ${CMAKE_DL_LIBS})
if(TARGET mlopt_backend_opencl)
  add_dependencies(test_opencl_kernels mlopt_backend_opencl)
endif()
if(TARGET mlopt_backend_cpu)
  add_dependencies(test_opencl_kernels mlopt_backend_cpu)
endif()
