/* The gateway's stable C ABI: run an API gateway (router, filters, WAF,
 * upstream pool) inside any program that can call C.
 *
 * Rules that hold for every function here:
 * - Every call returns a gw_status (or documents otherwise); none throws,
 *   none aborts on bad input. GW_OK is 0.
 * - On failure, gw_errmsg(handle) says why in words a user can act on.
 * - Text goes in as pointer + length (need not be NUL-terminated; NULL with
 *   length 0 is the empty string), except file paths, which are C strings.
 * - Text that comes out is either borrowed (valid as the function says) or
 *   owned by the caller and released with gw_string_free().
 * - Free functions accept NULL.
 * - Symbols are only ever added; a symbol once shipped keeps its signature,
 *   and structs that may grow start with `struct_size` (set it to sizeof the
 *   struct as your gateway.h declares it). A library older than your header
 *   takes a larger struct while the fields it does not know are zero, and
 *   refuses it (GW_INVALID_ARGUMENT) otherwise; a newer library reads the
 *   fields a smaller struct lacks as zero, their documented default.
 *
 * Threads: a gw_gateway may be used from several threads at once. Callbacks
 * (log, filters) run on the gateway's worker threads. A filter callback must
 * not call gw_gateway_* control functions (start, stop, reload, free): they
 * wait for the workers and return GW_INVALID_STATE when called from one. */
#ifndef GATEWAY_GATEWAY_H
#define GATEWAY_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#if defined(GATEWAY_STATIC_DEFINE)
#define GW_API
#else
#define GW_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Version of these headers; compare with gw_version_number() at run time. */
#define GW_VERSION_MAJOR 0
#define GW_VERSION_MINOR 1
#define GW_VERSION_PATCH 0
#define GW_VERSION_NUMBER (GW_VERSION_MAJOR * 10000 + GW_VERSION_MINOR * 100 + GW_VERSION_PATCH)

/* What a call ended with. Values are never renumbered; new ones are appended. */
typedef enum gw_status {
  GW_OK = 0,
  GW_ERROR = 1,            /* an unexpected failure inside the library */
  GW_INVALID_ARGUMENT = 2, /* a NULL handle or pointer, or a value out of range */
  GW_INVALID_CONFIG = 3,   /* the configuration is malformed or inconsistent */
  GW_BIND_FAILED = 4,      /* a listener could not be opened */
  GW_INVALID_STATE = 5,    /* not allowed now: reload before start, load after start, ... */
  GW_NOT_FOUND = 6,        /* a named listener or header does not exist */
  GW_NO_MEMORY = 7,        /* an allocation failed */
  GW_UNAVAILABLE = 8       /* a client call ended without a whole response (see gw_client_send) */
} gw_status;

/* The library's version as GW_VERSION_NUMBER encodes it. */
GW_API int gw_version_number(void);
/* The library's version as "MAJOR.MINOR.PATCH"; static storage. */
GW_API const char* gw_version(void);
/* A short description of `status` ("invalid argument"); static storage. */
GW_API const char* gw_strerror(gw_status status);

/* Severity of a log line, most verbose first. */
typedef enum gw_log_level {
  GW_LOG_DEBUG = 0,
  GW_LOG_INFO = 1,
  GW_LOG_WARN = 2,
  GW_LOG_ERROR = 3,
  GW_LOG_OFF = 4
} gw_log_level;

/* Receives each log line at or above the configured level, from any of the
 * gateway's threads (so it must be thread-safe). `message` is not
 * NUL-terminated and lives only for the call. */
typedef void (*gw_log_fn)(void* user_data, gw_log_level level, const char* message, size_t length);

/* A gateway: its configuration, listeners, workers and filters. Opaque. */
typedef struct gw_gateway gw_gateway;

/* Makes an empty gateway in *out (owned by the caller: gw_gateway_free).
 * Set the log, admin listener, bind address and filters first, then load a
 * configuration, then start. */
GW_API gw_status gw_gateway_new(gw_gateway** out);
/* Stops the gateway if it runs (draining for at most one second), waits for
 * its threads and frees it. Pending gw_pause handles stay safe to resume
 * (they then do nothing). NULL does nothing; so does a call from a gateway
 * callback (it would wait for its own thread): free it from a host thread. */
GW_API void gw_gateway_free(gw_gateway* gw);

/* The message of the last failed call on `gw` (or, with NULL, of the last
 * failed call of this thread that had no gateway, such as gw_gateway_new).
 * Borrowed: valid until this thread's next call into the library. "" when
 * nothing failed. */
GW_API const char* gw_errmsg(const gw_gateway* gw);

/* Where log lines go (default: stderr at GW_LOG_INFO). `fn` NULL sends them
 * to stderr. Only before the configuration is loaded (GW_INVALID_STATE after). */
