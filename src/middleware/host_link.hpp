#pragma once
// The upstream leg of a middleware's stream: the "upstream" is the host's
// own handler. The pipeline sends the request through it as through any
// link (request body filters included); the host gets it whole, and its
// response comes back through read_head/take to the response side of the
// pipeline (response filters, header policy) like an upstream's.
#include <gateway/http.hpp>

#include <string>
#include <utility>
#include <vector>

#include "stream/owned_fields.hpp"
#include "upstream/upstream_link.hpp"

namespace gateway {

// Where a host link hands the request: the middleware's exchange with its host.
class host_peer {
 public:
  // The request as the pipeline would send it upstream, body whole; the
  // views live until the exchange ends.
  virtual void to_host(std::string_view method, std::string_view target,
                       std::span<const http::header> fields, std::string_view body) = 0;

 protected:
  ~host_peer() = default;
};

// The host's response, as the host gave it.
struct host_response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class host_link final : public upstream_link {
 public:
  host_link(const asio::any_io_executor& ex, host_peer& peer) : wake_(ex), peer_(peer) {}

  // On the stream's thread: the host answered, or gave up (the stream's
  // wait for the answer ends either way).
  void answer(host_response r);
  void abandon() noexcept;

  bool take_pooled(connection_pool&, const snapshot&, std::size_t, std::size_t,
                   steady_clock::time_point, bool) override {
    return false;
  }
  void attach(connection_pool&, const snapshot&, std::size_t, std::size_t,
              std::unique_ptr<upstream_connection>) override {}
  upstream_connection* connection() noexcept override { return nullptr; }
  bool begin(const request& r) override;
  asio::awaitable<bool> send(std::span<const asio::const_buffer> pieces, std::uint64_t bytes,
                             bool end, std::span<const http::header> trailers) override;
  asio::awaitable<head_result> read_head(http1::response_head& into) override;
  bool responded() const noexcept override { return answered_; }
  void start_body(const http1::response_head& head, bool bodyless) override;
  body_step take(std::vector<asio::const_buffer>& out) override;
  asio::awaitable<bool> fill() override { co_return false; }  // take() gave it all
  void trailers(std::vector<http::header>&) const override {}
  void finish(connection_pool&, bool) noexcept override {}
  void interrupt() noexcept override;
  void close() noexcept override { interrupt(); }

 private:
  asio::steady_timer wake_;
  host_peer& peer_;
  // The request as it goes to the host.
  std::string method_, target_, body_;
  owned_fields fields_owned_;
  std::vector<http::header> fields_;
  // The host's response.
  host_response response_;
  owned_fields response_fields_;
  bool answered_ = false, abandoned_ = false, interrupted_ = false;
  bool bodyless_ = false, given_ = false;
};

}  // namespace gateway
