#pragma once
// A real redis-server on a free loopback port, for the tests of filters that
// talk to Redis; killed (and reaped) on destruction.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace gwtest {

class redis_process {
 public:
  // `extra`: more of redis-server's options ("--requirepass", "secret", ...).
  explicit redis_process(const std::vector<std::string>& extra = {}) {
    // The port is found by binding port 0 and closing; another process could
    // take it before redis does, so a failed start tries another one.
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      port_ = free_port();
      const std::string port = std::to_string(port_);
      std::vector<const char*> argv = {
          "redis-server", "--port", port.c_str(),       "--bind", "127.0.0.1",  "--save", "",
          "--appendonly", "no",     "--protected-mode", "no",     "--loglevel", "warning"};
      for (const std::string& e : extra)
        argv.push_back(e.c_str());
      argv.push_back(nullptr);
      pid_t pid = 0;
      posix_spawn_file_actions_t quiet;  // its start-up banner is not the test's output
      posix_spawn_file_actions_init(&quiet);
      posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0);
      posix_spawn_file_actions_addopen(&quiet, 2, "/dev/null", O_WRONLY, 0);
      const int spawned = posix_spawnp(&pid, "redis-server", &quiet, nullptr,
                                       const_cast<char**>(argv.data()), environ);
      posix_spawn_file_actions_destroy(&quiet);
      if (spawned != 0)
        throw std::runtime_error("cannot start redis-server (is it installed? scripts/bootstrap)");
      pid_ = pid;
      if (!wait_ready()) {
        stop();
        pid_ = 0;
      }
    }
    if (pid_ <= 0) throw std::runtime_error("redis-server did not start");
  }
  ~redis_process() { stop(); }
  redis_process(const redis_process&) = delete;
  redis_process& operator=(const redis_process&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Kills it for good.
  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  // A loopback port free now (another process may take it before it is used).
  static std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
  }

  // Freezes it (connections stay open, nothing is answered), and back.
  void freeze() { ::kill(pid_, SIGSTOP); }
  void thaw() { ::kill(pid_, SIGCONT); }

 private:
  bool wait_ready() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return false;  // it exited
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port_);
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
      bool pong = false;
      if (up && ::write(fd, "PING\r\n", 6) == 6) {
        char buf[16];
        // +PONG, or -NOAUTH from a server that wants a password: up either way.
        pong = ::read(fd, buf, sizeof buf) > 0 && (buf[0] == '+' || buf[0] == '-');
      }
      ::close(fd);
      if (pong) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  pid_t pid_ = 0;
  std::uint16_t port_ = 0;
};

}  // namespace gwtest
