#pragma once
// Running real command-line clients (curl, nghttp, h2load, Python scripts)
// from tests, each bounded in time, and the files they read and write.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include "test_http.hpp"

namespace gwtest {

// `text` with its single quotes escaped for use inside '...' in sh.
inline std::string shell_quoted(const std::string& text) {
  std::string out;
  for (char c : text)
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  return out;
}

// Runs `command` with a shell, killed after 60 s if it has not ended, and
// returns its standard output; `status` gets its exit status.
inline std::string run(const std::string& command, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen(("timeout -k 5 60 sh -c '" + shell_quoted(command) + "'").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    out.append(buf, n);
  const int rc = ::pclose(p);
  if (status) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

inline std::string url(std::uint16_t port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

// curl speaking HTTP/2 with prior knowledge, bounded in time.
inline std::string h2c(const std::string& args) {
  return run("curl -sS --max-time 30 --http2-prior-knowledge " + args + " 2>&1");
}

// Plays one command of tests/support/h2_attack.py against `port`; returns
// what the gateway did ("goaway 11", "rst 8 head=True", "status 431", ...).
inline std::string h2_attack(const std::string& what, std::uint16_t port, const std::string& arg) {
  std::string out =
      run(std::string(GATEWAY_TEST_PYTHON) + " " GATEWAY_TEST_SUPPORT_DIR "/h2_attack.py " + what +
          " " + std::to_string(port) + " " + arg + " 2>&1");
  while (!out.empty() && out.back() == '\n')
    out.pop_back();
  return out;
}

// A temporary directory removed with its files.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/gateway-h2-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() { run("rm -rf '" + path + "'"); }
};

inline void write_pattern(const std::string& file, std::uint64_t size) {
  std::ofstream out(file, std::ios::binary);
  std::string chunk;
  for (std::uint64_t i = 0; i < size;) {
    chunk.clear();
    for (int k = 0; k < 65536 && i < size; ++k, ++i)
      chunk.push_back(static_cast<char>(pattern_byte(i)));
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
  }
}

inline bool file_has_pattern(const std::string& file, std::uint64_t size) {
  std::ifstream in(file, std::ios::binary);
  std::uint64_t i = 0;
  char c;
  while (in.get(c)) {
    if (static_cast<unsigned char>(c) != pattern_byte(i)) return false;
    ++i;
  }
  return i == size;
}

}  // namespace gwtest
