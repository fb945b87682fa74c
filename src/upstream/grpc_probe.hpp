#pragma once
// The gRPC health check (grpc.health.v1.Health/Check): the request an
// active health check sends on an HTTP/2 connection of its own, and the
// verdict on what came back.
#include <memory>
#include <string>
#include <string_view>

#include "upstream/h2_single_call.hpp"

namespace gateway {

// The call asking about `service` ("" asks about the whole server) of
// `authority`, over TLS when `https`.
std::unique_ptr<h2_single_call> grpc_health_call(std::string_view authority, bool https,
                                                 std::string_view service);
// Whether the ended `call` answered SERVING; else `why` says what came.
bool grpc_serving(const h2_single_call& call, std::string& why);

}  // namespace gateway
