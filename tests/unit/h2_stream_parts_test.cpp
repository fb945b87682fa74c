// The parts an HTTP/2 stream holds come back emptied with their room, so the
// next stream on the worker grows nothing; large bodies and parts past the
// bound are freed instead of kept.
#include <doctest/doctest.h>

#include <string>

#include "server/h2_stream_parts.hpp"

using namespace gateway;

TEST_SUITE("h2 stream parts") {
  TEST_CASE("a stream's parts come back empty with their room, and serve the next stream") {
    h2_parts_pool pool;
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
    h2_parts_pool pool;
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
}
