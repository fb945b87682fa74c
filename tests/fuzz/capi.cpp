// The C ABI on random call sequences: one handle (a gateway, a router or a
// WAF) and up to 16 calls on it with random arguments — text of any bytes,
// NULL with and without a length, structs of the wrong size, NULL handles
// and out-pointers. The header's promises are the properties: every call
// returns a gw_status (none throws, none aborts), a failure leaves a message
// a user can act on, and what the library hands out is freed (the leak
// checker sees the rest). No listener is bound and no upstream is called.
#include <fuzzer/FuzzedDataProvider.h>
#include <gateway/gateway.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <tuple>
#include <vector>

#include "fuzz_check.hpp"

namespace {

// A configuration the mutations start from: routes to a Service, a policy,
// a WAF policy with one inline rule.
constexpr std::string_view base_config = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: gatewayd
  listeners: [{name: http, protocol: HTTP, port: 8080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: api}
spec:
  parentRefs: [{name: gw}]
  hostnames: [api.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}, headers: [{name: x-a, value: "1"}]}]
    backendRefs: [{name: svc, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: svc}
spec: {ports: [{port: 80}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: svc-1, labels: {kubernetes.io/service-name: svc}}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1]}]
ports: [{port: 9}]
)";

struct args {
  FuzzedDataProvider& in;
  std::deque<std::string> keep;  // text handed to a call lives through it (stable addresses)

  // Text as a pointer and a length: random bytes, the base config, or NULL
  // (with a length, which the library must refuse).
  std::pair<const char*, std::size_t> text(std::size_t max = 64) {
    switch (in.ConsumeIntegralInRange(0, 5)) {
      case 0:
        return {nullptr, 0};
      case 1:
        return {nullptr, in.ConsumeIntegralInRange<std::size_t>(1, 8)};
      case 2:
        return {base_config.data(), base_config.size()};
      default: {
        const std::string& s = keep.emplace_back(in.ConsumeRandomLengthString(max));
        return {s.data(), s.size()};
      }
    }
  }

  // A request of the documented shape, or one of another size (a newer
  // header's: the bytes past ours zero, or not), or with NULLs. It lives in
  // `storage`, which has as many bytes as struct_size says.
  const gw_request* request(std::vector<gw_header>& headers, std::vector<std::uint64_t>& storage) {
    gw_request r{};
    r.struct_size = in.ConsumeIntegralInRange(0, 7) == 0
                        ? in.ConsumeIntegralInRange<std::size_t>(0, 2 * sizeof r)
                        : sizeof r;
    std::tie(r.method, r.method_length) = text(8);
    if (in.ConsumeBool()) {
      const std::string& url = keep.emplace_back(
          in.ConsumeBool() ? "http://api.example.com:8080/v1/" + in.ConsumeRandomLengthString(16)
                           : in.ConsumeRandomLengthString(40));
      r.url = url.data();
      r.url_length = url.size();
    } else {
      std::tie(r.url, r.url_length) = text(40);
    }
    const int n = in.ConsumeIntegralInRange(0, 3);
    headers.clear();
    for (int i = 0; i < n; ++i) {
      gw_header h{};
      std::tie(h.name, h.name_length) = text(8);
      std::tie(h.value, h.value_length) = text(16);
      headers.push_back(h);
    }
    r.headers = headers.empty() ? nullptr : headers.data();
    r.header_count = in.ConsumeIntegralInRange(0, 9) == 0 ? headers.size() + 1 : headers.size();
    if (r.header_count > headers.size()) r.headers = nullptr;  // NULL with a count: refused
    std::tie(r.body, r.body_length) = text(32);
    std::tie(r.client_ip, r.client_ip_length) = text(16);
    std::tie(r.listener, r.listener_length) = text(8);
    storage.assign((std::max(r.struct_size, sizeof r) + 7) / 8, 0);
    std::memcpy(storage.data(), &r, sizeof r);
    if (r.struct_size > sizeof r && in.ConsumeBool())
      reinterpret_cast<unsigned char*>(storage.data())[r.struct_size - 1] = 1;  // a field we lack
    return reinterpret_cast<const gw_request*>(storage.data());
  }
};

