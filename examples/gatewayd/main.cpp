// gatewayd: the gateway as a standalone daemon, a thin host of libgateway.
#include <gateway/asio.hpp>
#include <gateway/gateway.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config_source.hpp"
#include "core/cpus.hpp"
#include "demo_config.hpp"
#include "demo_upstream.hpp"
#include "waf_test.hpp"

namespace {

constexpr const char* usage = R"(Usage: gatewayd [OPTIONS]

Runs the gateway: HTTP/1.1 and HTTP/2 reverse proxy with Gateway API routing.

Options (a value may also follow an '=': --config=FILE):
  --config FILE       Kubernetes YAML to serve (Gateway, HTTPRoute, Service,
                      EndpointSlice, GatewayClass, Namespace). Reloaded on
                      SIGHUP and when the file changes. Without it, gatewayd
                      runs a demo: the gateway on 127.0.0.1:8080 in front of
                      two built-in demo services.
  --bind [NS/GW:]PORT=ADDR:PORT
                      Bind the listeners of Gateway port PORT to ADDR:PORT
                      instead (routing and redirects still see PORT), e.g.
                      --bind 80=127.0.0.1:8080. Name the Gateway when several
                      use PORT: --bind default/web:80=127.0.0.1:8080.
                      Repeatable.
  --dump-config       Print the effective config (after defaults and --bind)
                      as JSON and exit.
  --admin ADDR:PORT   Admin listener: / (the dashboard), /live, /ready,
                      /status, /config, /reload (POST), /stats/prometheus.
                      Off by default with --config; the demo uses
                      127.0.0.1:9901. 'off' turns it off.
  --access-log PATH   One line per request to PATH ('-' for stderr), JSON
                      unless --access-log-format is given. SIGUSR1 reopens it.
  --access-log-format FORMAT
                      Text with %field% placeholders: time request_id client
                      method host path status bytes_in bytes_out duration_ms
                      upstream upstream_ms route listener.
  --demo-port PORT    Port of the demo gateway (default 8080; 0 picks a free
                      port, printed in the curl lines). Demo mode only.
  --check FILE        Validate FILE (with any --bind given), print every error
                      and warning, exit 0 if it is valid and 1 if not. Serves
                      nothing.
  --waf-test FILE     With --config: run the sample requests in FILE (a YAML
                      list of {name, method, url, headers, body, client,
                      listener, expect}) through the config's WAF without
                      serving, print each decision and the rules that
                      matched; exit 1 if an 'expect' (pass, deny, redirect,
                      drop) is not met.
  --threads N         Workers, one event loop each (default: one per CPU
                      gatewayd may use). A single worker runs on the main
                      thread.
  --waf-threads N     Threads that evaluate WAF rules on request and response
                      bodies, so workers never wait on them (default: one per
                      CPU gatewayd may use); phases without a body run on the
                      workers when they have nothing else ready.
  --waf-nice N        Their CPU priority relative to the workers (default 10:
                      when CPU is short, requests without WAF keep flowing and
                      WAF work waits; 0 to treat both alike, and on CPUs
                      shared with other busy processes, which the nice value
                      also yields to).
  --max-connections N  Client connections one worker holds at once; more are
                      closed as they are accepted (default: from the open
                      file limit, which gatewayd raises to its hard limit:
                      half of it, less 64, shared by the workers).
  --max-streams N     Requests one worker has in progress at once (HTTP/1.1
                      requests and HTTP/2 streams); more get 503 or
                      REFUSED_STREAM (default 10000; 0: no cap).
  --overload-heap SOFT[,HARD]
                      Overload thresholds on the heap in use (bytes; K, M or
                      G suffixes, powers of 1024). Past SOFT no connection is
                      accepted and keep-alive is off; past HARD new requests
                      also get 503 and idle connections close. Off by default.
  --overload-descriptors SOFT[,HARD]
                      The same on open descriptors (default: 90% and 95% of
                      the open file limit; 0 turns it off).
  --log-level LEVEL   debug, info, warn, error or off (default: info).
  --drain-timeout MS  On SIGINT/SIGTERM, how long in-flight requests may take
                      to finish before their connections are closed (default 5000).
  --version           Print the version and exit.
  -h, --help          Print this help and exit.

Signals: SIGINT and SIGTERM stop gracefully (stop accepting, finish in-flight
requests up to the drain timeout, close idle connections). SIGHUP reloads the
config file; a config with errors is rejected whole, its errors are logged and
the running config keeps serving. SIGUSR1 reopens the access log (rotation).
Logs go to stderr.
)";

