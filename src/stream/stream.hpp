#pragma once
// One request/response exchange: everything a request owns while it runs
// (its head, routing results, filters, upstream try, response fields, stats
// record) and the pipeline coroutine that serves it. The pipeline's code is
// in src/pipeline (serve.cpp, filter_driver.cpp, upstream_leg.cpp). Streams
// come from their worker's stream_pool and go back to it when the request
// ends, so their buffers keep their room from request to request while an
// idle connection holds none.
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "asio/asio.hpp"
#include "filters/filter_chain.hpp"
#include "http1/http1_parser.hpp"
#include "pipeline/request_steps.hpp"
#include "server/snapshot.hpp"
#include "stream/downstream.hpp"
#include "stream/owned_fields.hpp"
#include "stream/request_record.hpp"
#include "tracing/request_trace.hpp"
#include "transport/watchdog.hpp"
#include "upstream/connection_pool.hpp"
#include "upstream/h1_link.hpp"
#include "upstream/retry_rules.hpp"

namespace re2 {
class RE2;
}

namespace gateway {

class worker;
class h2_link;
class host_link;

class stream {
 public:
  // `down` is the client side the stream's bytes come and go through, with
  // `watch` the deadline of what the stream waits on; both outlive it.
  stream(downstream& down, worker& w, transport::watchdog& watch, asio::any_io_executor ex);
  ~stream();
  stream(const stream&) = delete;
  stream& operator=(const stream&) = delete;

  // Serves another client side from now on (a stream taken from the
  // worker's stream_pool); the stream holds no request then.
  void bind(downstream& down, transport::watchdog& watch) noexcept;
  // Whether it holds nothing of a request (finish() was called, no try or
  // filter is under way), so the pool may hand it out again.
  bool reusable() const noexcept {
    return !record_.started() && !filters_.in_use() && !link_ && !opening_ && !retrying_ &&
           !endpoint_active_;
  }

  // Serves the request whose head was just parsed into request(); false when
  // the connection cannot carry another request after it.
  asio::awaitable<bool> serve();
  // Records the request that just ended (if any) and resets the accounting.
  void finish() noexcept;
  // Wakes whatever the stream waits on besides the client (a filter's
  // pause, the upstream), so it sees the connection's deadline or close.
  void interrupt() noexcept;
  // Closes the upstream connection of a try in progress.
  void close_upstream() noexcept;
  // Capacity of its upstream links' buffers (gateway_buffer_bytes).
  std::size_t upstream_buffers() const noexcept;

  http1::request_head& request() noexcept { return request_; }
  // Where an HTTP/1.1 client side writes the stream's response heads and
  // local replies (its room kept with the stream, not the connection).
  std::string& client_head() noexcept { return client_head_; }
  request_record& record() noexcept { return record_; }
  // Answers for the gateway with the fields it `made` (a redirect's Location,
  // a CORS preflight's fields) and `fields` (a filter's). With response
  // filters, they see (and may change) it first.
  // Serves a whole connection of a TCP or TLS listener: `chosen` is the
  // listener its server name picked (null: none), `server_name` the TLS
  // SNI ("" for plain TCP). The connection closes when this returns.
  asio::awaitable<void> carry_connection(const listener_runtime* chosen,
                                         std::string_view server_name);
  asio::awaitable<void> local_reply(int status, std::string_view body, bool close,
                                    const owned_fields* made = nullptr,
                                    std::span<const http::header> fields = {});
  // Forgets the request id and HEAD flag before a reply to a head that did
  // not parse (and takes the downstream's listener for its log line).
  void forget_request() noexcept;
  // The listener the request was served on (the downstream's when it had none).
  const listener_runtime* listener() const noexcept { return listener_; }
  // The client as the request's listener trusts X-Forwarded-For (else the peer).
  std::string_view client_view() const noexcept;
  std::string_view request_id() const noexcept { return {request_id_, request_id_len_}; }
  // The request's rule (null when none matched) and its index in its route.
  const route_rule* rule() const noexcept { return rule_; }
  std::size_t rule_index() const noexcept { return rule_index_; }
  // The request's filters (an evaluation observes them and reads what they left).
  filter_chain& filters() noexcept { return filters_; }

  // Evaluate's dry run: the stream hands the upstream request here instead
  // of sending it (no upstream I/O, no mirrors).
  class upstream_tap {
   public:
    // `head` is the HTTP/1.1 head the upstream would get from cluster
    // `cluster`; for an HTTP/2 cluster it is empty and `h2` holds the
    // request instead (method, target, then :authority and the fields).
    struct h2_request {
      std::string_view method, target, authority;
      std::span<const http::header> fields;
    };
    virtual void to_upstream(std::size_t cluster, const pick_context& pick, std::string_view head,
                             const h2_request* h2) = 0;