// Every call returns one of the documented statuses; a failure says why.
void said(gw_status s, const char* message) {
  FUZZ_CHECK(s >= GW_OK && s <= GW_UNAVAILABLE);
  FUZZ_CHECK(gw_strerror(s) != nullptr);
  if (s != GW_OK) FUZZ_CHECK(message != nullptr && *message != '\0');
}

void gateway_calls(args& a) {
  gw_gateway* gw = nullptr;
  FUZZ_CHECK(gw_gateway_new(&gw) == GW_OK);
  for (int i = 0; i < 16 && a.in.remaining_bytes() > 0; ++i) {
    gw_gateway* h = a.in.ConsumeIntegralInRange(0, 15) == 0 ? nullptr : gw;
    gw_status s = GW_OK;
    switch (a.in.ConsumeIntegralInRange(0, 10)) {
      case 0: {
        auto [p, n] = a.text(4096);
        s = gw_gateway_load_yaml(h, p, n);
        break;
      }
      case 1: {
        auto [p, n] = a.text(4096);
        s = gw_gateway_reload_yaml(h, p, n);  // not started: refused
        break;
      }
      case 2:
        s = gw_gateway_set_strict(h, a.in.ConsumeIntegral<int>());
        break;
      case 3: {
        auto [p, n] = a.text(24);
        s = gw_gateway_bind_all(h, p, n);
        break;
      }
      case 4: {
        auto [p, n] = a.text(24);
        s = gw_gateway_set_admin(h, p, n, a.in.ConsumeIntegral<std::uint16_t>());
        break;
      }
      case 5: {
        auto [p, n] = a.text(16);
        std::uint16_t port = 0;
        s = gw_gateway_port(h, p, n, a.in.ConsumeBool() ? &port : nullptr);
        break;
      }
      case 6: {
        char* text = nullptr;
        std::size_t length = 0;
        s = a.in.ConsumeBool() ? gw_gateway_stats(h, &text, &length)
                               : gw_gateway_config_json(h, &text, &length);
        if (s == GW_OK) FUZZ_CHECK(text != nullptr && std::strlen(text) == length);
        gw_string_free(text);
        break;
      }
      case 7: {
        std::vector<gw_header> headers;
        std::vector<std::uint64_t> storage;
        const gw_request* r = a.request(headers, storage);
        char* json = nullptr;
        std::size_t length = 0;
        s = gw_gateway_evaluate(h, a.in.ConsumeIntegralInRange(0, 15) ? r : nullptr, &json,
                                &length);
        if (s == GW_OK) FUZZ_CHECK(json != nullptr && std::strlen(json) == length);
        gw_string_free(json);
        break;
      }
      case 8:
        s = gw_gateway_stop(h, a.in.ConsumeIntegral<std::uint32_t>() % 10);  // not started
        break;
      case 9: {
        // Limits of any size and values (a newer header's larger struct
        // with its extra bytes zero or not, inverted thresholds), or NULL.
        std::vector<std::uint64_t> storage(sizeof(gw_limits) / 8 + 4);
        const std::vector<std::uint8_t> bytes = a.in.ConsumeBytes<std::uint8_t>(storage.size() * 8);
        if (!bytes.empty()) std::memcpy(storage.data(), bytes.data(), bytes.size());
        auto* l = reinterpret_cast<gw_limits*>(storage.data());
        l->struct_size = a.in.ConsumeIntegralInRange<std::size_t>(0, storage.size() * 8);
        s = gw_gateway_set_limits(h, a.in.ConsumeIntegralInRange(0, 15) ? l : nullptr);
        break;
      }
      default:
        (void)gw_gateway_config_version(h);
        continue;
    }
    said(s, gw_errmsg(h));
  }
  gw_gateway_free(gw);
}

