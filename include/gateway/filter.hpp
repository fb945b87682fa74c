#pragma once
// The filter chain: per-request hooks on the proxy path, created from named
// factories that parse their configuration once. Built-in filters (CORS, auth,
// rate limits, ...) use exactly this interface; a host adds its own the same way.
//
// Threading: a filter instance lives on one worker thread for one request. Its
// factory is shared by every worker and must be safe to use concurrently (it is
// immutable after construction, or uses atomics). Hooks are synchronous; a hook
// that has to wait (an async lookup) returns `pause` and later calls the
// `resume_handle` it took, from any thread.
#include <gateway/export.hpp>
#include <gateway/http.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gateway {

class filter_services;
struct route;
struct route_rule;

// What buffer_request_body does with a body longer than its limit.
enum class body_overflow : std::uint8_t {
  reject,      // answer 413
  first_part,  // give the filter the first `limit` bytes (end = false); the rest streams on
};

// What a hook tells the chain.
enum class filter_status : std::uint8_t {
  next,   // go on with the next filter
  stop,   // the filter called send_local_reply(); the gateway answers with it
  pause,  // the filter will call resume() on a resume_handle; nothing moves until then
};

// The header fields of a request or response, editable during a hook. Views
// returned or accepted are borrowed for the call; values passed to set/add are
// copied into storage that lives until the end of the request.
class GATEWAY_API header_map {
 public:
  // The first value of `name` (any case), or nothing.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  // Every field in order (names as received).
  std::span<const http::header> all() const noexcept;
  // Replaces every field named `name` with one field.
  void set(std::string_view name, std::string_view value);
  // Appends a field, keeping existing ones of the same name.
  void add(std::string_view name, std::string_view value);
  // Removes every field named `name`; false when there was none.
  bool remove(std::string_view name) noexcept;

  class storage;  // where copied text lives; owned by the gateway
  header_map(std::vector<http::header>& fields, storage& text) noexcept
      : fields_(&fields), text_(&text) {}

 private:
  std::vector<http::header>* fields_;
  storage* text_;
};

// Per-request memory that is reset when the request ends: filter instances and
// typed state are made here, so creating a chain allocates nothing once a
// connection's arena has grown.
class GATEWAY_API filter_arena {
 public:
  // Constructs a T that is destroyed (in reverse order of creation) when the request ends.
  template <class T, class... Args>
  T* make(Args&&... args) {
    void* p = allocate(sizeof(T), alignof(T), [](void* o) noexcept { static_cast<T*>(o)->~T(); });
    return ::new (p) T(std::forward<Args>(args)...);
  }
  // Raw storage for `size` bytes; `destroy` (may be null) runs at reset.
  void* allocate(std::size_t size, std::size_t align, void (*destroy)(void*) noexcept);

  filter_arena() = default;
  filter_arena(const filter_arena&) = delete;
  filter_arena& operator=(const filter_arena&) = delete;
  ~filter_arena();
  // Destroys everything made since the last reset and keeps the first block for reuse.
  void reset() noexcept;

 private:
  struct block {
    std::unique_ptr<std::byte[]> data;
    std::size_t size;
  };
  struct cleanup {
    void (*destroy)(void*) noexcept;
    void* object;
  };
  std::vector<block> blocks_;
  std::size_t used_ = 0;  // bytes used in blocks_.back()
  std::vector<cleanup> cleanups_;
};

// Lets a paused filter continue its request; copyable, callable from any
// thread, once (later calls do nothing). The filter's on_resume() then runs on
// the worker thread. Dropping every copy without calling resume() leaves the
// request to its request timeout (answered 504). A filter whose async work may
// finish after the request is gone keeps that work's result in memory it
// shares with the work (a shared_ptr), not in the filter.
class GATEWAY_API resume_handle {
 public:
  struct state;  // owned jointly by the handles and the gateway
  resume_handle() = default;
  explicit resume_handle(std::shared_ptr<state> s) noexcept : state_(std::move(s)) {}
  // Wakes the request; the paused hook's chain goes on with the next filter.
  void resume() const noexcept;
  explicit operator bool() const noexcept { return state_ != nullptr; }

 private:
  std::shared_ptr<state> state_;
};

// What a filter sees of an HTTPS connection. Views stay valid while the
// connection is open (the gateway owns the text).
struct tls_info {
  std::string_view version;      // "TLSv1.3"
  std::string_view cipher;       // "TLS_AES_128_GCM_SHA256"
  std::string_view server_name;  // the SNI the client sent, "" if none
  std::string_view alpn;         // the negotiated protocol, "" if none
  bool resumed = false;          // an abbreviated handshake (session ticket or ID)
  // The client's certificate, when it sent one; it has verified against the
  // listener's CAs (a certificate that does not fails the handshake).
  bool peer_certificate = false;
  std::string_view subject;  // RFC 2253 ("CN=client,O=Example")
  std::string_view issuer;
  std::string_view serial;                 // hex
  std::string_view sha256;                 // of the DER certificate, lowercase hex
  std::span<const std::string> dns_names;  // subjectAltName DNS entries
  std::span<const std::string> uris;       // subjectAltName URI entries
  std::string_view cert_pem;               // the certificate as PEM
};

