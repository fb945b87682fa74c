/* The C ABI from C (C99, -pedantic): every function in <gateway/gateway.h>,
 * its misuse (NULL handles, wrong order, bad YAML, misbehaving filters), and
 * real requests through a started gateway to a real upstream on loopback. */
#define _POSIX_C_SOURCE 200809L
#include <gateway/gateway.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    ++checks;                                                                  \
    if (!(cond)) {                                                             \
      ++failures;                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_STATUS(expr, want)                                                            \
  do {                                                                                      \
    gw_status got_ = (expr);                                                                \
    ++checks;                                                                               \
    if (got_ != (want)) {                                                                   \
      ++failures;                                                                           \
      fprintf(stderr, "%s:%d: %s returned %d (%s), wanted %d\n", __FILE__, __LINE__, #expr, \
              (int)got_, gw_strerror(got_), (int)(want));                                   \
    }                                                                                       \
  } while (0)

#define S(literal) literal, sizeof(literal) - 1

static int contains(const char* text, const char* part) {
  return text && strstr(text, part) != NULL;
}

static void noop_hook(void) {}

static void sleep_ms(long ms) {
  struct timespec t;
  t.tv_sec = ms / 1000;
  t.tv_nsec = (ms % 1000) * 1000000L;
  nanosleep(&t, NULL);
}

/* ---- A real upstream: answers 200 with the request head as its body. ---- */

typedef struct upstream {
  int fd;
  uint16_t port;
  pthread_t thread;
} upstream;

/* A bound for a hung gateway, not a speed check: CI runs this under ASan on a
   loaded machine, where a first request once took longer than 5 s. */
static void set_timeouts(int fd) {
  struct timeval tv;
  tv.tv_sec = 60;
  tv.tv_usec = 0;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static void* upstream_loop(void* arg) {
  upstream* u = (upstream*)arg;
  for (;;) {
    int c = accept(u->fd, NULL, NULL);
    char head[16384];
    size_t used = 0;
    char* end = NULL;
    char answer[20000];
    int n;
    if (c < 0) return NULL; /* closed by upstream_stop */
    set_timeouts(c);
    while (used < sizeof head - 1) {
      ssize_t got = recv(c, head + used, sizeof head - 1 - used, 0);
      if (got <= 0) break;
      used += (size_t)got;
      head[used] = '\0';
      if ((end = strstr(head, "\r\n\r\n")) != NULL) break;
    }
    if (end && strncmp(head, "GET /trailers", 13) == 0) {
      /* A chunked answer that ends with a trailer field. */
      static const char chunked[] =
          "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
          "5\r\nhello\r\n0\r\nx-up-trailer: t1\r\n\r\n";
      send(c, chunked, sizeof chunked - 1, MSG_NOSIGNAL);
    } else if (end) {
      size_t head_len = (size_t)(end + 4 - head);
      n = snprintf(answer, sizeof answer,
                   "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %zu\r\n"
                   "x-upstream: yes\r\nconnection: close\r\n\r\n%.*s",
                   head_len, (int)head_len, head);
      if (n > 0) send(c, answer, (size_t)n, MSG_NOSIGNAL);
    }
    close(c);
  }
}

static int upstream_start(upstream* u) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  u->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (u->fd < 0 || bind(u->fd, (struct sockaddr*)&a, sizeof a) != 0 || listen(u->fd, 64) != 0)
    return -1;
  getsockname(u->fd, (struct sockaddr*)&a, &len);
  u->port = ntohs(a.sin_port);
  return pthread_create(&u->thread, NULL, upstream_loop, u);
}

static void upstream_stop(upstream* u) {
  shutdown(u->fd, SHUT_RDWR);
  close(u->fd);
  pthread_join(u->thread, NULL);
}

/* One request on a new connection; the whole answer into `out` (NUL-terminated). */
static int fetch(uint16_t port, const char* request, char* out, size_t size) {
  struct sockaddr_in a;
  size_t used = 0;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  out[0] = '\0';
  if (fd < 0) return -1;
  set_timeouts(fd);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0 ||
      send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
    close(fd);
    return -1;
  }
  while (used < size - 1) {
    ssize_t got = recv(fd, out + used, size - 1 - used, 0);
    if (got <= 0) break;
    used += (size_t)got;
  }
  out[used] = '\0';
  close(fd);
  return (int)used;
}

/* The status of a GET of `path` with `extra` header lines. */
static int get(uint16_t port, const char* path, const char* extra, char* out, size_t size) {
  char request[2048];
  int status = 0;
  snprintf(request, sizeof request,
           "GET %s HTTP/1.1\r\nhost: app.test\r\n%sconnection: close\r\n\r\n", path, extra);
  if (fetch(port, request, out, size) < 12) return 0;
  sscanf(out, "HTTP/1.1 %d", &status);
  return status;
}

/* ---- Filters written in C ---------------------------------------------- */

typedef struct tenant_config {
  char tenant[64];
  uint32_t refused; /* gw_filter_counter, declared in configure */
} tenant_config;

typedef struct host_state {
  gw_gateway* gw;
  int configured;
  int released;
  int done;
  int stop_from_hook; /* what gw_gateway_stop returned inside a hook */
  int log_lines;
  int saw_listening;
  pthread_mutex_t mutex;
} host_state;

/* {"tenant": "blue"}: a host would use a JSON parser; this is enough here. */
static int tenant_configure(void* user_data, const char* json, size_t length, void** config,
                            char* error, size_t error_size) {
  host_state* h = (host_state*)user_data;
  const char* key = "\"tenant\":\"";
  char copy[256];
  const char* at;
  const char* end;
  tenant_config* c;
  if (length >= sizeof copy) length = sizeof copy - 1;
  memcpy(copy, json, length);
  copy[length] = '\0';
  at = strstr(copy, key);
  if (!at || !(end = strchr(at + strlen(key), '"'))) {
    snprintf(error, error_size, "config needs a \"tenant\" string");
    return 1;
  }
  c = (tenant_config*)calloc(1, sizeof *c);
  if (!c) return 1;
  at += strlen(key);
  memcpy(c->tenant, at,
         (size_t)(end - at) < sizeof c->tenant - 1 ? (size_t)(end - at) : sizeof c->tenant - 1);
  c->refused = gw_filter_counter(S("refused"));
  if (c->refused == GW_NO_COUNTER || gw_filter_counter("", 0) != GW_NO_COUNTER) {
    snprintf(error, error_size, "gw_filter_counter failed in configure");
    free(c);
    return 1;
  }
  *config = c;
  pthread_mutex_lock(&h->mutex);
  ++h->configured;
  pthread_mutex_unlock(&h->mutex);
  return 0;
}

static void tenant_release(void* user_data, void* config) {
  host_state* h = (host_state*)user_data;
  free(config);
  pthread_mutex_lock(&h->mutex);
  ++h->released;
  pthread_mutex_unlock(&h->mutex);
}

static int tenant_request(void* user_data, void* config, gw_stream* s) {
  tenant_config* c = (tenant_config*)config;
  const char* value;
  size_t length;
  char* copy;
  gw_header fields[1];
  (void)user_data;
  if (gw_stream_get_header(s, GW_REQUEST_HEADERS, S("X-Tenant"), &value, &length) != GW_OK ||
      length != strlen(c->tenant) || memcmp(value, c->tenant, length) != 0) {
    fields[0].name = "x-refused-by";
    fields[0].name_length = strlen("x-refused-by");
    fields[0].value = "tenant";
    fields[0].value_length = 6;
    gw_stream_send_reply(s, 403, fields, 1, S("unknown tenant\n"));
    gw_stream_count(s, c->refused, 1);
    return GW_FILTER_STOP;
  }
  gw_stream_set_header(s, GW_REQUEST_HEADERS, S("x-seen-tenant"), value, length);
  gw_stream_add_header(s, GW_REQUEST_HEADERS, S("x-added"), S("one"));
  gw_stream_add_header(s, GW_REQUEST_HEADERS, S("x-added"), S("two"));
  gw_stream_remove_header(s, GW_REQUEST_HEADERS, S("x-remove-me"));
  gw_stream_set_metadata(s, S("tenant"), value, length);
  copy = (char*)malloc(length + 1);
  if (copy) {
    memcpy(copy, value, length);
    copy[length] = '\0';
  }
  gw_stream_set_user_data(s, copy);
  return GW_FILTER_CONTINUE;
}

static int tenant_response(void* user_data, void* config, gw_stream* s) {
  const char* tenant = (const char*)gw_stream_user_data(s);
  const char* value;
  size_t length;
  (void)user_data;
  (void)config;
  if (tenant)
    gw_stream_set_header(s, GW_RESPONSE_HEADERS, S("x-served-tenant"), tenant, strlen(tenant));
  if (gw_stream_get_metadata(s, S("tenant"), &value, &length) == GW_OK)
    gw_stream_set_header(s, GW_RESPONSE_HEADERS, S("x-metadata"), value, length);
  /* The body filter below changes the length of served tenants' answers. */
  if (tenant) gw_stream_remove_header(s, GW_RESPONSE_HEADERS, S("content-length"));
  return GW_FILTER_CONTINUE;
}

