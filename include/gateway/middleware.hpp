#pragma once
// The gateway's pipeline in front of a host's own handlers: routing by the
// HTTPRoutes' matches, then the request side of the filter chain and the
// policies (JWT, API keys, basic auth, IP rules, rate limits, CORS, the CRS
// WAF, header and path rewrites, host filters), which either let the request
// through (possibly modified) to the host's handler or answer it themselves;
// then the response side (response filters, header modifiers, CORS fields)
// on the handler's response. The host's handler is every route's backend:
// a middleware's routes need no backendRefs.
#include <gateway/client.hpp>
#include <gateway/config.hpp>
#include <gateway/evaluate.hpp>
#include <gateway/export.hpp>
#include <gateway/log.hpp>
#include <gateway/server.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace gateway {

// A request as the host's server received it: method, url ("/path?query"
// with the Host among the headers, or "http(s)://host[:port]/path"), headers,
// body, the client's address (IP rules, rate limits, the access log) and,
// optionally, a listener by name (else the URL's port, or the first one).
using middleware_request = evaluation_request;
// A response: the handler's, or the one the middleware gives.
using middleware_response = client_response;

// The request as the middleware lets it through to the handler, with the
// filters' and the route's edits (headers added, set or removed, the path
// rewritten, X-Forwarded-For and X-Request-Id as the gateway adds them).
struct forwarded_request {
  std::string method;
  std::string target;  // path and query
  std::vector<client_header> headers;
  std::string body;
  // The first field named `name` (any case); "" when there is none.
  GATEWAY_API std::string_view header(std::string_view name) const noexcept;
};

// One request through a middleware: either the middleware answered it
// (replied(): send response(), the handler does not run) or it goes on to
// the handler as request(), whose response goes back through respond().
// Movable; an exchange dropped without respond() ends its request unanswered.
class GATEWAY_API middleware_exchange {
 public:
  middleware_exchange() = default;
  middleware_exchange(middleware_exchange&&) noexcept = default;
  middleware_exchange& operator=(middleware_exchange&&) noexcept;
  ~middleware_exchange();

  // Whether the middleware answered (a 401, a WAF's 403, a CORS preflight, a 429...).
  bool replied() const noexcept;
  // Its answer, once replied(); after respond(), the final response.
  const middleware_response& response() const;
  // The request for the handler, unless replied().
  const forwarded_request& request() const;

  // The handler's response to request(): the response side runs on it and
  // this returns what to send the client. Once per exchange. Throws
  // gateway::error: invalid_state (replied, answered already, or the
  // middleware closed), unavailable (the request ended meanwhile).
  middleware_response respond(middleware_response handler_response);
  // Same, asynchronously: `done` runs once, on a middleware thread.
  void async_respond(middleware_response handler_response, std::function<void(client_result)> done);

  struct state;

 private:
  friend class middleware;
  explicit middleware_exchange(std::shared_ptr<state> s) : state_(std::move(s)) {}
  std::shared_ptr<state> state_;
};

// How a middleware runs.
struct middleware_options {
  // Threads the pipeline runs on (each its own event loop); 0: one per CPU.
  unsigned threads = 1;
  // Instead of threads: the host's io_context, run by one thread at a time.
  // Completions run there; the blocking calls from that thread would wait for
  // themselves and throw.
  // Mounting needs the static library (see <gateway/asio.hpp>); with
  // libgateway.so the constructor throws gateway::error (invalid_state).
  boost::asio::io_context* context = nullptr;
  log_level level = log_level::warn;
  log_sink sink;                  // empty: lines go to stderr
  access_log_options access_log;  // a line per request, as the gateway writes them
};

// The pipeline without its upstream leg, for a host's requests. Thread-safe.
class GATEWAY_API middleware {
 public:
  // Validates `config` (from load_yaml, with the host's filter registry when
  // it has filters of its own) and starts. Throws gateway::error.
  explicit middleware(gateway_config config, middleware_options options = {});
  // close()
  ~middleware();
  middleware(const middleware&) = delete;
  middleware& operator=(const middleware&) = delete;

  // Runs the request side and waits for its outcome. Throws gateway::error:
  // invalid_argument (a malformed URL), not_found (no listener by that name
  // or port), invalid_state (closed).
  middleware_exchange handle(middleware_request request);
  // Same, asynchronously: `done` runs once, on a middleware thread, with the
  // exchange, or with the error handle() would throw (`error` set).
  void async_handle(
      middleware_request request,
      std::function<void(middleware_exchange exchange, std::error_code error, std::string message)>
          done);

  // Replaces the config while requests flow (as server::reload). Throws
  // gateway::error and keeps the old config.
  void reload(gateway_config config);
  // The stats in Prometheus text (requests per route, filters, WAF).
  std::string stats_text() const;
  // Stops: requests in flight end (their exchanges answer unavailable), new
  // ones are refused with invalid_state. Not from a completion.
  void close();

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace gateway