GW_API gw_status gw_gateway_set_log(gw_gateway* gw, gw_log_level level, gw_log_fn fn,
                                    void* user_data);
/* Opens the admin listener (/ready, /stats/prometheus, /config, ...) on
 * `address`:`port` (0: ephemeral; see gw_gateway_admin_port) when started.
 * Before the configuration is loaded. */
GW_API gw_status gw_gateway_set_admin(gw_gateway* gw, const char* address, size_t address_length,
                                      uint16_t port);
/* Makes every listener bind `address` (an IP) on an ephemeral port instead
 * of the one its configuration names; redirects and routing keep the
 * configured port. Applies to every later load and reload; for tests and
 * embedding. Before the configuration is loaded. */
GW_API gw_status gw_gateway_bind_all(gw_gateway* gw, const char* address, size_t address_length);

/* What each worker takes on at once, and when the process sheds load (the
 * overload manager); zero is the default of every field (see the README's
 * "Limits and overload"). */
typedef struct gw_limits {
  size_t struct_size;     /* sizeof(gw_limits) */
  size_t max_connections; /* client connections per worker; 0: from the descriptor limit */
  size_t max_streams;     /* requests in progress per worker; 0: 10000; SIZE_MAX: no cap */
  /* Overload thresholds; 0: not watched. Past a soft one no connection is
   * accepted and keep-alive is off; past a hard one new requests get 503
   * and connections waiting for one are closed. */
  uint64_t heap_soft, heap_hard;               /* heap bytes in use */
  uint64_t descriptors_soft, descriptors_hard; /* open file descriptors */
  uint32_t overload_interval_ms;               /* how often they are sampled; 0: 250 */
} gw_limits;
/* Sets the limits the gateway starts with (copied). Before the configuration
 * is loaded; GW_INVALID_ARGUMENT when a soft threshold is above its hard one. */
GW_API gw_status gw_gateway_set_limits(gw_gateway* gw, const gw_limits* limits);

/* Strict mode (nonzero), for tests and fixtures: a configuration that loads
 * with warnings (a backend reference that does not resolve and would answer
 * 500, a policy targeting nothing, ...) is refused by load and reload with
 * GW_INVALID_CONFIG, the warnings in gw_errmsg. Before loading. Off by default. */
GW_API gw_status gw_gateway_set_strict(gw_gateway* gw, int strict);

/* Loads a configuration: Kubernetes YAML (Gateway, HTTPRoute, Ingress,
 * Service, policies ...), as gatewayd reads it. Filters named by Filter
 * objects must be registered before. May be called again until the gateway
 * is started (the last one counts); after start, use gw_gateway_reload_*.
 * GW_INVALID_CONFIG lists every problem found, with lines. */
GW_API gw_status gw_gateway_load_yaml(gw_gateway* gw, const char* yaml, size_t length);
/* Same, reading the file at `path` (a C string). */
GW_API gw_status gw_gateway_load_file(gw_gateway* gw, const char* path);

/* Opens every listener and starts `threads` workers (0: one per CPU the
 * process may use). Once per gateway; a stopped gateway does not restart.
 * GW_BIND_FAILED names the address when a listener cannot be opened. */
GW_API gw_status gw_gateway_start(gw_gateway* gw, unsigned threads);
/* Stops accepting, lets requests in flight finish for at most `drain_ms`
 * milliseconds, closes the rest and joins the workers. GW_INVALID_STATE when
 * the gateway was never started; stopping a stopped gateway is GW_OK. */
GW_API gw_status gw_gateway_stop(gw_gateway* gw, uint32_t drain_ms);

/* Replaces the configuration of a running gateway. The new one is checked
 * and compiled whole first; on any error the old one keeps serving and the
 * call returns GW_INVALID_CONFIG (or GW_BIND_FAILED). Requests in flight
 * finish on the config they started with. */
GW_API gw_status gw_gateway_reload_yaml(gw_gateway* gw, const char* yaml, size_t length);
/* Same, reading the file at `path`. */
GW_API gw_status gw_gateway_reload_file(gw_gateway* gw, const char* path);
/* How many configurations have been served: 1 after start, +1 per successful
 * reload; 0 before a configuration is loaded. */
GW_API uint64_t gw_gateway_config_version(const gw_gateway* gw);

/* The local port listener `name` is bound to (useful with port 0 and
 * gw_gateway_bind_all); `name` empty: the first listener. Only while running.
 * Listener names are "namespace/gateway/listener" (see gw_gateway_config_json). */
GW_API gw_status gw_gateway_port(const gw_gateway* gw, const char* name, size_t name_length,
                                 uint16_t* port);
