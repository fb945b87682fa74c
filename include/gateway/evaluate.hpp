#pragma once
// In-process evaluation: what the gateway would do with a request, found by
// the code that serves real requests, without a socket and without
// contacting an upstream. For tests of routing and auth rules, and for
// "why did this request go there" questions.
#include <gateway/export.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace gateway {

// A header field owned by an evaluation request or result.
using evaluation_header = std::pair<std::string, std::string>;

// The request to evaluate.
struct evaluation_request {
  std::string method = "GET";
  // "http://host[:port]/path?query", "https://host/...", or an origin form
  // "/path?query" (then the Host comes from `headers`). An absolute URL's
  // authority becomes the Host field unless `headers` has one.
  std::string url = "/";
  std::vector<evaluation_header> headers;
  std::string body;                     // Content-Length is added for a non-empty body unless given
  std::string client_ip = "127.0.0.1";  // the socket peer the gateway would see
  // A listener by name; "" picks it as a connection would: the listeners on
  // the URL's port (its scheme's default when it has none; for an origin
  // form, the first socket's), then among them by Host.
  std::string listener;
};

// One hook of one filter, in the order they ran.
struct filter_decision {
  std::string filter;  // the filter's type ("basic-auth", "waf", a host's own)
  std::string phase;   // "request", "request_body", "response", "response_body", "resume"
  // "continue", "reply" (it answered), "drop" (closed without an answer),
  // "pause" (an entry with phase "resume" follows), or "timeout" (it never resumed).
  std::string decision;
};

// The request the upstream would receive, as the gateway would write it.
struct upstream_request {
  std::string protocol = "HTTP/1.1";  // or "HTTP/2" (the cluster's); then headers
                                      // start with :authority, names lowercase
  std::string method;
  std::string target;  // path and query after rewrites and filters
  std::vector<evaluation_header> headers;
  std::string body;
};

// A response the gateway would give itself (404, redirect, a filter's answer,
// a WAF block), as the client would receive it.
struct local_response {
  int status = 0;
  std::vector<evaluation_header> headers;
  std::string body;
};

// What the gateway would do. Exactly one of `upstream` and `response` is set
// (`response` also when the WAF or a filter would drop the connection, with status 0).
struct evaluation_result {
  std::string listener;  // "" when no listener takes the request (then a 404 or 400)
  std::string route;     // "namespace/name"; "" when no route matched
  std::string rule;      // the rule's name, or its index as "#N"; "" when none
  std::string request_id;
  std::vector<filter_decision> filters;
  std::vector<std::string> waf_rules;       // ids of the WAF rules that matched, in order
  std::string waf_action;                   // "" when no WAF ran; else "pass", "deny", ...
  std::vector<evaluation_header> metadata;  // what filters left (basic-auth.user, jwt.sub, ...)
  std::optional<upstream_request> upstream;
  std::string backend;   // the cluster the upstream request would go to
  std::string endpoint;  // "address:port" the load balancer picks now; "" when none is up
  std::optional<local_response> response;
  bool dropped = false;  // the connection would be closed without an answer
};

// The result as JSON (the field names above; README "Evaluation" documents it).
GATEWAY_API std::string to_json(const evaluation_result& result);

}  // namespace gateway
