#pragma once
// A chunked body decoded as a connection decodes it, and the same bytes fed
// in two pieces split at `cut`: both must agree on the data, the end and the
// error, whatever the bytes (the decoder keeps its state across reads).
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "http1/chunked_decoder.hpp"

struct chunked_outcome {
  std::string data;
  std::size_t consumed = 0;  // bytes of the input the body took
  bool done = false, error = false;
};

inline chunked_outcome decode_pieces(std::string_view first, std::string_view second) {
  gateway::http1::chunked_decoder d;
  chunked_outcome out;
  for (std::string_view piece : {first, second}) {
    while (!piece.empty() && !out.done && !out.error) {
      const auto step = d.decode(piece);
      FUZZ_CHECK(step.consumed <= piece.size());
      FUZZ_CHECK(within(step.data, piece.substr(0, step.consumed)));
      out.data.append(step.data);
      out.consumed += step.consumed;
      out.done = step.done;
      out.error = step.error;
      if (step.consumed == 0 && step.data.empty()) break;  // needs more
      piece.remove_prefix(step.consumed);
    }
    if (out.done || out.error) break;
  }
  return out;
}

// Decodes `body` whole and split at `cut`; checks they agree; returns the whole one.
inline chunked_outcome decode_chunked(std::string_view body, std::size_t cut) {
  const chunked_outcome whole = decode_pieces(body, {});
  cut = body.empty() ? 0 : cut % (body.size() + 1);
  const chunked_outcome split = decode_pieces(body.substr(0, cut), body.substr(cut));
  FUZZ_CHECK(whole.done == split.done);
  FUZZ_CHECK(whole.error == split.error);
  if (!whole.error) FUZZ_CHECK(whole.data == split.data);
  if (whole.done) FUZZ_CHECK(whole.consumed == split.consumed);
  return whole;
}
