#include "filters/background.hpp"

#include <gateway/error.hpp>

#include <map>
#include <thread>

#include "client/outbound_call.hpp"
#include "server/target_url.hpp"
#include "tls/upstream_tls.hpp"

namespace gateway {

struct scheduled_task::state {
  explicit state(asio::any_io_executor ex, std::function<void()> t)
      : timer(ex), task(std::move(t)) {}
  asio::steady_timer timer;
  std::function<void()> task;
  std::atomic<bool> cancelled{false};
};

scheduled_task::scheduled_task(std::shared_ptr<state> s) noexcept : state_(std::move(s)) {}
scheduled_task::~scheduled_task() {
  cancel();
}
scheduled_task::scheduled_task(scheduled_task&&) noexcept = default;
scheduled_task& scheduled_task::operator=(scheduled_task&& o) noexcept {
  if (this != &o) {
    cancel();
    state_ = std::move(o.state_);
  }
  return *this;
}

void scheduled_task::cancel() noexcept {
  if (!state_) return;
  state_->cancelled.store(true, std::memory_order_release);
  // The timer is the background thread's: it is cancelled there, which frees
  // the task (and what it holds) without waiting for its time.
  try {
    asio::post(state_->timer.get_executor(), [s = state_] { s->timer.cancel(); });
  } catch (...) {
    // Out of memory: the task still will not run (cancelled is set).
  }
  state_.reset();
}

namespace filters {
namespace {

constexpr std::size_t max_fetched_body = 1 << 20;

client_result failed(errc code, std::string why) {
  client_result r;
  r.error = make_error_code(code);
  r.message = std::move(why);
  return r;
}

// A context trusting the system store for `host`, one per host, made on the
// background thread and kept (loading the store is the costly part). Never
// destroyed, as the thread that uses them runs until the process ends.
const tls::client_context& system_tls(const std::string& host) {
  static auto* made = new std::map<std::string, std::shared_ptr<const tls::client_context>>;
  auto& c = (*made)[host];
  if (!c) {
    upstream_tls_config config;
    config.enabled = true;
    config.system_ca = true;
    boost::system::error_code ec;
    asio::ip::make_address(host, ec);
    if (ec) config.sni = host;  // an address is verified as one (no SNI)
    c = std::make_shared<const tls::client_context>(config);
  }
  return *c;
}

// GCC 12 takes the awaitable frame's own operator delete for a mismatch when
// one coroutine is inlined into another (as outbound_call.cpp notes).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<client_result> fetch_once(client_request request) {
  parsed_url url;
  try {
    url = parse_url(request.url, "fetch");
  } catch (const error& e) {
    co_return failed(errc::invalid_argument, e.what());
  }
  if (!url.absolute)
    co_return failed(errc::invalid_argument, "fetch: the URL must be http://... or https://...");
  const auto timeout =
      request.timeout.count() > 0 ? request.timeout : std::chrono::milliseconds(5000);
  const auto until = steady_clock::now() + timeout;
  tcp::resolver resolver(co_await asio::this_coro::executor);
  auto [ec, found] = co_await resolver.async_resolve(url.host, std::to_string(url.port),
                                                     tcp::resolver::numeric_service, use_tuple);
  if (ec || found.empty())
    co_return failed(errc::unavailable, "fetch: cannot resolve " + url.host + ": " + ec.message());
  outbound_target to;
  to.server_name = url.host;
  if (url.https) {
    try {
      to.tls = &system_tls(url.host);
    } catch (const std::exception& e) {
      co_return failed(errc::unavailable, std::string("fetch: TLS: ") + e.what());
    }
  }
  std::vector<http::header> fields;
  for (const auto& [name, value] : request.headers)
    if (!http::iequals(name, "host")) fields.push_back({name, value});
  std::string_view authority = url.authority;
  for (const auto& [name, value] : request.headers)
    if (http::iequals(name, "host")) authority = value;
  std::string why;
  for (const auto& e : found) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(until - steady_clock::now());
    if (left.count() <= 0) break;
    to.address = e.endpoint();
    outbound_request r;
    r.method = request.method.empty() ? std::string_view("GET") : std::string_view(request.method);
    r.authority = authority;
    r.target = url.target;
    r.fields = fields;
    r.body = request.body;
    r.timeout = left;
    r.max_body = max_fetched_body + 1;
    outbound_response answer = co_await outbound_call(to, r);
    if (answer.status == 0) {
      why = answer.why;
      continue;  // the next address
    }
    if (!answer.complete)
      co_return failed(errc::unavailable, "fetch: " + request.url + ": " +
                                              (answer.why.empty() ? "cut short" : answer.why));
    if (answer.body.size() > max_fetched_body)
      co_return failed(errc::unavailable, "fetch: " + request.url + ": the body is over 1 MiB");
    client_result ok;
    ok.response.status = answer.status;
    ok.response.body = std::move(answer.body);
    for (auto& f : answer.fields)
      ok.response.headers.push_back(std::move(f));
    co_return ok;
  }
  co_return failed(errc::unavailable,
                   "fetch: " + request.url + ": " + (why.empty() ? "timed out" : why));
}

asio::awaitable<void> run_fetch(client_request request, std::function<void(client_result)> done) {
  client_result r = co_await fetch_once(std::move(request));
  done(std::move(r));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace

background::background() {
  std::thread([this] {
    for (;;) {
      try {
        io_.run();
        return;  // never: the work guard is never released
      } catch (...) {
        // A task that threw: it is gone, the others go on.
      }
    }
  }).detach();
}

background& background::get() {
  // Never destroyed: its thread runs until the process ends.
  static background* b = new background;
  return *b;
}

void background::post(std::function<void()> task) {
  asio::post(io_, std::move(task));
}

scheduled_task background::schedule(std::chrono::milliseconds delay, std::function<void()> task) {
  auto s = std::make_shared<scheduled_task::state>(io_.get_executor(), std::move(task));
  asio::post(io_, [s, delay] {
    if (s->cancelled.load(std::memory_order_acquire)) return;
    s->timer.expires_after(delay);
    s->timer.async_wait([s](const boost::system::error_code& ec) {
      if (ec || s->cancelled.load(std::memory_order_acquire)) return;
      auto task = std::move(s->task);
      task();
    });
  });
  return scheduled_task(std::move(s));
}

void background::fetch(client_request request, std::function<void(client_result)> done) {
  asio::co_spawn(io_, run_fetch(std::move(request), std::move(done)), asio::detached);
}

asio::any_io_executor executor_of(filter_services& s) noexcept {
  if (auto* b = dynamic_cast<background*>(&s)) return b->executor();
  return background::get().executor();
}

}  // namespace filters
}  // namespace gateway
