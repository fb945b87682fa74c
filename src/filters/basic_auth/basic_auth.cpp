// "basic-auth": users from htpasswd text (bcrypt "$2y$"/"$2b$"/"$2a$",
// "{SHA}" and "$apr1$" hashes); 401 with a Basic challenge otherwise. Hashes
// are compared in constant time, and an unknown user costs a hash too, so the
// answer's timing does not tell which users exist.
//
// bcrypt is slow by design (tens of milliseconds at cost 10) and runs on the
// worker; recent successes are remembered per worker thread (by a SHA-256 of
// the credentials), so a client sending the same credentials pays it once.
#include <crypt.h>
#include <fmt/format.h>

#include <chrono>
#include <cstring>
#include <string>
#include <unordered_map>

#include "filters/builtin.hpp"
#include "filters/json_config.hpp"
#include "tls/digest.hpp"

namespace gateway::filters {
namespace {

struct basic_config {
  std::unordered_map<std::string, std::string> users;  // name -> hash
  std::string realm = "gateway";
  std::string forward_header;
  std::string challenge;     // the WWW-Authenticate value
  verdict_counters counted;  // allowed, denied
};

bool verify(std::string_view password, const std::string& hash) {
  if (hash.starts_with("{SHA}")) {
    auto d = tls::sha1(password);
    return tls::constant_time_equal(
        tls::base64_encode({reinterpret_cast<const char*>(d.data()), d.size()}),
        std::string_view(hash).substr(5));
  }
  if (hash.starts_with("$apr1$"))
    return tls::constant_time_equal(tls::apr1_crypt(password, hash.substr(6)), hash);
  // bcrypt (and any other scheme libcrypt knows).
  crypt_data data;
  std::memset(&data, 0, sizeof data);
  std::string pw(password);
  const char* out = crypt_r(pw.c_str(), hash.c_str(), &data);
  return out && out[0] != '*' && tls::constant_time_equal(out, hash);
}

// Per worker thread: credentials that verified recently.
struct verified_cache {
  static constexpr std::size_t max_entries = 1024;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> entries;
};
thread_local verified_cache cache;

class basic_filter final : public filter {
 public:
  explicit basic_filter(const basic_config& c) : c_(c) {}
  filter_status on_request(filter_context& ctx) override {
    auto auth = ctx.request_headers().get("authorization");
    if (!auth || auth->size() < 6 || !http::iequals(auth->substr(0, 6), "basic "))
      return reject(ctx, "authentication required\n");
    auto decoded = tls::base64_decode(auth->substr(6));
    std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) return reject(ctx, "malformed credentials\n");
    std::string_view user = std::string_view(*decoded).substr(0, colon);
    std::string_view password = std::string_view(*decoded).substr(colon + 1);
    auto it = c_.users.find(std::string(user));
    // An unknown user is checked against a dummy so it takes as long as a known one.
    static const std::string dummy = tls::apr1_crypt("x", "dummysal");
    const std::string& hash = it == c_.users.end() ? dummy : it->second;
    auto key_digest = tls::sha256(std::string(reinterpret_cast<const char*>(&c_), sizeof(void*))
                                      .append(*decoded)
                                      .append("\n")
                                      .append(hash));
    std::string key(reinterpret_cast<const char*>(key_digest.data()), key_digest.size());
    const auto now = std::chrono::steady_clock::now();
    bool ok = false;
    if (auto hit = cache.entries.find(key);
        hit != cache.entries.end() && now - hit->second < std::chrono::minutes(5)) {
      ok = it != c_.users.end();
    } else if (verify(password, hash) && it != c_.users.end()) {
      if (cache.entries.size() >= verified_cache::max_entries) cache.entries.clear();
      cache.entries[key] = now;
      ok = true;
    }
    if (!ok) return reject(ctx, "invalid credentials\n");
    if (!c_.forward_header.empty()) ctx.request_headers().set(c_.forward_header, user);
    ctx.set_metadata("basic-auth.user", user);
    return c_.counted.counted(ctx, filter_status::next);
  }

 private:
  filter_status reject(filter_context& ctx, std::string_view why) {
    const http::header challenge[] = {{"www-authenticate", c_.challenge}};
    ctx.send_local_reply(401, why, challenge);
    return c_.counted.counted(ctx, filter_status::stop);
  }
  const basic_config& c_;
};

}  // namespace

std::shared_ptr<const filter_factory> make_basic_auth(std::string_view json,
                                                      filter_factory_context& context) {
  json_value v = parse_config(json);
  const json_object& o = v.get_object();
  check_fields(o, "", {"htpasswd", "realm", "forwardUsernameHeader"});
  basic_config c;
  std::string text = *string_field(o, "htpasswd", "", true);
  std::size_t line_no = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
      line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string at = "htpasswd line " + std::to_string(line_no);
    std::size_t colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) config_error(at, "expected user:hash");
    std::string user(line.substr(0, colon));
    std::string hash(line.substr(colon + 1));
    const bool known = hash.starts_with("{SHA}") || hash.starts_with("$apr1$") ||
                       hash.starts_with("$2y$") || hash.starts_with("$2b$") ||
                       hash.starts_with("$2a$");
    if (!known)
      config_error(at,
                   fmt::format("user '{}{}", user,
                               "': unsupported hash (use bcrypt $2y$, {SHA} or $apr1$; plain text "
                               "and crypt(3) DES are refused)"));
    if (!c.users.emplace(user, hash).second)
      config_error(at, fmt::format("user '{}' appears twice", user));
  }
  if (c.users.empty()) config_error("htpasswd", "has no users");
  c.realm = string_field(o, "realm", "").value_or("gateway");
  if (c.realm.find_first_of("\"\\\r\n") != std::string::npos)
    config_error("realm", "must not contain quotes, backslashes or line breaks");
  c.challenge = "Basic realm=\"" + c.realm + "\", charset=\"UTF-8\"";
  c.forward_header = string_field(o, "forwardUsernameHeader", "").value_or("");
  c.counted = verdict_counters(context, "denied");
  return make_factory<basic_filter>(std::move(c), hook_request);
}

}  // namespace gateway::filters