struct options {
  std::optional<std::string> config;
  std::optional<std::string> check;
  std::optional<std::string> waf_test;
  std::vector<gateway::bind_mapping> binds;
  bool dump = false;
  std::optional<std::string> admin;  // "ADDR:PORT" or "off"; unset: the mode's default
  gateway::access_log_options access_log;
  unsigned threads = 0;
  unsigned waf_threads = 0;
  int waf_nice = 10;
  gateway::log_level level = gateway::log_level::info;
  unsigned drain_ms = 5000;
  unsigned demo_port = 8080;
  unsigned max_connections = 0;
  std::optional<unsigned> max_streams;
  std::pair<std::uint64_t, std::uint64_t> overload_heap{0, 0};
  std::optional<std::pair<std::uint64_t, std::uint64_t>> overload_descriptors;
};

[[noreturn]] void bad_usage(const std::string& message) {
  std::fprintf(stderr, "gatewayd: %s\nTry 'gatewayd --help'.\n", message.c_str());
  std::exit(2);
}

unsigned parse_count(const char* flag, const char* value, unsigned max) {
  char* end = nullptr;
  unsigned long v = std::strtoul(value, &end, 10);
  if (!*value || *end || v > max) bad_usage(std::string(flag) + ": invalid number '" + value + "'");
  return static_cast<unsigned>(v);
}

// "SOFT[,HARD]", each a number with an optional K, M or G (powers of 1024).
std::pair<std::uint64_t, std::uint64_t> parse_thresholds(const char* flag,
                                                         const std::string& text) {
  auto one = [&](const std::string& part) -> std::uint64_t {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(part.c_str(), &end, 10);
    std::uint64_t scale = 1;
    if (*end == 'K') scale = 1ull << 10;
    if (*end == 'M') scale = 1ull << 20;
    if (*end == 'G') scale = 1ull << 30;
    if (scale != 1) ++end;
    if (part.empty() || *end || part[0] == '-' || v > (~0ull) / scale)
      bad_usage(std::string(flag) + ": invalid threshold '" + part + "'");
    return v * scale;
  };
  const std::size_t comma = text.find(',');
  const std::uint64_t soft = one(text.substr(0, comma));
  const std::uint64_t hard = comma == std::string::npos ? 0 : one(text.substr(comma + 1));
  if (hard && soft > hard) bad_usage(std::string(flag) + ": SOFT is above HARD");
  return {soft, hard};
}

