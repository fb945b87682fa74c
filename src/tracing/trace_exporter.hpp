#pragma once
// Sends the workers' spans to an OTLP/HTTP collector in batches, from a
// thread of its own: every flush interval it takes each worker's buffer
// (through `collect`, which runs there) and POSTs each as a JSON
// ExportTraceServiceRequest. A collector that is slow or gone costs the
// workers nothing: their buffers stay bounded and what does not fit is
// dropped and counted; a batch that fails is dropped and counted.
#include <gateway/config.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/logger.hpp"

namespace gateway::tracing {

class trace_exporter {
 public:
  // One worker's spans: comma-separated span objects, as span_buffer holds them.
  struct span_batch {
    std::string json;
    std::size_t count = 0;
  };
  // Appends a batch per worker that holds spans; called on the exporter's thread.
  using collector = std::function<void(std::vector<span_batch>&)>;
  // Throws gateway::error (invalid_config) for a collector URL it cannot use.
  trace_exporter(const tracing_config& config, collector collect, const logger& log);
  // Sends what the workers still hold (within the flush interval and at most
  // 2 s), then stops the thread.
  ~trace_exporter();
  trace_exporter(const trace_exporter&) = delete;
  trace_exporter& operator=(const trace_exporter&) = delete;

  // For an owner that stops on a worker's own thread (where `collect` would
  // wait for itself): the workers' last spans, taken by the owner; the
  // exporter sends them and calls `collect` no more.
  void hand_over(std::vector<span_batch> batches);

  const tracing_config& config() const noexcept;
  std::uint64_t exported() const noexcept;  // spans the collector took (a 2xx answer)
  std::uint64_t failed() const noexcept;    // spans in batches it did not take

 private:
  struct state;
  std::shared_ptr<state> state_;
  std::thread thread_;
};

}  // namespace gateway::tracing
