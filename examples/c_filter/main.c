/* A C program embedding the gateway: a C filter that requires an API key,
 * registered before the YAML that uses it, then served on an ephemeral port.
 * It asks itself twice and exits; with --serve it keeps serving until killed. */
#define _POSIX_C_SOURCE 200809L
#include <gateway/gateway.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char config[] =
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: Gateway\n"
    "metadata: {name: web}\n"
    "spec: {gatewayClassName: any, listeners: [{name: http, port: 80, protocol: HTTP}]}\n"
    "---\n"
    "apiVersion: gateway.networking.k8s.io/v1\n"
    "kind: HTTPRoute\n"
    "metadata: {name: hello}\n"
    "spec:\n"
    "  parentRefs: [{name: web}]\n"
    "  rules:\n"
    "  - filters:\n"
    "    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: key}}\n"
    "    - {type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, name: hello}}\n"
    "---\n"
    "apiVersion: gateway.dev/v1alpha1\n"
    "kind: Filter\n"
    "metadata: {name: key}\n"
    "spec: {type: require-key}\n"
    "---\n"
    "apiVersion: gateway.dev/v1alpha1\n"
    "kind: Filter\n"
    "metadata: {name: hello}\n"
    "spec: {type: direct-response, config: {body: \"hello from C\\n\"}}\n";

/* The filter: no X-Api-Key, no entry. */
static int require_key(void* user_data, void* config, gw_stream* stream) {
  const char* key;
  size_t length;
  (void)user_data;
  (void)config;
  /* Absent and empty ("x-api-key:") are both no key. */
  if (gw_stream_get_header(stream, GW_REQUEST_HEADERS, "x-api-key", 9, &key, &length) != GW_OK ||
      length == 0) {
    gw_stream_send_reply(stream, 401, NULL, 0, "missing x-api-key\n", 18);
    return GW_FILTER_STOP;
  }
  return GW_FILTER_CONTINUE;
}

/* The status of one GET / on 127.0.0.1:port with `extra` header lines. */
static int ask(uint16_t port, const char* extra) {
  char buf[4096];
  int status = 0, fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  ssize_t n;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr*)&a, sizeof a) == 0) {
    n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nhost: x\r\n%sconnection: close\r\n\r\n",
                 extra);
    if (write(fd, buf, (size_t)n) == n && (n = read(fd, buf, sizeof buf - 1)) > 0) {
      buf[n] = '\0';
      sscanf(buf, "HTTP/1.1 %d", &status);
    }
  }
  if (fd >= 0) close(fd);
  return status;
}

int main(int argc, char** argv) {
  gw_gateway* gw = NULL;
  gw_filter_callbacks filter = {0};
  uint16_t port = 0;
  int refused, empty, served;

  filter.struct_size = sizeof filter;
  filter.on_request = require_key;
  if (gw_gateway_new(&gw) != GW_OK || gw_gateway_bind_all(gw, "127.0.0.1", 9) != GW_OK ||
      gw_gateway_add_filter(gw, "require-key", 11, &filter, NULL) != GW_OK ||
      gw_gateway_load_yaml(gw, config, sizeof config - 1) != GW_OK ||
      gw_gateway_start(gw, 1) != GW_OK || gw_gateway_port(gw, NULL, 0, &port) != GW_OK) {
    fprintf(stderr, "gateway: %s\n", gw_errmsg(gw));
    gw_gateway_free(gw);
    return 1;
  }
  printf("gateway %s on 127.0.0.1:%u\n", gw_version(), (unsigned)port);
  if (argc > 1 && strcmp(argv[1], "--serve") == 0)
    for (;;)
      pause();

  refused = ask(port, "");
  empty = ask(port, "x-api-key:\r\n");
  served = ask(port, "x-api-key: k1\r\n");
  printf("without a key: %d, with an empty one: %d, with one: %d\n", refused, empty, served);
  gw_gateway_stop(gw, 1000);
  gw_gateway_free(gw);
  return refused == 401 && empty == 401 && served == 200 ? 0 : 1;
}