options parse(int argc, char** argv) {
  options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    // --name=value as well as --name value, as getopt_long takes them (and
    // Kubernetes manifests tend to write them).
    std::optional<std::string> attached;
    if (const std::size_t eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
      attached = a.substr(eq + 1);
      a.resize(eq);
    }
    bool used = false;
    auto value = [&]() -> const char* {
      used = true;
      if (attached) return attached->c_str();
      if (i + 1 >= argc) bad_usage(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    } else if (a == "--version") {
      std::printf("gatewayd %s\n", gateway::version_string());
      std::exit(0);
    } else if (a == "--config") {
      o.config = value();
    } else if (a == "--bind") {
      try {
        o.binds.push_back(gateway::parse_bind_mapping(value()));
      } catch (const std::exception& e) {
        bad_usage(std::string("--bind: ") + e.what());
      }
    } else if (a == "--dump-config") {
      o.dump = true;
    } else if (a == "--admin") {
      o.admin = value();
    } else if (a == "--access-log") {
      o.access_log.path = value();
    } else if (a == "--access-log-format") {
      o.access_log.format = value();
    } else if (a == "--demo-port") {
      o.demo_port = parse_count("--demo-port", value(), 65535);
    } else if (a == "--check") {
      o.check = value();
    } else if (a == "--waf-test") {
      o.waf_test = value();
    } else if (a == "--threads") {
      o.threads = parse_count("--threads", value(), 1024);
    } else if (a == "--max-connections") {
      o.max_connections = parse_count("--max-connections", value(), 100000000);
      if (o.max_connections == 0) bad_usage("--max-connections: must be at least 1");
    } else if (a == "--max-streams") {
      o.max_streams = parse_count("--max-streams", value(), 100000000);
    } else if (a == "--overload-heap") {
      o.overload_heap = parse_thresholds("--overload-heap", value());
    } else if (a == "--overload-descriptors") {
      o.overload_descriptors = parse_thresholds("--overload-descriptors", value());
    } else if (a == "--waf-threads") {
      o.waf_threads = parse_count("--waf-threads", value(), 1024);
    } else if (a == "--waf-nice") {
      o.waf_nice = static_cast<int>(parse_count("--waf-nice", value(), 19));
    } else if (a == "--drain-timeout") {
      o.drain_ms = parse_count("--drain-timeout", value(), 3600 * 1000);
    } else if (a == "--log-level") {
      std::string l = value();
      if (l == "debug")
        o.level = gateway::log_level::debug;
      else if (l == "info")
        o.level = gateway::log_level::info;
      else if (l == "warn")
        o.level = gateway::log_level::warn;
      else if (l == "error")
        o.level = gateway::log_level::error;
      else if (l == "off")
        o.level = gateway::log_level::off;
      else
        bad_usage("--log-level: unknown level '" + l + "'");
    } else {
      bad_usage("unknown option '" + a + "'");
    }
    if (attached && !used) bad_usage(a + " takes no value");
  }
  return o;
}

