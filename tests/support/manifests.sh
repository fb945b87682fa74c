# Shell helpers for the daemon tests: the manifests they serve.

# gateway_manifest: Gateway "web", one HTTP listener on port 80.
gateway_manifest() {
  cat <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners:
  - {name: http, port: 80, protocol: HTTP}
YAML
}

# route_manifest NAME SERVICE [PREFIX]: HTTPRoute NAME on "web" sending PREFIX
# (default: everything) to Service SERVICE port 80.
route_manifest() {
  local match=""
  [ -n "${3:-}" ] && match="
  - matches: [{path: {type: PathPrefix, value: $3}}]
    backendRefs: [{name: $2, port: 80}]"
  [ -z "$match" ] && match="
  - backendRefs: [{name: $2, port: 80}]"
  cat <<YAML
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: $1}
spec:
  parentRefs: [{name: web}]
  rules:$match
YAML
}

# service_manifest NAME PORT: Service NAME (port 80, named http) whose one
# endpoint is 127.0.0.1:PORT.
service_manifest() {
  cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: $1}
spec:
  ports: [{name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $1
  labels: {kubernetes.io/service-name: $1}
addressType: IPv4
endpoints: [{addresses: [127.0.0.1]}]
ports: [{name: http, port: $2}]
YAML
}