   protected:
    ~upstream_tap() = default;
  };
  void set_tap(upstream_tap* tap) noexcept { tap_ = tap; }
  // A middleware's stream: the host's handler is every rule's backend (the
  // request goes to it through `host` instead of a cluster).
  void set_host(host_link* host) noexcept { host_ = host; }
  // Bounds the wait for the answer (all tries, and each try) to `d` below
  // what the route allows: a host's call with a deadline of its own. 0: none.
  void cap_timeout(std::chrono::milliseconds d) noexcept { timeout_cap_ = d; }

 private:
  using outcome = try_outcome;
  enum class send_result {
    ok,
    upstream_error,
    client_error,
    bad_framing,
    too_large,    // the body is over its limit: 413
    client_late,  // the request was not received in time: 408
    filtered,
  };
  enum class chain_phase { request, request_body, response, response_body, response_trailers };

  // What the gateway answers itself instead of (or after) forwarding; status 0: forward.
  struct answer {
    int status = 0;
    std::string_view body;
    bool close = false;
    const owned_fields* made = nullptr;    // the gateway's own fields (Location, CORS)
    std::span<const http::header> fields;  // a filter's
  };
  // The start of serve() that needs no waiting: listener, flags, request
  // id, routing. Returns whether the request has a body.
  bool begin_request();
  // Builds the upstream head (with the filters' edits) and drops the client's.
  void head_to_upstream();
  // Copies the upstream request's method, target and fields out of the
  // client's buffer, which reading more of the body may reuse: before the
  // body is read whole ahead of the upstream (filters, gRPC-Web text).
  void own_upstream_request();
  // Answers the rule gives without an upstream: redirect, 413, no backend.
  void check_rule(answer& a);
  // Whether the request's Upgrade goes on (one of its protocols is the
  // rule's) or is refused (upgrading_, upgrade_refused_).
  void choose_upgrade() noexcept;
  // Picks the backend (and starts mirrors); an answer when it cannot be used.
  std::size_t choose_cluster(answer& a);
  // Takes one of the cluster's retry slots (max_retries, budget); false: none.
  bool admit_retry(cluster_state& cs) noexcept;
  void end_retry() noexcept;
  // The end of a try's request on its endpoint (least-request counts).
  void end_endpoint_request() noexcept;
  // The consistent-hash key of the request for the picked backend's cluster
  // (and the cookie to set when the cluster generates one).
  void prepare_pick();
  // The answer for an exchange that ended without relaying one; false: none
  // (the client is gone or was answered).
  bool failure_answer(outcome result, answer& a);
  // Moves the reply a filter asked for out of the chain; returns its status.
  int take_filter_reply();
  // Keeps the client's X-Request-Id, or makes a UUIDv4-shaped one.
  void assign_request_id() noexcept;
  // Tracing (stream_trace.cpp): whether a request of a listener that traces
  // is sampled, its context read from the client or started here; the span
  // of each upstream try of a traced request (the traceparent the try is
  // sent names it); the spans recorded into the worker's buffer as the
  // request ends.
  void begin_trace() noexcept;
  void begin_try_span() noexcept;
  void end_try_span() noexcept;
  void end_trace(std::uint64_t micros) noexcept;
  // Routes the parsed head, prepares a redirect's Location and builds the
  // upstream head (kept out of the coroutine to keep its frame small).
  route_selection route_request(const listener_runtime* chosen);
  // A backend of `rr` by weight.
  const resolved_backend* pick_backend(const resolved_rule& rr) noexcept;
  // One try at the upstream. `retries_left` is the rule's retry allowance
  // (null without a retry policy): while some is left, a status the rule
  // retries ends the try with outcome::retry_status instead of being relayed,
  // and a replay on a fresh connection (a pooled one the upstream closed)
  // spends from it like a retry.
  asio::awaitable<outcome> exchange(std::size_t cluster, bool& request_body_done,
                                    std::uint32_t* retries_left);
  // The response side's steps once a final head is in response_ (from an
  // upstream or the host): whether response filters run on the head (and
  // their inputs set), whether they see the body, and the end of the relay.
  bool filters_see_response() noexcept;
  bool filters_see_response_body() const noexcept;
  void end_relay(bool complete) noexcept;
  // A middleware's request (set_host): the host's handler instead of an
  // upstream, then the response side on its answer; answers as serve().
  asio::awaitable<bool> serve_host(bool has_body);
  // Waits `d` (a retry's backoff).
  asio::awaitable<void> pause(std::chrono::milliseconds d);
  // Connects a new connection to `ep` into opening_ (and does the TLS
  // handshake when the cluster has TLS); false, logged and reported to
  // outlier detection, when it fails.
  // `bytes`: for a connection route, whatever ALPN the TLS agreed on.
  asio::awaitable<bool> open_upstream(cluster_state& cs, endpoint_state& ep, std::size_t cluster,
                                      std::size_t host, bool bytes = false);
  // The request as the links take it (`has_body`: a body follows the head;
  // `te_trailers` looked up only for the protocols that carry it).
  upstream_link::request link_request(bool has_body, bool te_trailers) const noexcept;
  // Ends the try on link_ (see upstream_link::finish).
  void finish_link(bool keep) noexcept;
  // Sends the request head and body on the try's link.
  asio::awaitable<send_result> send_request_body(bool& body_done, bool& replayable);
  // Answers a request whose body is refused, counted in the limit it hit
  // (too_large: 413, client_late: 408), and closes: the body was not read
  // to its end.
  asio::awaitable<void> refuse_body(send_result why);
  // After read_head gave an interim head: forwards it (and any that follow)
  // and waits for the final one into response_.
  asio::awaitable<upstream_link::head_result> after_interim();
  // Logs what the upstream sent when it was no usable response `part`
  // ("head", or "body" when its framing broke before anything was relayed).
  void log_unusable(std::string_view part);
  // Relays the response body to the client, up to `limit` bytes (0: no
  // limit); true when all of it went (see unusable_body_ for a body refused
  // before anything was sent).
  asio::awaitable<bool> relay_response(std::uint64_t limit);
  // Sends the reply a filter asked for.
  asio::awaitable<void> filter_reply(bool close);
  // Ends the connection with a reset and no answer (a filter dropped it).
  void drop_client() noexcept;
  // Runs one phase of the request's filters to its end, waiting out pauses
  // (inputs for the body phases in chain_data_/chain_end_/chain_chunk_).
  asio::awaitable<filter_status> run_chain(chain_phase p);
  // Waits for a paused filter's resume(); false when the request timed out or closed.
  asio::awaitable<bool> wait_resume();
  // Starts the request's filters and runs on_request; false when they answered.
  asio::awaitable<bool> start_filters();
  // Waits for the whole request body (or its first part, to the filters
  // limit) for filters that asked to see it at once, and runs them on it.
  asio::awaitable<bool> buffer_body_for_filters();
  // The same through the response body filters (`limit` counts what the
  // upstream sent, before the filters).
  asio::awaitable<bool> relay_filtered(std::uint64_t limit);
  // A response body past its cluster's `limit` (max_response_body):
  // refused (502) when nothing of it was sent yet, else cut short; counted
  // and logged. Returns false, the relay's answer.
  bool response_body_over(bool nothing_sent, std::uint64_t limit);
  // Waits (for a rule with mirrors) until a body up to max_mirrored_body is
  // whole in the buffer, so the mirrors can copy it; false when the client
  // left or was answered (408: not received in time).
  asio::awaitable<bool> body_for_mirrors();
  // Starts the rule's mirrors that this request is sampled for (after the
  // upstream head is built, before the body leaves the buffer).
  void start_mirrors(const resolved_rule& rule);
  // The head the upstream gets; `path` is the normalized request path and
  // `matched_prefix` the PathPrefix that selected the rule (for rewrites).
  void build_upstream_head(std::string_view path, std::string_view matched_prefix,
                           const re2::RE2* path_regex);
  // Starts the response to the client: the upstream's fields with the route's
  // policy applied; `has_length`: the body's length is the upstream's.
  void start_response(bool has_length);
  // The end of a dry run: the request body through the filters that look at
  // it, then the upstream request to the tap.
  asio::awaitable<bool> hand_to_tap(std::size_t cluster, bool has_body);
  // The gRPC facts of the request just routed: gRPC or not, gRPC-Web,
  // grpc-timeout (src/pipeline/grpc_steps.cpp, with the three below).
  void begin_grpc();
  // Turns the gateway's answer to a gRPC request into a gRPC one: HTTP 200
  // with grpc-status and grpc-message and no body (Trailers-Only).
  void grpc_answer(int& status, std::string_view& body);
  // Reads the grpc-status of a proxied gRPC response (its trailers', else its head's).
  void note_grpc_status(std::span<const http::header> trailers) noexcept;
  // The upstream's trailers into response_trailers_ at the body's end.
  void take_response_trailers();
  // What the trailers say once the filters saw them: the gRPC status, and
  // for gRPC-Web the body's last frame (queued) instead of trailers.
  void end_response_trailers();
  // A gRPC-Web request (binary or text): what the upstream gets, gRPC's Content-Type.
  void grpc_web_request(std::string_view content_type);
  // The response's trailers as a gRPC-Web trailers frame into grpc_web_frame_
  // (then cleared; the text form: what is left of the body too, both as
  // base64); false when there is nothing to send.
  bool grpc_web_trailers();
  // gRPC-Web text: reads the whole request body (one message, as gRPC-Web
  // sends) and decodes it into grpc_web_body_; false with an answer in `a`
  // (or none: the client is gone, or was answered 408).
  asio::awaitable<bool> read_web_text(int& status, std::string_view& why);
  // gRPC-Web text: `pieces` of the response as base64 (groups continue from
  // the last call; `end` pads the last one).
  asio::const_buffer web_text(std::span<const asio::const_buffer> pieces, bool end);
  // After the upstream's 101: the 101 to the client, then bytes both ways
  // between the client and `up` until either side ends or the stream idle
  // timeout passes with nothing moving (src/pipeline/tunnel.cpp).
  asio::awaitable<void> tunnel(h1_link& up);
  // Bytes both ways between `client` and `upstream` until both directions
  // ended (a FIN passed on as a half-close where the other side can take
  // one) or one failed, or the stream idle timeout passed with nothing moving.
  // `max_duration` (not 0) ends the tunnel that long after it began.
  asio::awaitable<void> carry_bytes(byte_pipe& client, byte_pipe& upstream,
                                    std::chrono::milliseconds max_duration = {});
  // Writes the access log line of the request that just ended.
  void log_access(std::uint64_t micros) noexcept;
  // The upstream address of the request (`record_.upstream_address`) as
  // "ADDRESS:PORT" into `out`; its length (0: none).
  std::size_t write_upstream_address(char (&out)[64]) const noexcept;
  // Whether the connection was closed or is being closed by force.
  bool gone() const noexcept;

