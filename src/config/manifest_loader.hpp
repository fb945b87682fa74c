#pragma once
// The manifest loader's state and steps, shared by the two files that hold
// its code (src/config only): yaml_loader.cpp reads the documents and
// resolves Gateways, listeners and routes; loader_refs.cpp resolves what
// they refer to (backendRefs to clusters, ReferenceGrants, TLS secrets and
// CA bundles, policies by target, Ingresses).
#include <gateway/config.hpp>

#include <map>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "config/manifests.hpp"
#include "config/policy_reader.hpp"
#include "config/yaml_documents.hpp"

namespace gateway::manifests {

using yaml_config::document_reader;

// The controllerName a GatewayClass (or IngressClass) must name to be served here.
inline constexpr std::string_view controller_name = "gateway.dev/gatewayd";

// The annotations on the routes load_client_yaml makes, one per Service
// port: the Service (in the route's namespace) and the port's name.
inline constexpr std::string_view client_service_annotation = "gateway.dev/client-service";
inline constexpr std::string_view client_port_annotation = "gateway.dev/client-service-port";
// On the route load_client_yaml makes for an Envoy Gateway Backend: its name.
inline constexpr std::string_view client_backend_annotation = "gateway.dev/client-backend";

// Reads manifests into `out` (issues into `issues`), one loader per load.
class loader {
 public:
  loader(std::vector<config_issue>& issues, gateway_config& out, const filter_registry& filters)
      : issues_(issues), out_(out), doc_("", issues, out.warnings), registry_(filters) {}

  void load(std::string_view text);
  // Loads a client's config (load_client_yaml): BackendTrafficPolicies
  // target Services, meaning the routes made for calls to them.
  void for_client() noexcept { client_ = true; }

 private:
  void read_document(const YAML::Node& d, std::size_t index);

  // Why a reference cannot be followed, as a Gateway API ResolvedRefs reason.
  struct unresolved {
    std::string reason;  // InvalidKind, RefNotPermitted, BackendNotFound, UnsupportedProtocol
    std::string message;
  };

  // True when a ReferenceGrant in `to_ns` lets a `from_kind` in `from_ns` refer
  // to the `to_kind` object `name` there.
  bool granted(const std::string& from_ns, const std::string& to_ns, const std::string& name,
               std::string_view to_group, std::string_view to_kind,
               std::string_view from_kind) const;

  // The cluster for a backend reference (created on first use), or why there is none.
  std::variant<std::string, unresolved> cluster_for(
      const object_ref& b, const meta& from, document_reader& at,
      std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(0),
      const manifests::policy_doc* settings = nullptr);

  // The cluster of an Envoy Gateway Backend (created on first use).
  std::variant<std::string, unresolved> backend_cluster(const object_ref& b, const meta& from,
                                                        const manifests::policy_doc* settings);

  // The BackendTLSPolicy that covers a Service port (or a Backend): a policy
  // naming the port (sectionName) wins over one for the whole Service.
  void apply_backend_tls(const std::string& group, const std::string& kind, const std::string& ns,
                         const std::string& name, const std::string& port_name, cluster_config& c);

  // Appends the `ca.crt` of ConfigMap or Secret `ns`/`name` to `into`; a
  // missing object or key is an error at `node`.
  void add_ca_bundle(const std::string& kind, const std::string& ns, const std::string& name,
                     const YAML::Node& node, const std::string& path, document_reader& at,
                     std::string& into);

  // A TLS Secret's certificate: PEM in tls.crt/tls.key (tls.ocsp: an OCSP
  // response, DER), or the files its annotations name.
  std::optional<tls_certificate> secret_certificate(const std::string& ns, const std::string& name,
                                                    const YAML::Node& node, const std::string& path,
                                                    document_reader& at);

  // An HTTPS listener's certificates, and the TLS side of its ClientTrafficPolicy.
  void apply_listener_tls(const gateway_doc& gw, const listener_doc& l,
                          const manifests::policy_doc* policy, listener_config& lc);

  // Whether listener `l` of `gw` admits routes from namespace `ns` (allowedRoutes).
  bool admits(const gateway_doc& gw, const listener_doc& l, const std::string& ns) const;

  void resolve();

  // A Service's plain cluster is made when a reference is first resolved; a
  // BackendTrafficPolicy may then move every route to a cluster of its own,
  // and a policy may have looked endpoints up. Clusters no rule uses go.
  void drop_unused_clusters();

