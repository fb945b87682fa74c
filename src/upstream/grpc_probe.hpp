#pragma once
// The gRPC health check (grpc.health.v1.Health/Check) as one call on an
// HTTP/2 connection of its own: the prober feeds it the endpoint's bytes and
// writes out what it has to send, then asks whether the answer was SERVING.
#include <memory>
#include <string>
#include <string_view>

namespace gateway {

class grpc_probe {
 public:
  // Starts the call for `service` ("" asks about the whole server) to
  // `authority`, over TLS when `https`.
  grpc_probe(std::string_view authority, bool https, std::string_view service);
  ~grpc_probe();
  grpc_probe(const grpc_probe&) = delete;
  grpc_probe& operator=(const grpc_probe&) = delete;

  // Appends the bytes to write to the endpoint; false when there are none.
  bool pending(std::string& out);
  // Feeds bytes the endpoint sent; false when they broke HTTP/2.
  bool receive(std::string_view bytes);
  // Whether the call has ended (answered, reset or refused).
  bool done() const noexcept;
  // Once done: whether the endpoint answered SERVING; else `why` says what came.
  bool serving(std::string& why) const;

 private:
  struct call;
  std::unique_ptr<call> call_;
};

}  // namespace gateway
