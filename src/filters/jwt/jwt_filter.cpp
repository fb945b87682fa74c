// "jwt": requests must carry a JSON Web Token that one of the providers
// accepts: signature by a key of its JWKS (RS256/384/512, PS256/384/512,
// ES256/384/512, EdDSA, HS256/384/512; "none" never), issuer, audiences, exp
// and nbf with a clock skew. Claims can be copied into request fields. A
// refusal is a 401 whose reason names the check that failed and nothing of
// the keys. Envoy Gateway's SecurityPolicy `jwt` shape, with JWKS inline or
// from a file (read at load; a reload re-reads it).
#include <gateway/error.hpp>

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "filters/builtin.hpp"
#include "filters/credential_source.hpp"
#include "filters/json_config.hpp"
#include "filters/jwt/jwks_fetcher.hpp"
#include "filters/jwt/jwt_token.hpp"
#include "server/target_url.hpp"
#include "tls/digest.hpp"
#include "tls/jwk.hpp"

namespace gateway::filters {
namespace {

struct claim_header {
  std::string header;
  std::vector<std::string> claim;  // a path: "sub", or "org.id" for nested claims
};

struct provider {
  std::string name;
  token_rules rules;
  std::vector<tls::jwk> keys;            // localJWKS
  std::unique_ptr<jwks_fetcher> remote;  // remoteJWKS
  std::vector<credential_source> sources;
  std::vector<claim_header> claims;
};

struct jwt_config {
  std::vector<provider> providers;
  bool optional = false;     // a request without any token passes (one with a bad token never)
  std::uint64_t id = 0;      // tells this configuration's cache entries from others'
  verdict_counters counted;  // a token verified (or none, optional); denied: a 401
};

// Tokens that verified recently, per worker thread: a client sends the same
// token many times, and a hit skips the signature and the JSON (most of the
// filter's cost). Only the time claims are checked again. An entry lives at
// most a minute, so a key removed from a remote JWKS stops working soon.
struct verified_token {
  std::uint64_t config = 0;
  std::string token;
  std::size_t provider = 0;
  std::optional<std::int64_t> exp, nbf;
  std::vector<std::pair<std::string, std::string>> headers;  // claimToHeaders, resolved
  std::string sub;
  std::chrono::steady_clock::time_point added;
};
constexpr std::size_t token_cache_slots = 256;
constexpr auto token_cache_life = std::chrono::minutes(1);
std::atomic<std::uint64_t> next_config_id{1};

verified_token* cache_slot(std::uint64_t config, std::string_view token) {
  thread_local std::vector<verified_token> slots(token_cache_slots);
  std::size_t h = std::hash<std::string_view>{}(token) ^ (config * 0x9e3779b97f4a7c15ULL);
  return &slots[h % token_cache_slots];
}

const boost::json::value* claim_at(const boost::json::object& claims,
                                   const std::vector<std::string>& path) {
  const boost::json::object* o = &claims;
  const boost::json::value* v = nullptr;
  for (const std::string& step : path) {
    if (!o) return nullptr;
    v = o->if_contains(step);
    if (!v) return nullptr;
    o = v->is_object() ? &v->get_object() : nullptr;
  }
  return v;
}

class jwt_filter final : public filter {
 public:
  explicit jwt_filter(const jwt_config& c) : c_(c) {}
  filter_status on_request(filter_context& ctx) override { return evaluate(ctx, false); }
  // A remote key set has had its first fetch: check again.
  filter_status on_resume(filter_context& ctx) override { return evaluate(ctx, true); }

