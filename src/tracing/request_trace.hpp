#pragma once
// One traced request's spans while it runs, kept on its stream: the trace it
// belongs to, its server span, the try under way (a client span) and the
// traceparent that try is sent. `on` is false for a request that is not
// sampled or whose listener does not trace; nothing else is then touched.
#include <cstdint>

#include "tracing/trace_context.hpp"

namespace gateway::tracing {

struct request_trace {
  bool on = false;
  trace_id trace{};
  std::uint64_t parent = 0;  // the client's span (0: the trace starts here)
  std::uint64_t span = 0;    // the server span
  std::int64_t start_ns = 0;
  char traceparent[traceparent_size];  // what the upstream gets; its span is the try's
  bool try_open = false;
  std::uint64_t try_span = 0;
  std::int64_t try_start_ns = 0;
  int tries = 0;       // tries ended so far
  int try_status = 0;  // the status the try under way got (0: none yet)
};

}  // namespace gateway::tracing
