# Tests of the core library (core/): gradients, plugin loader, training,
# model specs and checkpoints, all through the public API on the cpu backend.

# Deliberately broken backend plugins for the loader tests.  They go to a
# directory of their own, never to build/plugins, so that `mlopt backends`
# and automatic backend selection never see them; the loader test points
# MLOPT_PLUGIN_PATH at this directory.
set(MLOPT_CORE_TEST_PLUGIN_DIR "${CMAKE_BINARY_DIR}/test-plugins")
set(MLOPT_CORE_TEST_PLUGINS
  wrongabi:wrong_abi.c   # abi_major of the future
  noslot:missing_slot.c  # a required slot (buffer_alloc) is NULL
  nodevice:nodevice.c    # loads, but probe finds no device
  minimal:minimal.c      # only the required slots (+ fill): kernels are missing
  old:old_plugin.c       # smaller struct_size: an older 1.x plugin
  noentry:no_entry.c)    # a shared object without mlopt_backend_entry
set(MLOPT_CORE_TEST_PLUGIN_TARGETS "")
foreach(entry ${MLOPT_CORE_TEST_PLUGINS})
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 pname)
  list(GET parts 1 psrc)
  add_library(core_testplugin_${pname} MODULE "${CMAKE_CURRENT_LIST_DIR}/plugins/${psrc}")
  set_target_properties(core_testplugin_${pname} PROPERTIES
    PREFIX "" OUTPUT_NAME "mlopt-backend-${pname}"
    LIBRARY_OUTPUT_DIRECTORY "${MLOPT_CORE_TEST_PLUGIN_DIR}"
    C_VISIBILITY_PRESET hidden)
  target_include_directories(core_testplugin_${pname} PRIVATE "${PROJECT_SOURCE_DIR}/include")
  list(APPEND MLOPT_CORE_TEST_PLUGIN_TARGETS core_testplugin_${pname})
endforeach()

mlopt_add_check_test(test_core_loader SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_loader.c TIMEOUT 20)
target_compile_definitions(test_core_loader PRIVATE
  MLOPT_CORE_TEST_PLUGIN_DIR="${MLOPT_CORE_TEST_PLUGIN_DIR}")
add_dependencies(test_core_loader ${MLOPT_CORE_TEST_PLUGIN_TARGETS})

mlopt_add_check_test(test_core_gradcheck SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_gradcheck.c TIMEOUT 30)
mlopt_add_check_test(test_core_training SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_training.c TIMEOUT 30)
find_package(Threads REQUIRED)
mlopt_add_check_test(test_core_spec SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_spec.c TIMEOUT 20
  LIBS Threads::Threads)
mlopt_add_check_test(test_core_checkpoint SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_core_checkpoint.c TIMEOUT 20)

# Every core test runs on the cpu backend: build it with them.
if(TARGET mlopt_backend_cpu)
  foreach(t test_core_loader test_core_gradcheck test_core_training test_core_spec test_core_checkpoint)
    add_dependencies(${t} mlopt_backend_cpu)
  endforeach()
endif()
