// The idle queue on a real io_context: its tasks wait for what the loop has
// ready (handlers and sockets), still run when the loop never idles, and do
// not upset the loop's count of outstanding work.
#include <doctest/doctest.h>

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "server/idle_queue.hpp"

using namespace gateway;
using namespace std::chrono_literals;

namespace {

// A handler that posts itself again `left` times: a loop that stays busy.
struct busy_chain {
  asio::io_context& context;
  int& steps;
  int left;
  void operator()() {
    ++steps;
    if (--left > 0) asio::post(context, busy_chain{context, steps, left});
  }
};

}  // namespace

TEST_SUITE("idle queue") {
  TEST_CASE("tasks run once the handlers and sockets that are ready have run") {
    asio::io_context context(1);
    idle_queue queue(context, std::chrono::hours(1));  // never due while busy
    asio::local::stream_protocol::socket a(context), b(context);
    asio::local::connect_pair(a, b);
    std::vector<std::string> order;
    char byte = 0;
    // Waits in the reactor: only a look at the sockets finds it ready.
    a.async_read_some(asio::buffer(&byte, 1), [&](boost::system::error_code ec, std::size_t) {
      CHECK(!ec);
      order.push_back("read");
    });
    int steps = 0;
    asio::post(context, [&] {
      asio::write(b, asio::buffer("x", 1));
      CHECK(queue.try_push([&] { order.push_back("task 1 after " + std::to_string(steps)); }, 0));
      CHECK(queue.try_push([&] { order.push_back("task 2 after " + std::to_string(steps)); }, 0));
      busy_chain{context, steps, 100}();
    });
    context.run();
    const std::vector<std::string> want = {"read", "task 1 after 100", "task 2 after 100"};
    CHECK(order == want);
    CHECK(queue.size() == 0);
  }

  TEST_CASE("a loop that never idles still runs a task every max_wait") {
    asio::io_context context(1);
    idle_queue queue(context, 0us);  // always due: the busy loop is not waited for
    int steps = 0;
    std::vector<int> ran_at;
    asio::post(context, [&] {
      for (int i = 0; i < 3; ++i)
        queue.try_push([&] { ran_at.push_back(steps); }, 0);
      busy_chain{context, steps, 1000}();
    });
    context.run();
    REQUIRE(ran_at.size() == 3);
    CHECK(ran_at.back() < 1000);  // all three ran while the chain went on
    CHECK(steps == 1000);
  }

  TEST_CASE("tasks that post handlers leave the loop running until those have run") {
    // Each task resumes something by posting to the loop, as a WAF phase
    // resumes its request. The loop must run every one of them and only then
    // run out of work: it has no work guard here.
    asio::io_context context(1);
    idle_queue queue(context, std::chrono::hours(1));
    int resumed = 0;
    asio::post(context, [&] {
      for (int i = 0; i < 200; ++i)
        CHECK(queue.try_push([&] { asio::post(context, [&] { ++resumed; }); }, 0));
    });
    context.run();
    CHECK(resumed == 200);
    CHECK(queue.size() == 0);
  }

  TEST_CASE("a bound refuses tasks, and a stopped loop's tasks are dropped and uncounted") {
    const std::size_t before = idle_queue::queued_everywhere();
    asio::io_context context(1);
    int ran = 0;
    {
      idle_queue queue(context, 0us);
      CHECK(queue.try_push([&] { ++ran; }, 2));
      CHECK(queue.try_push([&] { ++ran; }, 2));
      CHECK_FALSE(queue.try_push([&] { ++ran; }, 2));
      CHECK(idle_queue::queued_everywhere() == before + 2);
      context.stop();
      CHECK(queue.stopped());
      context.run();  // stopped: returns at once, and the drain never runs
    }
    CHECK(ran == 0);
    CHECK(idle_queue::queued_everywhere() == before);
  }

  TEST_CASE("current() is the queue of the scope this thread is in") {
    asio::io_context context(1);
    idle_queue outer(context, 1ms), inner(context, 1ms);
    CHECK(idle_queue::current() == nullptr);
    {
      const idle_queue::scope s1(outer);
      CHECK(idle_queue::current() == &outer);
      {
        const idle_queue::scope s2(inner);
        CHECK(idle_queue::current() == &inner);
      }
      CHECK(idle_queue::current() == &outer);
    }
    CHECK(idle_queue::current() == nullptr);
  }
}
