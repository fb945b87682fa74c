#pragma once
// Reads of a TCP socket that spare the recv() which could only find nothing.
//
// Asio's reactor reads speculatively: a read first tries recv(), and waits
// for the socket's readiness event only when that fails with EAGAIN; only EOF
// stops the next read from trying first. For a proxy that is one wasted
// recv() per message and socket: the read of the next request comes right
// after the response went out, before the client can have sent one; the read
// of the response comes right after the request went to the upstream. Two of
// the five recv() calls of a small proxied request went that way.
//
// With recv_some, a read that took everything the kernel had stops the next
// read's try, as a write the kernel took only part of already stops the next
// write's. "Everything" is the kernel's own count (TCP_INQ, returned with each
// read): no byte left and no FIN. A short read alone would not do: a FIN that
// came with the last bytes is consumed by the read that returns them, and its
// readiness event was already spent, so the next read would wait for good.
// The reactor's registration is edge-triggered, so whatever arrives after the
// read raises a new event and is read then.
//
// One arrival the count does not show: a reset (RST) right behind the last
// bytes. The next read after a write is safe anyway, since a write fails once
// a reset came. A read that follows a read (a body, a head in pieces) tries
// recv() itself first, as Asio would have.
//
// Stopping the try needs one of Asio's internal types, specialized for
// recv_buffer only (every other read is Asio's own). It is compiled for the
// Boost that Debian 12 ships, with the epoll reactor; anywhere else recv_some
// reads as Asio does (see short_read_drains).
#include <boost/asio/detail/config.hpp>
#include <boost/version.hpp>
#include <tuple>

#include "asio/asio.hpp"

namespace gateway {

// What the reads of one TCP socket learned, kept beside the socket by its
// owner for the socket's next read.
struct recv_state {
  // The last read left nothing behind (TCP_INQ counted no byte and no FIN),
  // and the reactor will not try the next read before a readiness event.
  bool drained = false;
  // The socket was written to since that read: set by the writer when it
  // starts a write, cleared by each read's recv().
  bool wrote = false;
};

// The buffer of one read through recv_some: the caller's memory and the
// socket's recv_state, both of which must outlive the read.
struct recv_buffer : asio::mutable_buffer {
  recv_buffer(asio::mutable_buffer b, recv_state& s) noexcept
      : asio::mutable_buffer(b), state(&s) {}
  recv_state* state;
};

// How one recv() into a recv_buffer went.
enum class recv_outcome {
  again,    // nothing there yet (EAGAIN)
  data,     // bytes, and maybe more behind them
  drained,  // bytes, and nothing behind them (state->drained is set)
  end,      // EOF, or an error (in `ec`)
};

// One recv() of `fd` into `b` with `flags`, retried on EINTR; sets `ec` and
// `n` as Asio's reads do (EOF is asio::error::eof) and b.state->drained.
recv_outcome recv_into(int fd, const recv_buffer& b, int flags, boost::system::error_code& ec,
                       std::size_t& n) noexcept;

// Asks the kernel to count what each read leaves (TCP_INQ). On a listening
// socket, the sockets it accepts inherit it. Without it reads work, and try
// recv() first as Asio's do.
void count_unread(int fd) noexcept;

// Whether nothing can have come to `s` since a read of it drained it: that
// read left no byte and no FIN (state.drained), and the reactor has handled
// no readiness event of the socket since (its registration is edge-triggered,
// so bytes, a FIN or a reset arriving later raise one, handled in the order
// the kernel raised them). That is what the loop has learned of the socket,
// as much as nginx's close handler on its idle upstream connections knows,
// without a system call. False where reads are Asio's own (short_read_drains).
// Call it on the thread that runs the socket's io_context.
bool quiet_since_drained(tcp::socket& s, const recv_state& state) noexcept;

// Reads some bytes of `s` into `into` (see above); `state` is the socket's.
// Not a coroutine on the usual paths: a read costs no extra frame.
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> recv_some(
    tcp::socket& s, asio::mutable_buffer into, recv_state& state);

}  // namespace gateway

#if BOOST_VERSION == 108100 && defined(BOOST_ASIO_HAS_EPOLL) && \
    !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && !defined(BOOST_ASIO_DISABLE_EPOLL)
#include <boost/asio/detail/reactive_socket_recv_op.hpp>
#define GATEWAY_SHORT_READ_DRAINS 1

namespace gateway {
// Whether a read that drained the socket stops the reactor's next try here.
inline constexpr bool short_read_drains = true;
}  // namespace gateway

namespace boost::asio::detail {

// The reactor's receive operation for a recv_buffer: recv_into, "exhausted"
// when it drained the socket (or at EOF, as Asio's own). The interface is the
// primary template's, which reactive_socket_recv_op derives from and
// reactive_socket_service_base::async_receive constructs.
template <>
class reactive_socket_recv_op_base<gateway::recv_buffer> : public reactor_op {
 public:
  reactive_socket_recv_op_base(const boost::system::error_code& success_ec, socket_type socket,
                               socket_ops::state_type, const gateway::recv_buffer& buffer,
                               socket_base::message_flags flags, func_type complete_func)
      : reactor_op(success_ec, &reactive_socket_recv_op_base::do_perform, complete_func),
        socket_(socket),
        buffer_(buffer),
        flags_(flags) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<reactive_socket_recv_op_base*>(base);
    switch (gateway::recv_into(o->socket_, o->buffer_, o->flags_, o->ec_, o->bytes_transferred_)) {
      case gateway::recv_outcome::again:
        return not_done;
      case gateway::recv_outcome::data:
        return done;
      case gateway::recv_outcome::drained:
        return done_and_exhausted;
      case gateway::recv_outcome::end:
        break;
    }
    return o->ec_ == boost::asio::error::eof ? done_and_exhausted : done;
  }

 private:
  socket_type socket_;
  gateway::recv_buffer buffer_;
  socket_base::message_flags flags_;
};

}  // namespace boost::asio::detail
#else
namespace gateway {
inline constexpr bool short_read_drains = false;
}  // namespace gateway
#endif
