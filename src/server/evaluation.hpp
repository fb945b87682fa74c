#pragma once
// server::evaluate's engine: a request served through a snapshot by the
// pipeline a connection's stream runs, on the calling thread, without sockets.
#include <gateway/evaluate.hpp>
#include <gateway/waf.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core/logger.hpp"
#include "server/snapshot.hpp"
#include "server/worker.hpp"
#include "stream/downstream.hpp"
#include "upstream/connection_pool.hpp"

namespace gateway {

// What explain_waf reads of an evaluation beyond its result; the pointers
// are into the snapshot evaluated.
struct evaluation_detail {
  std::string target;  // the target routed on (normalised), or where a 307 sends it
  const listener_runtime* listener = nullptr;  // the request's (null when refused unparsed)
  const route_rule* rule = nullptr;            // null when none matched
  std::optional<waf_verdict> waf;              // what a WAF filter decided, when one ran
};

// One request through `snap` as if it arrived on `group` (the URL in
// `request` may be origin-form), served by the pipeline with no upstream
// I/O; `detail` (may be null) gets the rest. No endpoint is picked.
evaluation_result evaluate_on(const snapshot& snap, const socket_group& group,
                              const evaluation_request& request, server_shared& shared,
                              evaluation_detail* detail, std::size_t* cluster = nullptr,
                              pick_context* pick = nullptr);

// Copies `fields` out of their buffer.
std::vector<evaluation_header> copy_fields(std::span<const http::header> fields);

// A whole answer of the gateway's as a client receives it: written as a
// connection would write it (into `scratch`) and parsed back.
local_response wire_answer(const local_answer& a, std::string& scratch);

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
