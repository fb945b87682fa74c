# Build-wide settings: ccache, sanitizers, and the warning set for our own code.
find_program(GATEWAY_CCACHE ccache)
if(GATEWAY_CCACHE)
  # Every source is compiled with a precompiled header, which ccache refuses
  # to cache unless told that the header's macros and __TIME__ may be trusted;
  # without this nine compiles in ten missed the cache.
  set(GATEWAY_CCACHE_LAUNCHER "${CMAKE_COMMAND}" -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "${GATEWAY_CCACHE}")
  set(CMAKE_C_COMPILER_LAUNCHER ${GATEWAY_CCACHE_LAUNCHER})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${GATEWAY_CCACHE_LAUNCHER})
endif()

if(GATEWAY_SANITIZE)
  # -O1 (after the build type's -O2, so it wins) is what ASan recommends, and
  # compiles about a third faster: CI builds this tree cold on two cores.
  # GCC 12 at -O1 misreads the delete of Asio's coroutine frames as
  # mismatched (a false positive it does not make at -O2).
  add_compile_options(-fsanitize=${GATEWAY_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=all -O1 -Wno-mismatched-new-delete)
  add_link_options(-fsanitize=${GATEWAY_SANITIZE})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    # Clang 14 cannot emit the function-type check's prologue for split
    # coroutines ("Cannot represent a difference across sections").
    add_compile_options(-fno-sanitize=function)
    # C programs that load the instrumented C++ library need the C++ parts
    # of the UBSan runtime too (its vptr checks).
    add_link_options(-fsanitize-link-c++-runtime $<$<LINK_LANGUAGE:C>:-lstdc++>)
  endif()
endif()
if(GATEWAY_FUZZ AND NOT (CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND GATEWAY_SANITIZE))
  message(FATAL_ERROR "GATEWAY_FUZZ needs Clang (libFuzzer) and GATEWAY_SANITIZE: "
                      "-DCMAKE_CXX_COMPILER=clang++-14 -DGATEWAY_SANITIZE=address,undefined")
endif()

# Applied target by target to code this project owns, never to Boost sources.
function(gateway_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wpedantic
                                           -Wno-missing-field-initializers)
endfunction()
