// The WAF's limit: the same rules and the same requests as bench/waf, driven
// through libmodsecurity in process on one thread, with no network and no
// gateway around it. Every phase runs as the "waf" filter runs them.
//
//   waf_micro SECONDS            # requests/s for the small GET and the 4 KiB POST
//   waf_micro --print-rules      # the directives the engine loads (for nginx)
//   waf_micro --count N          # exactly N small GETs, no timing (bench/callgrind --waf)
#include <gateway/waf.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "waf/engine.hpp"
#include "waf/transaction.hpp"

using namespace gateway;

namespace {

waf_rule_set bench_rules() {
  waf_rule_set r;
  r.crs = true;
  r.paranoia_level = 1;
  r.response_body = false;
  return r;
}

struct sample {
  const char* name;
  std::string method, uri, body;
  std::vector<http::header> headers;
};

// One request as the filter drives it: request phases, response phases, logging.
bool run(const waf_engine& e, const sample& s, const std::vector<http::header>& response) {
  waf::transaction t(e, waf_mode::on, {}, "bench");
  bool blocked =
      t.connection("127.0.0.1", 40000, "127.0.0.1", 8080) || t.uri(s.method, s.uri, "1.1");
  if (!blocked) {
    for (const http::header& h : s.headers)
      t.add_request_header(h.name, h.value);
    blocked = t.request_headers();
  }
  if (!blocked) {
    if (!s.body.empty()) t.append_request_body(s.body);
    blocked = t.request_body();
  }
  if (!blocked) {
    for (const http::header& h : response)
      t.add_response_header(h.name, h.value);
    blocked = t.response_headers(200, "HTTP/1.1") || t.response_body();
  }
  t.logging();
  return !blocked && t.verdict().matches.empty();
}

}  // namespace

int main(int argc, char** argv) {
  const waf_rule_set rules = bench_rules();
  if (argc > 1 && std::string(argv[1]) == "--print-rules") {
    std::fputs(waf::rules_text(rules).c_str(), stdout);
    return 0;
  }
  const bool counted = argc > 2 && std::string(argv[1]) == "--count";
  const double seconds = argc > 1 && !counted ? std::atof(argv[1]) : 5;
  auto engine = waf_engine::load(rules);
  static const std::string form = "data=" + std::string(4091, 'a');
  static const std::string length = std::to_string(form.size());
  const std::vector<http::header> common = {
      {"Host", "bench.example"}, {"User-Agent", "wrk"}, {"Accept", "*/*"}};
  std::vector<sample> samples = {{"small", "GET", "/waf/small", "", common},
                                 {"post", "POST", "/waf/post", form, common}};
  samples[1].headers.push_back({"Content-Type", "application/x-www-form-urlencoded"});
  samples[1].headers.push_back({"Content-Length", length});
  const std::vector<http::header> response = {{"Server", "nginx"},
                                              {"Content-Type", "text/plain"},
                                              {"Content-Length", "13"},
                                              {"Connection", "keep-alive"}};
  if (counted) {
    for (long i = 0, n = std::atol(argv[2]); i < n; ++i)
      run(*engine, samples[0], response);
    return 0;
  }
  for (const sample& s : samples) {
    for (int i = 0; i < 50; ++i)
      if (!run(*engine, s, response)) {
        std::fprintf(stderr, "%s: the rules matched the benchmark request\n", s.name);
        return 1;
      }
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    std::uint64_t n = 0;
    while (clock::now() < end) {
      for (int i = 0; i < 10; ++i)
        run(*engine, s, response);
      n += 10;
    }
    const double took = std::chrono::duration<double>(clock::now() - start).count();
    std::printf("%s\t%.1f\n", s.name, static_cast<double>(n) / took);
  }
  return 0;
}
