// The CRDs under deploy/crds held against the loader: wherever the loader
// checks a mapping's field names, the schema has exactly those fields, and
// every mapping the schema describes is one the loader checks. A field
// added to either side alone fails here.
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <yaml-cpp/yaml.h>

#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>

#include "core/known_fields.hpp"

using namespace gateway;

namespace {

using field_map = std::map<std::string, std::set<std::string>>;

struct schema_fields {
  field_map at;                // path -> the properties of the object there
  std::set<std::string> open;  // paths that keep unknown fields (a filter's config)
};

void walk(const YAML::Node& n, const std::string& path, schema_fields& out) {
  if (YAML::Node keep = n["x-kubernetes-preserve-unknown-fields"]; keep && keep.as<bool>())
    out.open.insert(path);
  if (YAML::Node props = n["properties"]; props && props.IsMap()) {
    std::set<std::string>& names = out.at[path];
    for (const auto& kv : props) {
      const std::string name = kv.first.as<std::string>();
      names.insert(name);
      std::string inner = path;
      inner.append(".").append(name);
      walk(kv.second, inner, out);
    }
  }
  if (YAML::Node items = n["items"]; items && items.IsMap()) {
    std::string inner = path;
    inner.append("[]");
    walk(items, inner, out);
  }
}

// The spec's fields of the CRD in deploy/crds/`file`.
schema_fields schema_of(const std::string& file) {
  std::string where = GATEWAY_SOURCE_DIR;
  where.append("/deploy/crds/").append(file);
  const YAML::Node crd = YAML::LoadFile(where);
  REQUIRE(crd["kind"].as<std::string>() == "CustomResourceDefinition");
  const YAML::Node spec =
      crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
  REQUIRE(spec.IsMap());
  schema_fields out;
  walk(spec, "spec", out);
  return out;
}

// What the loader checks of `yaml`'s spec (the load itself may fail: a
// document written to reach every mapping need not make a working config).
field_map loader_of(const std::string& yaml) {
  known_fields seen;
  known_fields* before = record_known_fields(&seen);
  try {
    load_yaml(yaml, "crd.yaml");
  } catch (const error&) {
  }
  record_known_fields(before);
  field_map out;
  for (auto& [path, names] : seen.at)
    if (path == "spec" || path.starts_with("spec.") || path.starts_with("spec[")) out[path] = names;
  return out;
}

bool under_open(const std::string& path, const schema_fields& s) {
  for (const std::string& o : s.open)
    if (path == o || (path.size() > o.size() && path.starts_with(o) &&
                      (path[o.size()] == '.' || path[o.size()] == '[')))
      return true;
  return false;
}

void agree(const schema_fields& schema, const field_map& loader) {
  // Named copies: clang 14 cannot capture structured bindings in CAPTURE's lambda.
  for (const auto& entry : schema.at) {
    const std::string& path = entry.first;
    const std::set<std::string>& names = entry.second;
    CAPTURE(path);
    const auto it = loader.find(path);
    REQUIRE_MESSAGE(it != loader.end(), "the schema describes a mapping the loader never checks");
    CHECK(it->second == names);
  }
  for (const auto& entry : loader) {
    const std::string& path = entry.first;
    CAPTURE(path);
    CHECK_MESSAGE((schema.at.count(path) == 1 || under_open(path, schema)),
                  "the loader checks a mapping the schema does not describe");
  }
}

}  // namespace

TEST_SUITE("crds") {
  TEST_CASE("the WafPolicy CRD has exactly the fields the loader knows") {
    // Every mapping of a WafPolicy, each once (mode Off: the rules are read,
    // not compiled).
    const std::string yaml = R"(apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: all}
spec:
  targetRef: {group: gateway.networking.k8s.io, kind: Gateway, name: web}
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: shop}]
  mode: "Off"
  ruleSet: {crs: {paranoiaLevel: 1}, directives: ""}
  requestBody: {limit: 1024}
  responseBody: {enabled: false}
  exclusions: [{ruleIds: [942100]}]
  log: {path: "-"}
  auditLog: {path: "-"}
  overload: {maxQueued: 10}
)";
    agree(schema_of("gateway.dev_wafpolicies.yaml"), loader_of(yaml));
  }

  TEST_CASE("the Filter CRD has exactly the fields the loader knows") {
    const std::string yaml = R"(apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {name: all}
spec:
  type: cors
  config: {allowOrigins: ["https://example.com"]}
  targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: web}]
)";
    agree(schema_of("gateway.dev_filters.yaml"), loader_of(yaml));
  }
}
