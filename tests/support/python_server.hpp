#pragma once
// A server written in Python (tests/support/*.py) run as a child process: it
// picks its own loopback port and writes it to a file this class reads; the
// process is killed and reaped on destruction.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "gateway_fixture.hpp"
#include "shell_run.hpp"

extern char** environ;

namespace gwtest {

// Runs the client `script` (a file of tests/support) with `spec` as its one
// argument; its output (standard error too) as lines. Checks it exited 0.
inline std::vector<std::string> script_lines(const std::string& script, const std::string& spec) {
  int status = 0;
  const std::string out = run(std::string(GATEWAY_TEST_PYTHON) + " " GATEWAY_TEST_SUPPORT_DIR "/" +
                                  script + " '" + shell_quoted(spec) + "' 2>&1",
                              &status);
  CAPTURE(out);
  CHECK(status == 0);
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < out.size();) {
    const std::size_t nl = out.find('\n', at);
    lines.push_back(out.substr(at, nl - at));
    if (nl == std::string::npos) break;
    at = nl + 1;
  }
  if (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

class python_server {
 public:
  // Runs `script` (a file of tests/support) with the port file and `args`.
  python_server(const std::string& script, const std::vector<std::string>& args) {
    const std::string port_file = dir_.path + "/port";
    const std::string path = GATEWAY_TEST_SUPPORT_DIR "/" + script;
    std::vector<const char*> argv = {GATEWAY_TEST_PYTHON, path.c_str(), port_file.c_str()};
    for (const std::string& a : args)
      argv.push_back(a.c_str());
    argv.push_back(nullptr);
    // Its standard output goes nowhere: a shell that runs the tests must not
    // wait for it.
    posix_spawn_file_actions_t quiet;
    posix_spawn_file_actions_init(&quiet);
    posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
    const int spawned = posix_spawn(&pid_, GATEWAY_TEST_PYTHON, &quiet, nullptr,
                                    const_cast<char**>(argv.data()), environ);
    posix_spawn_file_actions_destroy(&quiet);
    REQUIRE(spawned == 0);
    const bool ready = eventually(
        [&] {
          std::ifstream in(port_file);
          int p = 0;
          if (in >> p) port_ = static_cast<std::uint16_t>(p);
          return port_ != 0;
        },
        std::chrono::seconds(20));
    REQUIRE(ready);
  }
  ~python_server() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  python_server(const python_server&) = delete;
  python_server& operator=(const python_server&) = delete;
  std::uint16_t port() const { return port_; }

 private:
  temp_dir dir_;
  pid_t pid_ = 0;
  std::uint16_t port_ = 0;
};

}  // namespace gwtest
