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
LD_LIBRARY_PATH="$work/prefix/lib" "$work/host/build/shared_host"
"$work/host/build/static_host"
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -std=c++20 "$work/host/main.cpp" $(pkg-config --cflags --libs gateway) -o "$work/pc_host"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/pc_host"
# The Python package finds the installed library by itself.
python_dir=$(find "$work/prefix" -type d -path '*-packages/gateway' | head -1)
found=$(cd "$work" && PYTHONPATH="$(dirname "$python_dir")" /usr/bin/python3 -c \
  'import gateway; print(gateway.library_path(), gateway.version())')
case $found in
  "$work/prefix/"*libgateway.so.0\ 0.1.0) ;;
  *) echo "the installed Python package found '$found'" >&2; exit 1 ;;
esac
echo "install ok"
