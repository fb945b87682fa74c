#include "filters/jwt/jwks_fetcher.hpp"

#include <boost/asio/executor_work_guard.hpp>

#include <array>
#include <optional>

#include "asio/asio.hpp"
#include "http1/chunked_decoder.hpp"
#include "http1/http1_parser.hpp"

namespace gateway::filters {

namespace {
std::atomic<std::uint64_t> next_id{1};
constexpr std::size_t max_jwks_bytes = 1 << 20;
constexpr auto early_refresh_gap = std::chrono::seconds(2);
}  // namespace

struct jwks_fetcher::state : std::enable_shared_from_this<state> {
  explicit state(options o) : opts(std::move(o)), timer(io) {}

  options opts;
  const std::uint64_t id = next_id++;
  asio::io_context io;
  asio::steady_timer timer;
  std::thread thread;
  std::atomic<bool> settled{false};
  std::atomic<std::uint64_t> version{0};
  std::mutex mutex;  // guards `published` and `waiters` (writers and rare readers only)
  std::shared_ptr<const key_set> published;
  std::vector<resume_handle> waiters;
  std::size_t next_endpoint = 0;
  steady_clock::time_point last_fetch{};
  bool fetching = false;
  bool stopping = false;
  tcp::socket* active = nullptr;  // the fetch in progress, closed on stop
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{
      io.get_executor()};
  std::string response;  // kept out of the coroutine frame
  std::array<char, 4096> chunk;

  // One GET; the body, or empty on any failure.
  asio::awaitable<std::string> get(const std::pair<std::string, std::uint16_t>& ep) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(ep.first, ec);
    if (ec) co_return std::string();
    tcp::socket s(io);
    active = &s;
    asio::steady_timer deadline(io);
    deadline.expires_after(opts.timeout);
    deadline.async_wait([&s](boost::system::error_code e) {
      if (!e) {
        boost::system::error_code ignored;
        s.close(ignored);
      }
    });
    auto [ce] = co_await s.async_connect(tcp::endpoint(address, ep.second), use_tuple);
    std::string request = "GET " + opts.path + " HTTP/1.1\r\nhost: " + opts.host +
                          "\r\naccept: application/json\r\nconnection: close\r\n\r\n";
    if (!ce) {
      auto [we, n] = co_await asio::async_write(s, asio::buffer(request), use_tuple);
      ce = we;
    }
    response.clear();
    std::string body;
    bool eof = false;
    while (!ce && response.size() < max_jwks_bytes + 64 * 1024) {
      auto [re, n] = co_await s.async_read_some(asio::buffer(chunk), use_tuple);
      response.append(chunk.data(), n);
      eof = re == asio::error::eof;
      // Done once the body is whole by its framing; an upstream that keeps the
      // connection open despite "connection: close" does not hold us up.
      if (complete_body(response, eof, body) || re) break;
    }
    deadline.cancel();
    active = nullptr;
    if (stopping) co_return std::string();
    co_return body;
  }

  // The body of a complete 200 answer in `in` (framed by Content-Length,
  // chunked, or the close when `eof`); false while it is incomplete or when
  // it is not a 200 (body left empty).
  static bool complete_body(std::string_view in, bool eof, std::string& body) {
    body.clear();
    http1::head_scanner scanner;
    const std::size_t end = scanner.find_end(in);
    if (!end) return false;
    http1::response_head head;
    if (http1::parse_response_head(in.substr(0, end), head, 100) || head.status != 200)
      return true;  // nothing to wait for
    std::string_view rest = in.substr(end);
    if (head.chunked) {
      http1::chunked_decoder d;
      while (!rest.empty()) {
        auto step = d.decode(rest);
        if (step.error) return true;
        body.append(step.data);
        rest.remove_prefix(step.consumed);
        if (step.done) return true;
        if (step.consumed == 0) break;
      }
      body.clear();
      return false;
    }
    if (head.has_content_length) {
      if (rest.size() < head.content_length) return false;
      body.assign(rest.substr(0, head.content_length));
      return true;
    }
    if (!eof) return false;
    body.assign(rest);
    return true;
  }

