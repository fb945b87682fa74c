#pragma once
// The web application firewall: libmodsecurity v3 rule sets (the OWASP Core
// Rule Set from Debian's modsecurity-crs, rule files, inline directives)
// compiled once into an engine that every worker shares read-only. Requests
// reach it through the "waf" filter (attached by a WafPolicy); evaluate() asks
// it directly, without a socket, what it would decide about a request.
// Nothing of libmodsecurity's own types crosses this header.
#include <gateway/export.hpp>
#include <gateway/http.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gateway {

// What the engine does with its rules' disruptive actions.
enum class waf_mode : std::uint8_t {
  on,              // block, redirect or drop as the rules say
  detection_only,  // evaluate and log, never interfere
  off,             // not evaluated at all
};

// The rules an engine is built from. Engines with equal rule sets (and rule
// files unchanged on disk) are loaded once and shared by every policy using them.
struct waf_rule_set {
  bool crs = false;                    // the OWASP Core Rule Set (Debian's modsecurity-crs)
  int paranoia_level = 1;              // CRS paranoia level, 1..4
  int inbound_anomaly_threshold = 5;   // CRS: the request score that blocks
  int outbound_anomaly_threshold = 4;  // CRS: the response score that blocks
  std::vector<std::string> files;      // rule files, after the CRS (Include works inside)
  std::string directives;              // inline directives, last
  bool response_body = false;          // the response body is made available to rules
  std::vector<std::string> response_mime_types{"text/plain", "text/html", "text/xml"};
  std::string audit_log;  // "": none; else a file of ModSecurity JSON audit records (relevant ones)

  bool operator==(const waf_rule_set&) const = default;
};

// Rules switched off for one use of an engine (one route), applied per
// transaction, so the shared rule set stays as loaded.
struct waf_exclusions {
  std::vector<int> rule_ids;                                        // SecRuleRemoveById
  std::vector<std::pair<int, int>> rule_id_ranges;                  // inclusive ranges of ids
  std::vector<std::string> tags;                                    // SecRuleRemoveByTag
  std::vector<std::pair<int, std::string>> targets_by_id;           // rule id, "ARGS:name"
  std::vector<std::pair<std::string, std::string>> targets_by_tag;  // tag, "ARGS:name"

  bool empty() const noexcept {
    return rule_ids.empty() && rule_id_ranges.empty() && tags.empty() && targets_by_id.empty() &&
           targets_by_tag.empty();
  }
};

// A request for evaluate(); every view is borrowed for the call.
struct waf_request {
  std::string_view method = "GET";
  std::string_view uri = "/";  // the request target as sent: path and query, undecoded
  std::string_view http_version = "1.1";
  std::span<const http::header> headers;
  std::string_view body;  // given to the rules in full (the caller applies any limit)
  std::string_view client_ip = "127.0.0.1";
  std::uint16_t client_port = 0;
  std::string_view server_ip = "127.0.0.1";
  std::uint16_t server_port = 80;
  std::string_view request_id;  // "": one is made
};

// A response for evaluate(); every view is borrowed for the call.
struct waf_response {
  int status = 200;
  std::string_view protocol = "HTTP/1.1";
  std::span<const http::header> headers;
  // Given to the rules when the rule set has response_body and the
  // Content-Type is one of its response_mime_types.
  std::string_view body;
};

// One rule that matched and logged.
struct waf_match {
  int rule_id = 0;
  int phase = 0;            // 1 request headers .. 5 logging
  int severity = -1;        // 0 emergency .. 7 debug; -1 when the rule sets none
  int paranoia_level = 0;   // from the CRS "paranoia-level/N" tag; 0 when untagged
  bool disruptive = false;  // the rule's action would interfere (deny, redirect, drop)
  std::string message;      // the rule's msg
  std::string data;         // the rule's logdata (what matched)
  std::vector<std::string> tags;
  std::string log_line;  // libmodsecurity's own text ("ModSecurity: ... [id "942100"] ...")
};

