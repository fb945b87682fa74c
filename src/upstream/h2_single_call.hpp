#pragma once
// One HTTP/2 request on a connection of its own, for the gateway's own
// requests beside the proxied ones (outbound_call's HTTP/2 side): run()
// drives it over a connected socket until its stream ends.
#include <gateway/http.hpp>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

namespace tls {
class stream;
}

class h2_single_call {
 public:
  // The request; everything is copied. `https` is its :scheme.
  h2_single_call(std::string_view method, bool https, std::string_view authority,
                 std::string_view path, std::span<const http::header> fields, std::string body);
  ~h2_single_call();
  h2_single_call(const h2_single_call&) = delete;
  h2_single_call& operator=(const h2_single_call&) = delete;

  // Speaks HTTP/2 over `socket` (through `tls` when given) until the stream
  // ends or the connection fails; the error is the connection's
  // (invalid_argument when the peer broke HTTP/2), none once done().
  asio::awaitable<boost::system::error_code> run(tcp::socket& socket, tls::stream* tls);
  bool done() const noexcept;

  // What came back: the :status ("" when none), a field of the head or
  // the trailers, the body (its first 64 KiB), the stream's reset code.
  std::string_view status() const noexcept;
  std::optional<std::string_view> field(std::string_view name) const noexcept;
  // Every field of the head and the trailers (the first 64), in order.
  const std::vector<std::pair<std::string, std::string>>& fields() const noexcept;
  std::string_view body() const noexcept;
  std::uint32_t reset_code() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace gateway