static int tenant_response_body(void* user_data, void* config, gw_stream* s, const char* data,
                                size_t length, int end) {
  (void)user_data;
  (void)config;
  (void)data;
  (void)length;
  if (!gw_stream_user_data(s)) return GW_FILTER_CONTINUE;
  if (end)
    return gw_stream_set_body_chunk(s, S("[rewritten by C]\n")) == GW_OK ? GW_FILTER_CONTINUE
                                                                         : GW_FILTER_STOP;
  return gw_stream_set_body_chunk(s, NULL, 0) == GW_OK ? GW_FILTER_CONTINUE : GW_FILTER_STOP;
}

static void tenant_done(void* user_data, void* config, gw_stream* s) {
  host_state* h = (host_state*)user_data;
  (void)config;
  free(gw_stream_user_data(s));
  gw_stream_set_user_data(s, NULL);
  pthread_mutex_lock(&h->mutex);
  ++h->done;
  pthread_mutex_unlock(&h->mutex);
}

/* Reads every request fact, answers with them, and checks control calls
 * are refused from a hook. */
static int facts_request(void* user_data, void* config, gw_stream* s) {
  host_state* h = (host_state*)user_data;
  static const gw_stream_field fields[] = {
      GW_FIELD_METHOD, GW_FIELD_PATH,      GW_FIELD_QUERY,      GW_FIELD_HOST,
      GW_FIELD_SCHEME, GW_FIELD_CLIENT_IP, GW_FIELD_REQUEST_ID, GW_FIELD_LISTENER,
      GW_FIELD_ROUTE,  GW_FIELD_PROTOCOL};
  char body[2048];
  size_t used = 0;
  size_t i, count = 0;
  gw_header field;
  (void)config;
  for (i = 0; i < sizeof fields / sizeof fields[0]; ++i) {
    const char* v;
    size_t n;
    if (gw_stream_get(s, fields[i], &v, &n) != GW_OK) return GW_FILTER_STOP;
    used +=
        (size_t)snprintf(body + used, sizeof body - used, "%d=%.*s\n", (int)fields[i], (int)n, v);
  }
  if (gw_stream_get(s, (gw_stream_field)99, &field.name, &field.name_length) != GW_INVALID_ARGUMENT)
    return GW_FILTER_STOP;
  gw_stream_header_count(s, GW_REQUEST_HEADERS, &count);
  for (i = 0; i < count; ++i)
    if (gw_stream_header_at(s, GW_REQUEST_HEADERS, i, &field) == GW_OK)
      used +=
          (size_t)snprintf(body + used, sizeof body - used, "h:%.*s=%.*s\n", (int)field.name_length,
                           field.name, (int)field.value_length, field.value);
  if (gw_stream_header_at(s, GW_REQUEST_HEADERS, count, &field) != GW_NOT_FOUND)
    return GW_FILTER_STOP;
  if (gw_stream_remove_header(s, GW_REQUEST_HEADERS, S("x-absent")) != GW_NOT_FOUND)
    return GW_FILTER_STOP;
  if (gw_stream_send_reply(s, 99, NULL, 0, NULL, 0) != GW_INVALID_ARGUMENT) return GW_FILTER_STOP;
  if (gw_stream_set_body_chunk(s, S("x")) != GW_INVALID_ARGUMENT) return GW_FILTER_STOP;
  if (gw_stream_response_status(s) != 0) return GW_FILTER_STOP;
  h->stop_from_hook = (int)gw_gateway_stop(h->gw, 0);
  if (gw_stream_buffer_request_body(s, 1024) != GW_OK) return GW_FILTER_STOP;
  gw_stream_send_reply(s, 200, NULL, 0, body, used);
  return GW_FILTER_STOP;
}

/* Misbehaving hooks: each must end its request with a 500, not a crash. */
static int bad_request(void* user_data, void* config, gw_stream* s) {
  const char* path;
  size_t n;
  (void)user_data;
  (void)config;
  gw_stream_get(s, GW_FIELD_PATH, &path, &n);
  if (n >= 9 && memcmp(path, "/bad/code", 9) == 0) return 42;
  if (n >= 10 && memcmp(path, "/bad/pause", 10) == 0) return GW_FILTER_PAUSE;
  if (n >= 9 && memcmp(path, "/bad/stop", 9) == 0) return GW_FILTER_STOP;
  if (n >= 9 && memcmp(path, "/bad/drop", 9) == 0) {
    gw_stream_drop(s);
    return GW_FILTER_STOP;
  }
  return GW_FILTER_CONTINUE;
}

/* Pauses every request; a thread resumes it 20 ms later. */
static void* resume_later(void* arg) {
  sleep_ms(20);
  gw_stream_resume((gw_pause*)arg);
  return NULL;
}

static gw_pause* kept_pause = NULL; /* /hold: never resumed while the gateway runs */

static int pause_request(void* user_data, void* config, gw_stream* s) {
  const char* path;
  size_t n;
  gw_pause* p;
  pthread_t t;
  (void)user_data;
  (void)config;
  gw_stream_get(s, GW_FIELD_PATH, &path, &n);
  p = gw_stream_pause(s);
  if (!p) return GW_FILTER_STOP;
  if (n == 5 && memcmp(path, "/hold", 5) == 0) {
    kept_pause = p;
    return GW_FILTER_PAUSE;
  }
  if (pthread_create(&t, NULL, resume_later, p) != 0) return GW_FILTER_STOP;
  pthread_detach(t);
  return GW_FILTER_PAUSE;
}

static int pause_resume(void* user_data, void* config, gw_stream* s) {
  (void)user_data;
  (void)config;
  gw_stream_set_header(s, GW_REQUEST_HEADERS, S("x-resumed"), S("yes"));
  return GW_FILTER_CONTINUE;
}

/* A trailers hook: reads the upstream's trailer and adds one of its own. */
static int trailer_hook(void* user_data, void* config, gw_stream* s) {
  const char* value = NULL;
  size_t length = 0;
  char seen[64];
  (void)user_data;
  (void)config;
  if (gw_stream_get_header(s, GW_RESPONSE_TRAILERS, S("x-up-trailer"), &value, &length) != GW_OK)
    return GW_FILTER_CONTINUE;
  snprintf(seen, sizeof seen, "seen-%.*s", (int)length, value);
  gw_stream_add_header(s, GW_RESPONSE_TRAILERS, S("x-c-trailer"), seen, strlen(seen));
  return GW_FILTER_CONTINUE;
}

static void on_log(void* user_data, gw_log_level level, const char* message, size_t length) {
  host_state* h = (host_state*)user_data;
  (void)level;
  pthread_mutex_lock(&h->mutex);
  ++h->log_lines;
  if (length >= 12 && memcmp(message, "listening on", 12) == 0) h->saw_listening = 1;
  pthread_mutex_unlock(&h->mutex);
}

/* ---- Config ------------------------------------------------------------- */

static const char* config_template =
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: web}\n"
    "spec:\n"
    "  gatewayClassName: any\n"
    "  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: app}\n"
    "spec: {ports: [{name: http, port: 80}]}\n"
    "---\n"
    "apiVersion: discovery.k8s.io/v1\n"
    "kind: EndpointSlice\n"
    "metadata: {name: app, labels: {kubernetes.io/service-name: app}}\n"
    "addressType: IPv4\n"
    "endpoints: [{addresses: [127.0.0.1]}]\n"
    "ports: [{name: http, port: %u}]\n"
    "---\n"
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: HTTPRoute\n"
    "metadata: {name: app}\n"
    "spec:\n"
    "  parentRefs: [{name: web}]\n"
    "  rules:\n"
    "  - matches: [{path: {type: PathPrefix, value: /tenant}}]\n"
    "    backendRefs: [{name: app, port: 80}]\n"
    "    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: "
    "blue}}]\n"
    "  - matches: [{path: {type: PathPrefix, value: /facts}}]\n"
    "    backendRefs: [{name: app, port: 80}]\n"
    "    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: "
    "facts}}]\n"
    "  - matches: [{path: {type: PathPrefix, value: /bad}}]\n"
    "    backendRefs: [{name: app, port: 80}]\n"
    "    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: "
    "bad}}]\n"
    "  - matches: [{path: {type: PathPrefix, value: /slow}}, {path: {type: PathPrefix, value: "
    "/hold}}]\n"
    "    backendRefs: [{name: app, port: 80}]\n"
    "    timeouts: {request: 2s}\n"
    "    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: "
    "pauser}}]\n"
    "  - matches: [{path: {type: PathPrefix, value: /trailers}}]\n"
    "    backendRefs: [{name: app, port: 80}]\n"
    "    filters: [{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: "
    "trailer}}]\n"
    "  - backendRefs: [{name: app, port: 80}]\n"
    "---\n"
    "apiVersion: gateway.dev/v1alpha1\n"
    "kind: Filter\n"
    "metadata: {name: trailer}\n"
    "spec: {type: trailer}\n"
    "---\n"
    "apiVersion: gateway.dev/v1alpha1\n"
    "kind: Filter\n"
    "metadata: {name: blue}\n"
    "spec: {type: tenant, config: {tenant: blue}}\n"
    "---\n"
    "apiVersion: gateway.dev/v1alpha1\n"
    "kind: Filter\n"
    "metadata: {name: facts}\n"
    "spec: {type: facts}\n"
    "---\n"
    "apiVersion: gateway.dev/v1alpha1\n"
    "kind: Filter\n"
    "metadata: {name: bad}\n"
    "spec: {type: bad}\n"
    "---\n"
    "apiVersion: gateway.dev/v1alpha1\n"
    "kind: Filter\n"
    "metadata: {name: pauser}\n"
    "spec: {type: pauser}\n";