void router_calls(args& a) {
  gw_router* router = nullptr;
  FUZZ_CHECK(gw_router_new(&router) == GW_OK);
  for (int i = 0; i < 16 && a.in.remaining_bytes() > 0; ++i) {
    gw_router* h = a.in.ConsumeIntegralInRange(0, 15) == 0 ? nullptr : router;
    gw_status s = GW_OK;
    if (a.in.ConsumeIntegralInRange(0, 2) == 0) {
      auto [p, n] = a.text(4096);
      s = gw_router_load_yaml(h, p, n);
    } else {
      std::vector<gw_header> headers;
      std::vector<std::uint64_t> storage;
      const gw_request* r = a.request(headers, storage);
      gw_route_match* match = nullptr;
      s = gw_router_match(h, r, a.in.ConsumeIntegralInRange(0, 15) ? &match : nullptr);
      if (s == GW_OK && match) {
        FUZZ_CHECK(gw_route_match_listener(match) && gw_route_match_route(match) &&
                   gw_route_match_kind(match) && gw_route_match_rule(match));
        const std::size_t n = gw_route_match_backend_count(match);
        gw_route_backend b{};
        b.struct_size =
            a.in.ConsumeBool() ? sizeof b : a.in.ConsumeIntegralInRange<std::size_t>(0, sizeof b);
        const gw_status got =
            gw_route_match_backend(match, a.in.ConsumeIntegralInRange<std::size_t>(0, n), &b);
        FUZZ_CHECK(got == GW_OK || got == GW_INVALID_ARGUMENT);
      }
      gw_route_match_free(match);
    }
    said(s, gw_router_errmsg(h));
  }
  gw_router_free(router);
}

void waf_calls(args& a) {
  gw_waf* waf = nullptr;
  FUZZ_CHECK(gw_waf_new(&waf) == GW_OK);
  for (int i = 0; i < 8 && a.in.remaining_bytes() > 0; ++i) {
    gw_waf* h = a.in.ConsumeIntegralInRange(0, 15) == 0 ? nullptr : waf;
    gw_status s = GW_OK;
    if (a.in.ConsumeIntegralInRange(0, 2) == 0) {
      gw_waf_rules rules{};
      rules.struct_size = a.in.ConsumeIntegralInRange(0, 7) ? sizeof rules : 8;
      rules.crs = 0;  // the Core Rule Set takes a second to load: inline rules only
      const std::string& d = a.keep.emplace_back(
          a.in.ConsumeBool() ? "SecRule ARGS \"@contains " + a.in.ConsumeRandomLengthString(12) +
                                   "\" \"id:1001,phase:2,deny,status:403,msg:'m'\""
                             : a.in.ConsumeRandomLengthString(200));
      rules.directives = d.data();
      rules.directives_length = d.size();
      rules.inbound_anomaly_threshold = a.in.ConsumeIntegralInRange(-1, 10);
      s = gw_waf_load(h, &rules);
    } else {
      std::vector<gw_header> headers;
      std::vector<std::uint64_t> storage;
      const gw_request* r = a.request(headers, storage);
      gw_waf_verdict* verdict = nullptr;
      s = gw_waf_check(h, r, static_cast<gw_waf_mode>(a.in.ConsumeIntegralInRange(0, 3)), &verdict);
      if (s == GW_OK && verdict) {
        (void)gw_waf_verdict_action(verdict);
        (void)gw_waf_verdict_status(verdict);
        (void)gw_waf_verdict_url(verdict);
        for (std::size_t m = 0; m < gw_waf_verdict_match_count(verdict); ++m) {
          gw_waf_match out{};
          out.struct_size = sizeof out;
          FUZZ_CHECK(gw_waf_verdict_match(verdict, m, &out) == GW_OK);
        }
      }
      gw_waf_verdict_free(verdict);
    }
    said(s, gw_waf_errmsg(h));
  }
  gw_waf_free(waf);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  args a{in, {}};
  switch (in.ConsumeIntegralInRange(0, 2)) {
    case 0:
      gateway_calls(a);
      break;
    case 1:
      router_calls(a);
      break;
    default:
      waf_calls(a);
  }
  return 0;
}
