#pragma once
// What one request's stats and access log line are made of, gathered while
// it runs and reset (keeping the strings' room) when it is recorded. One per
// stream, reused with it.
#include <gateway/router.hpp>

#include <cstdint>
#include <string>

#include "asio/asio.hpp"

namespace gateway {

struct request_record {
  steady_clock::time_point start{};  // first byte of the head
  int status = 0;                    // status sent to the client, 0 if none
  std::uint64_t bytes_in = 0;        // read from the client for this request
  std::uint64_t bytes_out = 0;       // written to the client for this request
  std::uint32_t series = 0;          // the stats series (the rule's, or the listener's unrouted)
  const route* matched_route = nullptr;
  bool upstream_used = false;
  tcp::endpoint upstream_address{};
  std::uint64_t upstream_us = 0;  // request sent to response head received
  int grpc_status = -1;           // a gRPC request's grpc-status, -1 when none was sent
  bool connection = false;        // a whole connection (TCPRoute, TLSRoute), not a request
  // Copies for the access log (made only when it is on): the head's views
  // are gone by the time the line is written.
  std::string method, host, target, route_name;

  // Whether there is anything to record (a request began or was answered).
  bool started() const noexcept { return status != 0 || bytes_in != 0 || connection; }
  void reset() noexcept {
    start = {};
    status = 0;
    bytes_in = bytes_out = 0;
    matched_route = nullptr;
    upstream_used = false;
    upstream_us = 0;
    grpc_status = -1;
    connection = false;
    method.clear();
    host.clear();
    target.clear();
  }
};

}  // namespace gateway