/* ---- Tests -------------------------------------------------------------- */

static void test_version_and_errors(void) {
  char number[32];
  CHECK(gw_version_number() == GW_VERSION_NUMBER);
  snprintf(number, sizeof number, "%d.%d.%d", GW_VERSION_MAJOR, GW_VERSION_MINOR, GW_VERSION_PATCH);
  CHECK(strcmp(gw_version(), number) == 0);
  CHECK(strcmp(gw_strerror(GW_OK), "ok") == 0);
  CHECK(contains(gw_strerror(GW_INVALID_CONFIG), "configuration"));
  CHECK(strlen(gw_strerror(GW_ERROR)) > 0 && strlen(gw_strerror(GW_INVALID_ARGUMENT)) > 0 &&
        strlen(gw_strerror(GW_BIND_FAILED)) > 0 && strlen(gw_strerror(GW_INVALID_STATE)) > 0 &&
        strlen(gw_strerror(GW_NOT_FOUND)) > 0 && strlen(gw_strerror(GW_NO_MEMORY)) > 0);
  CHECK(strcmp(gw_strerror((gw_status)1234), "unknown status") == 0);
}

static void test_null_handles(void) {
  char* text = NULL;
  size_t length = 0;
  uint16_t port = 0;
  gw_request rq;
  gw_filter_callbacks cb;
  memset(&rq, 0, sizeof rq);
  memset(&cb, 0, sizeof cb);
  cb.struct_size = sizeof cb;

  CHECK_STATUS(gw_gateway_new(NULL), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_errmsg(NULL), "out is NULL"));
  gw_gateway_free(NULL);
  gw_string_free(NULL);
  gw_pause_free(NULL);
  CHECK_STATUS(gw_gateway_set_log(NULL, GW_LOG_INFO, NULL, NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_set_admin(NULL, S("127.0.0.1"), 0), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_bind_all(NULL, S("127.0.0.1")), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_load_yaml(NULL, S("a: b")), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_load_file(NULL, "x.yaml"), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_start(NULL, 1), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_stop(NULL, 0), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_reload_yaml(NULL, S("a: b")), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_reload_file(NULL, "x.yaml"), GW_INVALID_ARGUMENT);
  CHECK(gw_gateway_config_version(NULL) == 0);
  CHECK_STATUS(gw_gateway_port(NULL, NULL, 0, &port), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_admin_port(NULL, &port), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_stats(NULL, &text, &length), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_config_json(NULL, &text, &length), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_evaluate(NULL, &rq, &text, &length), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_add_filter(NULL, S("x"), &cb, NULL), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_errmsg(NULL), "gateway is NULL"));

  /* A stream outside a hook, or NULL, is refused. */
  {
    const char* v;
    size_t n;
    gw_header h;
    CHECK_STATUS(gw_stream_get(NULL, GW_FIELD_PATH, &v, &n), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_get_header(NULL, GW_REQUEST_HEADERS, S("a"), &v, &n),
                 GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_header_count(NULL, GW_REQUEST_HEADERS, &n), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_header_at(NULL, GW_REQUEST_HEADERS, 0, &h), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_set_header(NULL, GW_REQUEST_HEADERS, S("a"), S("b")),
                 GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_add_header(NULL, GW_REQUEST_HEADERS, S("a"), S("b")),
                 GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_remove_header(NULL, GW_REQUEST_HEADERS, S("a")), GW_INVALID_ARGUMENT);
    CHECK(gw_stream_response_status(NULL) == 0);
    CHECK_STATUS(gw_stream_send_reply(NULL, 200, NULL, 0, NULL, 0), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_drop(NULL), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_buffer_request_body(NULL, 10), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_set_body_chunk(NULL, S("x")), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_set_metadata(NULL, S("k"), S("v")), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_stream_get_metadata(NULL, S("k"), &v, &n), GW_INVALID_ARGUMENT);
    gw_stream_set_user_data(NULL, &n);
    CHECK(gw_stream_user_data(NULL) == NULL);
    CHECK_STATUS(gw_stream_count(NULL, 0, 1), GW_INVALID_ARGUMENT);
    CHECK(gw_filter_counter(S("outside")) == GW_NO_COUNTER); /* not in a configure */
    CHECK(gw_stream_pause(NULL) == NULL);
    CHECK_STATUS(gw_stream_resume(NULL), GW_INVALID_ARGUMENT);
  }
}

