# File formats of the core (core/io/): IDX, safetensors, TensorBoard, CSV.
find_package(ZLIB REQUIRED)
mlopt_add_check_test(test_io_idx SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_idx.c TIMEOUT 30 LIBS ZLIB::ZLIB)
mlopt_add_check_test(test_io_safetensors SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_safetensors.c TIMEOUT 10)
mlopt_add_check_test(test_io_tensorboard SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_io_tensorboard.c TIMEOUT 10)
