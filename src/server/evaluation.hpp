#pragma once
// server::evaluate's engine: a request run through a snapshot by the steps a
// connection takes (request_steps.hpp) and a real filter chain, on the
// calling thread, without sockets.
#include <gateway/evaluate.hpp>

#include <memory>
#include <mutex>

#include "core/logger.hpp"
#include "server/snapshot.hpp"
#include "upstream/connection_pool.hpp"

namespace gateway {

class evaluator {
 public:
  explicit evaluator(const logger& log);
  ~evaluator();
  // What `snap` would do with `request`; thread-safe (evaluations take turns
  // only for the endpoint pick).
  evaluation_result run(const std::shared_ptr<const snapshot>& snap,
                        const evaluation_request& request);

 private:
  const logger& log_;
  std::mutex pick_mutex_;
  asio::io_context context_;  // never run: the pool only needs an executor
  connection_pool pool_;
  std::shared_ptr<const snapshot> adopted_;  // what pool_ has adopted
};

}  // namespace gateway
