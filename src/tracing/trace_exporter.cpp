#include "tracing/trace_exporter.hpp"

#include <gateway/error.hpp>

#include <boost/asio/executor_work_guard.hpp>

#include <array>
#include <optional>

#include "asio/asio.hpp"
#include "client/outbound_call.hpp"
#include "server/target_url.hpp"
#include "tls/upstream_tls.hpp"
#include "tracing/span_buffer.hpp"

namespace gateway::tracing {

struct trace_exporter::state : std::enable_shared_from_this<state> {
  state(const tracing_config& c, collector collect, const logger& l)
      : config(c), collect(std::move(collect)), log(l), timer(io), cut(io) {}

  const tracing_config config;
  const collector collect;
  const logger& log;
  parsed_url url;
  std::string name;  // the collector's host, for the lookup and TLS
  std::shared_ptr<const tls::client_context> tls;
  asio::io_context io;
  asio::steady_timer timer;
  asio::steady_timer cut;  // bounds the last batch when stopping
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{
      io.get_executor()};
  std::optional<tcp::resolver> resolver;
  outbound_stopper call;
  bool stopping = false;
  std::atomic<std::uint64_t> exported{0}, failed{0};
  std::vector<span_batch> batches;  // the workers' spans of one flush
  std::string body;                 // kept between batches (its room reused)
  bool warned = false;              // a failing collector is logged once until it works again
  bool handed_over = false;         // `collect` is not called any more
  std::vector<span_batch> last;     // hand_over's

  asio::awaitable<std::vector<tcp::endpoint>> addresses() {
    std::vector<tcp::endpoint> out;
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(name, ec);
    if (!ec) {
      out.emplace_back(address, url.port);
      co_return out;
    }
    resolver.emplace(io);
    auto [rec, found] = co_await resolver->async_resolve(name, std::to_string(url.port),
                                                         tcp::resolver::numeric_service, use_tuple);
    resolver.reset();
    if (!rec)
      for (const auto& e : found)
        out.push_back(e.endpoint());
    co_return out;
  }

  // Takes the workers' spans and sends each worker's as a batch of its own
  // (so a batch is at most a worker's buffer, whatever the worker count).
  asio::awaitable<void> flush() {
    batches.clear();
    if (!handed_over)
      collect(batches);
    else
      batches.swap(last);
    for (const span_batch& b : batches)
      if (b.count) co_await send(b);
  }

  asio::awaitable<void> send(const span_batch& batch) {
    write_export_request(body, config.service_name, batch.json);
    static constexpr std::array<http::header, 1> fields = {
        http::header{"content-type", "application/json"}};
    outbound_request r;
    r.method = "POST";
    r.authority = url.authority;
    r.target = url.target;
    r.fields = fields;
    r.body = body;
    r.timeout = std::chrono::seconds(5);
    r.max_body = 4096;
    r.stopper = &call;
    std::string why = "the collector's name did not resolve";
    for (const tcp::endpoint& to : co_await addresses()) {
      outbound_target target;
      target.address = to;
      target.tls = tls.get();
      target.server_name = name;
      const outbound_response answer = co_await outbound_call(target, r);
      if (answer.status >= 200 && answer.status < 300) {
        exported.fetch_add(batch.count, std::memory_order_relaxed);
        if (warned)
          log.log(log_level::info, "tracing: the collector {} takes spans again", config.collector);
        warned = false;
        co_return;
      }
      why = answer.status ? "status " + std::to_string(answer.status) : answer.why;
      if (answer.status || stopping) break;  // it answered: another address would too
    }
    failed.fetch_add(batch.count, std::memory_order_relaxed);
    if (!warned)
      log.log(log_level::warn,
              "tracing: {} spans not taken by {} ({}); batches are dropped while it fails",
              batch.count, config.collector, why);
    warned = true;
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    while (!stopping) {
      timer.expires_after(config.flush_interval);
      co_await timer.async_wait(use_tuple);  // cancelled: stopping
      co_await flush();                      // the last one too, when stopping
    }
    cut.cancel();
  }
};

trace_exporter::trace_exporter(const tracing_config& config, collector collect, const logger& log)
    : state_(std::make_shared<state>(config, std::move(collect), log)) {
  state& s = *state_;
  s.url = parse_url(config.collector, "tracing collector");
  if (!s.url.absolute)
    throw error(errc::invalid_config, "tracing collector: the URL must be http://HOST:PORT/PATH");
  s.name = s.url.host;
  if (s.url.https) {
    upstream_tls_config tls;
    tls.enabled = true;
    tls.system_ca = true;
    boost::system::error_code ec;
    asio::ip::make_address(s.name, ec);
    if (ec) tls.sni = s.name;
    s.tls = std::make_shared<const tls::client_context>(tls);
  }
  asio::co_spawn(s.io, s.run(), asio::detached);
  thread_ = std::thread([st = state_] { st->io.run(); });
}

trace_exporter::~trace_exporter() {
  // The loop's last turn sends what is left; a call already under way gets
  // 2 s more before it is cut.
  auto s = state_;
  asio::post(s->io, [s] {
    s->stopping = true;
    s->timer.cancel();
    s->guard.reset();
    s->cut.expires_after(std::chrono::seconds(2));
    s->cut.async_wait([s](boost::system::error_code ec) {
      if (ec) return;  // the last batch went in time
      if (s->resolver) s->resolver->cancel();
      s->call.stop();
    });
  });
  if (thread_.joinable()) thread_.join();
}

void trace_exporter::hand_over(std::vector<span_batch> batches) {
  asio::post(state_->io, [s = state_, batches = std::move(batches)]() mutable {
    s->handed_over = true;
    s->last = std::move(batches);
  });
}

const tracing_config& trace_exporter::config() const noexcept {
  return state_->config;
}
std::uint64_t trace_exporter::exported() const noexcept {
  return state_->exported.load(std::memory_order_relaxed);
}
std::uint64_t trace_exporter::failed() const noexcept {
  return state_->failed.load(std::memory_order_relaxed);
}

}  // namespace gateway::tracing
