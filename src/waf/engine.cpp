// Loading rule sets into engines (once per distinct rule set) and evaluating
// a request in process.
#include "waf/engine.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <modsecurity/rule_with_actions.h>
#include <modsecurity/rules_set_phases.h>

#include <sys/stat.h>

#include <cctype>
#include <cstdio>
#include <map>
#include <mutex>

#include <gateway/version.hpp>
#include "waf/transaction.hpp"

namespace gateway {

namespace waf {

namespace {

// Matches are read from the transaction after each phase (the disruptive one
// never comes here); without a callback the library would print to stderr.
void on_log(void*, const void*) {}

// What libmodsecurity's recommended configuration sets, as the gateway wants
// it: the engine On (the mode is applied per transaction), body processors for
// JSON and XML chosen by Content-Type, a request that the body parsers could
// not read denied, bounded regex backtracking, no debug log. Body limits are
// the gateway's: it gives the rules at most the policy's limit, so the
// library's own limits are set out of the way.
constexpr std::string_view base_directives = R"(SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 1073741824
SecRequestBodyNoFilesLimit 1073741824
SecRequestBodyLimitAction ProcessPartial
SecRequestBodyJsonDepthLimit 512
SecArgumentsLimit 1000
SecPcreMatchLimit 1000
SecPcreMatchLimitRecursion 1000
SecResponseBodyLimit 1073741824
SecResponseBodyLimitAction ProcessPartial
SecArgumentSeparator &
SecCookieFormat 0
SecTmpDir /tmp/
SecDataDir /tmp/
SecStatusEngine Off
SecRule REQUEST_HEADERS:Content-Type "^(?:application(?:/soap\+|/)|text/)xml" "id:200000,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=XML"
SecRule REQUEST_HEADERS:Content-Type "^application/json" "id:200001,phase:1,t:none,t:lowercase,pass,nolog,ctl:requestBodyProcessor=JSON"
SecRule &ARGS "@ge 1000" "id:200007,phase:2,t:none,log,deny,status:400,msg:'Too many arguments: the request body was not read whole',severity:2"
SecRule REQBODY_ERROR "!@eq 0" "id:200002,phase:2,t:none,log,deny,status:400,msg:'The request body could not be parsed',logdata:'%{reqbody_error_msg}',severity:2"
SecRule MULTIPART_STRICT_ERROR "!@eq 0" "id:200003,phase:2,t:none,log,deny,status:400,msg:'The multipart body failed strict validation',severity:2"
SecRule MULTIPART_UNMATCHED_BOUNDARY "@eq 1" "id:200004,phase:2,t:none,log,deny,msg:'The multipart body has a possible unmatched boundary',severity:2"
SecRule TX:/^MSC_/ "!@streq 0" "id:200005,phase:2,t:none,log,deny,msg:'ModSecurity internal error flagged: %{MATCHED_VAR_NAME}'"
)";

// The names libmodsecurity gives the two inline texts in its messages (and
// its errors, with lines counted in each text): the gateway's settings with
// the Includes, and the policy's own directives.
constexpr std::string_view settings_source = "waf-settings";
constexpr std::string_view directives_source = "directives";

bool readable_file(const std::string& path, struct stat& st) {
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void append_include(std::string& out, std::string_view path) {
  out.append("Include ").append(path).append("\n");
}

std::string engine_key(const waf_rule_set& rules, const std::string& text) {
  // Rule files changed on disk make a new engine on the next load.
  std::string key = text;
  for (const std::string& f : rules.files) {
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0)
      key.append("\n#")
          .append(f)
          .append(" ")
          .append(std::to_string(st.st_mtim.tv_sec))
          .append(".")
          .append(std::to_string(st.st_mtim.tv_nsec))
          .append(" ")
          .append(std::to_string(st.st_size));
  }
  return key;
}

// The tag:'...' actions of the directive that starts at `line` (1-based) of `text`.
std::vector<std::string> directive_tags(std::string_view text, int line) {
  std::size_t pos = 0;
  for (int l = 1; l < line && pos != std::string_view::npos; ++l) {
    pos = text.find('\n', pos);
    if (pos != std::string_view::npos) ++pos;
  }
  if (pos == std::string_view::npos) return {};
  std::size_t end = pos;  // the directive goes on while lines end with a backslash
  for (;;) {
    std::size_t eol = text.find('\n', end);
    if (eol == std::string_view::npos) {
      end = text.size();
      break;
    }
    std::string_view l = text.substr(end, eol - end);
    while (!l.empty() && (l.back() == '\r' || l.back() == ' '))
      l.remove_suffix(1);
    end = eol + 1;
    if (l.empty() || l.back() != '\\') break;
  }
  std::string_view d = text.substr(pos, end - pos);
  std::vector<std::string> tags;
  for (std::size_t at = d.find("tag:"); at != std::string_view::npos; at = d.find("tag:", at)) {
    if (at > 0 && (std::isalnum(static_cast<unsigned char>(d[at - 1])) || d[at - 1] == '_')) {
      at += 4;  // part of another action's name (ctl:ruleRemoveByTag)
      continue;
    }
    at += 4;
    if (at < d.size() && d[at] == '\'') {
      std::size_t close = d.find('\'', at + 1);
      if (close == std::string_view::npos) break;
      tags.emplace_back(d.substr(at + 1, close - at - 1));
      at = close + 1;
    } else {
      std::size_t close = d.find_first_of(",\"", at);
      if (close == std::string_view::npos) close = d.size();
      tags.emplace_back(d.substr(at, close - at));
      at = close;
    }
  }
  return tags;
}

void read_tags(waf_engine::impl& e, const std::string& settings) {
  std::map<std::string, std::string, std::less<>> sources;
  for (int p = 0; p < modsecurity::Phases::NUMBER_OF_PHASES; ++p) {
    for (const auto& rule : e.set->m_rulesSetPhases.at(p)->m_rules) {
      auto* r = dynamic_cast<modsecurity::RuleWithActions*>(rule.get());
      if (!r || r->m_ruleId == 0 || e.tags.count(r->m_ruleId)) continue;
      auto file = r->getFileName();
      if (!file) continue;
      auto [it, fresh] = sources.try_emplace(*file);
      if (fresh) {
        if (*file == settings_source) {
          it->second = settings;
        } else if (*file == directives_source) {
          it->second = e.rules.directives;
        } else if (std::FILE* f = std::fopen(file->c_str(), "rb")) {
          char buf[65536];
          for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;)
            it->second.append(buf, n);
          std::fclose(f);
        }
      }
      auto tags = directive_tags(it->second, r->getLineNumber());
      if (!tags.empty()) e.tags.emplace(r->m_ruleId, std::move(tags));
    }
  }
}

std::mutex cache_mutex;
std::map<std::string, std::weak_ptr<const waf_engine>, std::less<>> cache;

}  // namespace

