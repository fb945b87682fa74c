#include "upstream/health_checker.hpp"

#include <gateway/http.hpp>

#include <algorithm>
#include <charconv>
#include <future>
#include <random>

namespace gateway {

struct health_checker::watched {
  std::shared_ptr<cluster_state> state;
  bool stopped = false;
  asio::steady_timer timer;
  // Probe streaks per endpoint; only the checker thread touches them.
  struct streak {
    std::uint32_t ok = 0, failed = 0;
    bool in_flight = false;
  };
  std::unordered_map<const endpoint_state*, streak> streaks;
  std::minstd_rand rng{std::random_device{}()};
  watched(std::shared_ptr<cluster_state> s, asio::io_context& ctx)
      : state(std::move(s)), timer(ctx) {}
};

health_checker::health_checker(const logger& log)
    : log_(log), work_(context_.get_executor()), thread_([this] { context_.run(); }) {}

health_checker::~health_checker() {
  // Probes in flight are abandoned (their frames go with the context).
  std::promise<void> done;
  asio::post(context_, [this, &done] {
    for (auto& [key, w] : watched_) {
      w->stopped = true;
      w->timer.cancel();
    }
    watched_.clear();
    done.set_value();
  });
  done.get_future().wait();
  work_.reset();
  context_.stop();
  thread_.join();
}

void health_checker::sync(const std::vector<std::shared_ptr<cluster_state>>& clusters) {
  asio::post(context_, [this, clusters] {
    std::unordered_map<const cluster_state*, std::shared_ptr<watched>> next;
    for (const auto& c : clusters) {
      if (c->config().health_check.type == health_check_type::none) continue;
      auto it = watched_.find(c.get());
      if (it != watched_.end()) {
        next.emplace(c.get(), it->second);
        watched_.erase(it);
        continue;
      }
      auto w = std::make_shared<watched>(c, context_);
      next.emplace(c.get(), w);
      asio::co_spawn(context_, run(w), asio::detached);
    }
    for (auto& [key, w] : watched_) {  // no longer served
      w->stopped = true;
      w->timer.cancel();
    }
    watched_ = std::move(next);
  });
}

asio::awaitable<void> health_checker::run(std::shared_ptr<watched> w) {
  const health_check_config& hc = w->state->config().health_check;
  while (!w->stopped) {
    // Every endpoint of the round is probed at once; one still in flight from
    // the last round (a timeout longer than the interval) is not doubled.
    const auto list = w->state->endpoints();
    for (const auto& ep : list) {
      auto& s = w->streaks[ep.get()];
      if (s.in_flight) continue;
      s.in_flight = true;
      asio::co_spawn(context_, probe(w, ep), asio::detached);
    }
    // Endpoints that left the cluster (DNS) leave their streaks.
    std::erase_if(w->streaks, [&](const auto& entry) {
      if (entry.second.in_flight) return false;
      return std::none_of(list.begin(), list.end(),
                          [&](const auto& ep) { return ep.get() == entry.first; });
    });
    auto wait = hc.interval;
    if (hc.jitter.count() > 0)
      wait += std::chrono::milliseconds(w->rng() % static_cast<std::uint64_t>(hc.jitter.count() + 1));
    w->timer.expires_after(wait);
    co_await w->timer.async_wait(use_tuple);
  }
}

namespace {
// The status of an HTTP/1.x status line at the start of `head`, or 0.
int status_of(std::string_view head) {
  if (head.size() < 12 || head.substr(0, 7) != "HTTP/1.") return 0;
  int status = 0;
  auto r = std::from_chars(head.data() + 9, head.data() + 12, status);
  return r.ec == std::errc() && r.ptr == head.data() + 12 ? status : 0;
}

// The Content-Length of a response head, or -1.
long long content_length(std::string_view head) {
  std::size_t at = 0;
  while ((at = head.find("\r\n", at)) != std::string_view::npos) {
    at += 2;
    std::string_view line = head.substr(at, head.find("\r\n", at) - at);
    if (line.size() > 15 && http::iequals(line.substr(0, 15), "content-length:")) {
      std::string_view v = line.substr(15);
      while (!v.empty() && v.front() == ' ')
        v.remove_prefix(1);
      long long n = -1;
      std::from_chars(v.data(), v.data() + v.size(), n);
      return n;
    }
  }
  return -1;
}
}  // namespace

// GCC 12 reports a mismatched operator delete for this coroutine's frame
// (Asio's frame allocator pairs them correctly); a known false positive.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<void> health_checker::probe(std::shared_ptr<watched> w,
                                            std::shared_ptr<endpoint_state> ep) {
  const cluster_config& cfg = w->state->config();
  const health_check_config& hc = cfg.health_check;
  // The deadline's handler may run after this frame is gone (it can be
  // queued just as the probe finishes), so what it touches is shared.
  struct probe_io {
    explicit probe_io(asio::io_context& c) : socket(c) {}
    tcp::socket socket;
    bool timed_out = false;
  };
  auto io = std::make_shared<probe_io>(context_);
  tcp::socket& socket = io->socket;
  const bool& timed_out = io->timed_out;
  asio::steady_timer deadline(context_);
  deadline.expires_after(hc.timeout);
  deadline.async_wait([io](boost::system::error_code ec) {
    if (ec) return;
    io->timed_out = true;
    boost::system::error_code ignored;
    io->socket.close(ignored);
  });
  std::string why;
  bool healthy = false;
  auto [cec] = co_await socket.async_connect(ep->address, use_tuple);
  if (cec) {
    why = timed_out ? "connect timed out" : "connect failed: " + cec.message();
  } else if (hc.type == health_check_type::tcp && hc.send.empty() && hc.receive.empty()) {
    healthy = true;
  } else {
    std::string request;
    if (hc.type == health_check_type::http) {
      request.append(hc.method).append(" ").append(hc.path).append(" HTTP/1.1\r\nhost: ");
      request.append(hc.host.empty() ? ep->name : hc.host);
      request.append("\r\nuser-agent: gateway-health-check\r\nconnection: close\r\n\r\n");
    } else {
      request = hc.send;
    }
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(request), use_tuple);
    std::string got;
    boost::system::error_code rec = wec;
    std::size_t head_end = std::string::npos;
    constexpr std::size_t max_read = 64 * 1024;
    while (!rec && got.size() < max_read) {
      if (hc.type == health_check_type::tcp) {
        if (got.find(hc.receive) != std::string::npos) break;
      } else {
        if (head_end == std::string::npos) head_end = got.find("\r\n\r\n");
        if (head_end != std::string::npos) {
          if (hc.expected_body.empty()) break;
          const long long length = content_length(std::string_view(got).substr(0, head_end + 2));
          if (length >= 0 && got.size() >= head_end + 4 + static_cast<std::size_t>(length)) break;
          if (got.find(hc.expected_body, head_end + 4) != std::string::npos) break;
        }
      }
      char buf[4096];
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), use_tuple);
      got.append(buf, n);
      rec = ec;
    }
    if (hc.type == health_check_type::tcp) {
      healthy = got.find(hc.receive) != std::string::npos;
      if (!healthy) why = timed_out ? "timed out" : "expected bytes not received";
    } else {
      const int status = status_of(got);
      const bool status_ok =
          std::any_of(hc.expected_statuses.begin(), hc.expected_statuses.end(),
                      [&](const auto& r) { return status >= r.first && status <= r.second; });
      const bool body_ok = hc.expected_body.empty() ||
                           (head_end != std::string::npos &&
                            got.find(hc.expected_body, head_end + 4) != std::string::npos);
      healthy = status && status_ok && body_ok;
      if (timed_out && !status)
        why = "timed out";
      else if (!status)
        why = "no valid response" + (rec && rec != asio::error::eof ? ": " + rec.message() : "");
      else if (!status_ok)
        why = "status " + std::to_string(status);
      else if (!body_ok)
        why = "expected body not found";
    }
  }
  deadline.cancel();
  boost::system::error_code ignored;
  socket.close(ignored);

  auto& s = w->streaks[ep.get()];
  s.in_flight = false;
  if (w->stopped) co_return;
  const bool was = ep->healthy.load(std::memory_order_relaxed);
  if (healthy) {
    s.failed = 0;
    ++s.ok;
    if (!was && s.ok >= hc.healthy_threshold) {
      w->state->set_healthy(*ep, true, steady_clock::now());
      log_.log(log_level::info, "upstream ", cfg.name, " ", ep->name, ": health check passed ",
               s.ok, " times: healthy");
    }
  } else {
    ep->health_failures.fetch_add(1, std::memory_order_relaxed);
    s.ok = 0;
    ++s.failed;
    if (was && s.failed >= hc.unhealthy_threshold) {
      w->state->set_healthy(*ep, false, steady_clock::now());
      log_.log(log_level::warn, "upstream ", cfg.name, " ", ep->name, ": health check failed ",
               s.failed, " times (", why, "): unhealthy");
    } else {
      log_.log(log_level::debug, "upstream ", cfg.name, " ", ep->name, ": health check failed (",
               why, ")");
    }
  }
}

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

}  // namespace gateway