/* The admin listener's port; GW_NOT_FOUND when there is none. */
GW_API gw_status gw_gateway_admin_port(const gw_gateway* gw, uint16_t* port);
/* The stats in Prometheus text format (what /stats/prometheus serves). The
 * text in *text (NUL-terminated, *length bytes) is owned by the caller:
 * gw_string_free. Only while running. */
GW_API gw_status gw_gateway_stats(const gw_gateway* gw, char** text, size_t* length);
/* The configuration being served as JSON (listener and route names, route
 * status conditions); owned by the caller: gw_string_free. */
GW_API gw_status gw_gateway_config_json(const gw_gateway* gw, char** text, size_t* length);
/* Frees text returned by this library. NULL does nothing. */
GW_API void gw_string_free(char* text);

/* ---- In-process evaluation ---------------------------------------------- */

/* One header field, borrowed. */
typedef struct gw_header {
  const char* name;
  size_t name_length;
  const char* value;
  size_t value_length;
} gw_header;

/* A request to evaluate; every pointer is borrowed for the call. */
typedef struct gw_request {
  size_t struct_size; /* sizeof(gw_request) */
  const char* method; /* "GET" when empty */
  size_t method_length;
  const char* url; /* "http://host[:port]/path?query", "https://...", or "/path?query" */
  size_t url_length;
  const gw_header* headers; /* may be NULL when header_count is 0 */
  size_t header_count;
  const char* body;
  size_t body_length;
  const char* client_ip; /* the peer address the gateway would see; "" is 127.0.0.1 */
  size_t client_ip_length;
  const char* listener; /* a listener name, or "" to pick it as a connection would */
  size_t listener_length;
} gw_request;

/* What the gateway would do with `request`, without a socket and without
 * contacting any upstream: the listener, route and rule, each filter's
 * decision (filters really run: a rate limit counts the request), the WAF
 * rules that matched, the request the upstream would receive and the backend
 * and endpoint it would go to, or the response the gateway would answer with
 * itself. As JSON in *json (owned by the caller: gw_string_free); the README
 * documents every field. Works once a configuration is loaded, started or not. */
GW_API gw_status gw_gateway_evaluate(gw_gateway* gw, const gw_request* request, char** json,
                                     size_t* length);

/* ---- Filters written in C ----------------------------------------------- */

/* What a filter hook tells the gateway. */
typedef enum gw_filter_status {
  GW_FILTER_CONTINUE = 0, /* go on with the next filter */
  GW_FILTER_STOP = 1,     /* the hook called gw_stream_send_reply (or gw_stream_drop) */
  GW_FILTER_PAUSE = 2     /* the hook took a gw_pause; nothing moves until gw_stream_resume */
} gw_filter_status;

/* One request as a filter sees it. Borrowed: valid during the hook call only
 * (and, for gw_stream_user_data, in every later hook of the same request). */
typedef struct gw_stream gw_stream;

/* Which header fields an accessor works on. */
typedef enum gw_headers_kind {
  GW_REQUEST_HEADERS = 0,  /* in on_request (edits reach the upstream) */
  GW_RESPONSE_HEADERS = 1, /* from on_response on */
  GW_RESPONSE_TRAILERS = 2 /* in on_response_trailers */
} gw_headers_kind;

/* Facts about the request a filter may read (gw_stream_get). */
typedef enum gw_stream_field {
  GW_FIELD_METHOD = 0,
  GW_FIELD_PATH = 1,   /* normalized, without the query */
  GW_FIELD_QUERY = 2,  /* without '?' */
  GW_FIELD_HOST = 3,   /* as sent, port included */
  GW_FIELD_SCHEME = 4, /* "http" or "https" */
  GW_FIELD_CLIENT_IP = 5,
  GW_FIELD_REQUEST_ID = 6,
  GW_FIELD_LISTENER = 7,
  GW_FIELD_ROUTE = 8,   /* "namespace/name" of the matched route */
  GW_FIELD_PROTOCOL = 9 /* "HTTP/1.1" */
} gw_stream_field;

/* A filter's hooks. Every hook may be NULL (it then passes). Each gets the
 * `user_data` given at registration and the `config` its configure returned
 * for the Filter object in use. A hook that returns another value than a
 * gw_filter_status, or GW_FILTER_PAUSE without taking a gw_pause, ends the
 * request with a 500 and a log line. */
