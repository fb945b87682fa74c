// "error-pages": replaces the body of error responses (the upstream's or the
// gateway's own) with a configured page, keeping the status.
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/json_config.hpp"

namespace gateway::filters {
namespace {

struct page {
  int low = 0, high = 0;  // statuses covered, inclusive
  std::string body;
  std::string content_type;
};

class pages_filter final : public filter {
 public:
  explicit pages_filter(const std::vector<page>& pages) : pages_(pages) {}
  filter_status on_response(filter_context& ctx) override {
    const int status = ctx.response_status();
    for (const page& p : pages_)
      if (status >= p.low && status <= p.high) {
        chosen_ = &p;
        header_map& h = ctx.response_headers();
        h.remove("content-length");
        h.remove("content-encoding");
        h.set("content-type", p.content_type);
        break;
      }
    return filter_status::next;
  }
  filter_status on_response_body(filter_context&, body_chunk& chunk) override {
    if (chosen_) chunk.data = chunk.end_of_stream ? std::string_view(chosen_->body) : "";
    return filter_status::next;
  }

 private:
  const std::vector<page>& pages_;
  const page* chosen_ = nullptr;
};

// "404", "5xx" or "500-504".
bool parse_statuses(std::string_view s, int& low, int& high) {
  auto number = [](std::string_view t, int& out) {
    if (t.size() != 3) return false;
    out = 0;
    for (char c : t) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + (c - '0');
    }
    return out >= 100 && out <= 599;
  };
  if (s.size() == 3 && s[0] >= '1' && s[0] <= '5' && s.substr(1) == "xx") {
    low = (s[0] - '0') * 100;
    high = low + 99;
    return true;
  }
  if (auto dash = s.find('-'); dash != std::string_view::npos)
    return number(s.substr(0, dash), low) && number(s.substr(dash + 1), high) && low <= high;
  return number(s, low) && (high = low, true);
}

}  // namespace

std::shared_ptr<const filter_factory> make_error_pages(std::string_view json) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"pages"});
  std::vector<page> pages;
  const auto* list = array_field(o, "pages", "", true);
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string ip = index_path("pages", i);
    const json_object& item = as_object((*list)[i], ip);
    check_fields(item, ip, {"statuses", "body", "contentType"});
    auto statuses = strings_field(item, "statuses", ip);
    if (statuses.empty()) config_error(field_path(ip, "statuses"), "needs at least one status");
    for (std::size_t k = 0; k < statuses.size(); ++k) {
      page p;
      if (!parse_statuses(statuses[k], p.low, p.high) || p.low < 400)
        config_error(index_path(field_path(ip, "statuses"), k),
                     "must be an error status (400-599), a class such as \"5xx\" or a range "
                     "such as \"500-504\"");
      p.body = string_field(item, "body", ip, true).value_or("");
      p.content_type = string_field(item, "contentType", ip).value_or("text/html; charset=utf-8");
      pages.push_back(std::move(p));
    }
  }
  return make_factory<pages_filter>(std::move(pages), hook_response | hook_response_body);
}

}  // namespace gateway::filters
