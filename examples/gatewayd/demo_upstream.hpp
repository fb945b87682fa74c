#pragma once
// The small HTTP service gatewayd's demo puts behind the gateway: it answers
// every request with what it received (method, path, the headers the gateway
// added) and echoes request bodies, so a newcomer can see the proxy at work.
#include <cstdint>
#include <memory>
#include <string>

namespace gatewayd {

class demo_upstream {
 public:
  // Listens on 127.0.0.1 on an ephemeral port and serves on its own thread.
  explicit demo_upstream(std::string name);
  ~demo_upstream();
  std::uint16_t port() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gatewayd
