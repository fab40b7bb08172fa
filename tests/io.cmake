# File formats of the core (core/io/): IDX, safetensors, TensorBoard, CSV.
find_package(ZLIB REQUIRED)
mlopt_add_check_test(test_io_idx SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_idx.c TIMEOUT 30 LIBS ZLIB::ZLIB)
mlopt_add_check_test(test_io_safetensors SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_safetensors.c TIMEOUT 10)
mlopt_add_check_test(test_io_tensorboard SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_tensorboard.c TIMEOUT 10)

# Optional cross-check against the reference Python packages (safetensors,
# numpy, tensorboard): skipped (exit 77) when they cannot be imported.
add_executable(write_sample_formats ${CMAKE_CURRENT_LIST_DIR}/write_sample_formats.c)
target_include_directories(write_sample_formats PRIVATE "${PROJECT_SOURCE_DIR}/include" "${PROJECT_SOURCE_DIR}/core")
target_link_libraries(write_sample_formats PRIVATE mlopt)
find_program(MLOPT_PYTHON3 NAMES python3)
if(MLOPT_PYTHON3)
  add_test(NAME test_io_python_crosscheck
    COMMAND ${MLOPT_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_formats.py $<TARGET_FILE:write_sample_formats>)
  set_tests_properties(test_io_python_crosscheck PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)
endif()
