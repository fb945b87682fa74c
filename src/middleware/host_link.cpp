// The host as a middleware stream's upstream (see host_link.hpp).
#include "middleware/host_link.hpp"

namespace gateway {

void host_link::answer(host_response r) {
  response_ = std::move(r);
  answered_ = true;
  wake_.cancel();
}

void host_link::abandon() noexcept {
  abandoned_ = true;
  wake_.cancel();
}

void host_link::interrupt() noexcept {
  interrupted_ = true;
  wake_.cancel();
}

bool host_link::begin(const request& r) {
  method_.assign(r.method);
  target_.assign(r.target);
  fields_owned_.clear();
  for (const http::header& h : r.fields)
    fields_owned_.add(h.name, h.value);
  fields_.clear();
  fields_owned_.append_to(fields_);
  body_.clear();
  return true;
}

asio::awaitable<bool> host_link::send(std::span<const asio::const_buffer> pieces, std::uint64_t,
                                      bool end, std::span<const http::header>) {
  for (const asio::const_buffer& b : pieces)
    body_.append(static_cast<const char*>(b.data()), b.size());
  if (end) peer_.to_host(method_, target_, fields_, body_);
  co_return !interrupted_;
}

asio::awaitable<upstream_link::head_result> host_link::read_head(http1::response_head& into) {
  while (!answered_ && !abandoned_ && !interrupted_) {
    wake_.expires_at(steady_clock::time_point::max());
    co_await wake_.async_wait(use_tuple);
  }
  if (!answered_) co_return head_result::failed;
  // A host's interim or switching answer has no place here: only final ones.
  if (response_.status < 200 || response_.status > 999) co_return head_result::invalid;
  into.clear();
  into.status = response_.status;
  into.reason = http::reason_phrase(response_.status);
  response_fields_.clear();
  for (const auto& [name, value] : response_.headers)
    if (!http::iequals(name, "content-length") && !http::iequals(name, "transfer-encoding"))
      response_fields_.add(name, value);
  response_fields_.append_to(into.headers);
  into.has_content_length = true;
  into.content_length = response_.body.size();
  co_return head_result::final;
}

void host_link::start_body(const http1::response_head&, bool bodyless) {
  bodyless_ = bodyless;
  given_ = false;
}

upstream_link::body_step host_link::take(std::vector<asio::const_buffer>& out) {
  body_step s;
  s.end = true;
  if (bodyless_ || given_ || response_.body.empty()) return s;
  given_ = true;
  out.emplace_back(response_.body.data(), response_.body.size());
  s.bytes = response_.body.size();
  return s;
}

}  // namespace gateway