typedef struct gw_filter_callbacks {
  size_t struct_size; /* sizeof(gw_filter_callbacks) */
  /* Parses a Filter object's `config` (JSON text) once per load; stores what
   * the hooks need in *config (released by release_config). Returns nonzero
   * to refuse it, after writing a reason (NUL-terminated) into `error`
   * (`error_size` bytes). NULL: *config is NULL and every config is taken. */
  int (*configure)(void* user_data, const char* json, size_t json_length, void** config,
                   char* error, size_t error_size);
  /* Frees what configure made, once no request uses it (after a reload, or at free). */
  void (*release_config)(void* user_data, void* config);
  /* The request head: read and edit its headers, answer, pause. */
  int (*on_request)(void* user_data, void* config, gw_stream* stream);
  /* Request body pieces as they arrive (the whole body at once after
   * gw_stream_buffer_request_body); read-only. */
  int (*on_request_body)(void* user_data, void* config, gw_stream* stream, const char* data,
                         size_t length, int end_of_stream);
  /* The response head (the upstream's or a local reply's). */
  int (*on_response)(void* user_data, void* config, gw_stream* stream);
  /* Response body pieces; gw_stream_set_body_chunk replaces the piece. */
  int (*on_response_body)(void* user_data, void* config, gw_stream* stream, const char* data,
                          size_t length, int end_of_stream);
  /* Runs on the worker after gw_stream_resume: decide now (CONTINUE, STOP, PAUSE). */
  int (*on_resume)(void* user_data, void* config, gw_stream* stream);
  /* Once per request at its end, always (even after an error): free per-request state. */
  void (*on_done)(void* user_data, void* config, gw_stream* stream);
  /* When a proxied response ends, after its last body piece: its trailers
   * (GW_RESPONSE_TRAILERS; gRPC's grpc-status, say; none when the upstream
   * sent none) to read and edit. GW_FILTER_STOP cuts the response short.
   * Not called when the response ended with its head (no body, no trailers).
   * (A table whose struct_size ends before this field has no such hook.) */
  int (*on_response_trailers)(void* user_data, void* config, gw_stream* stream);
} gw_filter_callbacks;

/* Makes the filter type `name` available to Filter objects
 * (`spec: {type: NAME, config: {...}}`). The table is copied (up to its
 * struct_size); `user_data` is passed to every callback and must outlive the
 * gateway. Before the configuration is loaded; a taken name is GW_INVALID_ARGUMENT. */
GW_API gw_status gw_gateway_add_filter(gw_gateway* gw, const char* name, size_t name_length,
                                       const gw_filter_callbacks* callbacks, void* user_data);

/* Reads a fact about the request into *value / *length (borrowed for the hook). */
GW_API gw_status gw_stream_get(gw_stream* stream, gw_stream_field field, const char** value,
                               size_t* length);
/* The first value of header `name` (any case); GW_NOT_FOUND when absent.
 * The value is borrowed for the hook. */
GW_API gw_status gw_stream_get_header(gw_stream* stream, gw_headers_kind kind, const char* name,
                                      size_t name_length, const char** value, size_t* length);
/* How many fields there are, and the field at `index` (borrowed for the hook). */
GW_API gw_status gw_stream_header_count(gw_stream* stream, gw_headers_kind kind, size_t* count);
GW_API gw_status gw_stream_header_at(gw_stream* stream, gw_headers_kind kind, size_t index,
                                     gw_header* field);
/* Replaces every field `name` with one (copied). */
GW_API gw_status gw_stream_set_header(gw_stream* stream, gw_headers_kind kind, const char* name,
                                      size_t name_length, const char* value, size_t value_length);
/* Appends a field (copied), keeping others of the same name. */
GW_API gw_status gw_stream_add_header(gw_stream* stream, gw_headers_kind kind, const char* name,
                                      size_t name_length, const char* value, size_t value_length);
/* Removes every field `name`; GW_NOT_FOUND when there was none. */
GW_API gw_status gw_stream_remove_header(gw_stream* stream, gw_headers_kind kind, const char* name,
                                         size_t name_length);
/* The response status from on_response on (0 before). */
GW_API int gw_stream_response_status(gw_stream* stream);
/* Answers for the gateway with `status`, `headers` and `body` (all copied);
 * the hook then returns GW_FILTER_STOP. From a response hook it replaces the
 * response if nothing has been sent yet. */
GW_API gw_status gw_stream_send_reply(gw_stream* stream, int status, const gw_header* headers,
                                      size_t header_count, const char* body, size_t body_length);
/* Closes the client connection without an answer; the hook returns GW_FILTER_STOP. */
GW_API gw_status gw_stream_drop(gw_stream* stream);
/* From on_request: read the whole request body (up to `limit` bytes, else
 * 413) before on_request_body, which then gets it in one piece. */
GW_API gw_status gw_stream_buffer_request_body(gw_stream* stream, uint64_t limit);
/* From on_response_body: the piece the client gets instead of this one
 * (copied). Remove Content-Length in on_response when the length changes. */