modsecurity::ModSecurity& library() {
  static modsecurity::ModSecurity* instance = [] {
    auto* m = new modsecurity::ModSecurity();  // lives as long as the process
    m->setConnectorInformation(std::string("gateway/") + std::string(version_string()));
    m->setServerLogCb(on_log, modsecurity::RuleMessageLogProperty);
    return m;
  }();
  return *instance;
}

std::string rules_text(const waf_rule_set& r) {
  std::string out(base_directives);
  out.append("SecResponseBodyAccess ").append(r.response_body ? "On\n" : "Off\n");
  if (!r.response_mime_types.empty()) {
    out.append("SecResponseBodyMimeType");
    for (const std::string& t : r.response_mime_types)
      out.append(" ").append(t);
    out.append("\n");
  }
  if (r.audit_log.empty()) {
    out.append("SecAuditEngine Off\n");
  } else {
    out.append(
        "SecAuditEngine RelevantOnly\nSecAuditLogRelevantStatus \"^(?:5|4(?!04))\"\n"
        "SecAuditLogParts ABIJDEFHZ\nSecAuditLogType Serial\nSecAuditLogFormat JSON\n"
        "SecAuditLog \"");
    out.append(r.audit_log).append("\"\n");
  }
  if (r.crs) {
    append_include(out, crs_setup_file);
    out.append("SecAction \"id:900000,phase:1,nolog,pass,t:none,setvar:tx.paranoia_level=")
        .append(std::to_string(r.paranoia_level))
        .append("\"\n");
    out.append(
           "SecAction \"id:900110,phase:1,nolog,pass,t:none,"
           "setvar:tx.inbound_anomaly_score_threshold=")
        .append(std::to_string(r.inbound_anomaly_threshold))
        .append(",setvar:tx.outbound_anomaly_score_threshold=")
        .append(std::to_string(r.outbound_anomaly_threshold))
        .append("\"\n");
    struct stat st {};
    if (readable_file(std::string(crs_exclusions_before), st))
      append_include(out, crs_exclusions_before);
    out.append("Include ").append(crs_rules_dir).append("/*.conf\n");
    if (readable_file(std::string(crs_exclusions_after), st))
      append_include(out, crs_exclusions_after);
  }
  for (const std::string& f : r.files)
    append_include(out, f);
  return out;
}

}  // namespace waf

std::string_view to_string(waf_action action) noexcept {
  switch (action) {
    case waf_action::pass:
      return "pass";
    case waf_action::deny:
      return "deny";
    case waf_action::redirect:
      return "redirect";
    case waf_action::drop:
      return "drop";
  }
  return "pass";
}

