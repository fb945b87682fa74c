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

class size_limit_factory final : public filter_factory {
 public:
  explicit size_limit_factory(std::uint64_t max) : max_(max) {}
  filter* create(filter_arena& arena) const override { return arena.make<size_limit_filter>(max_); }
  std::uint8_t hooks() const noexcept override { return hook_request | hook_request_body; }

 private:
  std::uint64_t max_;
};

}  // namespace

std::shared_ptr<const filter_factory> make_request_size_limit(std::string_view json) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"maxBytes"});
  auto max = int_field(o, "maxBytes", "", 0, INT64_MAX, true);
  return std::make_shared<size_limit_factory>(static_cast<std::uint64_t>(*max));
}

}  // namespace gateway::filters