GW_API gw_status gw_stream_set_body_chunk(gw_stream* stream, const char* data, size_t length);
/* Text left for later filters and the access log (copied). */
GW_API gw_status gw_stream_set_metadata(gw_stream* stream, const char* key, size_t key_length,
                                        const char* value, size_t value_length);
GW_API gw_status gw_stream_get_metadata(gw_stream* stream, const char* key, size_t key_length,
                                        const char** value, size_t* length);
/* Declares a counter for the Filter object being configured, shown as
 * gateway_filter_events_total{filter, type, event}: from inside the
 * filter's `configure` only (the gateway then knows which Filter it is for).
 * Returns the counter for gw_stream_count, or GW_NO_COUNTER outside
 * configure or for an empty name. The same Filter, type and event give the
 * same counter in every load, so counts carry on across reloads. */
#define GW_NO_COUNTER UINT32_MAX
GW_API uint32_t gw_filter_counter(const char* event, size_t event_length);
/* Adds `n` to a counter gw_filter_counter gave, on the request's worker (no lock). */
GW_API gw_status gw_stream_count(gw_stream* stream, uint32_t counter, uint64_t n);
/* A pointer of the filter's own for this request (NULL at first), kept
 * across its hooks; free what it points to in on_done. */
GW_API void gw_stream_set_user_data(gw_stream* stream, void* data);
GW_API void* gw_stream_user_data(gw_stream* stream);

/* A paused request, to be resumed from any thread. */
typedef struct gw_pause gw_pause;
/* Takes the pause handle the hook returns GW_FILTER_PAUSE with. The caller
 * owns it and gives it back through gw_stream_resume or gw_pause_free exactly
 * once. NULL when `stream` is NULL or memory ran out. */
GW_API gw_pause* gw_stream_pause(gw_stream* stream);
/* Wakes the paused request (its on_resume then runs on the worker) and frees
 * the handle. Any thread; safe after the request timed out (504) or the
 * gateway was freed: it then only frees. */
GW_API gw_status gw_stream_resume(gw_pause* pause);
/* Frees the handle without resuming: the request then ends at its timeout
 * (504). NULL does nothing. */
GW_API void gw_pause_free(gw_pause* pause);

/* ---- The WAF on its own --------------------------------------------------
 * A libmodsecurity rule set (the OWASP CRS, rule files, directives) a host
 * checks its own requests against, without a gateway. A gw_waf may be
 * checked from several threads at once; gw_waf_load swaps the rules for
 * later checks while those under way finish on the old ones. */

typedef struct gw_waf gw_waf;
typedef struct gw_waf_verdict gw_waf_verdict;

/* What the engine does with its rules' disruptive actions. */
typedef enum gw_waf_mode {
  GW_WAF_ON = 0,             /* deny, redirect or drop as the rules say */
  GW_WAF_DETECTION_ONLY = 1, /* evaluate and report matches, never decide */
  GW_WAF_OFF = 2             /* not evaluated */
} gw_waf_mode;

/* What the rules decided about a request. */
typedef enum gw_waf_action {
  GW_WAF_PASS = 0,
  GW_WAF_DENY = 1,
  GW_WAF_REDIRECT = 2,
  GW_WAF_DROP = 3
} gw_waf_action;

/* The rules to load; every pointer is borrowed for the call. */
typedef struct gw_waf_rules {
  size_t struct_size;             /* sizeof(gw_waf_rules) */
  int crs;                        /* nonzero: Debian's OWASP Core Rule Set first */
  int paranoia_level;             /* CRS paranoia level 1..4; 0 means 1 */
  int inbound_anomaly_threshold;  /* CRS request score that blocks; 0 means 5 */
  int outbound_anomaly_threshold; /* CRS response score that blocks; 0 means 4 */
  const char* const* files;       /* rule files (C strings, Include works inside), after the CRS */
  size_t file_count;
  const char* directives; /* inline directives (SecRule ...), last */
  size_t directives_length;
  int response_body; /* nonzero: response bodies (text/plain, text/html, text/xml) reach the rules
                      */
} gw_waf_rules;

/* A response for gw_waf_check_response; every pointer is borrowed for the call. */
typedef struct gw_response {
  size_t struct_size;       /* sizeof(gw_response) */
  int status;               /* 200 when 0 */
  const gw_header* headers; /* may be NULL when header_count is 0 */
  size_t header_count;
  const char* body;
  size_t body_length;
} gw_response;

/* One rule that matched; the text is borrowed from the verdict. */
typedef struct gw_waf_match {
  size_t struct_size; /* sizeof(gw_waf_match) */
  int rule_id;
  int phase;           /* 1 request headers .. 5 logging */
  int severity;        /* 0 emergency .. 7 debug; -1 when the rule sets none */
  int paranoia_level;  /* from the CRS tag; 0 when untagged */
  int disruptive;      /* nonzero: the rule's action would interfere */
  const char* message; /* the rule's msg */
  size_t message_length;
  const char* data; /* what matched (the rule's logdata) */
  size_t data_length;
} gw_waf_match;

