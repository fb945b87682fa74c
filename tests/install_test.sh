#!/usr/bin/env bash
# Installs the built tree into a temporary prefix and builds a host program
# against it three ways: find_package with the shared library, with the static
# library, and pkg-config. Each must build and run.
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
mkdir -p "$work/host"
cp "$source_dir/examples/embed/main.cpp" "$work/host/main.cpp"
cat >"$work/host/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(host CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(gateway 0.1 REQUIRED)
add_executable(shared_host main.cpp)
target_link_libraries(shared_host PRIVATE gateway::gateway)
add_executable(static_host main.cpp)
target_link_libraries(static_host PRIVATE gateway::gateway_static)
CMAKE
cmake -S "$work/host" -B "$work/host/build" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/host/build" >/dev/null
# Nothing on LD_LIBRARY_PATH: the prefix is not one the loader searches, so
# each program must find libgateway.so by its RPATH.
unset LD_LIBRARY_PATH
"$work/host/build/shared_host"
"$work/host/build/static_host"
# A host with only the shared library in mind finds the package even when the
# static library's dependencies are missing (here: yaml-cpp hidden).
mkdir -p "$work/shared_only"
cp "$work/host/main.cpp" "$work/shared_only/main.cpp"
cat >"$work/shared_only/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(shared_only CXX)
set(CMAKE_CXX_STANDARD 20)
find_package(gateway 0.1 REQUIRED)
if(TARGET gateway::gateway_static)
  message(FATAL_ERROR "gateway::gateway_static without yaml-cpp")
endif()
add_executable(shared_only main.cpp)
target_link_libraries(shared_only PRIVATE gateway::gateway)
CMAKE
cmake -S "$work/shared_only" -B "$work/shared_only/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_DISABLE_FIND_PACKAGE_yaml-cpp=TRUE >/dev/null
cmake --build "$work/shared_only/build" >/dev/null
"$work/shared_only/build/shared_only"
# Asking for the static component makes its dependencies required, by name.
mkdir -p "$work/static_only"
cat >"$work/static_only/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(static_only CXX)
find_package(gateway 0.1 REQUIRED COMPONENTS static)
CMAKE
if out=$(cmake -S "$work/static_only" -B "$work/static_only/build" -G Ninja \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_DISABLE_FIND_PACKAGE_yaml-cpp=TRUE 2>&1); then
  echo "COMPONENTS static was found without yaml-cpp" >&2
  exit 1
fi
grep -q "yaml-cpp" <<<"$out" || { echo "the missing dependency is not named: $out" >&2; exit 1; }
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -std=c++20 "$work/host/main.cpp" $(pkg-config --cflags --libs gateway) -o "$work/pc_host"
"$work/pc_host"
# The Python package finds the installed library by itself.
python_dir=$(find "$work/prefix" -type d -path '*-packages/gateway' | head -1)
found=$(cd "$work" && PYTHONPATH="$(dirname "$python_dir")" /usr/bin/python3 -c \
  'import gateway; print(gateway.library_path(), gateway.version())')
case $found in
  "$work/prefix/"*libgateway.so.0\ 0.1.0) ;;
  *) echo "the installed Python package found '$found'" >&2; exit 1 ;;
esac
echo "install ok"