static void test_wrong_order_and_bad_input(void) {
  gw_gateway* gw = NULL;
  char* text = NULL;
  size_t length = 0;
  uint16_t port = 0;
  gw_request rq;
  gw_filter_callbacks cb;
  memset(&rq, 0, sizeof rq);
  rq.struct_size = sizeof rq;
  memset(&cb, 0, sizeof cb);

  CHECK_STATUS(gw_gateway_new(&gw), GW_OK);
  CHECK(gw != NULL);
  CHECK(strcmp(gw_errmsg(gw), "") == 0);
  CHECK_STATUS(gw_gateway_start(gw, 1), GW_INVALID_STATE);
  CHECK(contains(gw_errmsg(gw), "no configuration loaded"));
  CHECK_STATUS(gw_gateway_reload_yaml(gw, S("a: b")), GW_INVALID_STATE);
  CHECK(contains(gw_errmsg(gw), "not running"));
  CHECK_STATUS(gw_gateway_stop(gw, 0), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_port(gw, NULL, 0, &port), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_stats(gw, &text, &length), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_config_json(gw, &text, &length), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_INVALID_STATE);
  CHECK(gw_gateway_config_version(gw) == 0);

  /* Arguments that make no sense. */
  CHECK_STATUS(gw_gateway_set_log(gw, (gw_log_level)17, NULL, NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_set_admin(gw, NULL, 0, 0), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_bind_all(gw, S("not-an-address")), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_errmsg(gw), "not an IPv4 or IPv6 address"));
  CHECK_STATUS(gw_gateway_load_yaml(gw, NULL, 5), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_load_file(gw, NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_add_filter(gw, S("nosize"), &cb, NULL), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_errmsg(gw), "struct_size"));
  cb.struct_size = sizeof cb;
  CHECK_STATUS(gw_gateway_add_filter(gw, NULL, 0, &cb, NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_add_filter(gw, S("x"), NULL, NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_add_filter(gw, S("cors"), &cb, NULL), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_errmsg(gw), "exists already"));
  CHECK_STATUS(gw_gateway_add_filter(gw, S("mine"), &cb, NULL), GW_OK);
  CHECK_STATUS(gw_gateway_add_filter(gw, S("mine"), &cb, NULL), GW_INVALID_ARGUMENT);

  /* Broken configurations: a clear error with the place, nothing loaded. */
  CHECK_STATUS(gw_gateway_load_yaml(gw, S("kind: Gateway\nmetadata: {name: [unclosed\n")),
               GW_INVALID_CONFIG);
  CHECK(strlen(gw_errmsg(gw)) > 0);
  CHECK_STATUS(gw_gateway_load_yaml(gw, S("apiVersion: v1\nkind: Mystery\nmetadata: {name: x}\n")),
               GW_INVALID_CONFIG);
  CHECK(contains(gw_errmsg(gw), "Mystery"));
  CHECK_STATUS(gw_gateway_load_file(gw, "/nonexistent/gateway.yaml"), GW_INVALID_CONFIG);
  CHECK(contains(gw_errmsg(gw), "/nonexistent/gateway.yaml"));
  CHECK_STATUS(gw_gateway_start(gw, 1), GW_INVALID_STATE);

  /* A good one; then the setters are closed. */
  CHECK_STATUS(gw_gateway_bind_all(gw, S("127.0.0.1")), GW_OK);
  {
    char yaml[8192];
    int n = snprintf(yaml, sizeof yaml, config_template, 9u);
    const char* plain = strstr(yaml, "---\napiVersion: gateway.dev"); /* without our filters */
    (void)n;
    CHECK_STATUS(gw_gateway_load_yaml(gw, yaml, (size_t)(plain - yaml)), GW_INVALID_CONFIG);
    CHECK(contains(gw_errmsg(gw), "blue")); /* the route names a Filter that does not exist */
  }
  CHECK_STATUS(
      gw_gateway_load_yaml(gw, S("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
                                 "metadata: {name: web}\nspec:\n  gatewayClassName: any\n"
                                 "  listeners: [{name: http, port: 80, protocol: HTTP}]\n")),
      GW_OK);
  CHECK(gw_gateway_config_version(gw) == 1);
  CHECK_STATUS(gw_gateway_set_log(gw, GW_LOG_INFO, NULL, NULL), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_set_admin(gw, S("127.0.0.1"), 0), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_bind_all(gw, S("127.0.0.1")), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_add_filter(gw, S("late"), &cb, NULL), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_config_json(gw, &text, &length), GW_OK);
  CHECK(text && strlen(text) == length && contains(text, "default/web/http"));
  gw_string_free(text);
  text = NULL;
  CHECK_STATUS(gw_gateway_config_json(gw, NULL, &length), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_start(gw, 5000), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_start(gw, 1), GW_OK);
  CHECK_STATUS(gw_gateway_start(gw, 1), GW_INVALID_STATE);
  CHECK(contains(gw_errmsg(gw), "already running"));
  CHECK_STATUS(gw_gateway_load_yaml(gw, S("a: b")), GW_INVALID_STATE);
  CHECK_STATUS(gw_gateway_port(gw, S("no/such/listener"), &port), GW_NOT_FOUND);
  CHECK(contains(gw_errmsg(gw), "no/such/listener"));
  CHECK_STATUS(gw_gateway_port(gw, S("x"), NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_gateway_admin_port(gw, &port), GW_NOT_FOUND);
  CHECK_STATUS(gw_gateway_stop(gw, 100), GW_OK);
  CHECK_STATUS(gw_gateway_stop(gw, 100), GW_OK);
  CHECK_STATUS(gw_gateway_start(gw, 1), GW_INVALID_STATE);
  CHECK(contains(gw_errmsg(gw), "does not restart"));
  CHECK_STATUS(gw_gateway_reload_yaml(gw, S("a: b")), GW_INVALID_STATE);
  gw_gateway_free(gw);

  /* Freed while running: stops first. */
  CHECK_STATUS(gw_gateway_new(&gw), GW_OK);
  CHECK_STATUS(gw_gateway_bind_all(gw, S("127.0.0.1")), GW_OK);
  CHECK_STATUS(gw_gateway_set_log(gw, GW_LOG_OFF, NULL, NULL), GW_OK);
  CHECK_STATUS(
      gw_gateway_load_yaml(gw, S("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
                                 "metadata: {name: web}\nspec:\n  gatewayClassName: any\n"
                                 "  listeners: [{name: http, port: 80, protocol: HTTP}]\n")),
      GW_OK);
  CHECK_STATUS(gw_gateway_start(gw, 2), GW_OK);
  gw_gateway_free(gw);

  /* Strict mode: a backend reference that does not resolve is an error at
   * load (without it, a warning and a 500 for that route). */
  {
    const char* unresolved =
        "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n"
        "metadata: {name: web}\nspec:\n  gatewayClassName: any\n"
        "  listeners: [{name: http, port: 80, protocol: HTTP}]\n---\n"
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\n"
        "spec:\n  parentRefs: [{name: web}]\n  rules:\n  - backendRefs: [{name: gone, port: 80}]\n";
    CHECK_STATUS(gw_gateway_new(&gw), GW_OK);
    CHECK_STATUS(gw_gateway_set_log(gw, GW_LOG_OFF, NULL, NULL), GW_OK);
    CHECK_STATUS(gw_gateway_set_strict(NULL, 1), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_gateway_set_strict(gw, 1), GW_OK);
    CHECK_STATUS(gw_gateway_load_yaml(gw, unresolved, strlen(unresolved)), GW_INVALID_CONFIG);
    CHECK(contains(gw_errmsg(gw), "strict mode") && contains(gw_errmsg(gw), "gone"));
    gw_gateway_free(gw);
    CHECK_STATUS(gw_gateway_new(&gw), GW_OK);
    CHECK_STATUS(gw_gateway_set_log(gw, GW_LOG_OFF, NULL, NULL), GW_OK);
    CHECK_STATUS(gw_gateway_load_yaml(gw, unresolved, strlen(unresolved)), GW_OK);
    CHECK_STATUS(gw_gateway_set_strict(gw, 1), GW_INVALID_STATE);
    gw_gateway_free(gw);
  }
}

static void test_serving(void) {
  upstream up;
  host_state host;
  gw_gateway* gw = NULL;
  gw_filter_callbacks tenant, facts, bad, pauser, trailer;
  char yaml[8192];
  char answer[65536];
  uint16_t port = 0, named = 0, admin = 0;
  char* text = NULL;
  size_t length = 0;
  int n;

  memset(&host, 0, sizeof host);
  pthread_mutex_init(&host.mutex, NULL);
  CHECK(upstream_start(&up) == 0);
  n = snprintf(yaml, sizeof yaml, config_template, (unsigned)up.port);
  CHECK(n > 0 && (size_t)n < sizeof yaml);

  CHECK_STATUS(gw_gateway_new(&gw), GW_OK);
  host.gw = gw;
  CHECK_STATUS(gw_gateway_set_log(gw, GW_LOG_INFO, on_log, &host), GW_OK);
  CHECK_STATUS(gw_gateway_set_admin(gw, S("127.0.0.1"), 0), GW_OK);
  CHECK_STATUS(gw_gateway_bind_all(gw, S("127.0.0.1")), GW_OK);

  memset(&tenant, 0, sizeof tenant);
  tenant.struct_size = sizeof tenant;
  tenant.configure = tenant_configure;
  tenant.release_config = tenant_release;
  tenant.on_request = tenant_request;
  tenant.on_response = tenant_response;
  tenant.on_response_body = tenant_response_body;
  tenant.on_done = tenant_done;
  CHECK_STATUS(gw_gateway_add_filter(gw, S("tenant"), &tenant, &host), GW_OK);
  memset(&facts, 0, sizeof facts);
  facts.struct_size = sizeof facts;
  facts.on_request = facts_request;
  CHECK_STATUS(gw_gateway_add_filter(gw, S("facts"), &facts, &host), GW_OK);
  /* An older, smaller table: only the fields up to on_request. */
  memset(&bad, 0, sizeof bad);
  bad.on_request = bad_request;
  bad.struct_size = offsetof(gw_filter_callbacks, on_request) + sizeof bad.on_request;
  CHECK_STATUS(gw_gateway_add_filter(gw, S("bad"), &bad, &host), GW_OK);
  memset(&pauser, 0, sizeof pauser);
  pauser.struct_size = sizeof pauser;
  pauser.on_request = pause_request;
  pauser.on_resume = pause_resume;
  CHECK_STATUS(gw_gateway_add_filter(gw, S("pauser"), &pauser, &host), GW_OK);
  memset(&trailer, 0, sizeof trailer);
  trailer.struct_size = sizeof trailer;
  trailer.on_response_trailers = trailer_hook;
  CHECK_STATUS(gw_gateway_add_filter(gw, S("trailer"), &trailer, &host), GW_OK);
  /* A newer, larger table: taken while its unknown hooks are NULL. */
  {
    struct {
      gw_filter_callbacks known;
      void (*on_something_new)(void);
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.known.struct_size = sizeof newer;
    CHECK_STATUS(gw_gateway_add_filter(gw, S("newer"), &newer.known, &host), GW_OK);
    newer.on_something_new = noop_hook;
    CHECK_STATUS(gw_gateway_add_filter(gw, S("newer2"), &newer.known, &host), GW_INVALID_ARGUMENT);
    CHECK(contains(gw_errmsg(gw), "newer gateway.h"));
  }

  /* A Filter whose config the C configure refuses. */
  {
    char broken[8192];
    char* at;
    memcpy(broken, yaml, (size_t)n + 1);
    at = strstr(broken, "config: {tenant: blue}");
    CHECK(at != NULL);
    if (at) memcpy(at, "config: {colour: blue}", strlen("config: {colour: blue}"));
    CHECK_STATUS(gw_gateway_load_yaml(gw, broken, strlen(broken)), GW_INVALID_CONFIG);
    CHECK(contains(gw_errmsg(gw), "needs a \"tenant\" string"));
  }
  CHECK_STATUS(gw_gateway_load_yaml(gw, yaml, (size_t)n), GW_OK);
  CHECK_STATUS(gw_gateway_start(gw, 2), GW_OK);
  CHECK(host.saw_listening);
  CHECK_STATUS(gw_gateway_port(gw, NULL, 0, &port), GW_OK);
  CHECK_STATUS(gw_gateway_port(gw, S("default/web/http"), &named), GW_OK);
  CHECK(port != 0 && port == named);
  CHECK_STATUS(gw_gateway_admin_port(gw, &admin), GW_OK);
  CHECK(admin != 0 && admin != port);

  /* The C filter refuses, edits, answers and rewrites. */
  CHECK(get(port, "/tenant", "", answer, sizeof answer) == 403);
  CHECK(contains(answer, "x-refused-by: tenant") && contains(answer, "unknown tenant"));
  CHECK(get(port, "/tenant/a", "x-tenant: blue\r\nx-remove-me: 1\r\n", answer, sizeof answer) ==
        200);
  CHECK(contains(answer, "x-served-tenant: blue") && contains(answer, "x-metadata: blue"));
  CHECK(contains(answer, "[rewritten by C]") && !contains(answer, "x-seen-tenant"));
  CHECK(get(port, "/other", "x-remove-me: 1\r\n", answer, sizeof answer) == 200);
  CHECK(contains(answer, "GET /other HTTP/1.1") && contains(answer, "x-remove-me: 1"));
  /* A trailers hook reads the upstream's trailers and adds to them. */
  CHECK(get(port, "/trailers", "", answer, sizeof answer) == 200);
  CHECK(contains(answer, "\r\nhello\r\n0\r\n") && contains(answer, "x-up-trailer: t1\r\n"));
  CHECK(contains(answer, "x-c-trailer: seen-t1\r\n"));
  /* What the upstream saw of a tenant request: the echo is replaced above,
   * so ask evaluate (below) and a route without the body rewrite. */

  /* Every fact, read from the stream. */
  CHECK(get(port, "/facts/x?q=1", "x-one: 1\r\n", answer, sizeof answer) == 200);
  CHECK(contains(answer, "0=GET\n") && contains(answer, "1=/facts/x\n") &&
        contains(answer, "2=q=1\n"));
  CHECK(contains(answer, "3=app.test\n") && contains(answer, "4=http\n") &&
        contains(answer, "5=127.0.0.1\n"));
  CHECK(contains(answer, "7=default/web/http\n") && contains(answer, "8=default/app\n") &&
        contains(answer, "9=HTTP/1.1\n") && contains(answer, "h:x-one=1\n"));
  CHECK(host.stop_from_hook == GW_INVALID_STATE);

  /* Misbehaving hooks: 500s, and the gateway keeps serving. */
  CHECK(get(port, "/bad/code", "", answer, sizeof answer) == 500);
  CHECK(get(port, "/bad/pause", "", answer, sizeof answer) == 500);
  CHECK(get(port, "/bad/stop", "", answer, sizeof answer) == 500);
  n = get(port, "/bad/drop", "", answer, sizeof answer);
  CHECK(n == 0 && answer[0] == 0);
  CHECK(get(port, "/bad/fine", "", answer, sizeof answer) == 200);

  /* Paused and resumed from another thread. */
  CHECK(get(port, "/slow", "", answer, sizeof answer) == 200);
  CHECK(contains(answer, "x-resumed: yes"));

  /* Stats and config. */
  CHECK_STATUS(gw_gateway_stats(gw, &text, &length), GW_OK);
  CHECK(text && strlen(text) == length && contains(text, "gateway_"));
  /* The one refusal of /tenant above, counted by the C filter. */
  CHECK(contains(text,
                 "gateway_filter_events_total{filter=\"Filter default/blue\",type=\"tenant\","
                 "event=\"refused\"} 1\n"));
  gw_string_free(text);
  CHECK_STATUS(gw_gateway_stats(gw, NULL, NULL), GW_INVALID_ARGUMENT);

  /* Evaluation agrees with what was served. */
  {
    gw_request rq;
    gw_header h[2];
    memset(&rq, 0, sizeof rq);
    rq.struct_size = sizeof rq;
    rq.url = "http://app.test/tenant/x";
    rq.url_length = strlen(rq.url);
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_OK);
    CHECK(contains(text, "\"status\":403") && contains(text, "\"route\":\"default/app\""));
    CHECK(contains(text, "\"decision\":\"reply\"") && contains(text, "\"upstream\":null"));
    gw_string_free(text);
    h[0].name = "x-tenant";
    h[0].name_length = 8;
    h[0].value = "blue";
    h[0].value_length = 4;
    h[1].name = "x-remove-me";
    h[1].name_length = 11;
    h[1].value = "1";
    h[1].value_length = 1;
    rq.headers = h;
    rq.header_count = 2;
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_OK);
    CHECK(contains(text, "[\"x-seen-tenant\",\"blue\"]") &&
          contains(text, "[\"x-added\",\"two\"]"));
    CHECK(!contains(text, "x-remove-me") && contains(text, "\"response\":null"));
    CHECK(contains(text, "\"backend\":\"") && contains(text, "\"endpoint\":\"127.0.0.1:"));
    gw_string_free(text);
    /* A filter that drops the connection: no response at all. */
    rq.headers = NULL;
    rq.header_count = 0;
    rq.url = "http://app.test/bad/drop";
    rq.url_length = strlen(rq.url);
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_OK);
    CHECK(contains(text, "\"dropped\":true") && contains(text, "\"decision\":\"drop\""));
    gw_string_free(text);
    rq.url = "http://app.test/bad/code";
    rq.url_length = strlen(rq.url);
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_OK);
    CHECK(contains(text, "\"status\":500"));
    gw_string_free(text);
    /* Structs that grow: an older, smaller request (here without `listener`)
     * works with defaults for what it lacks; a newer, larger one works while
     * its unknown tail is zero, and is refused when that tail asks for more. */
    {
      struct {
        gw_request known;
        size_t added_later;
        const char* another;
      } newer;
      rq.url = "http://app.test/tenant/x";
      rq.url_length = strlen(rq.url);
      rq.listener = "no-such-listener"; /* past the older struct's end: never read */
      rq.listener_length = strlen(rq.listener);
      rq.struct_size = offsetof(gw_request, listener);
      CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_OK);
      CHECK(contains(text, "\"status\":403"));
      gw_string_free(text);
      rq.listener = NULL;
      rq.listener_length = 0;
      memset(&newer, 0, sizeof newer);
      newer.known = rq;
      newer.known.struct_size = sizeof newer;
      CHECK_STATUS(gw_gateway_evaluate(gw, &newer.known, &text, &length), GW_OK);
      CHECK(contains(text, "\"status\":403"));
      gw_string_free(text);
      newer.added_later = 1;
      CHECK_STATUS(gw_gateway_evaluate(gw, &newer.known, &text, &length), GW_INVALID_ARGUMENT);
      CHECK(contains(gw_errmsg(gw), "newer gateway.h"));
    }
    /* Misuse. */
    rq.struct_size = 0;
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_INVALID_ARGUMENT);
    CHECK(contains(gw_errmsg(gw), "struct_size is not set"));
    rq.struct_size = sizeof rq;
    rq.url = "ftp://x/";
    rq.url_length = 8;
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_INVALID_CONFIG);
    CHECK(contains(gw_errmsg(gw), "URL"));
    rq.url = "http://app.test:81/";
    rq.url_length = strlen(rq.url);
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_NOT_FOUND);
    CHECK(contains(gw_errmsg(gw), "port 81"));
    rq.url = NULL;
    CHECK_STATUS(gw_gateway_evaluate(gw, &rq, &text, &length), GW_INVALID_ARGUMENT);
    CHECK_STATUS(gw_gateway_evaluate(gw, NULL, &text, &length), GW_INVALID_ARGUMENT);
  }

  /* Reload: a bad config keeps the old one, a good one replaces it. */
  CHECK(gw_gateway_config_version(gw) == 1);
  CHECK_STATUS(gw_gateway_reload_yaml(gw, S("apiVersion: v1\nkind: Mystery\n")), GW_INVALID_CONFIG);
  CHECK(contains(gw_errmsg(gw), "Mystery"));
  CHECK(gw_gateway_config_version(gw) == 1);
  CHECK(get(port, "/tenant", "", answer, sizeof answer) == 403);
  {
    char* at = strstr(yaml, "{tenant: blue}");
    CHECK(at != NULL);
    if (at) memcpy(at, "{tenant: gray}", 14);
    CHECK_STATUS(gw_gateway_reload_yaml(gw, yaml, strlen(yaml)), GW_OK);
    CHECK(gw_gateway_config_version(gw) == 2);
    CHECK(get(port, "/tenant", "x-tenant: gray\r\n", answer, sizeof answer) == 200);
    CHECK(get(port, "/tenant", "x-tenant: blue\r\n", answer, sizeof answer) == 403);
  }
  {
    /* The same from a file. */
    char path[] = "/tmp/gw_capi_testXXXXXX";
    int fd = mkstemp(path);
    char* at = strstr(yaml, "{tenant: gray}");
    CHECK(fd >= 0);
    if (at) memcpy(at, "{tenant: pink}", 14);
    if (fd >= 0) {
      CHECK(write(fd, yaml, strlen(yaml)) == (ssize_t)strlen(yaml));
      close(fd);
      CHECK_STATUS(gw_gateway_reload_file(gw, path), GW_OK);
      CHECK(gw_gateway_config_version(gw) == 3);
      CHECK(get(port, "/tenant", "x-tenant: pink\r\n", answer, sizeof answer) == 200);
      unlink(path);
    }
    CHECK_STATUS(gw_gateway_reload_file(gw, path), GW_INVALID_CONFIG);
  }

  /* A request left paused: stopping answers it (or closes it) at the deadline.
     The pause is resumed only after the gateway is freed, so a stop that waited
     for it would never return. */
  {
    char answer[512];
    struct pollfd pfd;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    const char* rq = "GET /hold HTTP/1.1\r\nhost: app.test\r\n\r\n";
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(fd, (struct sockaddr*)&a, sizeof a) == 0);
    CHECK(send(fd, rq, strlen(rq), MSG_NOSIGNAL) == (ssize_t)strlen(rq));
    for (n = 0; n < 500 && kept_pause == NULL; ++n)
      sleep_ms(10);
    CHECK(kept_pause != NULL);
    CHECK_STATUS(gw_gateway_stop(gw, 200), GW_OK);
    /* The client got an answer or the end of its connection, not silence. */
    pfd.fd = fd;
    pfd.events = POLLIN;
    CHECK(poll(&pfd, 1, 5000) == 1);
    CHECK(recv(fd, answer, sizeof answer, 0) >= 0);
    close(fd);
  }
  pthread_mutex_lock(&host.mutex);
  CHECK(host.configured >= 3 && host.done >= 2 && host.log_lines > 0);
  pthread_mutex_unlock(&host.mutex);
  gw_gateway_free(gw);
  /* Every config the C filter made was released with the gateway. */
  CHECK(host.released == host.configured);
  /* A pause handle outliving its gateway: resuming only frees it. */
  CHECK_STATUS(gw_stream_resume(kept_pause), GW_OK);
  kept_pause = NULL;
  upstream_stop(&up);
  pthread_mutex_destroy(&host.mutex);
}

