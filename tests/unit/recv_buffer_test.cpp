// Reads through recv_some on a real loopback TCP connection: a read that took
// everything spares the next read (after a write) its failing recv(), and
// nothing that arrives later, nor a FIN or a reset behind the last bytes, is
// missed. The recv() calls are counted by defining syscall() and recv() in
// this executable (its own, so no other test's sockets go through them).
#include <dlfcn.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <string>
#include <string_view>
#include <thread>

#include "asio/recv_buffer.hpp"

using namespace gateway;

namespace {
int watched_fd = -1;
int recv_calls = 0;
int empty_recvs = 0;  // the ones that failed with EAGAIN

void count(int fd, long n) {
  if (fd != watched_fd) return;
  ++recv_calls;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++empty_recvs;
}
}  // namespace

// recv_some's reads go through syscall() (socket_calls.hpp), Asio's own
// through recv(); both end in this syscall(), which counts the reads of the
// watched socket. Like glibc's own, it passes on six arguments whatever the
// call gave, so it reads past a shorter call's: AddressSanitizer would take
// that for a stack underflow.
extern "C" __attribute__((no_sanitize("address"))) long syscall(long number, ...) {
  using raw_syscall = long (*)(long, ...);
  static const auto next = reinterpret_cast<raw_syscall>(dlsym(RTLD_NEXT, "syscall"));
  va_list args;
  va_start(args, number);
  long a[6];
  for (long& x : a)
    x = va_arg(args, long);
  va_end(args);
  const long n = next(number, a[0], a[1], a[2], a[3], a[4], a[5]);
  if (number == SYS_recvfrom || number == SYS_recvmsg) count(static_cast<int>(a[0]), n);
  return n;
}
extern "C" ssize_t recv(int fd, void* data, size_t size, int flags) {
  return syscall(SYS_recvfrom, fd, data, size, flags, nullptr, nullptr);
}

namespace {

struct read_result {
  bool done = false;
  boost::system::error_code ec;
  std::size_t n = 0;
};

// A connected loopback pair: `ours` is read through the reactor (accepted
// from a listener that counts unread bytes, as gatewayd's do), `peer`
// writes with blocking calls.
struct pair {
  asio::io_context context{1};
  tcp::socket ours{context};
  tcp::socket peer{context};
  recv_state state;
  char into[64];
  read_result r;