int check(const std::string& path, const std::vector<gateway::bind_mapping>& binds) {
  try {
    gateway::gateway_config cfg = gateway::load_yaml_file(path);
    // Listeners sharing a socket are judged on the addresses they will bind.
    gateway::apply_bind_mappings(cfg, binds);
    gateway::validate(cfg);
    for (const auto& w : cfg.warnings)
      std::fprintf(stderr, "warning: %s\n", w.c_str());
    std::printf("%s: valid (%zu listeners, %zu clusters)\n", path.c_str(), cfg.listeners.size(),
                cfg.clusters.size());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

// "ADDR:PORT" ([v6]:PORT too) for --admin.
std::optional<gateway::admin_options> admin_address(const std::string& text) {
  if (text == "off") return std::nullopt;
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) bad_usage("--admin: expected ADDRESS:PORT or off");
  gateway::admin_options a;
  a.address = text.substr(0, colon);
  if (a.address.size() > 2 && a.address.front() == '[' && a.address.back() == ']')
    a.address = a.address.substr(1, a.address.size() - 2);
  a.port = static_cast<std::uint16_t>(parse_count("--admin", text.c_str() + colon + 1, 65535));
  return a;
}

// Signals and config file changes, handled on the loop main() runs (with
// one worker, the gateway's own loop too). A reload builds the new config on
// a thread of its own, so the loop keeps serving while it compiles (the CRS
// takes most of a second); reloads run one at a time, and one asked for
// meanwhile runs after.
class supervisor {
 public:
  // `stop` is called once, on the loop, after SIGINT or SIGTERM and after
  // any reload under way has ended.
  supervisor(boost::asio::io_context& loop, gateway::server& server,
             gatewayd::config_source* source, int signal_fd, std::function<void()> stop)
      : loop_(loop),
        server_(server),
        source_(source),
        stop_(std::move(stop)),
        signals_(loop, signal_fd),
        watch_(loop),
        settle_(loop) {
    wait_signal();
    if (source_ && source_->watch_fd() >= 0) {
      watch_.assign(source_->watch_fd());
      wait_watch();
    }
  }
  ~supervisor() {
    if (reloader_.joinable()) reloader_.join();
    // The descriptors belong to main() and the config source.
    if (signals_.is_open()) signals_.release();
    if (watch_.is_open()) watch_.release();
  }
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

 private:
  void wait_signal() {
    signals_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [this](const boost::system::error_code& ec) {
                          if (ec || stopping_) return;
                          signalfd_siginfo info{};
                          const bool got =
                              ::read(signals_.native_handle(), &info, sizeof info) == sizeof info;
                          wait_signal();  // first: what on_signal does cannot lose the next one
                          if (got) on_signal(static_cast<int>(info.ssi_signo));
                        });
  }

  void on_signal(int sig) {
    if (sig == SIGUSR1) {
      server_.reopen_logs();
    } else if (sig == SIGHUP) {
      if (source_)
        reload("SIGHUP");
      else
        std::fprintf(stderr, "gatewayd: SIGHUP: the demo has no config file to reload\n");
    } else {
      std::fprintf(stderr, "gatewayd: %s received, stopping\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM");
      stopping_ = sig;
      signals_.cancel();
      settle_.cancel();
      if (watch_.is_open()) watch_.cancel();
      if (!reloading_) stop_();
    }
  }

  void wait_watch() {
    watch_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& ec) {
                        if (ec || stopping_) return;
                        source_->drain_events();
                        // Editors write a file in several steps: apply a change
                        // once it has settled.
                        settle_.expires_after(std::chrono::milliseconds(150));
                        settle_.async_wait([this](const boost::system::error_code& e) {
                          if (!e && !stopping_ && source_->changed()) reload("config file changed");
                        });
                        wait_watch();
                      });
  }

  void reload(const char* why) {
    if (reloading_) {
      queued_ = why;
      return;
    }
    if (reloader_.joinable()) reloader_.join();  // the last one, already done
    try {
      reloader_ = std::thread([this, why] {
        apply(why);
        boost::asio::post(loop_, [this] {
          reloading_ = false;
          if (stopping_) {
            stop_();
          } else if (const char* next = std::exchange(queued_, nullptr)) {
            reload(next);
          }
        });
      });
      reloading_ = true;
    } catch (const std::system_error& e) {
      std::fprintf(stderr, "gatewayd: %s: no thread for the reload (%s): reloading on this one\n",
                   why, e.what());
      apply(why);
    }
  }

  // Applies a new version of the config file; a broken one changes nothing.
  void apply(const char* why) {
    try {
      // Through reload_from, so a file that does not even load counts as a
      // failed reload (metrics, /status, the dashboard).
      server_.reload_from([this] { return source_->load(); });
      std::fprintf(stderr, "gatewayd: %s: config version %llu active\n", why,
                   static_cast<unsigned long long>(server_.config_version()));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gatewayd: %s: config rejected, version %llu keeps serving:\n%s\n", why,
                   static_cast<unsigned long long>(server_.config_version()), e.what());
    }
  }

  boost::asio::io_context& loop_;
  gateway::server& server_;
  gatewayd::config_source* source_;
  std::function<void()> stop_;
  boost::asio::posix::stream_descriptor signals_, watch_;
  boost::asio::steady_timer settle_;
  std::thread reloader_;
  bool reloading_ = false;
  const char* queued_ = nullptr;  // a reload asked for while one runs
  int stopping_ = 0;              // the signal that stops gatewayd
};

}  // namespace

