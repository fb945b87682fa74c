#pragma once
// server::evaluate's engine: a request served through a snapshot by the
// pipeline a connection's stream runs, on the calling thread, without sockets.
#include <gateway/evaluate.hpp>

#include <memory>
#include <mutex>

#include "core/logger.hpp"
#include "server/snapshot.hpp"
#include "server/worker.hpp"
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
  server_shared shared_;  // the log, for the workers evaluations run on
  std::mutex pick_mutex_;
  asio::io_context context_;  // never run: the pool only needs an executor
  connection_pool pool_;
  std::shared_ptr<const snapshot> adopted_;  // what pool_ has adopted
};

}  // namespace gateway