/* A handle with no rules yet (every check passes until gw_waf_load). */
GW_API gw_status gw_waf_new(gw_waf** out);
/* Frees the handle; checks under way must have returned. NULL does nothing. */
GW_API void gw_waf_free(gw_waf* waf);
/* Why the last call on `waf` failed (NULL: a failure without a handle). */
GW_API const char* gw_waf_errmsg(const gw_waf* waf);
/* Compiles `rules` (equal rule sets are compiled once per process); on a
 * rule that does not parse, GW_INVALID_CONFIG with libmodsecurity's file and
 * line, and the rules loaded before stay. */
GW_API gw_status gw_waf_load(gw_waf* waf, const gw_waf_rules* rules);
/* Rules in the loaded set, over all phases. */
GW_API gw_status gw_waf_rule_count(const gw_waf* waf, size_t* count);
/* Runs `request` (method, url with its path and query, headers, body,
 * client_ip; listener is not used) through the request phases in `mode`.
 * As a client would send it: the host of an absolute url becomes Host, and
 * a body (or a POST, PUT, PATCH) without Content-Length or Transfer-Encoding
 * gets a Content-Length. The verdict is the caller's: gw_waf_verdict_free. */
GW_API gw_status gw_waf_check(gw_waf* waf, const gw_request* request, gw_waf_mode mode,
                              gw_waf_verdict** verdict);
/* The same, and when the request passed, `response` through the response
 * phases (its headers; its body when the rules were loaded with
 * response_body and its Content-Type is one they inspect). */
GW_API gw_status gw_waf_check_response(gw_waf* waf, const gw_request* request,
                                       const gw_response* response, gw_waf_mode mode,
                                       gw_waf_verdict** verdict);
GW_API void gw_waf_verdict_free(gw_waf_verdict* verdict);
/* The decision; GW_WAF_PASS for NULL. */
GW_API gw_waf_action gw_waf_verdict_action(const gw_waf_verdict* verdict);
/* For deny and redirect: the status the rules ask for; else 0. */
GW_API int gw_waf_verdict_status(const gw_waf_verdict* verdict);
/* For redirect: the URL (borrowed from the verdict); else "". */
GW_API const char* gw_waf_verdict_url(const gw_waf_verdict* verdict);
/* How many rules matched (a passed request may have some below the threshold). */
GW_API size_t gw_waf_verdict_match_count(const gw_waf_verdict* verdict);
/* The match at `index` into *out (set out->struct_size first). */
GW_API gw_status gw_waf_verdict_match(const gw_waf_verdict* verdict, size_t index,
                                      gw_waf_match* out);

/* ---- The router on its own ------------------------------------------------
 * The routes of a configuration (HTTPRoutes, GRPCRoutes, Ingresses on its
 * HTTP and HTTPS listeners) matched against a host's requests: which
 * listener, route and rule take one, and the backends that rule sends to.
 * Nothing runs but the match (no filters, no upstream). A gw_router may be
 * matched from several threads at once; a load swaps the routes for later
 * matches. */

typedef struct gw_router gw_router;
typedef struct gw_route_match gw_route_match;

/* One backend of the matched rule; the name is borrowed from the match. */
typedef struct gw_route_backend {
  size_t struct_size; /* sizeof(gw_route_backend) */
  const char* name;   /* the cluster: "namespace/service:port", "Backend namespace/name" */
  size_t name_length;
  uint32_t weight;
  int valid; /* 0: the reference does not resolve (the gateway answers 500 for its share) */
} gw_route_backend;

/* A handle with no routes yet. */
GW_API gw_status gw_router_new(gw_router** out);
/* Frees the handle; matches under way must have returned. NULL does nothing. */
GW_API void gw_router_free(gw_router* router);
/* Why the last call on `router` failed (NULL: a failure without a handle). */
GW_API const char* gw_router_errmsg(const gw_router* router);
/* Loads the routes of a Kubernetes YAML config (the gateway's own format);
 * GW_INVALID_CONFIG with every problem found, the routes before kept. */
GW_API gw_status gw_router_load_yaml(gw_router* router, const char* yaml, size_t length);
GW_API gw_status gw_router_load_file(gw_router* router, const char* path);
/* Matches `request` (method, url, headers; listener to name one, else the
 * URL's port and Host choose it as for a connection; body and client_ip are
 * not used). The path is normalised as the listener would. *match is NULL
 * when no route takes the request (the gateway's 404), else the caller's:
 * gw_route_match_free. GW_NOT_FOUND: no listener for the URL or name. */
