#pragma once
// The Kubernetes documents the loader reads, as read (before references are
// resolved), and the readers that live outside the loader's main file.
#include <gateway/config.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/yaml_documents.hpp"

namespace gateway::manifests {

inline constexpr std::string_view gateway_api_group = "gateway.networking.k8s.io";

struct meta {
  std::string kind;  // the document's kind ("HTTPRoute"), for references made from it
  std::string ns = "default";
  std::string name;
  std::string created;  // RFC 3339, compared as text
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  YAML::Node annotations_node;  // for the location of annotation problems
};

// A Kubernetes label selector (matchLabels and matchExpressions, ANDed).
struct label_selector {
  struct expression {
    std::string key;
    std::string op;  // In, NotIn, Exists, DoesNotExist
    std::vector<std::string> values;
  };
  std::map<std::string, std::string> match_labels;
  std::vector<expression> match_expressions;
  bool matches(const std::map<std::string, std::string>& labels) const;
};

// A reference to another object with where it was written, for errors.
struct object_ref {
  std::string group, kind, ns, name;
  std::uint16_t port = 0;
  std::string port_name;  // an Ingress may name the Service port instead
  std::uint32_t weight = 1;
  YAML::Node node;
  std::string path;
};

struct mirror_doc {
  object_ref backend;
  std::uint32_t numerator = 1, denominator = 1;
};

struct rule_doc {
  route_rule rule;  // matches, timeouts and filters; backends filled at resolution
  std::vector<object_ref> backends;
  std::vector<mirror_doc> mirrors;
  std::vector<object_ref> extensions;  // ExtensionRef filters (gateway.dev Filter objects)
  // When a backendRef has filters: per backend, this rule with that backend
  // alone and the backend's filters merged after the rule's (route_rule::backend_variants).
  std::vector<rule_doc> variants;
};

struct parent_ref_doc {
  std::string ns, name, section;
  std::uint16_t port = 0;
  YAML::Node node;
  std::string path;
};

struct route_doc {
  meta m;
  std::string label;  // "document 3 (HTTPRoute default/api)"
  std::vector<parent_ref_doc> parents;
  std::vector<std::string> hostnames;
  std::vector<rule_doc> rules;
};

// A ReferenceGrant: objects of the `from` kinds in the `from` namespaces may
// refer to the `to` objects in the grant's own namespace.
struct grant_doc {
  meta m;
  struct from_entry {
    std::string group, kind, ns;
  };
  struct to_entry {
    std::string group, kind, name;  // empty name: any
  };
  std::vector<from_entry> from;
  std::vector<to_entry> to;
};

struct listener_doc {
  std::string name;
  std::uint16_t port = 0;
  std::string hostname;
  std::string protocol = "HTTP";             // HTTP, HTTPS, TCP or TLS
  bool https = false;                        // terminates TLS (HTTPS, or TLS in mode Terminate)
  bool passthrough = false;                  // TLS in mode Passthrough
  std::vector<object_ref> certificate_refs;  // tls.certificateRefs (Secrets)
  std::string from = "Same";                 // Same, All or Selector
  label_selector selector;                   // for from == Selector
  std::vector<std::string> kinds;            // allowedRoutes.kinds; empty: route_kinds_of
};
// The route kinds a listener's protocol carries (what an empty
// allowedRoutes.kinds admits).
std::vector<std::string> route_kinds_of(const listener_doc& l);
struct gateway_doc {
  meta m;
  std::string class_name;
  std::string address = "0.0.0.0";
  std::vector<listener_doc> listeners;
};
struct service_port_doc {
  std::string name;
  std::uint16_t port = 0;
  std::string app_protocol;  // Service ports: what the backend speaks ("" when not said)
};
struct service_doc {
  meta m;
  std::vector<service_port_doc> ports;
  std::string external_name;  // type ExternalName: the DNS name its endpoints come from
};
// An Envoy Gateway Backend: endpoints given directly, by IP or by DNS name.
struct backend_doc {
  meta m;
  std::vector<endpoint_config> endpoints;
  upstream_protocol protocol = upstream_protocol::http1;  // appProtocols
};
struct slice_doc {
  meta m;
  std::string service;
  std::vector<std::string> addresses;  // ready endpoints
  std::vector<service_port_doc> ports;
};

// Reads a list of object references (`group`, `kind`, `name`, `namespace`;
// certificateRefs, caCertificateRefs) at `path`; `kind` and `ns` are the
// defaults for fields left out.
std::vector<object_ref> read_object_refs(yaml_config::document_reader& doc, const YAML::Node& refs,
                                         const std::string& path, const std::string& kind,
                                         const std::string& ns);

// Reads a Gateway's spec; nothing when it is too broken to use.
std::optional<gateway_doc> read_gateway(yaml_config::document_reader& doc, const YAML::Node& d,
                                        meta m);
// Reads a Service's spec.
std::optional<service_doc> read_service(yaml_config::document_reader& doc, const YAML::Node& d,
                                        meta m);
// Reads an Envoy Gateway Backend (gateway.envoyproxy.io/v1alpha1).
std::optional<backend_doc> read_backend(yaml_config::document_reader& doc, const YAML::Node& d,
                                        meta m);
// Reads an EndpointSlice (ready endpoints only).
std::optional<slice_doc> read_slice(yaml_config::document_reader& doc, const YAML::Node& d, meta m);

// One networking.k8s.io/v1 Ingress, as written.
struct ingress_path {
  std::string path;
  std::string type;  // Exact, Prefix, ImplementationSpecific
  object_ref backend;
};
struct ingress_rule {
  std::string host;  // "" for any
  std::vector<ingress_path> paths;
};
struct ingress_doc {
  meta m;
  std::string label;
  std::string class_name;  // spec.ingressClassName or the kubernetes.io/ingress.class annotation
  std::optional<object_ref> default_backend;
  std::vector<ingress_rule> rules;
  struct tls_entry {
    std::vector<std::string> hosts;  // empty: the certificate for any host
    std::string secret;              // in the Ingress's namespace
    YAML::Node node;
    std::string path;
  };
  std::vector<tls_entry> tls;
  std::vector<std::string> tls_hosts;  // every tls entry's hosts
};

// Reads an Ingress's spec.
ingress_doc read_ingress(yaml_config::document_reader& doc, const YAML::Node& d, meta m);

// Finds the cluster of a backend reference (creating it on first use); on
// failure returns "" and says why in `why`. `connect_timeout` 0 means the default.
using cluster_resolver =
    std::function<std::string(const object_ref& backend, const meta& from,
                              std::chrono::milliseconds connect_timeout, std::string& why)>;

// A TLS Secret's certificate, or nothing (the problem recorded in `at`).
using certificate_resolver = std::function<std::optional<tls_certificate>(
    const std::string& ns, const std::string& name, const YAML::Node& node, const std::string& path,
    yaml_config::document_reader& at)>;

// Adds one listener per ingress class ("ingress/<class>/http", port 80) with
// the routes of the `served` Ingresses, their nginx.ingress.kubernetes.io
// annotations applied (canaries merged into the Ingress they shadow). A class
// with TLS entries also gets "ingress/<class>/https" (port 443) with the same
// routes; on the HTTP listener, hosts with TLS then redirect to HTTPS
// (ssl-redirect, on by default as in ingress-nginx).
void add_ingress_listeners(const std::vector<const ingress_doc*>& served,
                           const cluster_resolver& clusters,
                           const certificate_resolver& certificates, gateway_config& out,
                           std::vector<config_issue>& issues);

// Reads an HTTPRoute's or a GRPCRoute's spec (m.kind says which); problems go to `doc`.
route_doc read_route(yaml_config::document_reader& doc, const YAML::Node& d, meta m);
// Reads a ReferenceGrant's spec.
grant_doc read_reference_grant(yaml_config::document_reader& doc, const YAML::Node& d, meta m);
// Reads a label selector at `path`.
label_selector read_selector(yaml_config::document_reader& doc, const YAML::Node& node,
                             const std::string& path);

}  // namespace gateway::manifests