  pair() {
    tcp::acceptor acceptor(context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    count_unread(acceptor.native_handle());
    peer.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
    ours.non_blocking(true);
    watched_fd = ours.native_handle();
    recv_calls = empty_recvs = 0;
  }
  ~pair() { watched_fd = -1; }

  void send(std::string_view bytes) { asio::write(peer, asio::buffer(bytes)); }
  std::string_view got() const { return std::string_view(into, r.n); }

  // Starts one recv_some into `into`; `r` tells when it is done.
  void start_read(std::size_t size = sizeof into) {
    r = read_result{};
    asio::co_spawn(
        context,
        [this, size]() -> asio::awaitable<void> {
          auto [ec, n] = co_await recv_some(ours, asio::buffer(into, size), state);
          r.done = true;
          r.ec = ec;
          r.n = n;
        },
        asio::detached);
    context.restart();
    context.poll();  // the read starts: what it finds at once, it completes with
  }

  // Runs the loop until `done` or 10 s; true when done.
  template <typename Done>
  bool run_until(Done done) {
    const auto until = steady_clock::now() + std::chrono::seconds(10);
    while (!done() && steady_clock::now() < until) {
      context.restart();
      context.run_one_for(std::chrono::milliseconds(50));
    }
    return done();
  }

  // Waits (without running the loop) until `n` bytes can be read.
  bool wait_available(std::size_t n) {
    const auto until = steady_clock::now() + std::chrono::seconds(10);
    boost::system::error_code ec;
    while (ours.available(ec) < n && steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return ours.available(ec) >= n;
  }

  // Waits (without running the loop) until our end's TCP state is `state`:
  // what came from the peer has been taken in by the kernel.
  bool wait_state(int state) {
    const auto until = steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      tcp_info info{};
      socklen_t size = sizeof info;
      if (::getsockopt(ours.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &size) == 0 &&
          info.tcpi_state == state)
        return true;
      if (steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  // The way a proxy reads: the read waits first, and "hello" comes while it
  // does (the readiness event performs the read, which drains the socket).
  void read_hello() {
    start_read();
    REQUIRE(!r.done);
    send("hello");
    REQUIRE(run_until([&] { return r.done; }));
    REQUIRE(!r.ec);
    REQUIRE(got() == "hello");
  }

  // Runs the loop, with nothing waiting on our socket, until the reactor has
  // polled once with whatever the kernel holds for it now.
  void let_reactor_poll() {
    asio::steady_timer t(context, std::chrono::milliseconds(20));
    bool fired = false;
    t.async_wait([&](boost::system::error_code) { fired = true; });
    REQUIRE(run_until([&] { return fired; }));
  }

  bool quiet() { return quiet_since_drained(ours, state); }

  // Our answer to the peer, as the gateway's writers do it.
  void answer() {
    state.wrote = true;
    asio::write(ours, asio::buffer(std::string_view("ok")));
  }
};

}  // namespace

TEST_SUITE("recv buffer") {
  TEST_CASE("after a read that took everything and a write, the next read waits without a recv") {
    pair p;
    p.read_hello();
    CHECK(p.state.drained == short_read_drains);
    p.answer();

    const int before = empty_recvs;
    p.start_read();
    CHECK(!p.r.done);  // nothing has come
    CHECK(empty_recvs == before + (short_read_drains ? 0 : 1));

    p.send("world");
    REQUIRE(p.run_until([&] { return p.r.done; }));
    REQUIRE(!p.r.ec);
    CHECK(p.got() == "world");
  }

  TEST_CASE("Asio's own read costs the failing recv, which the count sees") {
    // The counter's own check: Asio's speculative read after a drained socket.
    pair p;
    int done = 0;
    auto read = [&] {
      p.ours.async_read_some(asio::buffer(p.into),
                             [&](boost::system::error_code, std::size_t) { ++done; });
      p.context.restart();
      p.context.poll();
    };
    read();
    p.send("hello");
    REQUIRE(p.run_until([&] { return done == 1; }));
    const int before = empty_recvs;
    read();
    CHECK(done == 1);
    CHECK(empty_recvs == before + 1);
    p.send("world");
    REQUIRE(p.run_until([&] { return done == 2; }));
  }

  TEST_CASE("a read with no write since the last one tries recv itself first") {
    // A reset right behind the last bytes is not counted as unread; only a
    // write (which would fail) or this try can tell of it.
    pair p;
    p.read_hello();
    const int before = empty_recvs;
    p.start_read();
    CHECK(!p.r.done);
    CHECK(empty_recvs == before + 1);
    p.send("world");
    REQUIRE(p.run_until([&] { return p.r.done; }));
    CHECK(p.got() == "world");
  }

  TEST_CASE("bytes that came after a read that took everything are read") {
    pair p;
    p.read_hello();
    p.answer();
    // They arrive while no read waits and the loop does not run: only the
    // readiness event tells of them.
    p.send("second");
    REQUIRE(p.wait_available(6));
    p.start_read();
    REQUIRE(p.run_until([&] { return p.r.done; }));
    REQUIRE(!p.r.ec);
    CHECK(p.got() == "second");
  }

  TEST_CASE("a FIN right behind the last bytes is seen by the next read, after a write too") {
    pair p;
    p.read_hello();
    p.answer();
    // "bye" and the FIN are both there when the read comes: the read that
    // returns "bye" consumes the FIN, and its readiness event is spent.
    p.send("bye");
    p.peer.shutdown(tcp::socket::shutdown_send);
    REQUIRE(p.wait_available(3));
    REQUIRE(p.wait_state(TCP_CLOSE_WAIT));  // the FIN is there too
    p.start_read();
    REQUIRE(p.run_until([&] { return p.r.done; }));
    REQUIRE(p.got() == "bye");
    CHECK(!p.state.drained);  // the kernel counts the FIN as unread
    p.answer();
    p.start_read();
    REQUIRE(p.run_until([&] { return p.r.done; }));
    CHECK(p.r.ec == asio::error::eof);
  }

  TEST_CASE("a reset right behind the last bytes is seen by the next read") {
    pair p;
    p.read_hello();
    p.answer();
    p.send("bye");
    p.peer.set_option(asio::socket_base::linger(true, 0));
    p.peer.close();  // an RST, not a FIN
    REQUIRE(p.wait_available(3));
    REQUIRE(p.wait_state(TCP_CLOSE));  // the reset is there too
    p.start_read();
    REQUIRE(p.run_until([&] { return p.r.done; }));
    REQUIRE(p.got() == "bye");
    p.start_read();  // no write since: it tries, and finds the reset
    REQUIRE(p.run_until([&] { return p.r.done; }));
    CHECK(p.r.ec == asio::error::connection_reset);
  }

  TEST_CASE("a read that fills the buffer leaves the next one speculative") {
    pair p;
    p.read_hello();
    p.answer();
    p.send("0123456789");
    REQUIRE(p.wait_available(10));
    std::string got;
    for (int i = 0; i < 3; ++i) {
      // The rest is already there: each read completes from its first recv().
      const int calls = recv_calls;
      p.start_read(4);
      REQUIRE(p.run_until([&] { return p.r.done; }));
      REQUIRE(!p.r.ec);
      CHECK(recv_calls == calls + 1);
      got.append(p.got());
    }
    CHECK(got == "0123456789");
  }

  TEST_CASE("the end of the stream after a read that took everything is seen") {
    pair p;
    p.read_hello();
    p.answer();
    p.start_read();
    p.peer.shutdown(tcp::socket::shutdown_send);
    REQUIRE(p.run_until([&] { return p.r.done; }));
    CHECK(p.r.ec == asio::error::eof);
  }

  // What the upstream pool asks of an idle connection instead of a peek.
  TEST_CASE("a socket a read drained stays quiet until the reactor sees something arrive") {
    pair p;
    p.read_hello();
    CHECK(p.quiet() == short_read_drains);
    p.let_reactor_poll();  // nothing came
    CHECK(p.quiet() == short_read_drains);
    p.send("late");
    REQUIRE(p.wait_available(4));
    p.let_reactor_poll();
    CHECK(!p.quiet());
    p.answer();  // as a proxy reads a response: after its request
    p.start_read();
    REQUIRE(p.run_until([&] { return p.r.done; }));
    CHECK(p.got() == "late");
    CHECK(p.quiet() == short_read_drains);  // drained again
  }

  TEST_CASE("a FIN or a reset that came to a drained socket ends its quiet") {
    for (const bool reset : {false, true}) {
      CAPTURE(reset);
      pair p;
      p.read_hello();
      REQUIRE(p.quiet() == short_read_drains);
      if (reset) {
        p.peer.set_option(asio::socket_base::linger(true, 0));
        p.peer.close();
        REQUIRE(p.wait_state(TCP_CLOSE));
      } else {
        p.peer.shutdown(tcp::socket::shutdown_send);
        REQUIRE(p.wait_state(TCP_CLOSE_WAIT));
      }
      p.let_reactor_poll();
      CHECK(!p.quiet());
    }
  }

  TEST_CASE("a socket is not quiet after a read that left bytes, nor after a write") {
    pair p;
    p.send("0123456789");
    REQUIRE(p.wait_available(10));
    p.start_read(4);
    REQUIRE(p.run_until([&] { return p.r.done; }));
    CHECK(!p.quiet());  // six bytes wait
    pair q;
    q.read_hello();
    q.answer();
    CHECK(!q.quiet());  // what the write asked for may come at any time
  }
}
