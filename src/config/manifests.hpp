#pragma once
// The Kubernetes documents the loader reads, as read (before references are
// resolved), and the readers that live outside the loader's main file.
#include <gateway/config.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/yaml_documents.hpp"

namespace gateway::manifests {

inline constexpr std::string_view gateway_api_group = "gateway.networking.k8s.io";

struct meta {
  std::string ns = "default";
  std::string name;
  std::string created;  // RFC 3339, compared as text
  std::map<std::string, std::string> labels;
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

// Reads an HTTPRoute's spec; problems go to `doc`.
route_doc read_httproute(yaml_config::document_reader& doc, const YAML::Node& d, meta m);
// Reads a ReferenceGrant's spec.
grant_doc read_reference_grant(yaml_config::document_reader& doc, const YAML::Node& d, meta m);
// Reads a label selector at `path`.
label_selector read_selector(yaml_config::document_reader& doc, const YAML::Node& node,
                             const std::string& path);

}  // namespace gateway::manifests
