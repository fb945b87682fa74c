// "jwt": requests must carry a JSON Web Token that one of the providers
// accepts: signature by a key of its JWKS (RS256/384/512, PS256/384/512,
// ES256/384/512, EdDSA, HS256/384/512; "none" never), issuer, audiences, exp
// and nbf with a clock skew. Claims can be copied into request fields. A
// refusal is a 401 whose reason names the check that failed and nothing of
// the keys. Envoy Gateway's SecurityPolicy `jwt` shape, with JWKS inline or
// from a file (read at load; a reload re-reads it).
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
  std::string issuer;
  std::vector<std::string> audiences;
  std::vector<tls::jwk> keys;            // localJWKS
  std::unique_ptr<jwks_fetcher> remote;  // remoteJWKS
  std::vector<credential_source> sources;
  std::vector<claim_header> claims;
  std::chrono::seconds skew{60};
};

struct jwt_config {
  std::vector<provider> providers;
  bool optional = false;  // a request without any token passes (one with a bad token never)
  std::uint64_t id = 0;   // tells this configuration's cache entries from others'
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

// Why a token was refused; the text goes to the client, so it says which
// check failed and never anything about keys.
enum class refusal {
  none,
  missing,
  malformed,
  algorithm,
  no_key,
  signature,
  issuer,
  audience,
  expired,
  early,
  no_key_set
};

std::string_view reason(refusal r) {
  switch (r) {
    case refusal::none:
      return "";
    case refusal::missing:
      return "JWT missing\n";
    case refusal::malformed:
      return "JWT malformed\n";
    case refusal::algorithm:
      return "JWT algorithm not accepted\n";
    case refusal::no_key:
      return "JWT key not known (kid/alg)\n";
    case refusal::signature:
      return "JWT signature does not verify\n";
    case refusal::issuer:
      return "JWT issuer not accepted\n";
    case refusal::audience:
      return "JWT audience not accepted\n";
    case refusal::expired:
      return "JWT expired\n";
    case refusal::early:
      return "JWT not yet valid\n";
    case refusal::no_key_set:
      return "JWT key set unavailable\n";
  }
  return "";
}

std::optional<boost::json::object> decode_part(std::string_view part) {
  auto text = tls::base64_decode(part);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

std::optional<std::int64_t> number_claim(const boost::json::object& c, std::string_view name,
                                         bool& bad) {
  const boost::json::value* v = c.if_contains(name);
  if (!v) return std::nullopt;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->get_double());
  bad = true;
  return std::nullopt;
}

// exp and nbf against the clock, with the provider's skew.
refusal check_times(const provider& p, std::optional<std::int64_t> exp,
                    std::optional<std::int64_t> nbf) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  if (exp && now > *exp + p.skew.count()) return refusal::expired;
  if (nbf && now + p.skew.count() < *nbf) return refusal::early;
  return refusal::none;
}

// Checks `token` against `p`; on success `claims` holds its payload.
refusal check(const provider& p, const std::vector<tls::jwk>& keys, std::string_view token,
              boost::json::object& claims) {
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return refusal::malformed;
  auto header = decode_part(token.substr(0, dot1));
  auto payload = decode_part(token.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = tls::base64_decode(token.substr(dot2 + 1));
  if (!header || !payload || !signature) return refusal::malformed;
  const boost::json::value* alg = header->if_contains("alg");
  if (!alg || !alg->is_string() || alg->get_string() == "none") return refusal::algorithm;
  const std::string_view a = alg->get_string();
  const boost::json::value* kid = header->if_contains("kid");
  const std::string_view signed_part = token.substr(0, dot2);
  bool any_key = false, verified = false;
  for (const tls::jwk& k : keys) {
    if (kid && kid->is_string() && !k.kid.empty() && k.kid != kid->get_string()) continue;
    if (!k.suits(a)) continue;
    any_key = true;
    if ((verified = k.verify(a, signed_part, *signature))) break;
  }
  if (!any_key) return refusal::no_key;
  if (!verified) return refusal::signature;
  claims = std::move(*payload);
  if (!p.issuer.empty()) {
    const boost::json::value* iss = claims.if_contains("iss");
    if (!iss || !iss->is_string() || iss->get_string() != p.issuer) return refusal::issuer;
  }
  if (!p.audiences.empty()) {
    const boost::json::value* aud = claims.if_contains("aud");
    bool ok = false;
    auto accepted = [&](const boost::json::value& v) {
      if (!v.is_string()) return false;
      for (const auto& want : p.audiences)
        if (v.get_string() == want) return true;
      return false;
    };
    if (aud && aud->is_string()) ok = accepted(*aud);
    if (aud && aud->is_array())
      for (const auto& item : aud->get_array())
        ok = ok || accepted(item);
    if (!ok) return refusal::audience;
  }
  bool bad = false;
  auto exp = number_claim(claims, "exp", bad);
  auto nbf = number_claim(claims, "nbf", bad);
  if (bad) return refusal::malformed;
  return check_times(p, exp, nbf);
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
        last = check(p, *keys, token.value, claims);
        if (last == refusal::no_key && p.remote) p.remote->refresh_soon();  // keys rotated?
        if (last != refusal::none) continue;
        remember(*hit, p, index, token.value, claims, now);
      } else if ((last = check_times(p, hit->exp, hit->nbf)) != refusal::none) {
        continue;
      }
      for (const auto& [header, value] : hit->headers)
        ctx.request_headers().set(header, value);
      ctx.set_metadata("jwt.provider", p.name);
      if (!hit->sub.empty()) ctx.set_metadata("jwt.sub", hit->sub);
      return filter_status::next;
    }
    if (last == refusal::missing && c_.optional) return filter_status::next;
    const http::header fields[] = {{"www-authenticate", last == refusal::missing
                                                            ? std::string_view("Bearer")
                                                            : "Bearer error=\"invalid_token\""}};
    ctx.send_local_reply(401, reason(last), fields);
    return filter_status::stop;
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

