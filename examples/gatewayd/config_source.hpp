#pragma once
// Where gatewayd's config comes from and how it notices changes: the file is
// re-read on SIGHUP and when it changes on disk (inotify on its directory, so
// editors that replace the file and Kubernetes ConfigMap symlink swaps are
// both seen). A change is applied only if the bytes differ from what runs.
#include <gateway/config.hpp>

#include <mutex>
#include <string>
#include <vector>

namespace gatewayd {

class config_source {
 public:
  // `path` is the YAML file; `binds` are applied to every version of it.
  config_source(std::string path, std::vector<gateway::bind_mapping> binds);
  ~config_source();
  config_source(const config_source&) = delete;
  config_source& operator=(const config_source&) = delete;

  // Reads and parses the file; throws gateway::error with every issue found.
  // Thread-safe.
  gateway::gateway_config load();
  // True when the file's bytes differ from those of the last load(), whether
  // that load succeeded or not.
  bool changed() const;
  // A descriptor that becomes readable when the file's directory changes, or
  // -1 if inotify is unavailable (then only SIGHUP reloads).
  int watch_fd() const { return watch_fd_; }
  // Drains the watch descriptor's pending events.
  void drain_events() const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<gateway::bind_mapping> binds_;
  mutable std::mutex mutex_;  // load(): reload and admin threads; changed(): the main loop
  std::string seen_;          // bytes of the last load()
  int watch_fd_ = -1;
};

}  // namespace gatewayd
