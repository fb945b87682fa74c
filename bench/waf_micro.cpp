// The WAF's limit: the same rules and the same requests as bench/waf, driven
// through libmodsecurity in process on one thread, with no network and no
// gateway around it. Every phase runs as the "waf" filter runs them.
//
//   waf_micro SECONDS            # requests/s for the small GET and the 4 KiB POST
//   waf_micro --print-rules      # the directives the engine loads (for nginx)
//   waf_micro --count N          # exactly N small GETs, no timing (bench/callgrind --waf)
//
// Before SECONDS or --count, either or both of:
//   --threaded       run as a multi-threaded process does (a thread is started
//                    and joined first). In a process that never started one,
//                    libstdc++ counts shared_ptr references without atomic
//                    instructions, and libmodsecurity copies several per rule
//                    it evaluates; any host with a second thread (gatewayd's
//                    config thread, the WAF's evaluation pool, Python) pays
//                    the atomic ones.
//   --interleave K   K requests at once, stage by stage (run_interleaved), as a
//                    proxy with K requests in flight runs their phases.
//
//   waf_micro [--threaded] [--post] --windows
//                    small GETs (or 4 KiB POSTs) until SIGTERM; SIGUSR1 opens a
//                    window, SIGUSR2 prints its requests/s and CPU ns per
//                    request (bench/ab LIMIT=1: beside two proxies under load)
#include <gateway/waf.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
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

// The stages of one request as the filter drives them: the request phases,
// the response phases, logging. Each returns false when the rules interfered.
bool request_stage(waf::transaction& t, const sample& s) {
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
  return !blocked;
}

bool response_stage(waf::transaction& t, const std::vector<http::header>& response) {
  for (const http::header& h : response)
    t.add_response_header(h.name, h.value);
  return !(t.response_headers(200, "HTTP/1.1") || t.response_body());
}

bool logging_stage(waf::transaction& t) {
  t.logging();
  return t.verdict().matches.empty();
}

// One request, every phase back to back.
bool run(const waf_engine& e, const sample& s, const std::vector<http::header>& response) {
  waf::transaction t(e, waf_mode::on, {}, "bench");
  bool ok = request_stage(t, s) && response_stage(t, response);
  return logging_stage(t) && ok;
}

// `k` requests at once, as a proxy with k in flight meets them: each stage of
// every request, then the next stage of every request.
bool run_interleaved(const waf_engine& e, const sample& s,
                     const std::vector<http::header>& response, std::size_t k) {
  std::vector<std::unique_ptr<waf::transaction>> ts;
  ts.reserve(k);
  for (std::size_t i = 0; i < k; ++i)
    ts.push_back(std::make_unique<waf::transaction>(e, waf_mode::on, waf_exclusions{}, "bench"));
  bool ok = true;
  for (auto& t : ts)
    ok = request_stage(*t, s) && ok;
  for (auto& t : ts)
    ok = response_stage(*t, response) && ok;
  for (auto& t : ts)
    ok = logging_stage(*t) && ok;
  return ok;
}

double cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

volatile std::sig_atomic_t window_open = 0, window_close = 0, stop = 0;

// --windows: `s` until SIGTERM, one line per SIGUSR1..SIGUSR2 window.
int run_windows(const waf_engine& engine, const sample& s,
                const std::vector<http::header>& response) {
  std::signal(SIGUSR1, [](int) { window_open = 1; });
  std::signal(SIGUSR2, [](int) { window_close = 1; });
  std::signal(SIGTERM, [](int) { stop = 1; });
  using clock = std::chrono::steady_clock;
  clock::time_point start;
  double cpu_start = 0;
  std::uint64_t n = 0;
  bool open = false;
  while (!stop) {
    if (!run(engine, s, response)) {
      std::fprintf(stderr, "%s: the rules matched the benchmark request\n", s.name);
      return 1;
    }
    ++n;
    if (window_open) {
      window_open = 0;
      open = true;
      n = 0;
      start = clock::now();
      cpu_start = cpu_ns();
    }
    if (window_close) {
      window_close = 0;
      const double took = std::chrono::duration<double>(clock::now() - start).count();
      if (open && n > 0)
        std::printf("%s\t%.1f\t%.0f\n", s.name, static_cast<double>(n) / took,
                    (cpu_ns() - cpu_start) / static_cast<double>(n));
      else
        std::printf("%s\t0\t0\n", s.name);
      std::fflush(stdout);
      open = false;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const waf_rule_set rules = bench_rules();
  if (argc > 1 && std::string(argv[1]) == "--print-rules") {
    std::fputs(waf::rules_text(rules).c_str(), stdout);
    return 0;
  }
  std::size_t k = 0;  // 0: each request's phases back to back
  bool post_only = false, windows = false;
  int at = 1;
  for (; at < argc; ++at) {
    const std::string a = argv[at];
    if (a == "--threaded") {
      std::thread([] {}).join();
    } else if (a == "--interleave" && at + 1 < argc) {
      k = static_cast<std::size_t>(std::max(1L, std::atol(argv[++at])));
    } else if (a == "--post") {
      post_only = true;
    } else if (a == "--windows") {
      windows = true;
    } else {
      break;
    }
  }
  const bool counted = at + 1 < argc && std::string(argv[at]) == "--count";
  const double seconds = at < argc && !counted ? std::atof(argv[at]) : 5;
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
    for (long i = 0, n = std::atol(argv[at + 1]); i < n; ++i)
      run(*engine, samples[0], response);
    return 0;
  }
  if (windows) return run_windows(*engine, samples[post_only ? 1 : 0], response);
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
      if (k) {
        run_interleaved(*engine, s, response, k);
        n += k;
        continue;
      }
      for (int i = 0; i < 10; ++i)
        run(*engine, s, response);
      n += 10;
    }
    const double took = std::chrono::duration<double>(clock::now() - start).count();
    std::printf("%s\t%.1f\n", s.name, static_cast<double>(n) / took);
  }
  return 0;
}
