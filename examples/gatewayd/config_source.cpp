#include "config_source.hpp"

#include <gateway/error.hpp>

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace gatewayd {
namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

}  // namespace

config_source::config_source(std::string path, std::vector<gateway::bind_mapping> binds)
    : path_(std::move(path)), binds_(std::move(binds)) {
  watch_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (watch_fd_ < 0) return;
  auto slash = path_.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
  constexpr std::uint32_t events =
      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_MODIFY;
  if (inotify_add_watch(watch_fd_, dir.c_str(), events) < 0) {
    ::close(watch_fd_);
    watch_fd_ = -1;
  }
}

config_source::~config_source() {
  if (watch_fd_ >= 0) ::close(watch_fd_);
}

gateway::gateway_config config_source::load() {
  std::string text;
  {
    // Not held while parsing: changed() runs on the loop a worker may share.
    std::lock_guard lock(mutex_);
    if (!read_file(path_, text))
      throw gateway::error(gateway::errc::invalid_config,
                           path_ + ": cannot open: " + std::strerror(errno));
    seen_ = text;  // a broken version is reported once, not at every later event
  }
  gateway::gateway_config config = gateway::load_yaml(text, path_);
  gateway::apply_bind_mappings(config, binds_);
  return config;
}

bool config_source::changed() const {
  std::lock_guard lock(mutex_);
  std::string text;
  // A file that is briefly missing (being replaced) is not a change yet.
  return read_file(path_, text) && text != seen_;
}

void config_source::drain_events() const {
  alignas(inotify_event) char buf[4096];
  while (watch_fd_ >= 0 && ::read(watch_fd_, buf, sizeof buf) > 0) {
  }
}

}  // namespace gatewayd