  // Held weakly by resume handles, which may outlive the stream.
  std::shared_ptr<stream*> alive_;
  downstream* down_;
  worker& worker_;
  transport::watchdog* watch_;
  asio::any_io_executor executor_;
  const listener_runtime* listener_ = nullptr;  // the request's
  std::string authority_;  // "ip:port" the connection arrived on, for requests without Host
  std::vector<asio::const_buffer> pieces_;  // body pieces on their way through

  std::string head_out_;     // the upstream request as HTTP/1.1 text
  std::string client_head_;  // client_head()
  std::string target_buf_;   // the request's target when normalisation changed it
  normalize_result normalized_ = normalize_result::ok;
  bool misdirected_ = false;  // the request's listener validates clients otherwise: 421
  owned_fields made_fields_;  // a redirect's Location, or a CORS preflight's fields
  std::string made_scratch_;  // where plan_route makes a Location
  std::string cors_origin_;   // the request's Origin when the rule's CORS policy allows it
  bool cors_preflight_ = false;
  upstream_scratch upstream_request_;  // the upstream request on the neutral model (reused)
  owned_fields upstream_owned_;  // its fields copied, once a body read may move the head's bytes
  std::string upstream_line_;    // its method and target, copied likewise
  std::string_view route_path_;  // the normalised path routed on
  std::string_view matched_prefix_;       // the PathPrefix that selected the rule
  const re2::RE2* path_regex_ = nullptr;  // the rule's RegularExpression match, if any

