#pragma once
// The gRPC health check (grpc.health.v1.Health/Check): the request an
// active health check sends on an HTTP/2 connection of its own, and the
// verdict on what came back.
#include <span>
#include <string>
#include <string_view>

#include "client/outbound_call.hpp"

namespace gateway {

// The request body asking about `service` ("" asks about the whole server).
std::string grpc_health_request(std::string_view service);
// The fields the request goes with (content-type, te, user-agent).
std::span<const http::header> grpc_health_fields() noexcept;
// Whether `answer` says SERVING; else `why` says what came.
bool grpc_serving(const outbound_response& answer, std::string& why);

}  // namespace gateway