 private:
  filter_status evaluate(filter_context& ctx, bool waited) {
    refusal last = refusal::missing;
    for (const provider& p : c_.providers) {
      found_credential token = find_credential(ctx, p.sources);
      if (!token.source) continue;
      const std::vector<tls::jwk>* keys = &p.keys;
      if (p.remote) {
        keys = p.remote->keys();
        if (!keys) {
          if (!waited && !p.remote->settled()) {
            p.remote->wait(ctx.pause_handle());  // the first fetch is under way
            return filter_status::pause;
          }
          last = refusal::no_key_set;
          continue;
        }
      }
      const std::size_t index = static_cast<std::size_t>(&p - c_.providers.data());
      verified_token* hit = cache_slot(c_.id, token.value);
      const auto now = std::chrono::steady_clock::now();
      if (hit->config != c_.id || hit->provider != index || hit->token != token.value ||
          now - hit->added > token_cache_life) {
        boost::json::object claims;
        last = check_token(p.rules, *keys, token.value, unix_now(), claims);
        if (last == refusal::no_key && p.remote) p.remote->refresh_soon();  // keys rotated?
        if (last != refusal::none) continue;
        remember(*hit, p, index, token.value, claims, now);
      } else if ((last = check_times(p.rules, hit->exp, hit->nbf, unix_now())) != refusal::none) {
        continue;
      }
      for (const auto& [header, value] : hit->headers)
        ctx.request_headers().set(header, value);
      ctx.set_metadata("jwt.provider", p.name);
      if (!hit->sub.empty()) ctx.set_metadata("jwt.sub", hit->sub);
      return c_.counted.counted(ctx, filter_status::next);
    }
    if (last == refusal::missing && c_.optional)
      return c_.counted.counted(ctx, filter_status::next);
    const http::header fields[] = {{"www-authenticate", last == refusal::missing
                                                            ? std::string_view("Bearer")
                                                            : "Bearer error=\"invalid_token\""}};
    ctx.send_local_reply(401, reason(last), fields);
    return c_.counted.counted(ctx, filter_status::stop);
  }

  void remember(verified_token& slot, const provider& p, std::size_t index, std::string_view token,
                const boost::json::object& claims, std::chrono::steady_clock::time_point now) {
    slot.config = c_.id;
    slot.provider = index;
    slot.token.assign(token);
    slot.added = now;
    bool bad = false;
    slot.exp = number_claim(claims, "exp", bad);
    slot.nbf = number_claim(claims, "nbf", bad);
    slot.headers.clear();
    for (const claim_header& ch : p.claims)
      if (const boost::json::value* v = claim_at(claims, ch.claim))
        slot.headers.emplace_back(
            ch.header, v->is_string() ? std::string(v->get_string()) : boost::json::serialize(*v));
    const auto* sub = claims.if_contains("sub");
    slot.sub = sub && sub->is_string() ? std::string(sub->get_string()) : std::string();
  }

