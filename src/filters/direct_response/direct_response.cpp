// "direct-response": the gateway answers with a fixed status, fields and body
// (a maintenance page, a health answer, a placeholder API) without an upstream.
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/json_config.hpp"

namespace gateway::filters {
namespace {

struct response_spec {
  int status = 200;
  std::string body;
  std::vector<http::header> fields;  // views into `texts`
  std::vector<std::pair<std::string, std::string>> texts;
};

class direct_filter final : public filter {
 public:
  explicit direct_filter(const response_spec& r) : r_(r) {}
  filter_status on_request(filter_context& ctx) override {
    ctx.send_local_reply(r_.status, r_.body, r_.fields);
    return filter_status::stop;
  }

 private:
  const response_spec& r_;
};

}  // namespace

std::shared_ptr<const filter_factory> make_direct_response(std::string_view json) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"status", "body", "contentType", "headers"});
  response_spec r;
  r.status = static_cast<int>(int_field(o, "status", "", 200, 599).value_or(200));
  r.body = string_field(o, "body", "").value_or("");
  r.texts = fields_field(o, "headers", "");
  r.texts.emplace_back("content-type",
                       string_field(o, "contentType", "").value_or("text/plain; charset=utf-8"));
  auto spec = std::make_unique<response_spec>(std::move(r));
  for (const auto& [n, value] : spec->texts)  // views into the spec's own strings
    spec->fields.push_back({n, value});
  return make_factory<direct_filter>(std::move(spec), hook_request);
}

}  // namespace gateway::filters
