# CPU backend tests: every slot's fast path against the scalar reference
# (MLOPT_CPU_REF=1), the reference against hand-computed cases.
if(TARGET mlopt_backend_cpu)
  mlopt_add_check_test(test_cpu_gemm SOURCES test_cpu_gemm.c TIMEOUT 60 LIBS ${CMAKE_DL_LIBS})
  add_dependencies(test_cpu_gemm mlopt_backend_cpu)
endif()
if(TARGET mlopt_backend_cpu)
  mlopt_add_check_test(test_cpu_ops SOURCES test_cpu_ops.c TIMEOUT 60 LIBS ${CMAKE_DL_LIBS})
  add_dependencies(test_cpu_ops mlopt_backend_cpu)
endif()
if(TARGET mlopt_backend_cpu)
  # the pool's source compiled in: its protocol tested without a backend
  mlopt_add_check_test(test_cpu_threadpool SOURCES test_cpu_threadpool.c
    "${PROJECT_SOURCE_DIR}/backends/cpu/cpu_threadpool.c" TIMEOUT 60 LIBS Threads::Threads)
  target_include_directories(test_cpu_threadpool PRIVATE "${PROJECT_SOURCE_DIR}/backends/cpu")
endif()