// "http://host[:port]/path?query" into the fetcher's options; endpoints from
// the URI itself when it names an IP address.
jwks_fetcher::options remote_options(const json_object& r, const std::string& path) {
  check_fields(r, path, {"uri", "endpoints", "cacheDuration", "timeout"});
  jwks_fetcher::options o;
  const std::string uri = *string_field(r, "uri", path, true);
  const std::string at = field_path(path, "uri");
  if (uri.starts_with("https://"))
    config_error(at,
                 "https needs TLS to upstreams, which is not supported yet; use http or localJWKS");
  if (!uri.starts_with("http://")) config_error(at, "must be an http:// URL");
  std::string_view rest = std::string_view(uri).substr(7);
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  o.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  o.host = std::string(authority);
  std::string_view host = authority;
  std::uint16_t port = 80;
  if (const std::size_t colon = authority.rfind(':');
      colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    unsigned n = 0;
    for (char ch : authority.substr(colon + 1)) {
      if (ch < '0' || ch > '9' || (n = n * 10 + unsigned(ch - '0')) > 65535)
        config_error(at, "has an invalid port");
    }
    port = static_cast<std::uint16_t>(n);
  }
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  for (const std::string& ep : strings_field(r, "endpoints", path)) {
    const std::size_t colon = ep.rfind(':');
    o.endpoints.emplace_back(ep.substr(0, colon),
                             static_cast<std::uint16_t>(std::stoi(ep.substr(colon + 1))));
  }
  if (o.endpoints.empty()) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(std::string(host), ec);
    if (ec)
      config_error(at, "names host '" + std::string(host) +
                           "': give backendRefs to a Service (names are not resolved yet)");
    o.endpoints.emplace_back(std::string(host), port);
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
  if (!in) config_error(at, "cannot read '" + path + "'");
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

provider read_provider(const json_object& o, const std::string& path) {
  check_fields(o, path,
               {"name", "issuer", "audiences", "localJWKS", "remoteJWKS", "claimToHeaders",
                "extractFrom", "clockSkew"});
  provider p;
  p.name = *string_field(o, "name", path, true);
  p.issuer = string_field(o, "issuer", path).value_or("");
  p.audiences = strings_field(o, "audiences", path);
  if (auto skew = duration_field(o, "clockSkew", path))
    p.skew = std::chrono::duration_cast<std::chrono::seconds>(*skew);
  const std::string lp = field_path(path, "localJWKS");
  const json_value* local = o.if_contains("localJWKS");
  if (const json_value* remote = o.if_contains("remoteJWKS")) {
    const std::string rp = field_path(path, "remoteJWKS");
    if (local) config_error(rp, "give localJWKS or remoteJWKS, not both");
    p.remote = std::make_unique<jwks_fetcher>(remote_options(as_object(*remote, rp), rp));
  } else if (!local) {
    config_error(lp, "required field is missing (or remoteJWKS)");
  }
  if (local) read_local(p, as_object(*local, lp), lp);
  read_claims_and_sources(o, path, p);
  return p;
}

}  // namespace

std::shared_ptr<const filter_factory> make_jwt(std::string_view json) {
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
    c.providers.push_back(read_provider(as_object((*list)[i], pp), pp));
  }
  return make_factory<jwt_filter>(std::move(c), hook_request);
}

}  // namespace gateway::filters
