// "request-size-limit": 413 for a request body larger than `maxBytes`, told
// by Content-Length up front or counted as a chunked body streams through.
#include <string>

#include "filters/builtin.hpp"
#include "filters/json_config.hpp"

namespace gateway::filters {
namespace {

class size_limit_filter final : public filter {
 public:
  explicit size_limit_filter(std::uint64_t max) : max_(max) {}
  filter_status on_request(filter_context& ctx) override {
    auto length = ctx.request_headers().get("content-length");
    std::uint64_t n = 0;
    if (length) {
      for (char c : *length)
        n = n * 10 + static_cast<std::uint64_t>(c - '0');  // the parser checked the digits
      if (n > max_) return reject(ctx);
    }
    return filter_status::next;
  }
  filter_status on_request_body(filter_context& ctx, std::string_view data, bool) override {
    seen_ += data.size();
    return seen_ > max_ ? reject(ctx) : filter_status::next;
  }

 private:
  filter_status reject(filter_context& ctx) {
    ctx.send_local_reply(413, "request body too large\n");
    return filter_status::stop;
  }
  std::uint64_t max_;
  std::uint64_t seen_ = 0;
};

}  // namespace

std::shared_ptr<const filter_factory> make_request_size_limit(std::string_view json) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"maxBytes"});
  auto max = int_field(o, "maxBytes", "", 0, INT64_MAX, true);
  return make_factory<size_limit_filter>(static_cast<std::uint64_t>(*max),
                                         hook_request | hook_request_body);
}

}  // namespace gateway::filters
