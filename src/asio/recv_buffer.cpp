#include "asio/recv_buffer.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "asio/socket_calls.hpp"

namespace gateway {

recv_outcome recv_into(int fd, const recv_buffer& b, int flags, boost::system::error_code& ec,
                       std::size_t& n) noexcept {
  n = 0;
  if (b.size() == 0) {  // nothing asked, nothing learned
    ec = {};
    return recv_outcome::data;
  }
  iovec iov{b.data(), b.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  ssize_t got;
  do {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    got = socket_calls::recvmsg(fd, &msg, flags);
  } while (got < 0 && errno == EINTR);

  recv_state& state = *b.state;
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return recv_outcome::again;
  state.drained = false;
  state.wrote = false;  // a write from now on is one after this read
  if (got < 0) {
    ec.assign(errno, boost::asio::error::get_system_category());
    return recv_outcome::end;
  }
  if (got == 0) {
    ec = boost::asio::error::eof;
    return recv_outcome::end;
  }
  ec = {};
  n = static_cast<std::size_t>(got);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != IPPROTO_TCP || c->cmsg_type != TCP_CM_INQ) continue;
    int left;
    std::memcpy(&left, CMSG_DATA(c), sizeof left);
    state.drained = left == 0;
  }
  return state.drained ? recv_outcome::drained : recv_outcome::data;
}

void count_unread(int fd) noexcept {
  const int on = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_INQ, &on, sizeof on);  // a kernel without it: Asio's way
}

#if GATEWAY_SHORT_READ_DRAINS
namespace {
using boost::asio::detail::epoll_reactor;
using reactor_flags = bool[epoll_reactor::max_ops];

// The reactor keeps, for each socket, whether its next read should try recv()
// first: set by each readiness event it handles, cleared by a read that ends
// "exhausted" (recv_buffer's specialization, above in the header). The flag is
// private to Asio; an explicit instantiation may name it (C++20
// [temp.spec.general]/6), and hands it out through the friend below. Compiled
// for the Boost this file's reads are specialized for, and no other.
struct speculative_flag {
  friend reactor_flags epoll_reactor::descriptor_state::*member(speculative_flag);
};
template <reactor_flags epoll_reactor::descriptor_state::*M>
struct grant_speculative_flag {
  friend reactor_flags epoll_reactor::descriptor_state::*member(speculative_flag) { return M; }
};
template struct grant_speculative_flag<&epoll_reactor::descriptor_state::try_speculative_>;

// A socket's Asio implementation is a protected member; a derived class may
// form a pointer to it.
struct socket_access : tcp::socket {
  static epoll_reactor::per_descriptor_data reactor_data(tcp::socket& s) noexcept {
    return (s.*&socket_access::impl_).get_implementation().reactor_data_;
  }
};
}  // namespace

bool quiet_since_drained(tcp::socket& s, const recv_state& state) noexcept {
  if (!state.drained || state.wrote) return false;
  epoll_reactor::per_descriptor_data d = socket_access::reactor_data(s);
  return d && !(d->*member(speculative_flag{}))[epoll_reactor::read_op];
}
#else
bool quiet_since_drained(tcp::socket&, const recv_state&) noexcept {
  return false;
}
#endif

namespace {
// After a read that drained the socket and no write since: the reactor will
// not try, so this read does, once, before it waits (a reset may be there).
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> try_then_wait(
    tcp::socket& s, asio::mutable_buffer into, recv_state& state) {
  boost::system::error_code ec;
  std::size_t n = 0;
  if (recv_into(s.native_handle(), recv_buffer(into, state), MSG_DONTWAIT, ec, n) !=
      recv_outcome::again)
    co_return std::tuple(ec, n);
  co_return co_await s.async_read_some(recv_buffer(into, state), use_tuple);
}
}  // namespace

asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> recv_some(
    tcp::socket& s, asio::mutable_buffer into, recv_state& state) {
  if (short_read_drains && state.drained && !state.wrote) return try_then_wait(s, into, state);
  return s.async_read_some(recv_buffer(into, state), use_tuple);
}

}  // namespace gateway