  // A route attached to a listener: its document, the listener's index in
  // out_.listeners, its place in that listener's routes, and the status entry
  // of the parentRef that attached it.
  struct attachment {
    const route_doc* doc;
    std::size_t listener, position, status;
  };
  const route* route_of(const attachment& a) const {
    return &out_.listeners[a.listener].routes[a.position];
  }
  // Takes off each listener the HTTPRoutes and GRPCRoutes that lose a
  // hostname conflict with a route of the other kind (see the definition).
  void reject_kind_conflicts(const std::vector<attachment>& attachments);

  // The upstream side of the BackendTrafficPolicy that applies to a rule on a
  // listener: its retry and request timeout (where the rule has none of its
  // own), and clusters with its balancing, health checks and limits.
  void apply_backend_policy(const route_doc& r, const manifests::rule_doc& rd,
                            const gateway_doc& gw, const listener_doc& l, route_rule& rule,
                            document_reader& at);

  // 4: `p` targets this rule, 3: the route, 2: this listener, 1: the Gateway, 0: none.
  static int target_level(const manifests::policy_doc& p, const route_doc& r,
                          const manifests::rule_doc& rd, const gateway_doc& gw,
                          const listener_doc& l);

  // The policy of `kind` that applies to one rule on one listener: the most
  // specific target wins; at equal specificity the older one (Gateway API
  // conflict rules), then by name.
  const manifests::policy_doc* most_specific(std::string_view kind, const route_doc& r,
                                             const manifests::rule_doc& rd, const gateway_doc& gw,
                                             const listener_doc& l) const;

  // Warns when a BackendTrafficPolicy aimed at connection route `r` has
  // request filters, which act on requests only.
  void warn_connection_filters(const route_doc& r, const manifests::rule_doc& rd,
                               const gateway_doc& gw, const listener_doc& l,
                               yaml_config::document_reader& at);
  // The filters of one rule on one listener: the most specific SecurityPolicy,
  // BackendTrafficPolicy and WafPolicy (rule, route, listener, Gateway), then
  // Filter objects that target it (Gateway, listener, route, rule), then the
  // rule's ExtensionRef filters in order. The WAF comes after authentication
  // and rate limits (they are cheap and spare it work) and after compression,
  // so that its response hooks, which run in reverse, see the body unencoded.
  std::vector<filter_ref> chain_for(const route_doc& r, const manifests::rule_doc& rd,
                                    const gateway_doc& gw, const listener_doc& l,
                                    document_reader& at);

  // Ingresses: with no IngressClass in the file every Ingress is served; with
  // some, those of a class whose controller is ours (a missing class name
  // means the default class).
  void resolve_ingresses();

  std::vector<config_issue>& issues_;
  gateway_config& out_;
  document_reader doc_;
  std::vector<gateway_doc> gateways_;
  std::vector<route_doc> routes_;
  std::vector<service_doc> services_;
  std::vector<slice_doc> slices_;
  std::vector<manifests::backend_doc> backends_;
  std::vector<grant_doc> grants_;
  std::vector<manifests::ingress_doc> ingresses_;
  struct ingress_class {
    std::string controller;
    bool is_default = false;
  };
  std::map<std::string, ingress_class> ingress_classes_;
  std::map<std::string, std::map<std::string, std::string>> namespaces_;  // name -> labels
  std::map<std::string, std::string> classes_;
  std::set<std::string> known_clusters_;
  std::vector<manifests::policy_doc> policies_;  // SecurityPolicy, BackendTrafficPolicy, Filter
  std::map<std::string, manifests::secret_data> secrets_;      // "namespace/name"
  std::map<std::string, manifests::secret_data> config_maps_;  // "namespace/name"
  std::vector<manifests::backend_tls_doc> tls_policies_;
  const filter_registry& registry_;
  bool client_ = false;
};

// Loads manifests and validates the config they make; `client`: as a
// client's config (loader::for_client). Issues go into `issues`.
gateway_config load_manifests(std::string_view text, const filter_registry& filters, bool client,
                              std::error_code& ec, std::vector<config_issue>& issues);
// The issues as load_yaml's error message lists them.
std::string describe(const std::vector<config_issue>& issues, std::string_view source);

}  // namespace gateway::manifests
