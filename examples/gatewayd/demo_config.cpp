#include "demo_config.hpp"

namespace gatewayd {
namespace {
constexpr const char* manifests = R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: demo
spec:
  gatewayClassName: gatewayd
  addresses:
  - type: IPAddress
    value: 127.0.0.1
  listeners:
  - name: http
    port: 8080
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: demo
spec:
  parentRefs:
  - name: demo
  rules:
  - matches:
    - path: {type: PathPrefix, value: /}
      headers:
      - {name: x-version, value: v2}
    backendRefs:
    - {name: demo-v2, port: 80}
  - matches:
    - path: {type: PathPrefix, value: /}
    backendRefs:
    - {name: demo-v1, port: 80}
)";

std::string service(const std::string& name, std::uint16_t port) {
  return "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: " + name +
         "\nspec:\n  ports:\n  - {name: http, port: 80}\n"
         "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: " +
         name + "-1\n  labels:\n    kubernetes.io/service-name: " + name +
         "\naddressType: IPv4\nendpoints:\n- addresses: [127.0.0.1]\nports:\n- {name: http, "
         "port: " +
         std::to_string(port) + "}\n";
}
}  // namespace

std::string demo_config(std::uint16_t v1_port, std::uint16_t v2_port) {
  return std::string(manifests) + service("demo-v1", v1_port) + service("demo-v2", v2_port);
}
}  // namespace gatewayd
