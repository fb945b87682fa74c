// "api-key-auth": the request must carry one of the configured keys (in a
// header, query parameter or cookie); the client it belongs to can be
// forwarded in a header, and the key is removed before the upstream. Keys are
// looked up by their SHA-256, so a lookup's timing says nothing about a key.
#include <fmt/format.h>
#include <string>
#include <unordered_map>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/credential_source.hpp"
#include "filters/json_config.hpp"
#include "tls/digest.hpp"

namespace gateway::filters {
namespace {

struct api_key_config {
  std::unordered_map<std::string, std::string> clients;  // SHA-256 of key -> client id
  std::vector<credential_source> sources;
  std::string forward_header;
  bool sanitize = true;
  verdict_counters counted;  // allowed, denied
};

class api_key_filter final : public filter {
 public:
  explicit api_key_filter(const api_key_config& c) : c_(c) {}
  filter_status on_request(filter_context& ctx) override {
    found_credential found = find_credential(ctx, c_.sources);
    if (!found.source) return reject(ctx, "missing API key\n");
    auto d = tls::sha256(found.value);
    auto it = c_.clients.find(std::string(reinterpret_cast<const char*>(d.data()), d.size()));
    if (it == c_.clients.end()) return reject(ctx, "invalid API key\n");
    if (c_.sanitize) strip_credential(ctx, found);
    if (!c_.forward_header.empty()) ctx.request_headers().set(c_.forward_header, it->second);
    ctx.set_metadata("api-key-auth.client", it->second);
    return c_.counted.counted(ctx, filter_status::next);
  }

 private:
  filter_status reject(filter_context& ctx, std::string_view why) {
    static const http::header challenge[] = {{"www-authenticate", "ApiKey"}};
    ctx.send_local_reply(401, why, challenge);
    return c_.counted.counted(ctx, filter_status::stop);
  }
  const api_key_config& c_;
};

}  // namespace

std::shared_ptr<const filter_factory> make_api_key_auth(std::string_view json,
                                                        filter_factory_context& context) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"credentials", "extractFrom", "forwardClientIDHeader", "sanitize"});
  api_key_config c;
  const json_value* creds = o.if_contains("credentials");
  if (!creds) config_error("credentials", "required field is missing");
  for (const auto& kv : as_object(*creds, "credentials")) {
    const std::string at = field_path("credentials", kv.key());
    if (!kv.value().is_string() || kv.value().get_string().empty())
      config_error(at, "the key must be a non-empty string");
    auto d = tls::sha256(std::string_view(kv.value().get_string()));
    auto [it, fresh] = c.clients.emplace(
        std::string(reinterpret_cast<const char*>(d.data()), d.size()), std::string(kv.key()));
    if (!fresh)
      config_error(at, fmt::format("the same key is also given to client '{}'", it->second));
  }
  if (c.clients.empty()) config_error("credentials", "needs at least one client key");
  const auto* from = array_field(o, "extractFrom", "", true);
  for (std::size_t i = 0; i < from->size(); ++i) {
    const std::string at = index_path("extractFrom", i);
    read_sources(as_object((*from)[i], at), at, c.sources);
  }
  if (c.sources.empty()) config_error("extractFrom", "needs at least one header, param or cookie");
  c.forward_header = string_field(o, "forwardClientIDHeader", "").value_or("");
  c.sanitize = bool_field(o, "sanitize", "").value_or(true);
  c.counted = verdict_counters(context, "denied");
  return make_factory<api_key_filter>(std::move(c), hook_request);
}

}  // namespace gateway::filters
