// The end of a request's accounting: its stats series, its protocol count
// and its access-log line, written from buffers of the stream so a logged
// request allocates nothing once they have grown.
#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "server/worker.hpp"
#include "stream/stream.hpp"

namespace gateway {

std::size_t stream::write_upstream_address(char (&out)[64]) const noexcept {
  if (!record_.upstream_used) return 0;
  const auto address = record_.upstream_address.address();
  const bool v4 = address.is_v4();
  const auto bytes4 = v4 ? address.to_v4().to_bytes() : asio::ip::address_v4::bytes_type{};
  const auto bytes6 = v4 ? asio::ip::address_v6::bytes_type{} : address.to_v6().to_bytes();
  if (!::inet_ntop(v4 ? AF_INET : AF_INET6,
                   v4 ? static_cast<const void*>(bytes4.data()) : bytes6.data(), out,
                   INET6_ADDRSTRLEN))
    return 0;
  std::size_t n = std::strlen(out);
  out[n++] = ':';
  return static_cast<std::size_t>(
      std::to_chars(out + n, out + sizeof out, record_.upstream_address.port()).ptr - out);
}

void stream::log_access(std::uint64_t micros) noexcept {
  // Formatted into buffers of this connection, so a logged request allocates
  // nothing once they have grown.
  char upstream[64];
  const std::size_t upstream_len = write_upstream_address(upstream);
  access_record r;
  r.time = std::chrono::system_clock::now();
  r.request_id = request_id();
  r.client = client_view();
  r.method = record_.method;
  r.protocol = down_->protocol;
  r.host = record_.host;
  r.path = record_.target;
  r.route = record_.route_name;
  r.listener = listener_ ? std::string_view(listener_->config.name) : "";
  r.upstream = {upstream, upstream_len};
  r.status = record_.status;
  r.grpc_status = record_.grpc_status;
  r.bytes_in = record_.bytes_in;
  r.bytes_out = record_.bytes_out;
  r.duration_us = micros;
  r.upstream_us = record_.upstream_us;
  if (filters_.active()) r.metadata = filters_.all_metadata();
  char trace_hex[32];
  if (trace_.on) {
    tracing::write_hex(trace_hex, trace_.trace.data(), trace_.trace.size());
    r.trace_id = {trace_hex, sizeof trace_hex};
  }
  if (down_->tls) r.tls = &down_->tls->info();
  worker_.log_request(r);
}

void stream::finish() noexcept {
  if (filters_.in_use()) filters_.run_log();  // before the access log: on_log may leave metadata
  replying_after_response_ = false;
  if (record_.started()) {
    auto micros = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - record_.start)
            .count());
    if (record_.connection) {
      worker_.stats(record_.series).record_connection(record_.bytes_in, record_.bytes_out);
    } else {
      worker_.stats(record_.series)
          .record(record_.status, record_.bytes_in, record_.bytes_out, micros, record_.grpc_status);
      using metrics::slot;
      worker_.count(
          request_.version_major == 2   ? slot("gateway_downstream_requests_total", "HTTP/2")
          : request_.version_minor == 0 ? slot("gateway_downstream_requests_total", "HTTP/1.0")
                                        : slot("gateway_downstream_requests_total", "HTTP/1.1"));
    }
    const bool logged = worker_.access_log_enabled();
    if (logged || trace_.on) {
      record_.route_name.clear();
      if (record_.matched_route)
        record_.route_name.append(record_.matched_route->namespace_name)
            .append("/")
            .append(record_.matched_route->name);
    }
    if (logged) log_access(micros);
    if (trace_.on) end_trace(micros);
  }
  trace_.on = false;
  worker_.idle().end_request([this] {
    if (filters_.in_use()) filters_.finish();
  });
  forwarded_client_len_ = 0;
  grpc_ = false;
  record_.reset();
  end_retry();
  end_endpoint_request();
  backend_ = nullptr;
  last_endpoint_ = nullptr;
}

}  // namespace gateway
