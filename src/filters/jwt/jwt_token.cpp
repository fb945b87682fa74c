#include "filters/jwt/jwt_token.hpp"

#include <boost/json/parse.hpp>

#include "tls/digest.hpp"

namespace gateway::filters {

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

namespace {
std::optional<boost::json::object> decode_part(std::string_view part) {
  auto text = tls::base64_decode(part);
  if (!text) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*text, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

}  // namespace

std::optional<std::int64_t> number_claim(const boost::json::object& c, std::string_view name,
                                         bool& bad) {
  const boost::json::value* v = c.if_contains(name);
  if (!v) return std::nullopt;
  // A time is at most the year 9999 either way: a larger number is no date
  // (and, cast or with the skew added, it would overflow).
  constexpr std::int64_t limit = 253'402'300'799;
  if (v->is_int64() && v->get_int64() >= -limit && v->get_int64() <= limit) return v->get_int64();
  if (v->is_double() && v->get_double() >= -double(limit) && v->get_double() <= double(limit))
    return static_cast<std::int64_t>(v->get_double());
  bad = true;  // not a number, or one out of range (uint64 is always beyond int64)
  return std::nullopt;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

refusal check_times(const token_rules& p, std::optional<std::int64_t> exp,
                    std::optional<std::int64_t> nbf, std::int64_t now) {
  if (exp && now > *exp + p.skew.count()) return refusal::expired;
  if (nbf && now + p.skew.count() < *nbf) return refusal::early;
  return refusal::none;
}

refusal check_token(const token_rules& p, const std::vector<tls::jwk>& keys, std::string_view token,
                    std::int64_t now, boost::json::object& claims) {
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
  return check_times(p, exp, nbf, now);
}

}  // namespace gateway::filters