// A counter a factory declared (filter_factory_context::counter) for its
// filters to count with filter_context::count. A plain value, copyable.
class filter_counter {
 public:
  filter_counter() = default;  // counts nothing
  bool valid() const noexcept { return id_ != none; }
  // The process-wide id; one per (filter, type, event), kept across reloads.
  std::uint32_t id() const noexcept { return id_; }
  explicit filter_counter(std::uint32_t id) noexcept : id_(id) {}

 private:
  static constexpr std::uint32_t none = ~std::uint32_t{0};
  std::uint32_t id_ = none;
};

// What a filter sees of its request. Views are borrowed for the hook call.
class GATEWAY_API filter_context {
 public:
  virtual ~filter_context() = default;

  // The request head (path normalized, without the query).
  virtual std::string_view method() const noexcept = 0;
  virtual std::string_view path() const noexcept = 0;
  virtual std::string_view query() const noexcept = 0;  // raw, without '?'
  virtual std::string_view host() const noexcept = 0;   // as sent, port included
  virtual std::string_view scheme() const noexcept = 0;
  // The request target exactly as sent (path and query, not normalized) and
  // the protocol ("HTTP/1.1"); the target is valid during on_request only.
  virtual std::string_view target() const noexcept = 0;
  virtual std::string_view protocol() const noexcept = 0;
  // Request fields; edits reach the upstream. Valid during on_request only
  // (the head's bytes are gone after it): copy what a later hook needs.
  virtual header_map& request_headers() noexcept = 0;
  // Replaces the query the upstream gets (during on_request; copied).
  virtual void set_query(std::string_view query) = 0;
  // The client as the gateway's socket sees it (not X-Forwarded-For).
  virtual std::string_view client_ip() const noexcept = 0;
  // The connection's ports and the gateway's own address on it.
  virtual std::uint16_t client_port() const noexcept = 0;
  virtual std::string_view local_ip() const noexcept = 0;
  virtual std::uint16_t local_port() const noexcept = 0;
  virtual std::string_view request_id() const noexcept = 0;
  virtual std::string_view listener() const noexcept = 0;
  // The connection's TLS facts on an HTTPS listener; null on plain HTTP.
  virtual const tls_info* tls() const noexcept = 0;
  // The route and rule that matched (the chain only runs on matched requests).
  virtual const route* matched_route() const noexcept = 0;
  virtual const route_rule* matched_rule() const noexcept = 0;

  // The response status and fields, from on_response on (the upstream's or a
  // local reply's); 0 and empty before.
  virtual int response_status() const noexcept = 0;
  virtual header_map& response_headers() noexcept = 0;
  // The response's trailers, in on_response_trailers (empty elsewhere).
  virtual header_map& response_trailers() noexcept = 0;

  // Answers for the gateway; the hook then returns filter_status::stop. From a
  // response hook it replaces the response when nothing has been sent yet.
  virtual void send_local_reply(int status, std::string_view body,
                                std::span<const http::header> headers = {}) = 0;
  // Asks the gateway to read the whole request body (up to `limit` bytes;
  // beyond, as `overflow` says) before on_request_body, which then gets it as
  // one chunk and nothing has gone upstream yet (call from on_request).
  virtual void buffer_request_body(std::uint64_t limit,
                                   body_overflow overflow = body_overflow::reject) noexcept = 0;
  // Asks the gateway to hold the response (head and body) until `limit` body
  // bytes or the body's end have arrived, and give them to on_response_body
  // in one chunk before anything reaches the client; the rest then streams
  // (call from on_response).
  virtual void buffer_response_body(std::uint64_t limit) noexcept = 0;
  // Closes the client connection without an answer; the hook returns stop.
  virtual void drop_connection() noexcept = 0;
  // A handle for resuming after returning filter_status::pause from this hook.
  virtual resume_handle pause_handle() = 0;

  // Text a filter leaves for later filters and the access log (copied).
  virtual void set_metadata(std::string_view key, std::string_view value) = 0;
  virtual std::optional<std::string_view> metadata(std::string_view key) const noexcept = 0;
  // Request-lifetime memory (see filter_arena).
  virtual filter_arena& arena() noexcept = 0;
  // Adds `n` to a counter the filter's factory declared, on this worker's own
  // counters (no lock, no allocation once the worker has seen the counter).
  virtual void count(filter_counter counter, std::uint64_t n = 1) noexcept = 0;

  // Typed state shared by the filters of one request, made on first use.
  template <class T>
  T& state() {
    static constexpr char key = 0;  // one address per T
    if (void* found = find_state(&key)) return *static_cast<T*>(found);
    T* made = arena().make<T>();
    put_state(&key, made);
    return *made;
  }

 protected:
  virtual void* find_state(const void* key) const noexcept = 0;
  virtual void put_state(const void* key, void* object) = 0;
};

// A body piece passing through on_response_body. A filter may point `data` at
// its own bytes (valid until its next hook call or the end of the request) to
// replace the piece; it must have removed Content-Length in on_response if
// that changes the body's length.
struct body_chunk {
  std::string_view data;
  bool end_of_stream = false;
};

