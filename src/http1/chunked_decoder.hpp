#pragma once
// Streaming decoder for the chunked transfer coding (RFC 9112 §7.1): strict
// CRLFs, bounded size lines and extensions, overflow-checked sizes. It hands
// out views of the data in the caller's buffer, so nothing is copied.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <gateway/http.hpp>

namespace gateway::http1 {

class chunked_decoder {
 public:
  // Result of one decode step.
  struct step {
    std::size_t consumed = 0;  // bytes of input used, data included
    std::string_view data;     // chunk data found (view into the input), may be empty
    bool error = false;        // malformed framing: the message is unusable
    bool done = false;         // the last chunk and trailers were read
  };

  explicit chunked_decoder(std::size_t max_trailer_bytes = 64 * 1024) noexcept
      : max_trailer_(max_trailer_bytes) {}

  // Decodes from `input` until one piece of data is found, more input is
  // needed, the body ends or an error is found.
  step decode(std::string_view input) noexcept;
  // Trailer fields received, as raw "name: value\r\n" lines (may be empty),
  // less those RFC 9110 §6.5.1 does not allow as trailers (Content-Length, Host, ...).
  const std::string& trailers() const noexcept { return trailers_; }
  // The same fields as views into this decoder (valid until its next change).
  void trailer_fields(std::vector<http::header>& out) const;
  void reset() noexcept;

 private:
  enum class state : std::uint8_t {
    size,
    extension,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer_start,
    trailer_line,
    trailer_lf,
    final_lf,
    done
  };
  state state_ = state::size;
  std::uint64_t remaining_ = 0;
  unsigned size_digits_ = 0;
  std::size_t ext_bytes_ = 0;
  std::size_t max_trailer_;
  std::string trailers_;           // the fields kept (prohibited ones are dropped)
  std::size_t trailer_bytes_ = 0;  // all trailer bytes seen, kept or not
};

}  // namespace gateway::http1