/* The WAF handle on its own: inline rules, the CRS, modes, bad input and
 * the sized structs in both directions. */
static gw_request waf_request(const char* method, const char* url) {
  gw_request r;
  memset(&r, 0, sizeof r);
  r.struct_size = sizeof r;
  r.method = method;
  r.method_length = strlen(method);
  r.url = url;
  r.url_length = strlen(url);
  return r;
}

static void test_waf(void) {
  gw_waf* waf = NULL;
  gw_waf_verdict* v = NULL;
  gw_waf_rules rules;
  gw_request r;
  gw_waf_match m;
  size_t count = 0;
  static const char directives[] =
      "SecRuleEngine On\n"
      "SecRule ARGS \"@contains attack\" \"id:1001,phase:2,deny,status:403,msg:'attack seen'\"\n"
      "SecRule REQUEST_HEADERS:x-probe \"@streq yes\" \"id:1002,phase:1,pass,log,msg:'probe'\"\n";
  static const char* missing_file[] = {"/nonexistent/rules.conf"};

  CHECK_STATUS(gw_waf_new(NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_waf_new(&waf), GW_OK);
  /* Nothing loaded yet: every check passes. */
  r = waf_request("GET", "/?q=attack");
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_PASS && gw_waf_verdict_match_count(v) == 0);
  gw_waf_verdict_free(v);

  memset(&rules, 0, sizeof rules);
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_INVALID_ARGUMENT); /* struct_size unset */
  CHECK(contains(gw_waf_errmsg(waf), "struct_size"));
  rules.struct_size = sizeof rules;
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_INVALID_ARGUMENT); /* no rules at all */
  CHECK(contains(gw_waf_errmsg(waf), "no rules"));
  rules.directives = "SecNoSuchDirective On";
  rules.directives_length = strlen(rules.directives);
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_INVALID_CONFIG);
  CHECK(strlen(gw_waf_errmsg(waf)) > 0);
  rules.directives = NULL;
  rules.directives_length = 0;
  rules.files = missing_file;
  rules.file_count = 1;
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_INVALID_CONFIG);
  CHECK(contains(gw_waf_errmsg(waf), "/nonexistent/rules.conf"));
  rules.files = NULL;
  rules.file_count = 0;
  rules.paranoia_level = 7;
  rules.crs = 1;
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_waf_errmsg(waf), "paranoia_level 7"));

  rules.crs = 0;
  rules.paranoia_level = 0;
  rules.directives = directives;
  rules.directives_length = sizeof directives - 1;
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_OK);
  CHECK_STATUS(gw_waf_rule_count(waf, &count), GW_OK);
  CHECK(count >= 2); /* and the engine's own body-processing rules */

  r = waf_request("GET", "http://shop.test/search?q=an+attack+here");
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_DENY);
  CHECK(gw_waf_verdict_status(v) == 403);
  CHECK(gw_waf_verdict_match_count(v) == 1);
  memset(&m, 0, sizeof m);
  m.struct_size = sizeof m;
  CHECK_STATUS(gw_waf_verdict_match(v, 0, &m), GW_OK);
  CHECK(m.rule_id == 1001 && m.phase == 2 && m.disruptive);
  CHECK(m.message_length == strlen("attack seen") && memcmp(m.message, "attack seen", 11) == 0);
  CHECK_STATUS(gw_waf_verdict_match(v, 1, &m), GW_NOT_FOUND);
  /* An older caller's struct that ends after rule_id gets only that. */
  {
    gw_waf_match small;
    memset(&small, 0x5a, sizeof small);
    small.struct_size = offsetof(gw_waf_match, phase);
    CHECK_STATUS(gw_waf_verdict_match(v, 0, &small), GW_OK);
    CHECK(small.rule_id == 1001);
    CHECK(small.phase == 0x5a5a5a5a);
    small.struct_size = 0;
    CHECK_STATUS(gw_waf_verdict_match(v, 0, &small), GW_INVALID_ARGUMENT);
  }
  gw_waf_verdict_free(v);

  /* Detection only: the same match, no decision. A header rule that only logs. */
  {
    gw_header fields[2] = {{S("x-probe"), S("yes")},
                           {S("content-type"), S("application/x-www-form-urlencoded")}};
    r = waf_request("POST", "/form");
    r.headers = fields;
    r.header_count = 2;
    r.body = "q=attack";
    r.body_length = 8;
    CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_DETECTION_ONLY, &v), GW_OK);
    CHECK(gw_waf_verdict_action(v) == GW_WAF_PASS);
    CHECK(gw_waf_verdict_match_count(v) == 2);
    gw_waf_verdict_free(v);
  }
  r = waf_request("GET", "/?q=fine");
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_PASS && gw_waf_verdict_match_count(v) == 0);
  gw_waf_verdict_free(v);

  /* Bad input. */
  r = waf_request("GET", "ftp://x/");
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_waf_errmsg(waf), "ftp://x/"));
  CHECK(v == NULL);
  r = waf_request("GET", "/");
  CHECK_STATUS(gw_waf_check(waf, &r, (gw_waf_mode)9, &v), GW_INVALID_ARGUMENT);
  r.header_count = 2; /* headers NULL */
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_waf_check(NULL, &r, GW_WAF_ON, &v), GW_INVALID_ARGUMENT);
  CHECK(gw_waf_verdict_action(NULL) == GW_WAF_PASS && gw_waf_verdict_match_count(NULL) == 0);
  CHECK(strcmp(gw_waf_verdict_url(NULL), "") == 0);

  /* The CRS at paranoia level 1: an SQL injection is denied. */
  memset(&rules, 0, sizeof rules);
  rules.struct_size = sizeof rules;
  rules.crs = 1;
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_OK);
  CHECK_STATUS(gw_waf_rule_count(waf, &count), GW_OK);
  CHECK(count > 100);
  r = waf_request("GET", "http://shop.test/item?id=1%27%20OR%20%271%27%3D%271");
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_DENY && gw_waf_verdict_status(v) == 403);
  CHECK(gw_waf_verdict_match_count(v) >= 2);
  gw_waf_verdict_free(v);
  r = waf_request("GET", "http://shop.test/item?id=42");
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_PASS);
  gw_waf_verdict_free(v);
  gw_waf_free(waf);
  gw_waf_free(NULL);
  gw_waf_verdict_free(NULL);
}

