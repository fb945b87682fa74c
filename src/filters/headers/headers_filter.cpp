// "headers": sets, adds and removes request fields (before the upstream) and
// response fields (before the client). Names are checked once at load.
#include <fmt/format.h>
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/json_config.hpp"

namespace gateway::filters {
namespace {

struct edits {
  std::vector<std::pair<std::string, std::string>> set, add;
  std::vector<std::string> remove;
  bool empty() const { return set.empty() && add.empty() && remove.empty(); }
  void apply(header_map& m) const {
    for (const auto& r : remove)
      m.remove(r);
    for (const auto& [n, v] : set)
      m.set(n, v);
    for (const auto& [n, v] : add)
      m.add(n, v);
  }
};

edits read_edits(const json_object& root, std::string_view key) {
  edits e;
  const json_value* v = root.if_contains(key);
  if (!v) return e;
  const std::string path(key);
  const json_object& o = as_object(*v, path);
  check_fields(o, path, {"set", "add", "remove"});
  e.set = fields_field(o, "set", path);
  e.add = fields_field(o, "add", path);
  e.remove = strings_field(o, "remove", path);
  for (std::size_t i = 0; i < e.remove.size(); ++i)
    if (framing_field(e.remove[i]))
      config_error(index_path(field_path(path, "remove"), i),
                   fmt::format("'{}' frames the message and cannot be removed", e.remove[i]));
  return e;
}

struct header_edits {
  edits request, response;
};

class headers_filter final : public filter {
 public:
  explicit headers_filter(const header_edits& e) : request_(e.request), response_(e.response) {}
  filter_status on_request(filter_context& ctx) override {
    request_.apply(ctx.request_headers());
    return filter_status::next;
  }
  filter_status on_response(filter_context& ctx) override {
    response_.apply(ctx.response_headers());
    return filter_status::next;
  }

 private:
  const edits& request_;
  const edits& response_;
};

}  // namespace

std::shared_ptr<const filter_factory> make_headers(std::string_view json) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"request", "response"});
  header_edits e{read_edits(o, "request"), read_edits(o, "response")};
  const auto hooks = static_cast<std::uint8_t>((e.request.empty() ? 0 : hook_request) |
                                               (e.response.empty() ? 0 : hook_response));
  return make_factory<headers_filter>(std::move(e), hooks);
}

}  // namespace gateway::filters
