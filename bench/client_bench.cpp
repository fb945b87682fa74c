// bench/clients' C++ rows: gateway::client against a plain Beast client, the
// same requests to the same upstream.
//
//   client_bench gateway|beast PORT CONCURRENCY SECONDS
//       GET / on 127.0.0.1:PORT, keep-alive, CONCURRENCY requests in flight
//       (1: one blocking caller; more: asynchronous calls, each ending one
//       starts the next), for SECONDS. The gateway client has one thread and
//       a Service-like target with round robin, retries on connect failure and
//       the default breakers; Beast has one connection per request in flight,
//       on one event loop. Prints: requests, seconds, requests/s and the CPU
//       (user + system, every thread of the process) per request in µs.
#include <gateway/client.hpp>

#include <sys/resource.h>

#include <atomic>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "asio/asio.hpp"

namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using clock_type = std::chrono::steady_clock;

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

std::uint64_t run_gateway(std::uint16_t port, int concurrency, clock_type::time_point until) {
  gateway::client_target t;
  t.name = "up";
  t.cluster.endpoints = {{"127.0.0.1", port, 1}};
  gateway::retry_policy retry;
  retry.attempts = 2;
  t.retry = retry;
  gateway::client calls(gateway::client_config({t}));
  gateway::client_request rq;
  rq.url = "http://up/";
  if (concurrency == 1) {
    std::uint64_t n = 0;
    while (clock_type::now() < until) {
      if (calls.send(rq).status != 200) std::abort();
      ++n;
    }
    return n;
  }
  std::mutex m;
  std::condition_variable cv;
  std::atomic<std::uint64_t> n{0};
  int running = concurrency;
  std::function<void(gateway::client_result)> next = [&](gateway::client_result r) {
    if (r.error || r.response.status != 200) std::abort();
    ++n;
    if (clock_type::now() < until) {
      calls.async_send(rq, next);
      return;
    }
    std::lock_guard lock(m);
    if (--running == 0) cv.notify_all();
  };
  for (int i = 0; i < concurrency; ++i)
    calls.async_send(rq, next);
  std::unique_lock lock(m);
  cv.wait(lock, [&] { return running == 0; });
  return n.load();
}

gateway::asio::awaitable<void> beast_loop(std::uint16_t port, clock_type::time_point until,
                                          std::uint64_t& n) {
  auto ex = co_await gateway::asio::this_coro::executor;
  beast::tcp_stream stream(ex);
  co_await stream.async_connect(
      gateway::tcp::endpoint(gateway::asio::ip::make_address("127.0.0.1"), port),
      gateway::asio::use_awaitable);
  stream.socket().set_option(gateway::tcp::no_delay(true));
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/", 11};
  req.set(bhttp::field::host, "up");
  beast::flat_buffer buffer;
  while (clock_type::now() < until) {
    co_await bhttp::async_write(stream, req, gateway::asio::use_awaitable);
    bhttp::response<bhttp::string_body> res;
    co_await bhttp::async_read(stream, buffer, res, gateway::asio::use_awaitable);
    if (res.result_int() != 200) std::abort();
    ++n;
  }
}

std::uint64_t run_beast(std::uint16_t port, int concurrency, clock_type::time_point until) {
  if (concurrency == 1) {
    gateway::asio::io_context ctx;
    beast::tcp_stream stream(ctx);
    stream.connect(gateway::tcp::endpoint(gateway::asio::ip::make_address("127.0.0.1"), port));
    stream.socket().set_option(gateway::tcp::no_delay(true));
    bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/", 11};
    req.set(bhttp::field::host, "up");
    beast::flat_buffer buffer;
    std::uint64_t n = 0;
    while (clock_type::now() < until) {
      bhttp::write(stream, req);
      bhttp::response<bhttp::string_body> res;
      bhttp::read(stream, buffer, res);
      if (res.result_int() != 200) std::abort();
      ++n;
    }
    return n;
  }
  gateway::asio::io_context ctx;
  std::vector<std::uint64_t> counts(static_cast<std::size_t>(concurrency), 0);
  for (auto& c : counts)
    gateway::asio::co_spawn(ctx, beast_loop(port, until, c), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    });
  ctx.run();
  std::uint64_t n = 0;
  for (auto c : counts)
    n += c;
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: client_bench gateway|beast PORT CONCURRENCY SECONDS\n");
    return 2;
  }
  const std::string mode = argv[1];
  const auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  const int concurrency = std::max(1, std::atoi(argv[3]));
  const double seconds = std::atof(argv[4]);
  const double cpu0 = cpu_seconds();
  const auto start = clock_type::now();
  const auto until = start + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
  const std::uint64_t n = mode == "gateway" ? run_gateway(port, concurrency, until)
                                            : run_beast(port, concurrency, until);
  const double wall = std::chrono::duration<double>(clock_type::now() - start).count();
  const double cpu = cpu_seconds() - cpu0;
  std::printf("requests %llu seconds %.2f rps %.0f cpu_us_per_request %.2f\n",
              static_cast<unsigned long long>(n), wall, static_cast<double>(n) / wall,
              n ? cpu * 1e6 / static_cast<double>(n) : 0.0);
  return 0;
}
