#pragma once
// One side of a tunnel: once an Upgrade answer turned an exchange into a
// byte stream (WebSocket), or for a whole connection (TCPRoute, TLSRoute),
// the pipeline moves bytes between two of these without looking at them.
#include <span>
#include <string_view>
#include <tuple>
#include <vector>

#include "asio/asio.hpp"

namespace gateway {

class byte_pipe {
 public:
  // Bytes that came after the head, before the tunnel began (owned by the
  // pipe, valid until drop_leftover or the next read).
  virtual std::string_view leftover() noexcept = 0;
  virtual void drop_leftover() noexcept = 0;
  // One read of whatever arrives next.
  virtual asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> read_some(
      asio::mutable_buffer into) = 0;
  // Writes all of `gather` (and clears it); false when the peer is gone.
  virtual asio::awaitable<bool> write(std::vector<asio::const_buffer>& gather) = 0;
  // Ends the pipe: a read or write under way fails at once.
  virtual void shut() noexcept = 0;
  // Says "no more from me" (a FIN) while still reading what the peer sends:
  // a TCP half-close passed on. False when the pipe cannot (TLS), and then
  // the tunnel ends whole.
  virtual bool shut_write() noexcept = 0;
  // Whether the pipe counts what it reads in the stream's record itself
  // (an HTTP/2 stream counts DATA as it arrives).
  virtual bool counts_reads() const noexcept { return false; }

 protected:
  ~byte_pipe() = default;
};

}  // namespace gateway