  // Filters of the current request (reused; active() only while one runs).
  filter_chain filters_;
  std::vector<http::header> reply_fields_;  // a local reply's fields for the response filters
  std::string_view chain_data_;             // request body piece for chain_phase::request_body
  bool chain_end_ = false;
  body_chunk chain_chunk_;  // response body piece for chain_phase::response_body
  std::vector<http::header>* chain_fields_ = nullptr;  // response fields for chain_phase::response
  int chain_status_ = 0;
  std::vector<http::header> filter_reply_fields_;  // a filter's reply, moved out of the chain
  std::string filter_reply_body_;
  std::string filter_body_;    // a chunked request body decoded for the filters
  std::string response_hold_;  // a response body's first part held for the filters
  bool body_seen_by_filters_ = false;
  bool query_replaced_ = false;           // a filter changed the query: the target is rebuilt
  bool replying_after_response_ = false;  // a response filter answered: no second pass
  // The upstream's body was malformed before any of the response reached the
  // client (bad chunking in the first read): a 502 goes instead of a cut.
  bool unusable_body_ = false;
  bool resumed_ = false;
  std::uint64_t pause_generation_ = 0;
  asio::steady_timer resume_timer_;
  const route_rule* rule_ = nullptr;  // the request's rule, null when none matched
  std::size_t rule_index_ = 0;
  const resolved_rule* resolved_ = nullptr;    // its backends, mirrors and stats series
  const resolved_backend* backend_ = nullptr;  // the backend picked for the first try
  pick_context pick_;                          // hash key and the endpoint a retry avoids
  endpoint_state* last_endpoint_ = nullptr;    // the last try's endpoint
  endpoint_state* endpoint_active_ = nullptr;  // counted in its `active` (least_request)
  cluster_state* retrying_ = nullptr;          // holds one of its retry slots
  std::string_view overflow_;                  // the circuit breaker that refused
  owned_fields overflow_field_;  // "x-gateway-overflow: <limit>" of an overflow answer
  std::string set_cookie_;       // a generated hash cookie's Set-Cookie value, for the response
  // The proxied response's fields on the neutral model (views into the link's, the
  // rule and response_scratch_), rebuilt for each response head.
  std::vector<http::header> upstream_fields_;
  std::vector<http::header> response_fields_;
  std::string response_scratch_;
  std::vector<http::header> response_trailers_;  // a chunked response's, for the client
  bool method_retriable_ = false;                // retriable_method() of the current request
  bool replayable_ = true;              // the last try left the request able to be sent again
  std::uint64_t max_request_body_ = 0;  // the rule's or the listener's; 0: unlimited