  asio::awaitable<void> fetch_once() {
    fetching = true;
    last_fetch = steady_clock::now();
    std::shared_ptr<const key_set> keys;
    for (std::size_t tried = 0; tried < opts.endpoints.size() && !keys && !stopping; ++tried) {
      const auto& ep = opts.endpoints[next_endpoint++ % opts.endpoints.size()];
      std::string body = co_await get(ep);
      if (body.empty() || body.size() > max_jwks_bytes) continue;
      try {
        keys = std::make_shared<const key_set>(tls::parse_jwks(body));
      } catch (const std::exception&) {
        // A malformed key set keeps the previous one (and is tried again soon).
      }
    }
    std::vector<resume_handle> wake;
    {
      std::lock_guard lock(mutex);
      if (keys) {
        published = std::move(keys);
        version.fetch_add(1, std::memory_order_release);
      }
      wake.swap(waiters);
    }
    settled.store(true, std::memory_order_release);
    for (const auto& h : wake)
      h.resume();
    fetching = false;
  }

  asio::awaitable<void> run() {
    auto self = shared_from_this();
    while (!stopping) {
      co_await fetch_once();
      if (stopping) co_return;
      const bool have = version.load() != 0;
      // Without keys, try again soon; with them, at the refresh interval.
      auto wait = have ? opts.refresh
                       : std::min<std::chrono::milliseconds>(opts.refresh, std::chrono::seconds(2));
      timer.expires_after(wait);
      co_await timer.async_wait(use_tuple);  // cancelled: refresh_soon, or stopping
    }
  }
};

jwks_fetcher::jwks_fetcher(options o)
    : state_(std::make_shared<state>(std::move(o))), settled_(state_->settled) {
  auto s = state_;
  asio::co_spawn(s->io, s->run(), asio::detached);
  s->thread = std::thread([s] { s->io.run(); });
}

jwks_fetcher::~jwks_fetcher() {
  // Everything in flight ends (the loop, a fetch) and io.run() returns by
  // itself, so no coroutine is left holding the state.
  auto s = state_;
  asio::post(s->io, [s] {
    s->stopping = true;
    s->timer.cancel();
    if (s->active) {
      boost::system::error_code ignored;
      s->active->close(ignored);
    }
    s->guard.reset();
  });
  if (s->thread.joinable()) s->thread.join();
  std::vector<resume_handle> wake;
  {
    std::lock_guard lock(s->mutex);
    wake.swap(s->waiters);
  }
  for (const auto& h : wake)
    h.resume();
}

const jwks_fetcher::key_set* jwks_fetcher::keys() {
  // Per worker thread: the last version seen of each fetcher, by id.
  struct seen {
    std::uint64_t id, version;
    std::shared_ptr<const key_set> keys;
  };
  thread_local std::vector<seen> cache;
  const std::uint64_t v = state_->version.load(std::memory_order_acquire);
  if (v == 0) return nullptr;
  for (seen& c : cache)
    if (c.id == state_->id) {
      if (c.version != v) {
        std::lock_guard lock(state_->mutex);
        c.keys = state_->published;
        c.version = v;
      }
      return c.keys.get();
    }
  std::lock_guard lock(state_->mutex);
  if (cache.size() >= 64) cache.erase(cache.begin());  // fetchers of configs long gone
  cache.push_back({state_->id, v, state_->published});
  return cache.back().keys.get();
}

void jwks_fetcher::wait(resume_handle h) {
  {
    std::lock_guard lock(state_->mutex);
    if (!state_->settled.load()) {
      state_->waiters.push_back(std::move(h));
      return;
    }
  }
  h.resume();
}

void jwks_fetcher::refresh_soon() {
  asio::post(state_->io, [s = state_] {
    if (s->fetching || steady_clock::now() - s->last_fetch < early_refresh_gap) return;
    s->timer.cancel();  // run() fetches again at once
  });
}

}  // namespace gateway::filters
