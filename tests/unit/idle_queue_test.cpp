// The idle queue on a real io_context: its tasks wait for what the loop has
// ready (handlers and sockets), still run when the loop never idles, do not
// upset the loop's count of outstanding work, and run back to back only while
// every request in progress holds the queue and no other one ended.
#include <doctest/doctest.h>

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <optional>
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

// Queues `n` tasks on `q`, each logging "task i" and then posting what a WAF
// phase posts as it ends, its request's resumption (logging "resume i").
void queue_resuming_tasks(asio::io_context& context, idle_queue& q, std::vector<std::string>& order,
                          int first, int n) {
  for (int i = first; i < first + n; ++i)
    CHECK(q.try_push(
        [&context, &order, i] {
          order.push_back("task " + std::to_string(i));
          asio::post(context, [&order, i] { order.push_back("resume " + std::to_string(i)); });
        },
        0));
}

// Runs `n` such tasks queued from a handler; what ran, in order.
std::vector<std::string> run_resuming_tasks(asio::io_context& context, idle_queue& q, int n) {
  std::vector<std::string> order;
  asio::post(context, [&] { queue_resuming_tasks(context, q, order, 1, n); });
  context.run();
  return order;
}

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

  TEST_CASE("tasks run back to back while every request in progress holds the queue") {
    asio::io_context context(1);
    std::size_t in_progress = 2;
    idle_queue queue(context, std::chrono::hours(1), std::chrono::hours(1), &in_progress);
    std::optional<idle_queue::hold> first, second;
    first.emplace(&queue);
    const std::uint64_t back_to_back = idle_queue::back_to_back_everywhere();
    SUBCASE("both hold it: the tasks, then what they resumed") {
      second.emplace(&queue);
      const std::vector<std::string> want = {"task 1",   "task 2",   "task 3",
                                             "resume 1", "resume 2", "resume 3"};
      CHECK(run_resuming_tasks(context, queue, 3) == want);
      CHECK(idle_queue::back_to_back_everywhere() == back_to_back + 2);
    }
    SUBCASE("one of them does not: a task at a time, each resumption before the next task") {
      const std::vector<std::string> want = {"task 1",   "resume 1", "task 2",
                                             "resume 2", "task 3",   "resume 3"};
      CHECK(run_resuming_tasks(context, queue, 3) == want);
      CHECK(idle_queue::back_to_back_everywhere() == back_to_back);
    }
    SUBCASE("no count of requests in progress: a task at a time") {
      idle_queue plain(context, std::chrono::hours(1), std::chrono::hours(1));
      const idle_queue::hold h(&plain);
      const std::vector<std::string> want = {"task 1", "resume 1", "task 2", "resume 2"};
      CHECK(run_resuming_tasks(context, plain, 2) == want);
    }
  }

  TEST_CASE("a request that ended without holding the queue stops the next batch") {
    asio::io_context context(1);
    std::size_t in_progress = 1;
    idle_queue queue(context, std::chrono::hours(1), std::chrono::hours(1), &in_progress);
    const idle_queue::hold held(&queue);
    std::vector<std::string> order;
    enum { none, holding, other } ends = none;
    SUBCASE("another request ends between the batches") {
      ends = other;
    }
    SUBCASE("one that held the queue ends") {
      ends = holding;
    }
    SUBCASE("none does") {}
    asio::post(context, [&] {
      CHECK(queue.try_push(
          [&] {
            order.push_back("task 0");
            asio::post(context, [&] {
              order.push_back("between");
              if (ends == holding) {
                std::optional<idle_queue::hold> ending(&queue);
                queue.end_request([&] { ending.reset(); });
              }
              if (ends == other) queue.end_request([] {});
              queue_resuming_tasks(context, queue, order, 1, 3);
            });
          },
          0));
    });
    context.run();
    // Other work ended: one task alone, then (nothing else ended since) a batch.
    const std::vector<std::string> after_other = {"task 0", "between", "task 1",   "resume 1",
                                                  "task 2", "task 3",  "resume 2", "resume 3"};
    const std::vector<std::string> alone = {"task 0", "between",  "task 1",   "task 2",
                                            "task 3", "resume 1", "resume 2", "resume 3"};
    CHECK(order == (ends == other ? after_other : alone));
  }

  TEST_CASE("a batch ends once it has run for its bound") {
    asio::io_context context(1);
    std::size_t in_progress = 0;
    idle_queue queue(context, std::chrono::hours(1), 1ms, &in_progress);
    std::vector<std::string> order;
    asio::post(context, [&] {
      for (int i = 1; i <= 2; ++i)
        CHECK(queue.try_push(
            [&context, &order, i] {
              order.push_back("task " + std::to_string(i));
              // Each task outlasts the bound, measured from before it began.
              const auto until = std::chrono::steady_clock::now() + 2ms;
              while (std::chrono::steady_clock::now() < until) {
              }
              asio::post(context, [&order, i] { order.push_back("resume " + std::to_string(i)); });
            },
            0));
    });
    context.run();
    const std::vector<std::string> want = {"task 1", "resume 1", "task 2", "resume 2"};
    CHECK(order == want);
  }
}
