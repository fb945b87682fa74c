#include "filters/jwt/jwks_fetcher.hpp"

#include <array>
#include <optional>

#include "asio/asio.hpp"
#include "client/outbound_call.hpp"
#include "filters/background.hpp"

namespace gateway::filters {

namespace {
std::atomic<std::uint64_t> next_id{1};
constexpr std::size_t max_jwks_bytes = 1 << 20;
constexpr auto early_refresh_gap = std::chrono::seconds(2);
}  // namespace

struct jwks_fetcher::state : std::enable_shared_from_this<state> {
  explicit state(options o) : opts(std::move(o)), ex(executor_of(*opts.services)), timer(ex) {}

  options opts;
  const std::uint64_t id = next_id++;
  asio::any_io_executor ex;  // the background's: every fetcher shares its thread
  asio::steady_timer timer;
  std::atomic<bool> settled{false};
  std::atomic<std::uint64_t> version{0};
  std::mutex mutex;  // guards `published` and `waiters` (writers and rare readers only)
  std::shared_ptr<const key_set> published;
  std::vector<resume_handle> waiters;
  std::size_t next_endpoint = 0;
  steady_clock::time_point last_fetch{};
  bool fetching = false;
  bool stopping = false;
  std::optional<tcp::resolver> resolver;  // the fetch's lookup, cancelled on stop
  outbound_stopper fetch;                 // the fetch's request, ended on stop

  // One GET to `to`; the body of a whole 200 answer, or empty.
  asio::awaitable<std::string> get(const tcp::endpoint& to) {
    outbound_target target;
    target.address = to;
    target.tls = opts.tls.get();
    target.server_name = opts.name;
    static constexpr std::array<http::header, 1> fields = {
        http::header{"accept", "application/json"}};
    outbound_request r;
    r.authority = opts.host;
    r.target = opts.path;
    r.fields = fields;
    r.timeout = opts.timeout;
    r.max_body = max_jwks_bytes + 1;  // one more: a larger set is refused, not cut
    r.stopper = &fetch;
    outbound_response answer = co_await outbound_call(target, r);
    if (stopping || answer.status != 200 || !answer.complete) co_return std::string();
    co_return std::move(answer.body);
  }

  // Where to fetch from: the endpoints given, or what the name resolves to.
  asio::awaitable<std::vector<tcp::endpoint>> addresses() {
    std::vector<tcp::endpoint> out;
    for (const auto& [ip, port] : opts.endpoints) {
      boost::system::error_code ec;
      const auto address = asio::ip::make_address(ip, ec);
      if (!ec) out.emplace_back(address, port);
    }
    if (!opts.endpoints.empty()) co_return out;
    resolver.emplace(ex);
    auto [ec, found] = co_await resolver->async_resolve(opts.name, std::to_string(opts.port),
                                                        tcp::resolver::numeric_service, use_tuple);
    resolver.reset();
    if (!ec)
      for (const auto& e : found)
        out.push_back(e.endpoint());
    co_return out;
  }

  asio::awaitable<void> fetch_once() {
    fetching = true;
    last_fetch = steady_clock::now();
    std::shared_ptr<const key_set> keys;
    const std::vector<tcp::endpoint> to = co_await addresses();
    for (std::size_t tried = 0; tried < to.size() && !keys && !stopping; ++tried) {
      std::string body = co_await get(to[next_endpoint++ % to.size()]);
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
  asio::co_spawn(s->ex, s->run(), asio::detached);
}

jwks_fetcher::~jwks_fetcher() {
  // Everything in flight ends (the loop, a fetch) on the background thread;
  // the last coroutine to finish frees the state. Not waited for: this may
  // run on that thread itself.
  auto s = state_;
  asio::post(s->ex, [s] {
    s->stopping = true;
    s->timer.cancel();
    if (s->resolver) s->resolver->cancel();
    s->fetch.stop();
  });
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
  asio::post(state_->ex, [s = state_] {
    if (s->fetching || steady_clock::now() - s->last_fetch < early_refresh_gap) return;
    s->timer.cancel();  // run() fetches again at once
  });
}

}  // namespace gateway::filters