// What the engine decided about a request.
enum class waf_action : std::uint8_t { pass, deny, redirect, drop };

// The decision and every match that led to it.
struct waf_verdict {
  waf_action action = waf_action::pass;
  int status = 0;   // for deny and redirect: the status the rules ask for
  std::string url;  // for redirect
  int phase = 0;    // where the decision was taken (0 when it passed)
  std::vector<waf_match> matches;
};

// Name of an action as printed ("pass", "deny", "redirect", "drop").
GATEWAY_API std::string_view to_string(waf_action action) noexcept;

// The threads that evaluate rules on a body for the "waf" filter (work with
// no bound), so that a worker never waits on it; phases without a body run on
// the worker's own thread between its other work. Shared by the process.
struct waf_pool_options {
  unsigned threads = 0;  // 0: one per CPU the process may use (its affinity)
  int nice = 10;         // CPU priority relative to the workers (Linux nice; 0: the same)
};
// Sets the pool's size and priority; takes effect only before the first WAF
// request of the process (the pool starts then and keeps its threads).
GATEWAY_API void configure_waf_pool(const waf_pool_options& options) noexcept;

// A compiled rule set, immutable and shared by every worker and every policy
// that uses the same rules. Owned by shared_ptr: a reloaded config holds the
// new engine, and the old one is freed when its last request ends.
class GATEWAY_API waf_engine {
 public:
  // The loaded engine for `rules`, reusing one already loaded for equal rules;
  // throws gateway::error (invalid_config) carrying libmodsecurity's message
  // (file and line) when a rule does not parse.
  static std::shared_ptr<const waf_engine> load(const waf_rule_set& rules);

  // Runs `r` through the request phases (connection, URI, headers, body) and
  // the logging phase on the calling thread, without a socket: the decision
  // and the matches. Takes about a millisecond with the CRS.
  waf_verdict evaluate(const waf_request& r, waf_mode mode = waf_mode::on,
                       const waf_exclusions& exclusions = {}) const;
  // The same, and when the request passed, `response` through the response
  // phases (headers, body) before the logging phase.
  waf_verdict evaluate(const waf_request& r, const waf_response& response,
                       waf_mode mode = waf_mode::on, const waf_exclusions& exclusions = {}) const;

  const waf_rule_set& rules() const noexcept;
  // Rules in the compiled set, over all phases.
  std::size_t rule_count() const noexcept;

  struct impl;  // libmodsecurity's rule set; private to src/waf
  explicit waf_engine(std::unique_ptr<impl> i) noexcept;
  ~waf_engine();
  const impl& internals() const noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

struct gateway_config;

// What a config's WAF would do with a request, found the way the gateway
// finds it: the listener (by name, else the most specific hostname that
// takes the request's Host), the request normalised by that listener's rules,
// the route and rule (the router), and the WAF policy on that rule. For
// tuning rules and exclusions without traffic (gatewayd --waf-test).
struct waf_explanation {
  std::string listener;    // "" when no listener takes the Host
  int refused = 0;         // 400 or 307: the gateway answers before routing (path, header names)
  std::string target;      // the target routed and inspected (normalised)
  std::string route;       // "namespace/name"; "" when no route matched (a 404)
  std::string rule;        // the rule's name, or its index as "#N"
  bool inspected = false;  // a WAF policy applies to the rule (and is not Off)
  waf_mode mode = waf_mode::off;
  waf_verdict verdict;  // pass when not inspected; deny 413 for a body over the policy's limit
};

// Evaluates `request` against `config` in process: the gateway's own pipeline
// serves it (as server::evaluate does), with no socket and no upstream I/O;
// thread-safe. `listener` picks a listener by name ("" chooses by Host).
// Throws gateway::error (invalid_config) for a config the gateway would refuse.
GATEWAY_API waf_explanation explain_waf(const gateway_config& config, const waf_request& request,
                                        std::string_view listener = {});

}  // namespace gateway
