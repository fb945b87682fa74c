// The parts an HTTP/2 stream holds come back emptied with their room, so the
// next stream on the worker grows nothing; large bodies and parts past the
// bound are freed instead of kept.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/h2_stream_parts.hpp"

using namespace gateway;

TEST_SUITE("h2 stream parts") {
  TEST_CASE("a stream's parts come back empty with their room, and serve the next stream") {
    asio::io_context io;
    h2_parts_pool pool(io.get_executor());
    const h2_stream_parts* first = nullptr;
    std::size_t room = 0;
    {
      auto p = pool.take();
      first = p.get();
      const http2::request_limits limits;
      CHECK(p->in.add(":method", "GET", false, limits));
      CHECK(p->in.add(":path", "/a", false, limits));
      CHECK(p->in.add("x-long", std::string(300, 'v'), false, limits));
      CHECK(p->in.add("grpc-status", "0", true, limits));
      p->head.add(":status", "200");
      const http::header fields[] = {{"Content-Type", "text/plain"}};
      p->head.add_fields(fields);
      p->body_out.assign(1000, 'b');
      room = p->capacity();
      CHECK(pool.idle() == 0);
    }
    CHECK(pool.idle() == 1);
    CHECK(pool.bytes() >= room);
    auto again = pool.take();
    CHECK(again.get() == first);
    CHECK(pool.idle() == 0);
    CHECK(again->capacity() == room);     // nothing freed...
    CHECK(again->in.trailers().empty());  // ...and nothing of the last stream left
    CHECK(again->head.empty());
    CHECK(again->body_out.empty());
    http1::request_head rq;
    bool end = true;
    const http2::request_limits limits;
    CHECK(again->in.add(":method", "POST", false, limits));
    CHECK(again->in.add(":scheme", "http", false, limits));
    CHECK(again->in.add(":authority", "b", false, limits));
    CHECK(again->in.add(":path", "/b", false, limits));
    again->in.to_http1(rq, end);
    CHECK(again->in.refused() == 0);
    CHECK(rq.method == "POST");
    CHECK(rq.target == "/b");
    CHECK(rq.headers.size() == 1);  // the Host, not the last stream's x-long
  }

  TEST_CASE("a large body's buffer is freed, and the pool keeps a bounded number") {
    asio::io_context io;
    h2_parts_pool pool(io.get_executor());
    {
      auto p = pool.take();
      p->body_in.assign(h2_parts_pool::max_kept_body + 1, 'x');
      p->body_out.assign(100, 'y');
    }
    auto p = pool.take();
    CHECK(p->body_in.capacity() < h2_parts_pool::max_kept_body);
    CHECK(p->body_out.capacity() >= 100);
    p.reset();
    std::vector<h2_parts_pool::lease> many;
    for (std::size_t i = 0; i < h2_parts_pool::max_free + 10; ++i)
      many.push_back(pool.take());
    many.clear();
    CHECK(pool.idle() == h2_parts_pool::max_free);
  }

  TEST_CASE("a stream's timers come back ready for the next stream") {
    asio::io_context io;
    h2_parts_pool pool(io.get_executor());
    int expiries = 0;
    const h2_stream_parts* first = nullptr;
    {
      // A stream whose deadline passed, and that stopped its watchdog.
      auto p = pool.take();
      first = p.get();
      p->watch.arm(transport::deadline_phase::stream, std::chrono::milliseconds(1));
      p->watch.run([&] { ++expiries; });
      for (int i = 0; i < 2000 && !p->watch.expired(); ++i)
        io.run_one_for(std::chrono::milliseconds(10));
      REQUIRE(p->watch.expired());
      p->watch.arm(transport::deadline_phase::send, std::chrono::hours(1));
      p->watch.stop();
      io.restart();
      io.run();  // the stopped wait ends: nothing is pending when the parts go back
    }
    CHECK(expiries == 1);
    auto p = pool.take();
    REQUIRE(p.get() == first);
    CHECK(!p->watch.expired());
    CHECK(p->watch.phase() == transport::deadline_phase::idle);
    // Running again (a stopped one drops its handler at its first wake-up) and
    // disarmed: nothing expires until the next stream arms it.
    p->watch.run([&] { ++expiries; });
    io.restart();
    for (int i = 0; i < 5; ++i)
      io.run_one_for(std::chrono::milliseconds(2));
    CHECK(expiries == 1);
    p->watch.arm(transport::deadline_phase::stream, std::chrono::milliseconds(1));
    for (int i = 0; i < 2000 && expiries == 1; ++i)
      io.run_one_for(std::chrono::milliseconds(10));
    CHECK(expiries == 2);
    CHECK(p->watch.expired());
    // The wake timer waits and is woken as the stream's was.
    bool woke = false;
    p->wake.expires_at(steady_clock::time_point::max());
    p->wake.async_wait([&](boost::system::error_code) { woke = true; });
    p->wake.cancel();
    for (int i = 0; i < 2000 && !woke; ++i)
      io.run_one_for(std::chrono::milliseconds(10));
    CHECK(woke);
    p->watch.stop();
    io.restart();
    io.run();
  }

  TEST_CASE("response field names are lower-cased at every length, connection fields left out") {
    http2::header_block b;
    std::vector<std::string> names, expected;
    const std::string alphabet = "AbC-Z_a@[`{z09~!";
    for (std::size_t n = 1; n <= 33; ++n) {
      std::string name, lower;
      for (std::size_t i = 0; i < n; ++i) {
        const char c = alphabet[(i * 7 + n) % alphabet.size()];
        name.push_back(c);
        lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
      }
      names.push_back(name);
      expected.push_back(lower);
    }
    std::vector<std::string> values;
    for (std::size_t i = 0; i < names.size(); ++i)
      values.push_back("v" + std::to_string(i));
    std::vector<http::header> fields;
    for (std::size_t i = 0; i < names.size(); ++i)
      fields.push_back({names[i], values[i]});
    fields.push_back({"Connection", "close"});
    fields.push_back({"Transfer-Encoding", "chunked"});
    fields.push_back({"TE", "trailers"});
    fields.push_back({"Content-Length", "5"});
    b.add_fields(fields, "content-length");
    const auto pairs = b.pairs();
    REQUIRE(pairs.size() == names.size() + 1);  // te: trailers goes on
    for (std::size_t i = 0; i < names.size(); ++i) {
      const std::string_view name(reinterpret_cast<const char*>(pairs[i].name), pairs[i].namelen);
      const std::string_view value(reinterpret_cast<const char*>(pairs[i].value),
                                   pairs[i].valuelen);
      CHECK(name == expected[i]);
      CHECK(value == values[i]);
    }
    CHECK(std::string_view(reinterpret_cast<const char*>(pairs.back().name),
                           pairs.back().namelen) == "te");
  }
}