waf_engine::waf_engine(std::unique_ptr<impl> i) noexcept : impl_(std::move(i)) {}
waf_engine::~waf_engine() = default;

const waf_rule_set& waf_engine::rules() const noexcept {
  return impl_->rules;
}
std::size_t waf_engine::rule_count() const noexcept {
  return impl_->count;
}

std::shared_ptr<const waf_engine> waf_engine::load(const waf_rule_set& rules) {
  if (rules.paranoia_level < 1 || rules.paranoia_level > 4)
    throw error(errc::invalid_config, "waf: paranoia level must be 1 to 4");
  if (rules.inbound_anomaly_threshold < 1 || rules.outbound_anomaly_threshold < 1)
    throw error(errc::invalid_config, "waf: anomaly thresholds must be at least 1");
  if (rules.crs) {
    struct stat st {};
    if (!waf::readable_file(std::string(waf::crs_setup_file), st))
      throw error(
          errc::invalid_config,
          fmt::format(
              "waf: the OWASP CRS is not installed (no {}; apt-get install modsecurity-crs)",
              waf::crs_setup_file));
  }
  for (const std::string& f : rules.files) {
    struct stat st {};
    if (!waf::readable_file(f, st))
      throw error(errc::invalid_config, fmt::format("waf: rule file '{}' cannot be read", f));
    if (f.find_first_of(" \t\r\n\"") != std::string::npos)  // Include takes it bare
      throw error(errc::invalid_config,
                  fmt::format("waf: rule file path '{}' has a space or quote", f));
  }
  if (!rules.crs && rules.files.empty() && rules.directives.empty())
    throw error(errc::invalid_config, "waf: the rule set is empty (crs, files or directives)");
  std::string text = waf::rules_text(rules);
  std::string key = waf::engine_key(rules, text + "\n#directives\n" + rules.directives);
  {
    std::lock_guard lock(waf::cache_mutex);
    auto it = waf::cache.find(key);
    if (it != waf::cache.end()) {
      if (auto e = it->second.lock()) return e;
    }
  }
  // Loading the CRS takes a while; other loads are not held up meanwhile.
  waf::library();
  auto i = std::make_unique<impl>();
  i->rules = rules;
  i->set = std::make_unique<modsecurity::RulesSet>();
  if (i->set->load(text.c_str(), std::string(waf::settings_source)) < 0)
    throw error(errc::invalid_config, fmt::format("waf: {}", i->set->getParserError()));
  if (!rules.directives.empty() &&
      i->set->load(rules.directives.c_str(), std::string(waf::directives_source)) < 0)
    throw error(errc::invalid_config, fmt::format("waf: {}", i->set->getParserError()));
  for (int p = 0; p < modsecurity::Phases::NUMBER_OF_PHASES; ++p)
    i->count += i->set->m_rulesSetPhases.at(p)->size();
  i->key = key;
  waf::read_tags(*i, text);
  auto made = std::make_shared<const waf_engine>(std::move(i));
  std::lock_guard lock(waf::cache_mutex);
  auto& slot = waf::cache[key];
  if (auto e = slot.lock()) return e;  // another load of the same rules won
  slot = made;
  for (auto it = waf::cache.begin(); it != waf::cache.end();)  // forget freed engines
    it = it->second.expired() ? waf::cache.erase(it) : std::next(it);
  return made;
}

namespace {

// The request phases of `r` on `t`; true when the rules decided.
bool request_phases(waf::transaction& t, const waf_request& r) {
  if (t.connection(r.client_ip, r.client_port, r.server_ip, r.server_port)) return true;
  if (t.uri(r.method, r.uri, r.http_version)) return true;
  for (const http::header& h : r.headers)
    t.add_request_header(h.name, h.value);
  if (t.request_headers()) return true;
  if (!r.body.empty()) t.append_request_body(r.body);
  return t.request_body();
}

}  // namespace

waf_verdict waf_engine::evaluate(const waf_request& r, waf_mode mode,
                                 const waf_exclusions& exclusions) const {
  if (mode == waf_mode::off) return {};
  waf::transaction t(*this, mode, exclusions, r.request_id);
  request_phases(t, r);
  t.logging();
  return std::move(t.verdict());
}

waf_verdict waf_engine::evaluate(const waf_request& r, const waf_response& response, waf_mode mode,
                                 const waf_exclusions& exclusions) const {
  if (mode == waf_mode::off) return {};
  waf::transaction t(*this, mode, exclusions, r.request_id);
  if (!request_phases(t, r)) {
    for (const http::header& h : response.headers)
      t.add_response_header(h.name, h.value);
    if (!t.response_headers(response.status, response.protocol)) {
      if (!response.body.empty()) t.append_response_body(response.body);
      t.response_body();
    }
  }
  t.logging();
  return std::move(t.verdict());
}

}  // namespace gateway
