# Installs the library, its public headers, a CMake package config and a
# pkg-config file, so hosts can use find_package(gateway) or pkg-config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS gateway_shared gateway_static EXPORT gateway-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/gateway DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES capi/gateway.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gateway)
install(EXPORT gateway-targets NAMESPACE gateway::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gateway)
configure_package_config_file(cmake/gateway-config.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/gateway-config.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gateway)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/gateway-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gateway-config.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/gateway-config-version.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gateway)
configure_file(cmake/gateway.pc.in ${CMAKE_CURRENT_BINARY_DIR}/gateway.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/gateway.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