  const jwt_config& c_;
};

// "http[s]://host[:port]/path?query" into the fetcher's options: the
// endpoints given (backendRefs became them), else the URI's host, resolved
// at each fetch; HTTPS verified against the system store for that host.
jwks_fetcher::options remote_options(const json_object& r, const std::string& path,
                                     filter_services& services) {
  check_fields(r, path, {"uri", "endpoints", "cacheDuration", "timeout"});
  jwks_fetcher::options o;
  o.services = &services;
  const std::string uri = *string_field(r, "uri", path, true);
  const std::string at = field_path(path, "uri");
  if (!uri.starts_with("http://") && !uri.starts_with("https://"))
    config_error(at, "must be an http:// or https:// URL");
  parsed_url url;
  try {
    url = parse_url(uri, at);
  } catch (const gateway::error& e) {
    std::string_view why = e.what();
    if (why.starts_with(at + ": ")) why.remove_prefix(at.size() + 2);  // config_error says where
    config_error(at, why);
  }
  o.path = url.target;
  o.host = url.authority;
  o.port = url.port;
  o.name = url.host;
  for (const std::string& ep : strings_field(r, "endpoints", path)) {
    const std::size_t colon = ep.rfind(':');
    o.endpoints.emplace_back(ep.substr(0, colon),
                             static_cast<std::uint16_t>(std::stoi(ep.substr(colon + 1))));
  }
  if (url.https) {
    upstream_tls_config tls;
    tls.enabled = true;
    tls.system_ca = true;
    boost::system::error_code ec;
    boost::asio::ip::make_address(o.name, ec);
    if (ec) tls.sni = o.name;  // an address is verified as one (no SNI)
    try {
      o.tls = std::make_shared<const tls::client_context>(tls);
    } catch (const gateway::error& e) {
      config_error(at, e.what());
    }
  }
  if (auto d = duration_field(r, "cacheDuration", path))
    o.refresh = std::max(*d, std::chrono::milliseconds(1000));
  if (auto d = duration_field(r, "timeout", path))
    o.timeout = std::max(*d, std::chrono::milliseconds(1));
  return o;
}

}  // namespace

namespace {
std::string read_file(const std::string& path, const std::string& at) {
  std::ifstream in(path, std::ios::binary);
  if (!in) config_error(at, fmt::format("cannot read '{}'", path));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void read_local(provider& p, const json_object& lo, const std::string& lp) {
  check_fields(lo, lp, {"type", "inline", "file"});
  const std::string type = string_field(lo, "type", lp).value_or("Inline");
  std::string jwks;
  if (type == "Inline")
    jwks = *string_field(lo, "inline", lp, true);
  else if (type == "File")
    jwks = read_file(*string_field(lo, "file", lp, true), field_path(lp, "file"));
  else
    config_error(field_path(lp, "type"), "must be Inline or File");
  try {
    p.keys = tls::parse_jwks(jwks);
  } catch (const std::exception& e) {
    config_error(lp, e.what());
  }
}

void read_claims_and_sources(const json_object& o, const std::string& path, provider& p) {
  if (const auto* list = array_field(o, "claimToHeaders", path))
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string cp = index_path(field_path(path, "claimToHeaders"), i);
      const json_object& c = as_object((*list)[i], cp);
      check_fields(c, cp, {"header", "claim"});
      claim_header ch;
      ch.header = *string_field(c, "header", cp, true);
      if (framing_field(ch.header)) config_error(field_path(cp, "header"), "frames the message");
      const std::string claim_text = *string_field(c, "claim", cp, true);
      std::string_view claim = claim_text;
      while (!claim.empty()) {
        std::size_t dot = claim.find('.');
        ch.claim.emplace_back(claim.substr(0, dot));
        claim.remove_prefix(dot == std::string_view::npos ? claim.size() : dot + 1);
      }
      p.claims.push_back(std::move(ch));
    }
  if (const json_value* from = o.if_contains("extractFrom")) {
    const std::string fp = field_path(path, "extractFrom");
    read_sources(as_object(*from, fp), fp, p.sources);
  } else {
    p.sources.push_back({credential_source::kind::header, "authorization", "Bearer "});
  }
}

provider read_provider(const json_object& o, const std::string& path, filter_services& services) {
  check_fields(o, path,
               {"name", "issuer", "audiences", "localJWKS", "remoteJWKS", "claimToHeaders",
                "extractFrom", "clockSkew"});
  provider p;
  p.name = *string_field(o, "name", path, true);
  p.rules.issuer = string_field(o, "issuer", path).value_or("");
  p.rules.audiences = strings_field(o, "audiences", path);
  if (auto skew = duration_field(o, "clockSkew", path))
    p.rules.skew = std::chrono::duration_cast<std::chrono::seconds>(*skew);
  const std::string lp = field_path(path, "localJWKS");
  const json_value* local = o.if_contains("localJWKS");
  if (const json_value* remote = o.if_contains("remoteJWKS")) {
    const std::string rp = field_path(path, "remoteJWKS");
    if (local) config_error(rp, "give localJWKS or remoteJWKS, not both");
    p.remote = std::make_unique<jwks_fetcher>(remote_options(as_object(*remote, rp), rp, services));
  } else if (!local) {
    config_error(lp, "required field is missing (or remoteJWKS)");
  }
  if (local) read_local(p, as_object(*local, lp), lp);
  read_claims_and_sources(o, path, p);
  return p;
}

}  // namespace

std::shared_ptr<const filter_factory> make_jwt(std::string_view json,
                                               filter_factory_context& context) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"providers", "optional"});
  jwt_config c;
  c.id = next_config_id++;
  c.optional = bool_field(o, "optional", "").value_or(false);
  const auto* list = array_field(o, "providers", "", true);
  if (list->empty()) config_error("providers", "needs at least one provider");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const std::string pp = index_path("providers", i);
    c.providers.push_back(read_provider(as_object((*list)[i], pp), pp, context.services()));
  }
  c.counted = verdict_counters(context, "denied");
  return make_factory<jwt_filter>(std::move(c), hook_request);
}

}  // namespace gateway::filters