// One filter instance per request. Every hook has a default that passes.
// A hook that throws ends the request with a 500 (and a log line).
class GATEWAY_API filter {
 public:
  virtual ~filter() = default;
  // The request head; request_headers() edits reach the upstream.
  virtual filter_status on_request(filter_context&) { return filter_status::next; }
  // Request body pieces as they arrive, read-only (the whole body at once after
  // buffer_request_body()); not called for requests without a body.
  virtual filter_status on_request_body(filter_context&, std::string_view, bool /*end*/) {
    return filter_status::next;
  }
  // The response head (upstream or local), in reverse filter order.
  virtual filter_status on_response(filter_context&) { return filter_status::next; }
  // Response body pieces, in reverse filter order.
  virtual filter_status on_response_body(filter_context&, body_chunk&) {
    return filter_status::next;
  }
  // After this filter paused and resume() was called: runs on the request's
  // worker thread, where the filter acts on what it waited for (answer with
  // send_local_reply and stop, pause again, or go on).
  virtual filter_status on_resume(filter_context&) { return filter_status::next; }
  // Once per request, after the response (or an error); always called.
  virtual void on_log(filter_context&) noexcept {}
  // When a proxied response ends, after its last body piece, in reverse
  // filter order: response_trailers() holds the upstream's trailers (gRPC's
  // grpc-status, say; empty when it sent none) and edits reach the client
  // where its protocol carries trailers (HTTP/2, or a chunked HTTP/1.1
  // body). The head is gone by then: stopping cuts the response short. Not
  // called for a response that ended with its head (no body, no trailers:
  // a gRPC Trailers-Only answer, whose status on_response sees).
  virtual filter_status on_response_trailers(filter_context&) { return filter_status::next; }
};

// Which hooks a factory's filters implement, so the gateway skips the rest
// (the body hooks cost a pass over every body piece).
enum filter_hooks : std::uint8_t {
  hook_request = 1,
  hook_request_body = 2,
  hook_response = 4,
  hook_response_body = 8,
  hook_log = 16,
  hook_response_trailers = 32,
  hook_all = 63,
};

// Parsed configuration of one filter use, shared by all workers; makes a
// filter per request.
class GATEWAY_API filter_factory {
 public:
  virtual ~filter_factory() = default;
  // A new filter for one request, made in the request's arena.
  virtual filter* create(filter_arena& arena) const = 0;
  virtual std::uint8_t hooks() const noexcept { return hook_all; }
};

// What a builder gets besides its configuration, as Envoy's factory context:
// who the factory is for, counters for per-filter metrics, and the gateway's
// background services (a thread, timers, an HTTP client) so that no filter
// needs a thread or an event loop of its own. Valid during the build only;
// what it returns outlives it.
class GATEWAY_API filter_factory_context {
 public:
  virtual ~filter_factory_context() = default;
  // The resource the factory is built for ("Filter default/limits",
  // "SecurityPolicy shop/auth"; empty when built outside a config) and the
  // type it was registered under ("local-ratelimit").
  virtual std::string_view owner() const noexcept = 0;
  virtual std::string_view type() const noexcept = 0;
  // Declares a counter, shown as gateway_filter_events_total{filter=owner,
  // type, event}. The same owner, type and event get the same counter in
  // every config, so counts carry on across reloads.
  virtual filter_counter counter(std::string_view event) = 0;
  // The process's background services (<gateway/filter_services.hpp>); they
  // live as long as the process.
  virtual filter_services& services() noexcept = 0;
};

// Builds a factory from its configuration, given as JSON text; throws
// gateway::error naming the offending field when the configuration is wrong.
using filter_factory_builder =
    std::function<std::shared_ptr<const filter_factory>(std::string_view json_config)>;
// The same, for a factory that uses its context (counters, services).
using filter_factory_context_builder = std::function<std::shared_ptr<const filter_factory>(
    std::string_view json_config, filter_factory_context& context)>;

// One filter in a chain: the factory and the name it was registered under.
struct filter_ref {
  std::string name;
  std::shared_ptr<const filter_factory> factory;
};

// Named factory builders. `builtin()` holds the gateway's own filters; a host
// copies it (or starts empty), adds its own, and passes it to load_yaml.
class GATEWAY_API filter_registry {
 public:
  // The registry with every built-in filter (cors, basic-auth, api-key-auth,
  // jwt, ip-access, local-ratelimit, headers, request-size-limit,
  // direct-response, error-pages).
  static const filter_registry& builtin();

  // Adds a builder; throws gateway::error if `name` is taken.
  void add(std::string name, filter_factory_builder build);
  void add(std::string name, filter_factory_context_builder build);
  // The builder for `name`, or null.
  const filter_factory_context_builder* find(std::string_view name) const noexcept;
  // Builds a filter_ref from a registered name and JSON configuration, for
  // the resource `owner` names (see filter_factory_context::owner); throws
  // gateway::error for an unknown name or a bad configuration.
  filter_ref make(std::string_view name, std::string_view json_config,
                  std::string_view owner = {}) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, filter_factory_context_builder, std::less<>> builders_;
};

}  // namespace gateway
