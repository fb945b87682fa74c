#include "transport/client_stream.hpp"

#include <sys/uio.h>

#include <array>
#include <cerrno>

#include "asio/socket_calls.hpp"

namespace gateway::transport {

namespace {
// A write sends at most this many buffers at once, without waiting.
constexpr std::size_t max_gather_now = 64;

// Sends what the kernel takes now of `gather` (at most max_gather_now pieces)
// on the non-blocking socket `fd`: one piece with send(), which costs the
// kernel less than sendmsg()'s message header and vector. Returns the bytes
// sent; `ec` is would_block when the kernel took none.
std::size_t send_now(int fd, std::span<const asio::const_buffer> gather,
                     boost::system::error_code& ec) noexcept {
  ssize_t n;
  if (gather.size() == 1) {
    do {
      n = socket_calls::send(fd, gather.front().data(), gather.front().size(), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
  } else {
    std::array<iovec, max_gather_now> pieces;
    for (std::size_t i = 0; i < gather.size(); ++i)
      pieces[i] = {const_cast<void*>(gather[i].data()), gather[i].size()};
    msghdr msg{};
    msg.msg_iov = pieces.data();
    msg.msg_iovlen = gather.size();
    do {
      n = socket_calls::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
  }
  if (n >= 0) {
    ec = {};
    return static_cast<std::size_t>(n);
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK)
    ec = asio::error::would_block;
  else
    ec.assign(errno, asio::error::get_system_category());
  return 0;
}

// Drops the first `n` written bytes from `buffers`.
void drop_written(std::vector<asio::const_buffer>& buffers, std::size_t n) {
  std::size_t whole = 0;
  while (whole < buffers.size() && n >= buffers[whole].size())
    n -= buffers[whole++].size();
  buffers.erase(buffers.begin(), buffers.begin() + static_cast<std::ptrdiff_t>(whole));
  if (n && !buffers.empty()) buffers.front() += n;
}
}  // namespace

asio::awaitable<bool> write_gather(tcp::socket& socket, recv_state& reads,
                                   std::vector<asio::const_buffer>& gather, watchdog& watch,
                                   std::chrono::milliseconds idle, std::uint64_t* written,
                                   deadline_phase phase) {
  boost::system::error_code ec;
  const std::size_t total = asio::buffer_size(gather);
  // The write starts now; were a reset behind the last read's bytes, it
  // would fail, so the next read need not try recv() first (recv_buffer.hpp).
  if (total) reads.wrote = true;
  const std::size_t n =
      total && gather.size() <= max_gather_now ? send_now(socket.native_handle(), gather, ec) : 0;
  if (written) *written += n;
  if (!ec && n == total) {
    gather.clear();
    co_return true;
  }
  if (ec && ec != asio::error::would_block) {
    gather.clear();
    co_return false;
  }
  drop_written(gather, n);
  watch.arm(phase, idle);
  auto [error, rest] = co_await asio::async_write(socket, gather, use_tuple);
  gather.clear();
  if (written) *written += rest;
  co_return !error;
}

client_stream::client_stream(tcp::socket socket) : socket_(std::move(socket)) {
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);  // for write_gather's immediate writes
}

client_stream::~client_stream() = default;

std::size_t client_stream::read_now(asio::mutable_buffer into) noexcept {
  if (tls_) return tls_->read_now(into);
  boost::system::error_code ec;
  const std::size_t n = socket_.read_some(into, ec);  // non-blocking: would_block when empty
  return ec ? 0 : n;
}

asio::awaitable<boost::system::error_code> client_stream::handshake(
    std::shared_ptr<const tls::server_context> context, block_pool& blocks) {
  tls_ = std::make_unique<tls::server_stream>(std::move(context), socket_, blocks);
  co_return co_await tls_->handshake();
}

asio::awaitable<bool> client_stream::write_tls(std::vector<asio::const_buffer>& gather,
                                               watchdog& watch, std::chrono::milliseconds idle,
                                               std::uint64_t& written) {
  const std::size_t total = asio::buffer_size(gather);
  watch.arm(deadline_phase::send, idle);
  const bool ok = co_await tls_->write(gather);
  gather.clear();
  if (ok) written += total;
  co_return ok;
}

void client_stream::cancel() noexcept {
  boost::system::error_code ignored;
  socket_.cancel(ignored);
}

bool client_stream::shut_write() noexcept {
  if (tls_) return false;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  return !ec;
}

void client_stream::close(bool abrupt) noexcept {
  if (!socket_.is_open()) return;
  boost::system::error_code ignored;
  if (tls_ && !abrupt) tls_->close_notify();
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
  socket_.close(ignored);
}

void client_stream::reset() noexcept {
  boost::system::error_code ignored;
  socket_.set_option(asio::socket_base::linger(true, 0), ignored);  // a reset, not a FIN
  socket_.close(ignored);
}

asio::awaitable<void> client_stream::linger(watchdog& watch, asio::mutable_buffer scratch) {
  constexpr std::size_t max_discard = 1 << 20;
  boost::system::error_code ec;
  if (tls_) tls_->close_notify();
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  watch.arm(deadline_phase::stream, std::chrono::seconds(2));
  std::size_t discarded = 0;
  while (discarded < max_discard && !watch.expired()) {
    auto [e, n] = co_await socket_.async_read_some(scratch, use_tuple);
    if (e) break;
    discarded += n;
  }
}

}  // namespace gateway::transport
