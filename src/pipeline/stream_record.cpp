// The end of a request's accounting: its stats series, its protocol count
// and its access-log line, written from buffers of the stream so a logged
// request allocates nothing once they have grown.
#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "server/worker.hpp"
#include "stream/stream.hpp"

namespace gateway {

void stream::log_access(std::uint64_t micros) noexcept {
  // Formatted into buffers of this connection, so a logged request allocates
  // nothing once they have grown.
  char upstream[INET6_ADDRSTRLEN + 8];
  std::size_t upstream_len = 0;
  if (record_.upstream_used) {
    const auto address = record_.upstream_address.address();
    const bool v4 = address.is_v4();
    const auto bytes4 = v4 ? address.to_v4().to_bytes() : asio::ip::address_v4::bytes_type{};
    const auto bytes6 = v4 ? asio::ip::address_v6::bytes_type{} : address.to_v6().to_bytes();
    if (::inet_ntop(v4 ? AF_INET : AF_INET6,
                    v4 ? static_cast<const void*>(bytes4.data()) : bytes6.data(), upstream,
                    INET6_ADDRSTRLEN)) {
      upstream_len = std::strlen(upstream);
      upstream[upstream_len++] = ':';
      upstream_len = static_cast<std::size_t>(std::to_chars(upstream + upstream_len,
                                                            upstream + sizeof upstream,
                                                            record_.upstream_address.port())
                                                  .ptr -
                                              upstream);
    }
  }
  record_.route_name.clear();
  if (record_.matched_route)
    record_.route_name.append(record_.matched_route->namespace_name)
        .append("/")
        .append(record_.matched_route->name);
  access_record r;
  r.time = std::chrono::system_clock::now();
  r.request_id = request_id();
  r.client = client_view();
  r.method = record_.method;
  r.protocol = down_.protocol;
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
  if (down_.tls) r.tls = &down_.tls->info();
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
      ++worker_.protocols().downstream[request_.version_major == 2   ? 2
                                       : request_.version_minor == 0 ? 0
                                                                     : 1];
    }
    if (worker_.access_log_enabled()) log_access(micros);
  }
  if (filters_.in_use()) filters_.finish();
  forwarded_client_len_ = 0;
  grpc_ = false;
  record_.reset();
  end_retry();
  end_endpoint_request();
  backend_ = nullptr;
  last_endpoint_ = nullptr;
}

}  // namespace gateway
