// gatewayd --waf-test: a file of sample requests (YAML list) through a
// config's WAF, in process, for tuning rules and exclusions in CI.
//
//   - name: search with a quote        # optional
//     method: GET                      # default GET
//     url: /search?q=O'Brien           # required: path and query as sent
//     headers: {Host: shop.example, User-Agent: curl/8.0}
//     body: "..."                      # optional
//     client: 203.0.113.7              # optional, default 127.0.0.1
//     listener: default/web/http       # optional, default: by Host
//     expect: pass                     # optional: pass, deny, redirect or drop
#include "waf_test.hpp"

#include <yaml-cpp/yaml.h>
#include <gateway/gateway.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace gatewayd {

namespace {

std::string scalar(const YAML::Node& n, const char* key, const std::string& fallback = "") {
  const YAML::Node v = n[key];
  return v.IsDefined() && v.IsScalar() ? v.Scalar() : fallback;
}

}  // namespace

int waf_test(const std::string& config_path, const std::string& samples_path) {
  gateway::gateway_config config;
  try {
    config = gateway::load_yaml_file(config_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  YAML::Node samples;
  try {
    samples = YAML::LoadFile(samples_path);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", samples_path.c_str(), e.what());
    return 2;
  }
  if (!samples.IsSequence()) {
    std::fprintf(stderr, "%s: expected a list of requests\n", samples_path.c_str());
    return 2;
  }
  int failed = 0, with_expectation = 0, counted[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const YAML::Node s = samples[i];
    const std::string name = scalar(s, "name", "request " + std::to_string(i + 1));
    if (!s.IsMap() || scalar(s, "url").empty()) {
      std::fprintf(stderr, "%s: %s: needs at least a url\n", samples_path.c_str(), name.c_str());
      return 2;
    }
    const std::string method = scalar(s, "method", "GET"), url = scalar(s, "url"),
                      body = scalar(s, "body"), client = scalar(s, "client", "127.0.0.1"),
                      listener = scalar(s, "listener"), expect = scalar(s, "expect");
    std::vector<std::pair<std::string, std::string>> fields;
    if (const YAML::Node h = s["headers"]; h.IsDefined() && h.IsMap())
      for (const auto& kv : h)
        fields.emplace_back(kv.first.Scalar(), kv.second.Scalar());
    bool has_length = false;
    for (const auto& f : fields)
      has_length |= gateway::http::iequals(f.first, "content-length");
    if (!body.empty() && !has_length)
      fields.emplace_back("Content-Length", std::to_string(body.size()));
    std::vector<gateway::http::header> headers;
    for (const auto& f : fields)
      headers.push_back({f.first, f.second});

    gateway::waf_request r;
    r.method = method;
    r.uri = url;
    r.headers = headers;
    r.body = body;
    r.client_ip = client;
    const std::string id = "waf-test-" + std::to_string(i + 1);
    r.request_id = id;
    const gateway::waf_explanation x = gateway::explain_waf(config, r, listener);
    std::string decision;
    if (x.listener.empty()) {
      decision = "no listener";
    } else if (x.refused == 400) {
      decision = "refused before routing (400: path escape or header name)";
    } else if (x.refused) {
      decision =
          "redirected before routing (" + std::to_string(x.refused) + " to " + x.target + ")";
    } else if (x.route.empty()) {
      decision = "no route (404)";
    } else if (!x.inspected) {
      decision = "pass";
    } else {
      decision = std::string(gateway::to_string(x.verdict.action));
      ++counted[static_cast<int>(x.verdict.action)];
    }
    std::printf("%s: %s", name.c_str(), decision.c_str());
    if (x.verdict.status && x.verdict.action != gateway::waf_action::pass)
      std::printf(" %d", x.verdict.status);
    if (!x.route.empty())
      std::printf(" (route %s rule %s, %s)", x.route.c_str(), x.rule.c_str(),
                  !x.inspected                                  ? "no WAF"
                  : x.mode == gateway::waf_mode::detection_only ? "DetectionOnly"
                                                                : "On");
    bool met = true;
    if (!expect.empty()) {
      ++with_expectation;
      // The gateway's own refusal (or redirect) before routing counts as the WAF's would.
      const std::string seen = x.refused == 400 ? "deny"
                               : x.refused      ? "redirect"
                               : x.inspected    ? std::string(gateway::to_string(x.verdict.action))
                                                : "pass";
      met = seen == expect;
      if (!met) {
        ++failed;
        std::printf("  EXPECTED %s", expect.c_str());
      }
    }
    std::printf("\n");
    for (const gateway::waf_match& m : x.verdict.matches)
      std::printf("  %d %s%s%s\n", m.rule_id, m.message.c_str(), m.data.empty() ? "" : " | ",
                  m.data.c_str());
  }
  std::printf(
      "%zu requests: %d pass, %d deny, %d redirect, %d drop (inspected); %d of %d "
      "expectations not met\n",
      samples.size(), counted[0], counted[1], counted[2], counted[3], failed, with_expectation);
  return failed ? 1 : 0;
}

}  // namespace gatewayd
