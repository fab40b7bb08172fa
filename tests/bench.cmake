# Smoke test of `mlopt bench`: a tiny GEMM run on the cpu backend writes
# valid JSON lines with the full schema, and --compare reads them back.
# (Real benchmark runs never go into ctest.)
if(TARGET mlopt_cli AND TARGET mlopt_backend_cpu)
  mlopt_add_check_test(test_bench_smoke SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_bench_smoke.c TIMEOUT 60)
  target_compile_definitions(test_bench_smoke PRIVATE MLOPT_BENCH_CLI="$<TARGET_FILE:mlopt_cli>")
  add_dependencies(test_bench_smoke mlopt_cli mlopt_backend_cpu)
endif()
