# Installs the library, its public headers, a CMake package config and a
# pkg-config file, so hosts can use find_package(gateway) or pkg-config.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# Two export sets: a host using the shared library needs none of the static
# library's dependencies (their development packages) to find_package(gateway).
install(TARGETS gateway_shared EXPORT gateway-shared-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS gateway_static EXPORT gateway-static-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/gateway DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES capi/gateway.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gateway)
foreach(set shared static)
  install(EXPORT gateway-${set}-targets NAMESPACE gateway::
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gateway)
endforeach()
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

# The Python package, beside the interpreter's other packages, told where the
# library was installed (gateway/_install.py), so `import gateway` finds it.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(GATEWAY_PYTHON_DIR_DEFAULT lib/python3/dist-packages)
else()
  execute_process(COMMAND /usr/bin/python3 -c "import sys; print('python%d.%d' % sys.version_info[:2])"
                  OUTPUT_VARIABLE gateway_python_version OUTPUT_STRIP_TRAILING_WHITESPACE)
  set(GATEWAY_PYTHON_DIR_DEFAULT lib/${gateway_python_version}/dist-packages)
endif()
set(GATEWAY_PYTHON_DIR ${GATEWAY_PYTHON_DIR_DEFAULT} CACHE PATH
    "Where the Python package is installed, relative to the prefix")
install(DIRECTORY bindings/python/gateway DESTINATION ${GATEWAY_PYTHON_DIR}
        PATTERN __pycache__ EXCLUDE PATTERN _install.py EXCLUDE)
install(CODE "
  set(dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${GATEWAY_PYTHON_DIR}/gateway\")
  file(WRITE \"\${dir}/_install.py\"
       \"# Written by cmake --install: where libgateway.so was installed.\\n\"
       \"LIBRARY = '\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/libgateway.so.${PROJECT_VERSION_MAJOR}'\\n\")
")