GW_API gw_status gw_router_match(gw_router* router, const gw_request* request,
                                 gw_route_match** match);
GW_API void gw_route_match_free(gw_route_match* match);
/* "namespace/gateway/listener" (borrowed from the match; "" for NULL). */
GW_API const char* gw_route_match_listener(const gw_route_match* match);
/* The route, "namespace/name". */
GW_API const char* gw_route_match_route(const gw_route_match* match);
/* Its kind: "HTTPRoute", "GRPCRoute". */
GW_API const char* gw_route_match_kind(const gw_route_match* match);
/* The rule: its name, or "#N" (its index) when it has none. */
GW_API const char* gw_route_match_rule(const gw_route_match* match);
GW_API size_t gw_route_match_backend_count(const gw_route_match* match);
/* The backend at `index` into *out (set out->struct_size first). */
GW_API gw_status gw_route_match_backend(const gw_route_match* match, size_t index,
                                        gw_route_backend* out);

/* ---- The client: the upstream pool for a host's own calls ----------------
 * Calls to the Services of a client config (Kubernetes YAML: Services with
 * EndpointSlices, BackendTrafficPolicies that target Services, BackendTLS-
 * Policies, Secrets, ConfigMaps) named by URL, "http://SERVICE.NAMESPACE[:PORT]/
 * path", with the gateway's load balancing, health checks, outlier ejection,
 * circuit breakers, retries, timeouts and upstream TLS. A gw_client may be
 * used from several threads at once; a failed call's message is also the
 * calling thread's (gw_client_errmsg(NULL)), which concurrent callers read. */

typedef struct gw_client gw_client;
typedef struct gw_client_response gw_client_response;

/* How a client runs; zero is the default of every field. */
typedef struct gw_client_options {
  size_t struct_size; /* sizeof(gw_client_options) */
  unsigned threads;   /* event-loop threads the calls run on; 0: one */
  gw_log_fn log;      /* receives the lines at or above `level`; NULL: warnings
                         and errors go to stderr (and `level` is not used) */
  gw_log_level level;
  void* log_user_data;
} gw_client_options;

/* A client with no config yet (options NULL: one thread, warnings to stderr). */
GW_API gw_status gw_client_new(const gw_client_options* options, gw_client** out);
/* Closes the client (calls in flight end with GW_UNAVAILABLE) and frees it;
 * calls from other threads must have returned. NULL does nothing. */
GW_API void gw_client_free(gw_client* client);
/* Why the last call on `client` failed; NULL: the calling thread's last failure. */
GW_API const char* gw_client_errmsg(const gw_client* client);
/* Loads a client config: the first load starts the client, a later one
 * replaces the config while calls flow (GW_INVALID_CONFIG, with every
 * problem found, keeps the one before). */
GW_API gw_status gw_client_load_yaml(gw_client* client, const char* yaml, size_t length);
GW_API gw_status gw_client_load_file(gw_client* client, const char* path);
/* Sends `request` (method, absolute url, headers, body; client_ip and
 * listener unused) and waits for its whole response, at most `timeout_ms`
 * for all tries (0: the route's). The upstream's response, or the gateway's
 * own (503, 504) when the upstream gave none, is in *response (the caller's:
 * gw_client_response_free). Fails with GW_INVALID_ARGUMENT (a bad URL or
 * header), GW_NOT_FOUND (no Service for the URL's host and port),
 * GW_UNAVAILABLE (the response was cut, or the client closed) and
 * GW_INVALID_STATE (nothing loaded, or closed). */
GW_API gw_status gw_client_send(gw_client* client, const gw_request* request, uint32_t timeout_ms,
                                gw_client_response** response);
/* Receives an asynchronous call's end on a client thread: status GW_OK with
 * the response (the callee's: gw_client_response_free), or a failure with
 * `response` NULL and `message` saying why (valid for the call). */
typedef void (*gw_client_done_fn)(void* user_data, gw_status status, gw_client_response* response,
                                  const char* message);
/* Sends `request` (copied before it returns) and returns at once; `done`
 * runs exactly once, unless this returns a failure. */
GW_API gw_status gw_client_send_async(gw_client* client, const gw_request* request,
                                      uint32_t timeout_ms, gw_client_done_fn done, void* user_data);
/* The client's stats in Prometheus text (caller's: gw_string_free). */
GW_API gw_status gw_client_stats(gw_client* client, char** text, size_t* length);
/* Stops the client: calls in flight end with GW_UNAVAILABLE, later ones fail
 * with GW_INVALID_STATE. Not from a gw_client_done_fn. */
GW_API gw_status gw_client_close(gw_client* client);