  // Per-request accounting for the stats and the access log.
  request_record record_;
  tracing::request_trace trace_;
  std::string route_span_name_;  // the server span's name (its room reused)
  http1::request_head request_;
  http1::response_head response_;

  // Facts about the current request that outlive its head's views.
  bool is_head_request_ = false;
  bool grpc_ = false;             // a gRPC request: the gateway's own answers are gRPC ones
  bool upgrading_ = false;        // the request's Upgrade is forwarded (the rule takes it)
  bool upgrade_refused_ = false;  // it asked for an Upgrade the rule does not take (403)
  int grpc_code_ = -1;            // the gRPC status of the gateway's answer when its HTTP status
                                  // does not say it (a timeout, no backend); -1: from the status
  std::string grpc_text_;         // the grpc-message of such an answer
  // gRPC-Web (binary): the upstream gets gRPC, the client gets gRPC-Web back
  // with the trailers as the body's last frame.
  bool grpc_web_ = false;
  std::string grpc_web_type_;   // the client's Content-Type
  std::string grpc_type_;       // the upstream's for it (the request's field points here)
  std::string grpc_web_frame_;  // the trailers frame at the end of the response body
  bool grpc_web_text_ = false;  // gRPC-Web's text form: the bodies are base64 both ways
  std::string grpc_web_body_;   // the text form's request body, decoded
  std::string grpc_web_out_;    // a response piece as base64
  std::string grpc_web_carry_;  // response bytes not yet a whole base64 group
  bool request_chunked_ = false;
  std::uint64_t request_length_ = 0;  // of a body that is not chunked
  bool pending_body_ = false;  // the whole body was sent but not released: a retry sends it again
  std::chrono::milliseconds request_timeout_{0};  // all tries together
  std::chrono::milliseconds timeout_cap_{0};      // cap_timeout's
  std::chrono::milliseconds try_timeout_{0};      // one try
  steady_clock::time_point request_deadline_{};
  char request_id_[40];
  std::size_t request_id_len_ = 0;
  bool request_id_generated_ = false;
  // The client as the listener's X-Forwarded-For trust sees it (empty: the peer).
  char forwarded_client_[48];
  std::size_t forwarded_client_len_ = 0;

  upstream_tap* tap_ = nullptr;
  host_link* host_ = nullptr;  // set_host's
  // The upstream connectors, made on first use and reused from try to try,
  // and the one the current try is on (null between tries).
  h1_link h1_;
  std::unique_ptr<h2_link> h2_;
  upstream_link* link_ = nullptr;
  std::unique_ptr<upstream_connection> opening_;  // a connection being opened for a try
  std::vector<http::header> tap_fields_;          // an HTTP/2 request's fields for the tap
  char tap_length_[24];
};

// Wakes what `s` waits on each time `watch` expires, until the watchdog is
// stopped: the deadline keeper of a downstream with no socket to cancel (an
// evaluation, a host's call through the client).
asio::awaitable<void> wake_on_expiry(transport::watchdog& watch, stream& s);

}  // namespace gateway