/* Responses through the rules' response phases: status, headers, body. */
static void test_waf_response(void) {
  gw_waf* waf = NULL;
  gw_waf_verdict* v = NULL;
  gw_waf_rules rules;
  gw_request r = waf_request("GET", "http://shop.test/account");
  gw_response resp;
  gw_header text_plain = {S("content-type"), S("text/plain")};
  gw_waf_match m;
  static const char directives[] =
      "SecRuleEngine On\n"
      "SecRule RESPONSE_STATUS \"@streq 500\" \"id:2001,phase:3,deny,status:502,msg:'error "
      "page'\"\n"
      "SecRule RESPONSE_BODY \"@contains secret-token\" "
      "\"id:2002,phase:4,deny,status:403,msg:'leak'\"\n";
  CHECK_STATUS(gw_waf_new(&waf), GW_OK);
  memset(&rules, 0, sizeof rules);
  rules.struct_size = sizeof rules;
  rules.directives = directives;
  rules.directives_length = sizeof directives - 1;
  rules.response_body = 1;
  CHECK_STATUS(gw_waf_load(waf, &rules), GW_OK);

  memset(&resp, 0, sizeof resp);
  resp.struct_size = sizeof resp;
  resp.status = 500;
  CHECK_STATUS(gw_waf_check_response(waf, &r, &resp, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_DENY && gw_waf_verdict_status(v) == 502);
  memset(&m, 0, sizeof m);
  m.struct_size = sizeof m;
  CHECK_STATUS(gw_waf_verdict_match(v, 0, &m), GW_OK);
  CHECK(m.rule_id == 2001 && m.phase == 3);
  gw_waf_verdict_free(v);

  resp.status = 200;
  resp.headers = &text_plain;
  resp.header_count = 1;
  resp.body = "your secret-token is here";
  resp.body_length = strlen(resp.body);
  CHECK_STATUS(gw_waf_check_response(waf, &r, &resp, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_DENY && gw_waf_verdict_status(v) == 403);
  CHECK_STATUS(gw_waf_verdict_match(v, 0, &m), GW_OK);
  CHECK(m.rule_id == 2002 && m.phase == 4);
  gw_waf_verdict_free(v);

  resp.body = "nothing to see";
  resp.body_length = strlen(resp.body);
  CHECK_STATUS(gw_waf_check_response(waf, &r, &resp, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_PASS && gw_waf_verdict_match_count(v) == 0);
  gw_waf_verdict_free(v);
  /* The request alone never reaches the response rules. */
  CHECK_STATUS(gw_waf_check(waf, &r, GW_WAF_ON, &v), GW_OK);
  CHECK(gw_waf_verdict_action(v) == GW_WAF_PASS);
  gw_waf_verdict_free(v);

  CHECK_STATUS(gw_waf_check_response(waf, &r, NULL, GW_WAF_ON, &v), GW_INVALID_ARGUMENT);
  resp.status = 42;
  CHECK_STATUS(gw_waf_check_response(waf, &r, &resp, GW_WAF_ON, &v), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_waf_errmsg(waf), "status 42"));
  resp.status = 200;
  resp.header_count = 3;
  resp.headers = NULL;
  CHECK_STATUS(gw_waf_check_response(waf, &r, &resp, GW_WAF_ON, &v), GW_INVALID_ARGUMENT);
  gw_waf_free(waf);
}

/* The router on its own: which listener, route, rule and backends. */
static const char router_yaml[] =
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: web}\n"
    "spec:\n"
    "  gatewayClassName: any\n"
    "  listeners: [{name: http, port: 80, protocol: HTTP}]\n"
    "---\n"
    "apiVersion: v1\n"
    "kind: Service\n"
    "metadata: {name: a}\n"
    "spec: {ports: [{name: http, port: 80}]}\n"
    "---\n"
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: HTTPRoute\n"
    "metadata: {name: shop}\n"
    "spec:\n"
    "  parentRefs: [{name: web}]\n"
    "  hostnames: [shop.test]\n"
    "  rules:\n"
    "  - name: api\n"
    "    matches: [{path: {type: PathPrefix, value: /api}}]\n"
    "    backendRefs: [{name: a, port: 80, weight: 3}, {name: gone, port: 80}]\n"
    "  - matches: [{path: {type: Exact, value: /health}, method: GET}]\n"
    "    backendRefs: [{name: a, port: 80}]\n";

static void test_router(void) {
  gw_router* router = NULL;
  gw_route_match* m = NULL;
  gw_request r;
  gw_route_backend b;
  CHECK_STATUS(gw_router_new(NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_router_new(&router), GW_OK);
  r = waf_request("GET", "http://shop.test/api/items");
  CHECK_STATUS(gw_router_match(router, &r, &m), GW_INVALID_STATE);
  CHECK(contains(gw_router_errmsg(router), "no routes loaded"));
  CHECK_STATUS(gw_router_load_yaml(router, S("kind: Nothing\n")), GW_INVALID_CONFIG);
  CHECK(strlen(gw_router_errmsg(router)) > 0);
  CHECK_STATUS(gw_router_load_file(router, "/nonexistent/routes.yaml"), GW_INVALID_CONFIG);
  CHECK(contains(gw_router_errmsg(router), "/nonexistent/routes.yaml"));
  CHECK_STATUS(gw_router_load_yaml(router, router_yaml, sizeof router_yaml - 1), GW_OK);

  CHECK_STATUS(gw_router_match(router, &r, &m), GW_OK);
  CHECK(m != NULL);
  CHECK(strcmp(gw_route_match_listener(m), "default/web/http") == 0);
  CHECK(strcmp(gw_route_match_route(m), "default/shop") == 0);
  CHECK(strcmp(gw_route_match_kind(m), "HTTPRoute") == 0);
  CHECK(strcmp(gw_route_match_rule(m), "api") == 0);
  CHECK(gw_route_match_backend_count(m) == 2);
  memset(&b, 0, sizeof b);
  b.struct_size = sizeof b;
  CHECK_STATUS(gw_route_match_backend(m, 0, &b), GW_OK);
  CHECK(b.weight == 3 && b.valid && b.name_length == strlen("default/a:80") &&
        memcmp(b.name, "default/a:80", b.name_length) == 0);
  CHECK_STATUS(gw_route_match_backend(m, 1, &b), GW_OK);
  CHECK(b.weight == 1 && !b.valid);
  CHECK_STATUS(gw_route_match_backend(m, 2, &b), GW_NOT_FOUND);
  gw_route_match_free(m);

  /* The path is normalised as the listener would: %61 is "a". */
  r = waf_request("GET", "http://shop.test/%61pi/x");
  CHECK_STATUS(gw_router_match(router, &r, &m), GW_OK);
  CHECK(m != NULL && strcmp(gw_route_match_rule(m), "api") == 0);
  gw_route_match_free(m);
  /* A relative URL takes its Host from the headers; an unnamed rule is #N. */
  {
    gw_header host = {S("host"), S("shop.test")};
    r = waf_request("GET", "/health");
    r.headers = &host;
    r.header_count = 1;
    CHECK_STATUS(gw_router_match(router, &r, &m), GW_OK);
    CHECK(m != NULL && strcmp(gw_route_match_rule(m), "#1") == 0);
    gw_route_match_free(m);
    r.method = "POST"; /* the rule matches GET only */
    r.method_length = 4;
    CHECK_STATUS(gw_router_match(router, &r, &m), GW_OK);
    CHECK(m == NULL);
  }
  /* No route, another host: no match; a port with no listener: not found. */
  r = waf_request("GET", "http://shop.test/nothing");
  CHECK_STATUS(gw_router_match(router, &r, &m), GW_OK);
  CHECK(m == NULL);
  r = waf_request("GET", "http://other.test/api");
  CHECK_STATUS(gw_router_match(router, &r, &m), GW_OK);
  CHECK(m == NULL);
  r = waf_request("GET", "http://shop.test:9999/api");
  CHECK_STATUS(gw_router_match(router, &r, &m), GW_NOT_FOUND);
  CHECK(contains(gw_router_errmsg(router), "port 9999"));
  r = waf_request("GET", "gopher://shop.test/");
  CHECK_STATUS(gw_router_match(router, &r, &m), GW_INVALID_ARGUMENT);
  CHECK(contains(gw_router_errmsg(router), "http://"));
  CHECK(gw_route_match_backend_count(NULL) == 0 && strcmp(gw_route_match_route(NULL), "") == 0);
  gw_router_free(router);
  gw_router_free(NULL);
  gw_route_match_free(NULL);
}

/* ---- The client ---------------------------------------------------------- */

typedef struct async_call {
  pthread_mutex_t mutex;
  pthread_cond_t cond;
  int done;
  gw_status status;
  int http_status;
  char message[256];
} async_call;

static void client_done(void* user_data, gw_status status, gw_client_response* response,
                        const char* message) {
  async_call* a = (async_call*)user_data;
  pthread_mutex_lock(&a->mutex);
  a->status = status;
  a->http_status = gw_client_response_status(response);
  snprintf(a->message, sizeof a->message, "%s", message);
  a->done = 1;
  pthread_cond_signal(&a->cond);
  pthread_mutex_unlock(&a->mutex);
  gw_client_response_free(response);
}

static void test_client(void) {
  gw_client* client = NULL;
  gw_client_response* resp = NULL;
  gw_client_options options;
  gw_request r;
  gw_header field;
  gw_header sent[1];
  upstream up;
  char yaml[1024];
  const char* body;
  size_t length = 0, i;
  char* stats = NULL;
  int seen_upstream = 0;
  async_call a;
  struct timespec until;

  CHECK_STATUS(gw_client_new(NULL, NULL), GW_INVALID_ARGUMENT);
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.threads = 2;
  CHECK_STATUS(gw_client_new(&options, &client), GW_OK);
  r = waf_request("GET", "http://api.shop:8080/items?id=7");
  CHECK_STATUS(gw_client_send(client, &r, 0, &resp), GW_INVALID_STATE);
  CHECK(contains(gw_client_errmsg(client), "no config loaded"));
  CHECK(contains(gw_client_errmsg(NULL), "no config loaded"));
  CHECK_STATUS(gw_client_load_yaml(client, S("apiVersion: gateway.networking.k8s.io/v1\n"
                                             "kind: Gateway\nmetadata: {name: g}\n")),
               GW_INVALID_CONFIG);
  CHECK(contains(gw_client_errmsg(client), "a client's config has no Gateway"));
  CHECK_STATUS(gw_client_load_file(client, "/nonexistent/client.yaml"), GW_INVALID_CONFIG);

  if (upstream_start(&up) != 0) {
    CHECK(!"upstream started");
    gw_client_free(client);
    return;
  }
  snprintf(yaml, sizeof yaml,
           "apiVersion: v1\nkind: Service\nmetadata: {name: api, namespace: shop}\n"
           "spec: {ports: [{name: http, port: 8080}]}\n---\n"
           "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
           "metadata: {name: api-1, namespace: shop, labels: {kubernetes.io/service-name: api}}\n"
           "addressType: IPv4\nendpoints: [{addresses: [127.0.0.1]}]\n"
           "ports: [{name: http, port: %u}]\n",
           (unsigned)up.port);
  CHECK_STATUS(gw_client_load_yaml(client, yaml, strlen(yaml)), GW_OK);

  sent[0].name = "x-tenant";
  sent[0].name_length = 8;
  sent[0].value = "blue";
  sent[0].value_length = 4;
  r.headers = sent;
  r.header_count = 1;
  CHECK_STATUS(gw_client_send(client, &r, 0, &resp), GW_OK);
  CHECK(gw_client_response_status(resp) == 200);
  body = gw_client_response_body(resp, &length);
  CHECK(length > 0 && contains(body, "GET /items?id=7 HTTP/1.1"));
  CHECK(contains(body, "x-tenant: blue"));
  CHECK(contains(body, "api.shop:8080"));
  for (i = 0; i < gw_client_response_header_count(resp); ++i) {
    CHECK_STATUS(gw_client_response_header(resp, i, &field), GW_OK);
    if (field.name_length == 10 && memcmp(field.name, "x-upstream", 10) == 0) seen_upstream = 1;
  }
  CHECK(seen_upstream);
  CHECK_STATUS(gw_client_response_header(resp, i, &field), GW_NOT_FOUND);
  gw_client_response_free(resp);
  resp = NULL;

  /* Bad input: each with its status and a message that says why. */
  r = waf_request("GET", "http://other.shop:8080/");
  CHECK_STATUS(gw_client_send(client, &r, 0, &resp), GW_NOT_FOUND);
  CHECK(resp == NULL);
  CHECK(contains(gw_client_errmsg(NULL), "api.shop:8080"));
  r = waf_request("GET", "/relative");
  CHECK_STATUS(gw_client_send(client, &r, 0, &resp), GW_INVALID_ARGUMENT);
  r = waf_request("GET", "http://api.shop:8080/");
  r.struct_size = 3;
  CHECK_STATUS(gw_client_send(client, &r, 0, &resp), GW_INVALID_ARGUMENT);
  r = waf_request("GET", "http://api.shop:8080/");
  CHECK_STATUS(gw_client_send(client, NULL, 0, &resp), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_client_send_async(client, &r, 0, NULL, NULL), GW_INVALID_ARGUMENT);

  /* Asynchronous: the callback gets the response once. */
  memset(&a, 0, sizeof a);
  pthread_mutex_init(&a.mutex, NULL);
  pthread_cond_init(&a.cond, NULL);
  CHECK_STATUS(gw_client_send_async(client, &r, 0, client_done, &a), GW_OK);
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += 60;
  pthread_mutex_lock(&a.mutex);
  while (!a.done && pthread_cond_timedwait(&a.cond, &a.mutex, &until) == 0) {
  }
  pthread_mutex_unlock(&a.mutex);
  CHECK(a.done && a.status == GW_OK && a.http_status == 200);

  CHECK_STATUS(gw_client_stats(client, &stats, &length), GW_OK);
  CHECK(stats && contains(stats, "shop/api:8080"));
  gw_string_free(stats);

  CHECK_STATUS(gw_client_close(client), GW_OK);
  CHECK_STATUS(gw_client_send(client, &r, 0, &resp), GW_INVALID_STATE);
  CHECK(contains(gw_client_errmsg(client), "closed"));
  CHECK_STATUS(gw_client_load_yaml(client, yaml, strlen(yaml)), GW_INVALID_STATE);
  gw_client_free(client);
  gw_client_free(NULL);
  pthread_cond_destroy(&a.cond);
  pthread_mutex_destroy(&a.mutex);
  upstream_stop(&up);
}

static const char middleware_yaml[] =
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\nmetadata: {name: web}\n"
    "spec: {gatewayClassName: any, listeners: [{name: http, port: 80, protocol: HTTP}]}\n"
    "---\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: app}\n"
    "spec:\n  parentRefs: [{name: web}]\n  rules:\n  - filters:\n"
    "    - type: RequestHeaderModifier\n"
    "      requestHeaderModifier: {add: [{name: x-through, value: mw}]}\n"
    "    - type: ResponseHeaderModifier\n"
    "      responseHeaderModifier: {add: [{name: x-after, value: mw}]}\n"
    "---\napiVersion: v1\nkind: Secret\nmetadata: {name: keys}\nstringData: {a: key-a}\n"
    "---\napiVersion: gateway.envoyproxy.io/v1alpha1\nkind: SecurityPolicy\n"
    "metadata: {name: keys}\nspec:\n"
    "  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]\n"
    "  apiKeyAuth: {credentialRefs: [{name: keys}], extractFrom: [{headers: [x-api-key]}]}\n";

static void test_middleware(void) {
  gw_middleware* mw = NULL;
  gw_exchange* ex = NULL;
  gw_request r;
  gw_header sent[2], field, reply[1];
  const gw_client_response* resp;
  const char* text;
  size_t length = 0, i;
  int seen_through = 0, seen_after = 0;

  CHECK_STATUS(gw_middleware_new(NULL, NULL), GW_INVALID_ARGUMENT);
  CHECK_STATUS(gw_middleware_new(NULL, &mw), GW_OK);
  r = waf_request("GET", "/orders?id=7");
  CHECK_STATUS(gw_middleware_handle(mw, &r, &ex), GW_INVALID_STATE);
  CHECK(contains(gw_middleware_errmsg(mw), "no config loaded"));
  CHECK_STATUS(gw_middleware_load_yaml(mw, S("kind: Nothing\n")), GW_INVALID_CONFIG);
  CHECK_STATUS(gw_middleware_load_yaml(mw, middleware_yaml, sizeof middleware_yaml - 1), GW_OK);

  /* Without a Host: the gateway's 400. */
  CHECK_STATUS(gw_middleware_handle(mw, &r, &ex), GW_OK);
  CHECK(gw_exchange_replied(ex) == 1);
  CHECK(gw_client_response_status(gw_exchange_response(ex)) == 400);
  gw_exchange_free(ex);
  /* Without the key: the middleware answers, nothing goes to a handler. */
  sent[0].name = "host";
  sent[0].name_length = 4;
  sent[0].value = "app.test";
  sent[0].value_length = 8;
  r.headers = sent;
  r.header_count = 1;
  CHECK_STATUS(gw_middleware_handle(mw, &r, &ex), GW_OK);
  CHECK(gw_exchange_replied(ex) == 1);
  resp = gw_exchange_response(ex);
  CHECK(resp && gw_client_response_status(resp) == 401);
  CHECK(gw_exchange_header_count(ex) == 0);
  CHECK_STATUS(gw_exchange_respond(ex, 200, NULL, 0, NULL, 0), GW_INVALID_STATE);
  gw_exchange_free(ex);

  /* With it: the handler gets the request as modified; its response is filtered. */
  sent[0].name = "host";
  sent[0].name_length = 4;
  sent[0].value = "app.test";
  sent[0].value_length = 8;
  sent[1].name = "x-api-key";
  sent[1].name_length = 9;
  sent[1].value = "key-a";
  sent[1].value_length = 5;
  r.headers = sent;
  r.header_count = 2;
  CHECK_STATUS(gw_middleware_handle(mw, &r, &ex), GW_OK);
  CHECK(gw_exchange_replied(ex) == 0);
  CHECK(gw_exchange_response(ex) == NULL);
  text = gw_exchange_method(ex, &length);
  CHECK(length == 3 && memcmp(text, "GET", 3) == 0);
  text = gw_exchange_target(ex, &length);
  CHECK(length == 12 && memcmp(text, "/orders?id=7", 12) == 0);
  for (i = 0; i < gw_exchange_header_count(ex); ++i) {
    CHECK_STATUS(gw_exchange_header(ex, i, &field), GW_OK);
    if (field.name_length == 9 && memcmp(field.name, "x-through", 9) == 0) seen_through = 1;
  }
  CHECK(seen_through);
  CHECK_STATUS(gw_exchange_header(ex, i, &field), GW_NOT_FOUND);
  CHECK_STATUS(gw_exchange_respond(ex, 99, NULL, 0, NULL, 0), GW_INVALID_ARGUMENT);
  reply[0].name = "content-type";
  reply[0].name_length = 12;
  reply[0].value = "text/plain";
  reply[0].value_length = 10;
  CHECK_STATUS(gw_exchange_respond(ex, 200, reply, 1, S("hello")), GW_OK);
  resp = gw_exchange_response(ex);
  CHECK(resp && gw_client_response_status(resp) == 200);
  text = gw_client_response_body(resp, &length);
  CHECK(length == 5 && memcmp(text, "hello", 5) == 0);
  for (i = 0; i < gw_client_response_header_count(resp); ++i) {
    CHECK_STATUS(gw_client_response_header(resp, i, &field), GW_OK);
    if (field.name_length == 7 && memcmp(field.name, "x-after", 7) == 0) seen_after = 1;
  }
  CHECK(seen_after);
  CHECK_STATUS(gw_exchange_respond(ex, 200, NULL, 0, NULL, 0), GW_INVALID_STATE);
  gw_exchange_free(ex);

  /* One never answered, freed: its request ends; a bad URL; then closed. */
  CHECK_STATUS(gw_middleware_handle(mw, &r, &ex), GW_OK);
  gw_exchange_free(ex);
  r = waf_request("GET", "no-slash");
  CHECK_STATUS(gw_middleware_handle(mw, &r, &ex), GW_INVALID_ARGUMENT);
  CHECK(strlen(gw_middleware_errmsg(NULL)) > 0);
  CHECK_STATUS(gw_middleware_close(mw), GW_OK);
  r = waf_request("GET", "/");
  CHECK_STATUS(gw_middleware_handle(mw, &r, &ex), GW_INVALID_STATE);
  gw_middleware_free(mw);
  gw_middleware_free(NULL);
  gw_exchange_free(NULL);
}

int main(void) {
  test_client();
  test_middleware();
  test_waf();
  test_waf_response();
  test_router();
  test_version_and_errors();
  test_null_handles();
  test_wrong_order_and_bad_input();
  test_serving();
  printf("%d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