GW_API void gw_client_response_free(gw_client_response* response);
/* The status code (0 for NULL). */
GW_API int gw_client_response_status(const gw_client_response* response);
GW_API size_t gw_client_response_header_count(const gw_client_response* response);
/* Header field `index` into *out, borrowed from the response; GW_NOT_FOUND
 * past the last. */
GW_API gw_status gw_client_response_header(const gw_client_response* response, size_t index,
                                           gw_header* out);
/* The body (borrowed from the response, not NUL-terminated) and its length. */
GW_API const char* gw_client_response_body(const gw_client_response* response, size_t* length);

/* ---- The middleware: the gateway's policies in front of a host's handlers --
 * A gateway config (Gateway + HTTPRoutes, whose rules need no backendRefs,
 * and the policies and filters on them) run on a host's own requests: each
 * request is routed, then the request side of the filters and policies
 * either answers it (gw_exchange_replied: a 401, the WAF's 403, a CORS
 * preflight, a 429) or lets it through, possibly modified, to the host's
 * handler (gw_exchange_method, _target, _header, _body), whose response goes
 * back through gw_exchange_respond for the response side. A gw_middleware may
 * be used from several threads at once; a failed call's message is also the
 * calling thread's (gw_middleware_errmsg(NULL)). */

typedef struct gw_middleware gw_middleware;
typedef struct gw_exchange gw_exchange;

/* A middleware with no config yet; `options` as a client's (NULL: one thread). */
GW_API gw_status gw_middleware_new(const gw_client_options* options, gw_middleware** out);
/* Closes (requests in flight end) and frees it; calls from other threads
 * must have returned. Exchanges may outlive it (gw_exchange_respond then
 * fails). NULL does nothing. */
GW_API void gw_middleware_free(gw_middleware* middleware);
/* Why the last call on `middleware` failed; NULL: the calling thread's last failure. */
GW_API const char* gw_middleware_errmsg(const gw_middleware* middleware);
/* The first load starts the middleware, a later one replaces the config while
 * requests flow (GW_INVALID_CONFIG keeps the one before). */
GW_API gw_status gw_middleware_load_yaml(gw_middleware* middleware, const char* yaml,
                                         size_t length);
GW_API gw_status gw_middleware_load_file(gw_middleware* middleware, const char* path);
/* Runs the request side on `request` (method, url "/path?query" with a Host
 * header or absolute, headers, body, client_ip, listener) and waits for its
 * outcome in *exchange (the caller's: gw_exchange_free). GW_INVALID_ARGUMENT
 * for a malformed URL, GW_NOT_FOUND for no listener by that name or port,
 * GW_INVALID_STATE when nothing is loaded or it is closed. */
GW_API gw_status gw_middleware_handle(gw_middleware* middleware, const gw_request* request,
                                      gw_exchange** exchange);
/* The stats in Prometheus text (caller's: gw_string_free). */
GW_API gw_status gw_middleware_stats(gw_middleware* middleware, char** text, size_t* length);
/* Stops: requests in flight end, later ones fail with GW_INVALID_STATE. */
GW_API gw_status gw_middleware_close(gw_middleware* middleware);

/* 1 when the middleware answered (send gw_exchange_response; the handler does not run). */
GW_API int gw_exchange_replied(const gw_exchange* exchange);
/* The middleware's answer once replied, or the final response after
 * gw_exchange_respond (read with the gw_client_response_* functions);
 * borrowed from the exchange; NULL before either. */
GW_API const gw_client_response* gw_exchange_response(const gw_exchange* exchange);
/* The request for the handler, borrowed from the exchange ("" when replied). */
GW_API const char* gw_exchange_method(const gw_exchange* exchange, size_t* length);
GW_API const char* gw_exchange_target(const gw_exchange* exchange, size_t* length);
GW_API size_t gw_exchange_header_count(const gw_exchange* exchange);
GW_API gw_status gw_exchange_header(const gw_exchange* exchange, size_t index, gw_header* out);
GW_API const char* gw_exchange_body(const gw_exchange* exchange, size_t* length);
/* The handler's response (status, headers, body): the response side runs on
 * it, and gw_exchange_response then holds what to send. Once; GW_INVALID_STATE
 * when replied, answered already or the middleware closed, GW_UNAVAILABLE
 * when the request ended meanwhile. */
GW_API gw_status gw_exchange_respond(gw_exchange* exchange, int status, const gw_header* headers,
                                     size_t header_count, const char* body, size_t body_length);
/* Frees it; one never answered ends its request unanswered. NULL does nothing. */
GW_API void gw_exchange_free(gw_exchange* exchange);

#ifdef __cplusplus
}
#endif

#endif /* GATEWAY_GATEWAY_H */
