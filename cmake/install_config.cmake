# Installs mlopt-config.cmake (+ version file) for find_package(mlopt) in
# out-of-tree plugins and applications; see docs/plugins.md.
include(CMakePackageConfigHelpers)
set(MLOPT_CONFIG_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/mlopt")
file(RELATIVE_PATH MLOPT_CONFIG_TO_PREFIX "/prefix/${MLOPT_CONFIG_INSTALL_DIR}" "/prefix")
configure_file("${CMAKE_CURRENT_LIST_DIR}/mlopt-config.cmake.in" "${CMAKE_BINARY_DIR}/mlopt-config.cmake" @ONLY)
write_basic_package_version_file("${CMAKE_BINARY_DIR}/mlopt-config-version.cmake"
  VERSION "${PROJECT_VERSION}" COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_BINARY_DIR}/mlopt-config.cmake" "${CMAKE_BINARY_DIR}/mlopt-config-version.cmake"
  DESTINATION "${MLOPT_CONFIG_INSTALL_DIR}")
