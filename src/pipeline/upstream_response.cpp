// The response's way back from the upstream: its head from the try's
// upstream_link (interim ones forwarded), the route's policy on its fields,
// and the body relayed to the client piece by piece as the link takes it.
#include "http1/head_text.hpp"
#include "http1/serializer.hpp"
#include "pipeline/response_policy.hpp"
#include "server/worker.hpp"
#include "stream/stream.hpp"

namespace gateway {

using namespace std::string_view_literals;

void stream::start_response(bool has_length) {
  const auto& rs = response_;
  // The upstream's end-to-end fields (its connection-specific ones are its
  // codec's business), then what the route does to them.
  upstream_fields_.clear();
  for (const http::header& h : rs.headers)
    if (!http1::is_hop_by_hop(h.name, rs.connection_tokens)) upstream_fields_.push_back(h);
  response_policy_input in;
  in.upstream = upstream_fields_;
  in.upstream_version_major = rs.version_major;
  in.upstream_version_minor = rs.version_minor;
  if (rule_ && !rule_->response_headers.empty()) in.modifier = &rule_->response_headers;
  if (!cors_origin_.empty() && rule_ && rule_->cors) {
    in.cors = &*rule_->cors;
    in.cors_origin = cors_origin_;
  }
  in.set_cookie = set_cookie_;
  response_fields(in, response_fields_, response_scratch_);
  if (grpc_web_) {
    // gRPC-Web: the client's Content-Type, and a body one frame longer
    // (the trailers) than the upstream's.
    std::erase_if(response_fields_, [](const http::header& h) {
      return http::iequals(h.name, "content-length") || http::iequals(h.name, "content-type");
    });
    response_fields_.push_back({"content-type"sv, grpc_web_type_});
    has_length = false;
  }
  if (rs.status == 101)  // hop-by-hop, so said again on this hop
    if (const http::header* up = http::find_header(rs.headers, "upgrade")) {
      response_fields_.push_back({"connection"sv, "upgrade"sv});
      response_fields_.push_back({"upgrade"sv, up->value});
    }
  response_start start;
  start.status = rs.status;
  start.reason = rs.reason;
  start.fields = response_fields_;
  start.bodyless = is_head_request_ || rs.status == 204 || rs.status == 304 || rs.status == 101;
  start.has_length = has_length;
  start.length = rs.content_length;
  down_->start_response(start);
}

void stream::log_unusable(std::string_view part) {
  if (!worker_.log().enabled(log_level::warn)) return;
  // Its start, printable, says more than any description of it.
  std::string start(link_->received().substr(0, 96));
  for (char& c : start)
    if (c < 0x20 || c > 0x7e) c = '.';
  boost::system::error_code ec;
  const auto from = link_->connection()->socket.remote_endpoint(ec);
  worker_.log().log(log_level::warn,
                    "upstream {}:{} sent an unusable response {} '{}' [request {}]",
                    from.address().to_string(), from.port(), part, start, request_id());
}

asio::awaitable<upstream_link::head_result> stream::after_interim() {
  // An upstream may send a few interim heads (100, 103), never a stream of
  // them: past this many the response is refused (502).
  constexpr int max_interim = 16;
  for (int seen = 1;; ++seen) {
    if (seen > max_interim) co_return upstream_link::head_result::invalid;
    // 100 was the client's codec's business; others (103) go on where the
    // client's protocol has them.
    if (response_.status != 100) {
      upstream_fields_.clear();
      for (const http::header& h : response_.headers)
        if (!http1::is_hop_by_hop(h.name, response_.connection_tokens))
          upstream_fields_.push_back(h);
      if (!co_await down_->send_interim(response_.status, response_.reason, upstream_fields_))
        co_return upstream_link::head_result::failed;
    }
    const upstream_link::head_result got = co_await link_->read_head(response_);
    if (got != upstream_link::head_result::interim) co_return got;
  }
}

void stream::take_response_trailers() {
  response_trailers_.clear();
  link_->trailers(response_trailers_);
}

void stream::end_response_trailers() {
  if (grpc_) note_grpc_status(response_trailers_);
  if (grpc_web_ && grpc_web_trailers()) {
    const asio::const_buffer b(grpc_web_frame_.data(), grpc_web_frame_.size());
    down_->send_body(std::span(&b, 1), b.size());
  }
}

bool stream::response_body_over(bool nothing_sent, std::uint64_t limit) {
  worker_.count(limit_kind::response_body);
  unusable_body_ = nothing_sent;  // the client gets a 502 instead
  if (worker_.log().enabled(log_level::warn))
    worker_.log().log(
        log_level::warn,
        "upstream {}:{}: response body over its cluster's limit of {} bytes, {} [request {}]",
        record_.upstream_address.address().to_string(), record_.upstream_address.port(), limit,
        nothing_sent ? "refused" : "cut short", request_id());
  return false;
}

asio::awaitable<bool> stream::relay_response(std::uint64_t limit) {
  upstream_link& link = *link_;
  const bool bodyless = is_head_request_ || response_.status == 204 || response_.status == 304;
  link.start_body(response_, bodyless);
  start_response(!bodyless && !response_.chunked && response_.has_content_length);
  record_.status = response_.status;
  if (grpc_) note_grpc_status(response_.headers);  // a Trailers-Only answer has it here
  if (limit && !bodyless && response_.has_content_length && response_.content_length > limit)
    co_return response_body_over(true, limit);
  std::uint64_t relayed = 0;
  bool queued = true;  // the head, until the first send
  for (bool first = true;; first = false) {
    pieces_.clear();
    const upstream_link::body_step step = link.take(pieces_);
    if (step.error) {
      unusable_body_ = first;  // nothing sent yet: the client gets a 502 instead
      if (unusable_body_) log_unusable("body");
      co_return false;
    }
    if (limit && (relayed += step.bytes) > limit) co_return response_body_over(first, limit);
    if (step.bytes) {
      if (grpc_web_text_) {
        const asio::const_buffer b = web_text(pieces_, false);
        down_->send_body(std::span(&b, 1), b.size());
      } else {
        down_->send_body(pieces_, step.bytes);
      }
      queued = true;
    }
    if (step.end) {
      take_response_trailers();
      end_response_trailers();
      co_return co_await down_->send(true, response_trailers_);
    }
    if (queued && !co_await down_->send(false)) co_return false;
    queued = false;
    if (!co_await link.fill()) co_return false;  // cut short: the client sees a short body
  }
}

}  // namespace gateway