int main(int argc, char** argv) {
  options opts = parse(argc, argv);
  if (opts.check) return check(*opts.check, opts.binds);
  gateway::configure_waf_pool({opts.waf_threads, opts.waf_nice});
  if (opts.waf_test) {
    if (!opts.config) bad_usage("--waf-test needs --config");
    return gatewayd::waf_test(*opts.config, *opts.waf_test);
  }

  // Signals are taken synchronously by this thread (signalfd); workers never see them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // A daemon holding many connections wants every descriptor it may have:
  // the soft limit (often 1024) goes up to the hard one, as HAProxy does.
  if (struct rlimit files{};
      getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("gatewayd: signalfd");
    return 1;
  }

  std::optional<gatewayd::demo_upstream> v1, v2;
  std::optional<gatewayd::config_source> source;
  gateway::gateway_config config;
  try {
    if (opts.config) {
      source.emplace(*opts.config, opts.binds);
      config = source->load();
    } else {
      if (!opts.dump) {
        v1.emplace("demo-v1");
        v2.emplace("demo-v2");
      }
      config = gateway::load_yaml(gatewayd::demo_config(v1 ? v1->port() : 0, v2 ? v2->port() : 0),
                                  "<demo>");
      config.listeners.at(0).bind_port = static_cast<std::uint16_t>(opts.demo_port);
      gateway::apply_bind_mappings(config, opts.binds);
    }
    if (opts.dump) {
      std::fputs(gateway::to_json(config).c_str(), stdout);
      return 0;
    }
    gateway::server_options so;
    so.threads = opts.threads;
    so.level = opts.level;
    so.access_log = opts.access_log;
    so.limits.max_connections = opts.max_connections;
    if (opts.max_streams) so.limits.max_streams = *opts.max_streams;
    so.overload.heap_soft = opts.overload_heap.first;
    so.overload.heap_hard = opts.overload_heap.second;
    if (opts.overload_descriptors) {
      so.overload.descriptors_soft = opts.overload_descriptors->first;
      so.overload.descriptors_hard = opts.overload_descriptors->second;
    } else if (struct rlimit files{};
               getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
      so.overload.descriptors_soft = files.rlim_cur / 10 * 9;
      so.overload.descriptors_hard = files.rlim_cur / 20 * 19;
    }
    if (opts.admin)
      so.admin = admin_address(*opts.admin);
    else if (!opts.config)
      so.admin = gateway::admin_options{};  // the demo: 127.0.0.1:9901
    if (source) so.config_source = [&source] { return source->load(); };
    const bool so_admin = so.admin.has_value();
    // With one worker, it runs on this thread, and signals and reloads are
    // handled between its handlers: until a feature needs a thread (a reload,
    // the admin listener, WAF body inspection, health checks, the access
    // log), the process has no other, so libstdc++ counts shared_ptr
    // references without atomic instructions, which libmodsecurity uses
    // heavily (README: Workers). With more, workers have threads of their own.
    const unsigned workers = opts.threads ? opts.threads : gateway::usable_cpus();
    // Declared before the server, which must be gone before its loop.
    boost::asio::io_context loop(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO);
    gateway::server server(std::move(config), std::move(so));
    const bool mounted = workers == 1;
    if (mounted)
      gateway::start_on(server, loop);
    else
      server.start();
    if (!opts.config) {
      unsigned p = server.port();
      std::printf(
          "gatewayd demo: the gateway listens on http://127.0.0.1:%u in front of two demo\n"
          "services (demo-v1, demo-v2). Try:\n\n"
          "  curl -i http://127.0.0.1:%u/hello\n"
          "  curl -i -H 'x-version: v2' http://127.0.0.1:%u/hello\n"
          "  curl -i -d 'ping' http://127.0.0.1:%u/echo\n\n"
          "Stop with Ctrl-C. 'gatewayd --help' lists the options.\n",
          p, p, p, p);
      if (so_admin) {
        unsigned a = server.admin_port();
        std::printf("Admin: curl http://127.0.0.1:%u/stats/prometheus (also /config, /ready)\n", a);
      }
      std::fflush(stdout);
    }
    const std::chrono::milliseconds drain(opts.drain_ms);
    {
      supervisor watch(loop, server, source ? &*source : nullptr, signal_fd, [&] {
        if (mounted)
          gateway::async_stop(server, drain, [&loop] { loop.stop(); });
        else
          loop.stop();
      });
      // The data plane reports errors as values; an exception out of a
      // handler is a bug or an allocation failure in one session, whose
      // coroutine is gone by now: log it and keep serving the others.
      for (;;) {
        try {
          if (mounted)
            gateway::run_on(server, loop);
          else
            loop.run();
          break;
        } catch (const std::exception& e) {
          std::fprintf(stderr, "gatewayd: a session ended by exception: %s\n", e.what());
        }
      }
    }
    if (!mounted) server.stop(drain);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gatewayd: %s\n", e.what());
    return 1;
  }
  return 0;
}
