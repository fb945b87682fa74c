#pragma once
// The upstream pool used outward: a host's own calls to other services with
// the gateway's load balancing, health checks, outlier ejection, circuit
// breakers, retries, timeouts, DNS endpoints, TLS/mTLS and HTTP/2 upstreams,
// without a sidecar. A call runs through the same pipeline a proxied request
// does (routing, header policy, the upstream leg), so it behaves exactly as
// the gateway would with that request.
#include <gateway/config.hpp>
#include <gateway/export.hpp>
#include <gateway/log.hpp>
#include <gateway/router.hpp>
#include <gateway/upstream.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace gateway {

// A header field owned by a client request or response.
using client_header = std::pair<std::string, std::string>;

// One call a host makes.
struct client_request {
  std::string method = "GET";
  // Where it goes: "http://SERVICE.NAMESPACE[:PORT]/path?query" for a
  // Service of the config (also SERVICE.NAMESPACE.svc and
  // SERVICE.NAMESPACE.svc.cluster.local, as cluster DNS has them),
  // "http://BACKEND.NAMESPACE/path" for a Backend, or
  // "http://TARGET[:PORT]/path" for a client_target. The port picks the
  // Service port (the scheme's default when none is written: 80, or 443 for
  // https). TLS to the endpoints is the cluster's (BackendTLSPolicy), not the
  // scheme's.
  std::string url;
  std::vector<client_header> headers;  // Host comes from the URL unless given
  std::string body;                    // Content-Length is added unless given
  // The whole call, all tries included; 0: the route's (its timeouts, or the
  // 15 s default). A call past it gets the gateway's 504.
  std::chrono::milliseconds timeout{0};
  // When set, each piece of the response body is handed to it as it arrives
  // (on a client thread, in order), instead of being collected into
  // client_response::body: for bodies too large to hold.
  std::function<void(std::string_view piece)> on_body;
};

// The response to a call: the upstream's, or the gateway's own answer when
// the upstream could not give one (503 no healthy endpoint or overflow, 504
// timeout, 502), as a proxied client would get it.
struct client_response {
  int status = 0;
  std::vector<client_header> headers;
  std::string body;                     // empty when client_request::on_body took it
  std::vector<client_header> trailers;  // an HTTP/2 or chunked response's trailer fields
  // The first field named `name` (any case); "" when there is none.
  GATEWAY_API std::string_view header(std::string_view name) const noexcept;
};

// How an asynchronous call ended: a whole response, or why there is none
// (errc::unavailable: cut after the response began, or the client closed).
struct client_result {
  std::error_code error;
  std::string message;  // says why, when `error` is set
  client_response response;
};

// A target defined in code: the host name a URL uses for it, the cluster
// its calls go to, and what a route would say about them.
struct client_target {
  std::string name;         // host name of the URLs ("payments" or "payments.prod")
  std::uint16_t port = 80;  // the URL's port
  cluster_config cluster;   // its name must be unique among the targets
  std::optional<retry_policy> retry;
  std::chrono::milliseconds request_timeout{0};  // all tries; 0: 15 s
  std::chrono::milliseconds try_timeout{0};      // each try; 0: the request timeout
};

// A client's config from targets made in code (each becomes a route on its
// port, hostname `name`, to its cluster). Throws gateway::error
// (invalid_config) for a missing or repeated name.
GATEWAY_API gateway_config client_config(std::vector<client_target> targets);

// A client's config from Kubernetes YAML: Services with their
// EndpointSlices, Envoy Gateway Backends, BackendTrafficPolicies (targetRefs
// naming Services or Backends: their load balancer, health checks, outlier
// detection, circuit breakers, retries and timeouts apply to calls to them),
// BackendTLSPolicies, and the Secrets and ConfigMaps those refer to. Every
// port of every Service can be called; a Backend is called as
// http://NAME.NAMESPACE/ (or https://, port 443), its endpoints carrying their
// own ports. Throws gateway::error (invalid_config) listing every issue.
GATEWAY_API gateway_config load_client_yaml(std::string_view yaml_text,
                                            std::string_view source_name = "<client config>");
// Same, reading the file at `path`.
GATEWAY_API gateway_config load_client_yaml_file(const std::string& path);

// How a client runs.
struct client_options {
  // Threads the calls run on, each with its own event loop and connection
  // pools; 0: one per CPU the process may use.
  unsigned threads = 1;
  // Instead of threads: the host's io_context (the client then has one loop,
  // the host's, which must be run by one thread at a time). Completions run
  // there; send() from that thread would wait for itself and throws.
  // Mounting needs the static library (see <gateway/asio.hpp>); with
  // libgateway.so the constructor throws gateway::error (invalid_state).
  boost::asio::io_context* context = nullptr;
  log_level level = log_level::warn;
  log_sink sink;  // empty: lines go to stderr
};

// Calls to other services through the gateway's upstream pool. Thread-safe:
// any host thread may send, and send concurrently. Health, ejections and
// circuit-breaker counts are per client; connection pools per thread.
class GATEWAY_API client {
 public:
  // Validates `config` and starts (threads, health checks, DNS). Throws
  // gateway::error (invalid_config).
  explicit client(gateway_config config, client_options options = {});
  // close(): calls in flight end with errc::unavailable.
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Sends a call and waits for its whole response. Throws gateway::error:
  // invalid_argument for a URL it cannot use, not_found for a host or port
  // the config has no target for, unavailable when no whole response came
  // (see client_result), invalid_state once closed.
  client_response send(client_request request);
  // Sends a call; `done` runs once, on a client thread (the host's loop
  // when mounted), with the response or the error send() would throw.
  void async_send(client_request request, std::function<void(client_result)> done);

  // Replaces the config while calls flow (as server::reload does): clusters
  // whose definition stays keep their connections and health state. Throws
  // gateway::error, and the old config keeps serving.
  void reload(gateway_config config);
  // The stats in Prometheus text (the gateway's series: the calls as
  // requests of the config's routes, the clusters' upstream series).
  std::string stats_text() const;
  // Stops: new calls are refused (invalid_state), calls in flight end with
  // errc::unavailable. Waits for them, so not from a completion handler.
  void close();

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

}  // namespace gateway
