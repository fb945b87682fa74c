// Envoy Gateway policies and the project's Filter kind, turned into filter
// chains: each supported policy field becomes the configuration of a built-in
// filter (field names kept, so the filter's own errors name them); anything
// else is an error naming the field.
#include "config/policy_reader.hpp"

#include <gateway/error.hpp>

#include <fmt/format.h>
#include <charconv>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "core/known_fields.hpp"
#include "tls/digest.hpp"

namespace gateway::manifests {
namespace {

using yaml_config::document_reader;
using yaml_config::index_path;
using yaml_config::join_path;

// YAML to JSON with the YAML 1.2 core schema for plain scalars (true/false,
// null, numbers); quoted scalars stay strings.
boost::json::value to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      boost::json::object o;
      for (const auto& kv : n)
        o[kv.first.Scalar()] = to_json(kv.second);
      return o;
    }
    case YAML::NodeType::Sequence: {
      boost::json::array a;
      for (const auto& item : n)
        a.push_back(to_json(item));
      return a;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return boost::json::string(s);  // quoted
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (s == "null" || s == "~" || s.empty()) return nullptr;
      char* end = nullptr;
      errno = 0;
      long long i = std::strtoll(s.c_str(), &end, 10);
      if (end && *end == 0 && errno == 0) return static_cast<std::int64_t>(i);
      double d = std::strtod(s.c_str(), &end);
      if (end && *end == 0 && s.find_first_of("0123456789") != std::string::npos) return d;
      return boost::json::string(s);
    }
    default:
      return nullptr;
  }
}

std::string json_text(const YAML::Node& n) {
  return boost::json::serialize(to_json(n));
}

// Makes one filter; its configuration errors are reported at `path`.
void add_filter(document_reader& doc, policy_doc& p, const filter_registry& registry,
                std::string_view name, const std::string& json, const YAML::Node& at,
                const std::string& path, const std::string& root = {}) {
  // The filter checks its config at its own root: `root`, else `path`.
  known_fields* recorder = known_fields_recorder();
  std::string outer;
  if (recorder) outer = std::exchange(recorder->prefix, root.empty() ? path : root);
  try {
    // The owner as metrics name it: stable whatever the document's place.
    p.filters.push_back(registry.make(name, json, p.kind + " " + p.m.ns + "/" + p.m.name));
  } catch (const error& e) {
    doc.fail(at, path, e.what());
  }
  if (recorder) recorder->prefix = std::move(outer);
}

// A Secret reference ({name, namespace?, kind?, group?}); its data or null.
const secret_data* secret_for(document_reader& doc, const policy_doc& p, const YAML::Node& ref,
                              const std::string& path, const secret_lookup& secrets) {
  if (!doc.is_map(ref, path)) return nullptr;
  doc.check_keys(ref, path, {"name", "namespace", "kind", "group"});
  auto kind = doc.string_at(ref, "kind", path, false).value_or("Secret");
  auto group = doc.string_at(ref, "group", path, false).value_or("");
  if (kind != "Secret" || !group.empty()) {
    doc.fail(ref, path, "only core Secrets can hold credentials");
    return nullptr;
  }
  auto name = doc.string_at(ref, "name", path, true);
  auto ns = doc.string_at(ref, "namespace", path, false).value_or(p.m.ns);
  if (!name) return nullptr;
  if (ns != p.m.ns) {
    doc.fail(ref, join_path(path, "namespace"),
             "a Secret in another namespace is not supported (keep it beside the policy)");
    return nullptr;
  }
  const secret_data* data = secrets(ns, *name);
  if (!data) doc.fail(ref, path, fmt::format("Secret {}/{} not found in the config", ns, *name));
  return data;
}

// The jwt settings as JSON, each remoteJWKS.backendRefs replaced by the
// endpoints of that Service port (the filter fetches from them).
std::string jwt_json(document_reader& doc, const policy_doc& p, const YAML::Node& j,
                     const backend_lookup& backends) {
  boost::json::value v = to_json(j);
  boost::json::array* providers = v.is_object() && v.get_object().contains("providers") &&
                                          v.get_object()["providers"].is_array()
                                      ? &v.get_object()["providers"].get_array()
                                      : nullptr;
  for (std::size_t i = 0; providers && i < providers->size(); ++i) {
    auto* provider = (*providers)[i].if_object();
    auto* remote = provider ? provider->if_contains("remoteJWKS") : nullptr;
    if (!remote || !remote->is_object() || !remote->get_object().contains("backendRefs")) continue;
    const std::string rp = index_path("spec.jwt.providers", i) + ".remoteJWKS";
    const YAML::Node refs = j["providers"][i]["remoteJWKS"]["backendRefs"];
    boost::json::array endpoints;
    if (doc.is_seq(refs, rp + ".backendRefs"))
      for (std::size_t k = 0; k < refs.size(); ++k) {
        const std::string bp = index_path(rp + ".backendRefs", k);
        if (!doc.is_map(refs[k], bp)) continue;
        doc.check_keys(refs[k], bp, {"group", "kind", "name", "namespace", "port"});
        auto name = doc.string_at(refs[k], "name", bp, true);
        auto port = doc.int_at(refs[k], "port", bp, true, 1, 65535);
        auto ns = doc.string_at(refs[k], "namespace", bp, false).value_or(p.m.ns);
        if (!name || !port) continue;
        std::string error;
        for (const std::string& ep : backends(ns, *name, static_cast<std::uint16_t>(*port), error))
          endpoints.push_back(boost::json::string(ep));
        if (!error.empty()) doc.fail(refs[k], bp, error);
      }
    remote->get_object().erase("backendRefs");
    remote->get_object()["endpoints"] = endpoints;
  }
  return boost::json::serialize(v);
}

void build_security(document_reader& doc, policy_doc& p, const filter_registry& registry,
                    const secret_lookup& secrets, const backend_lookup& backends) {
  const YAML::Node& spec = p.spec;
  doc.check_keys(
      spec, "spec",
      {"targetRef", "targetRefs", "cors", "authorization", "basicAuth", "apiKeyAuth", "jwt"});
  // The order requests meet them: CORS first (a preflight needs no
  // credentials), then who may connect, then who the client is.
  if (YAML::Node c = spec["cors"]; c.IsDefined() && doc.is_map(c, "spec.cors"))
    add_filter(doc, p, registry, "cors", json_text(c), c, "spec.cors");
  if (YAML::Node a = spec["authorization"]; a.IsDefined() && doc.is_map(a, "spec.authorization"))
    add_filter(doc, p, registry, "ip-access", json_text(a), a, "spec.authorization");
  if (YAML::Node j = spec["jwt"]; j.IsDefined() && doc.is_map(j, "spec.jwt"))
    add_filter(doc, p, registry, "jwt", jwt_json(doc, p, j, backends), j, "spec.jwt");
  if (YAML::Node b = spec["basicAuth"]; b.IsDefined() && doc.is_map(b, "spec.basicAuth")) {
    doc.check_keys(b, "spec.basicAuth", {"users", "forwardUsernameHeader"});
    boost::json::object cfg;
    if (const secret_data* data = secret_for(doc, p, b["users"], "spec.basicAuth.users", secrets)) {
      auto it = data->find(".htpasswd");
      if (it == data->end())
        doc.fail(b["users"], "spec.basicAuth.users", "the Secret has no '.htpasswd' key");
      else
        cfg["htpasswd"] = it->second;
    }
    if (auto h = doc.string_at(b, "forwardUsernameHeader", "spec.basicAuth", false))
      cfg["forwardUsernameHeader"] = *h;
    if (cfg.contains("htpasswd"))
      add_filter(doc, p, registry, "basic-auth", boost::json::serialize(cfg), b, "spec.basicAuth");
  }
  if (YAML::Node k = spec["apiKeyAuth"]; k.IsDefined() && doc.is_map(k, "spec.apiKeyAuth")) {
    const std::string kp = "spec.apiKeyAuth";
    doc.check_keys(k, kp, {"credentialRefs", "extractFrom", "forwardClientIDHeader", "sanitize"});
    boost::json::object cfg;
    boost::json::object creds;
    if (YAML::Node refs = k["credentialRefs"];
        refs.IsDefined() && doc.is_seq(refs, kp + ".credentialRefs"))
      for (std::size_t i = 0; i < refs.size(); ++i)
        if (const secret_data* data =
                secret_for(doc, p, refs[i], index_path(kp + ".credentialRefs", i), secrets))
          for (const auto& [client, key] : *data)
            creds[client] = key;  // Envoy Gateway: each key of the Secret is a client id
    cfg["credentials"] = creds;
    if (YAML::Node from = k["extractFrom"]; from.IsDefined()) cfg["extractFrom"] = to_json(from);
    if (YAML::Node f = k["forwardClientIDHeader"]; f.IsDefined())
      cfg["forwardClientIDHeader"] = to_json(f);
    if (YAML::Node s = k["sanitize"]; s.IsDefined()) cfg["sanitize"] = to_json(s);
    add_filter(doc, p, registry, "api-key-auth", boost::json::serialize(cfg), k, kp);
  }
}

// The value at `key` of a Secret's `data` (found at `path`), or null with an
// error saying the Secret lacks it.
const std::string* secret_value(document_reader& doc, const secret_data& data, const char* key,
                                const YAML::Node& at, const std::string& path) {
  const auto it = data.find(key);
  if (it != data.end() && !it->second.empty()) return &it->second;
  doc.fail(at, path, fmt::format("the Secret has no '{}' key", key));
  return nullptr;
}

// A global rate limit's Redis credentials: redis.auth.secretRef names a
// Secret beside the policy whose `password` (and `username`, for an ACL
// user) go into the filter's config; a password is never written inline.
void redis_credentials(document_reader& doc, const policy_doc& p, const YAML::Node& settings,
                       const std::string& path, const secret_lookup& secrets,
                       boost::json::value& cfg) {
  const YAML::Node redis = settings["redis"];
  if (!redis.IsMap() || !redis["auth"].IsDefined()) return;
  const std::string ap = path + ".redis.auth";
  const YAML::Node auth = redis["auth"];
  if (!doc.is_map(auth, ap)) return;
  doc.check_keys(auth, ap, {"secretRef"});
  boost::json::object credentials;
  if (!auth["secretRef"].IsDefined()) {
    doc.fail(auth, ap + ".secretRef", "required field is missing");
  } else if (const secret_data* data =
                 secret_for(doc, p, auth["secretRef"], ap + ".secretRef", secrets)) {
    if (const std::string* password =
            secret_value(doc, *data, "password", auth["secretRef"], ap + ".secretRef"))
      credentials["password"] = *password;
    if (const auto user = data->find("username"); user != data->end())
      credentials["username"] = user->second;
  }
  cfg.as_object()["redis"].as_object()["auth"] = std::move(credentials);
}

// Its TLS: tls.caCertificateRef names a Secret beside the policy whose
// ca.crt is the CA to trust (none: the system's CAs); serverName and
// insecureSkipVerify as the filter takes them.
void redis_tls(document_reader& doc, const policy_doc& p, const YAML::Node& settings,
               const std::string& path, const secret_lookup& secrets, boost::json::value& cfg) {
  const YAML::Node redis = settings["redis"];
  if (!redis.IsMap() || !redis["tls"].IsDefined()) return;
  const std::string tp = path + ".redis.tls";
  const YAML::Node t = redis["tls"];
  if (!doc.is_map(t, tp)) return;
  doc.check_keys(t, tp, {"caCertificateRef", "serverName", "insecureSkipVerify"});
  boost::json::object& out = cfg.as_object()["redis"].as_object()["tls"].as_object();
  out.erase("caCertificateRef");
  if (!t["caCertificateRef"].IsDefined()) return;
  const std::string rp = tp + ".caCertificateRef";
  if (const secret_data* data = secret_for(doc, p, t["caCertificateRef"], rp, secrets))
    if (const std::string* ca = secret_value(doc, *data, "ca.crt", t["caCertificateRef"], rp))
      out["caPem"] = *ca;
}

void build_backend_traffic(document_reader& doc, policy_doc& p, const filter_registry& registry,
                           const secret_lookup& secrets) {
  const YAML::Node& spec = p.spec;
  doc.check_keys(spec, "spec",
                 {"targetRef", "targetRefs", "rateLimit", "compression", "loadBalancer",
                  "healthCheck", "circuitBreaker", "retry", "timeout", "dns", "httpUpgrade",
                  "headers", "connection", "responseBody"});
  p.upstream = read_upstream_settings(doc, spec);
  // compression: [{type: Gzip}, {type: Brotli}] in order of preference.
  if (YAML::Node c = spec["compression"]; c.IsDefined() && doc.is_seq(c, "spec.compression")) {
    boost::json::array encodings;
    for (std::size_t i = 0; i < c.size(); ++i) {
      const std::string cp = index_path("spec.compression", i);
      if (!doc.is_map(c[i], cp)) continue;
      doc.check_keys(c[i], cp, {"type"});
      auto type = doc.string_at(c[i], "type", cp, true).value_or("");
      if (doc.one_of(c[i]["type"], join_path(cp, "type"), type, {"Gzip", "Brotli"}))
        encodings.push_back(type == "Gzip" ? "gzip" : "br");
    }
    boost::json::object cfg;
    cfg["encodings"] = encodings;
    add_filter(doc, p, registry, "compression", boost::json::serialize(cfg), c, "spec.compression");
  }
  YAML::Node rl = spec["rateLimit"];
  if (!rl.IsDefined() || !doc.is_map(rl, "spec.rateLimit")) return;
  doc.check_keys(rl, "spec.rateLimit", {"type", "local", "global"});
  auto type = doc.string_at(rl, "type", "spec.rateLimit", false).value_or("Local");
  if (!doc.one_of(rl["type"], "spec.rateLimit.type", type, {"Local", "Global"})) return;
  const bool local = type == "Local";
  const std::string field = local ? "local" : "global";
  const std::string path = "spec.rateLimit." + field;
  YAML::Node settings = rl[field];
  if (!settings.IsDefined()) {
    doc.fail(rl, path, fmt::format("required field is missing for type {}", type));
    return;
  }
  if (rl[local ? "global" : "local"].IsDefined())
    doc.fail(rl, "spec.rateLimit",
             fmt::format("local and global do not go together; type is {}", type));
  // Global: Envoy Gateway's rules, plus where Redis is ("redis": address,
  // timeout, failureMode, auth), which Envoy Gateway keeps in its own config.
  boost::json::value cfg = to_json(settings);
  if (!local && cfg.is_object() && cfg.as_object().contains("redis") &&
      cfg.as_object()["redis"].is_object()) {
    redis_credentials(doc, p, settings, path, secrets, cfg);
    redis_tls(doc, p, settings, path, secrets, cfg);
  }
  add_filter(doc, p, registry, local ? "local-ratelimit" : "global-ratelimit",
             boost::json::serialize(cfg), settings, path);
}

// A list of strings at `key` (absent: empty).
std::vector<std::string> strings_at(document_reader& doc, const YAML::Node& map,
                                    std::string_view key, const std::string& path) {
  std::vector<std::string> out;
  YAML::Node list = map[std::string(key)];
  const std::string lp = join_path(path, key);
  if (!list.IsDefined() || !doc.is_seq(list, lp)) return out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].IsScalar()) {
      doc.fail(list[i], index_path(lp, i), "expected a string");
      continue;
    }
    out.push_back(list[i].Scalar());
  }
  return out;
}

// ClientTrafficPolicy tls: Envoy Gateway's ClientTLSSettings, plus
// handshakeTimeout and maxPendingHandshakes (this project's).
void read_client_tls(document_reader& doc, const YAML::Node& t, client_tls_settings& out) {
  const std::string p = "spec.tls";
  if (!doc.is_map(t, p)) return;
  doc.check_keys(
      t, p,
      {"minVersion", "maxVersion", "ciphers", "ecdhCurves", "signatureAlgorithms", "alpnProtocols",
       "clientValidation", "session", "handshakeTimeout", "maxPendingHandshakes"});
  listener_tls_config c;
  auto version = [&](const char* key, std::string& into) {
    auto v = doc.string_at(t, key, p, false);
    if (!v) return;
    if (*v == "Auto") return;  // the default
    if (doc.one_of(t[key], join_path(p, key), *v, {"Auto", "1.0", "1.1", "1.2", "1.3"})) {
      if (*v == "1.0" || *v == "1.1")
        doc.fail(t[key], join_path(p, key),
                 fmt::format("TLS {} is not supported (insecure; OpenSSL 3 refuses it)", *v));
      else
        into = *v;
    }
  };
  version("minVersion", c.min_version);
  version("maxVersion", c.max_version);
  if (c.min_version > c.max_version)
    doc.fail(t, p,
             fmt::format("minVersion {} is above maxVersion {}", c.min_version, c.max_version));
  c.ciphers = strings_at(doc, t, "ciphers", p);
  c.groups = strings_at(doc, t, "ecdhCurves", p);
  c.signature_algorithms = strings_at(doc, t, "signatureAlgorithms", p);
  if (t["alpnProtocols"].IsDefined()) {
    c.alpn = strings_at(doc, t, "alpnProtocols", p);
    for (std::size_t i = 0; i < c.alpn.size(); ++i)
      doc.one_of(t["alpnProtocols"][i], index_path(join_path(p, "alpnProtocols"), i), c.alpn[i],
                 {"h2", "http/1.1", "http/1.0"});
    if (c.alpn.empty()) doc.fail(t["alpnProtocols"], join_path(p, "alpnProtocols"), "empty");
  }
  if (YAML::Node s = t["session"]; s.IsDefined() && doc.is_map(s, join_path(p, "session"))) {
    const std::string sp = join_path(p, "session");
    doc.check_keys(s, sp, {"resumption"});
    if (YAML::Node r = s["resumption"];
        r.IsDefined() && doc.is_map(r, join_path(sp, "resumption"))) {
      // Either kind named alone turns the other off, as in Envoy Gateway;
      // both named (or the field left out) keeps both.
      doc.check_keys(r, join_path(sp, "resumption"), {"stateless", "stateful"});
      c.session_tickets = r["stateless"].IsDefined();
      c.session_cache = r["stateful"].IsDefined();
    }
  }
  if (auto d = doc.duration_at(t, "handshakeTimeout", p)) {
    if (d->count() <= 0)
      doc.fail(t["handshakeTimeout"], join_path(p, "handshakeTimeout"), "must be > 0");
    else
      c.handshake_timeout = *d;
  }
  if (auto n = doc.int_at(t, "maxPendingHandshakes", p, false, 1, 1000000))
    c.max_pending_handshakes = static_cast<std::size_t>(*n);
  if (YAML::Node v = t["clientValidation"];
      v.IsDefined() && doc.is_map(v, join_path(p, "clientValidation"))) {
    const std::string vp = join_path(p, "clientValidation");
    doc.check_keys(v, vp, {"optional", "caCertificateRefs", "certificateHashes", "spkiHashes"});
    tls_client_validation cv;
    cv.optional = doc.bool_at(v, "optional", vp).value_or(false);
    cv.certificate_hashes = strings_at(doc, v, "certificateHashes", vp);
    cv.spki_hashes = strings_at(doc, v, "spkiHashes", vp);
    const YAML::Node refs = v["caCertificateRefs"];
    const std::string rp = join_path(vp, "caCertificateRefs");
    if (!refs.IsDefined() || (refs.IsSequence() && refs.size() == 0))
      doc.fail(v, rp, "client validation needs the CA certificates to verify clients with");
    else
      for (object_ref& r : read_object_refs(doc, refs, rp, "Secret", "")) {
        if (!r.group.empty() || (r.kind != "Secret" && r.kind != "ConfigMap"))
          doc.fail(r.node, r.path, "a CA certificate reference is a core ConfigMap or Secret");
        else
          out.ca_refs.push_back(std::move(r));
      }
    c.client_validation = std::move(cv);
  }
  out.tls = std::move(c);
  out.node = t;
}

// headers.withUnderscoresAction (Allow, RejectRequest, DropHeader).
void read_underscores(document_reader& doc, const YAML::Node& h, policy_doc& out) {
  const YAML::Node u = h["withUnderscoresAction"];
  if (!u.IsDefined()) return;
  const std::string up = "spec.headers.withUnderscoresAction";
  const auto value = doc.string_at(h, "withUnderscoresAction", "spec.headers", false);
  if (!value || !doc.one_of(u, up, *value, {"Allow", "RejectRequest", "DropHeader"})) return;
  using u_action = request_normalization::underscores;
  if (!out.normalization) out.normalization.emplace();
  out.normalization->with_underscores = *value == "Allow"        ? u_action::allow
                                        : *value == "DropHeader" ? u_action::drop_header
                                                                 : u_action::reject_request;
}

// path: escapedSlashesAction and disableMergeSlashes.
void read_path_settings(document_reader& doc, const YAML::Node& n, policy_doc& out) {
  const std::string p = "spec.path";
  if (!doc.is_map(n, p)) return;
  doc.check_keys(n, p, {"escapedSlashesAction", "disableMergeSlashes"});
  if (!out.normalization) out.normalization.emplace();
  using s_action = request_normalization::escaped_slashes;
  if (const auto v = doc.string_at(n, "escapedSlashesAction", p, false);
      v &&
      doc.one_of(n["escapedSlashesAction"], join_path(p, "escapedSlashesAction"), *v,
                 {"KeepUnchanged", "RejectRequest", "UnescapeAndRedirect", "UnescapeAndForward"}))
    out.normalization->escaped_slashes_action = *v == "KeepUnchanged"   ? s_action::keep_unchanged
                                                : *v == "RejectRequest" ? s_action::reject_request
                                                : *v == "UnescapeAndForward"
                                                    ? s_action::unescape_and_forward
                                                    : s_action::unescape_and_redirect;
  if (const auto merge = doc.bool_at(n, "disableMergeSlashes", p))
    out.normalization->merge_slashes = !*merge;
}

// headers.xForwardedClientCert: Envoy Gateway's XFCC settings.
void read_forward_client_cert(document_reader& doc, const YAML::Node& h, client_tls_settings& out) {
  const std::string p = "spec.headers";
  if (!doc.is_map(h, p)) return;
  doc.check_keys(h, p,
                 {"xForwardedClientCert", "withUnderscoresAction", "maxRequestHeadersKb",
                  "maxRequestHeadersCount"});
  YAML::Node x = h["xForwardedClientCert"];
  const std::string xp = join_path(p, "xForwardedClientCert");
  if (!x.IsDefined() || !doc.is_map(x, xp)) return;
  doc.check_keys(x, xp, {"mode", "certDetailsToAdd"});
  client_cert_forwarding f;
  using m = client_cert_forwarding::mode;
  const std::string mode = doc.string_at(x, "mode", xp, false).value_or("Sanitize");
  if (doc.one_of(x["mode"], join_path(xp, "mode"), mode,
                 {"Sanitize", "ForwardOnly", "AppendForward", "SanitizeSet", "AlwaysForwardOnly"}))
    f.how = mode == "ForwardOnly"         ? m::forward_only
            : mode == "AppendForward"     ? m::append_forward
            : mode == "SanitizeSet"       ? m::sanitize_set
            : mode == "AlwaysForwardOnly" ? m::always_forward_only
                                          : m::sanitize;
  const std::vector<std::string> details = strings_at(doc, x, "certDetailsToAdd", xp);
  for (std::size_t i = 0; i < details.size(); ++i) {
    const std::string& d = details[i];
    if (!doc.one_of(x["certDetailsToAdd"][i], index_path(join_path(xp, "certDetailsToAdd"), i), d,
                    {"Subject", "Cert", "Chain", "DNS", "URI"}))
      continue;
    (d == "Subject" ? f.subject
     : d == "Cert"  ? f.cert
     : d == "Chain" ? f.chain
     : d == "DNS"   ? f.dns
                    : f.uri) = true;
  }
  if (!details.empty() && f.how != m::append_forward && f.how != m::sanitize_set)
    doc.fail(x["certDetailsToAdd"], join_path(xp, "certDetailsToAdd"),
             "only used with mode AppendForward or SanitizeSet");
  out.forward_client_cert = f;
}

// ClientTrafficPolicy http2: what HTTP/2 clients are told in SETTINGS.
void read_http2(document_reader& doc, const YAML::Node& h, policy_doc& p) {
  const std::string path = "spec.http2";
  if (!doc.is_map(h, path)) return;
  doc.check_keys(h, path,
                 {"initialStreamWindowSize", "initialConnectionWindowSize", "maxConcurrentStreams",
                  "onInvalidMessage"});
  listener_http2_config c;
  constexpr std::uint64_t max_window = (1ull << 31) - 1;
  if (auto v = doc.bytes_at(h, "initialStreamWindowSize", path, 65535, max_window))
    c.initial_stream_window = static_cast<std::uint32_t>(*v);
  if (auto v = doc.bytes_at(h, "initialConnectionWindowSize", path, 65535, max_window))
    c.initial_connection_window = static_cast<std::uint32_t>(*v);
  if (auto n = doc.int_at(h, "maxConcurrentStreams", path, false, 1, 2147483647))
    c.max_concurrent_streams = static_cast<std::uint32_t>(*n);
  // A malformed request ends its stream, never the connection of others.
  if (auto v = doc.string_at(h, "onInvalidMessage", path, false))
    doc.one_of(h["onInvalidMessage"], path + ".onInvalidMessage", *v, {"TerminateStream"});
  p.http2 = c;
}

// ClientTrafficPolicy connection: Envoy Gateway's connectionLimit and bufferLimit.
void read_connection(document_reader& doc, const YAML::Node& c, client_limit_settings& out) {
  const std::string p = "spec.connection";
  if (!doc.is_map(c, p)) return;
  doc.check_keys(c, p, {"connectionLimit", "bufferLimit"});
  if (auto b = doc.bytes_at(c, "bufferLimit", p, 1024, std::uint64_t{1} << 30))
    out.buffer_limit = static_cast<std::size_t>(*b);
  YAML::Node l = c["connectionLimit"];
  const std::string lp = join_path(p, "connectionLimit");
  if (!l.IsDefined() || !doc.is_map(l, lp)) return;
  doc.check_keys(l, lp, {"value", "closeDelay"});
  if (auto v = doc.int_at(l, "value", lp, true, 1, 100000000))
    out.max_connections = static_cast<std::size_t>(*v);
  if (auto d = doc.duration_at(l, "closeDelay", lp)) out.close_delay = *d;
}

// ClientTrafficPolicy timeout: Envoy Gateway's http.idleTimeout,
// http.streamIdleTimeout, http.requestReceivedTimeout and tcp.idleTimeout,
// and http.requestHeadersTimeout
// (this project's, after Envoy's request_headers_timeout: the whole head
// must arrive in it, however slowly its bytes trickle in).
void read_timeouts(document_reader& doc, const YAML::Node& t, client_limit_settings& out) {
  const std::string p = "spec.timeout";
  if (!doc.is_map(t, p)) return;
  doc.check_keys(t, p, {"http", "tcp"});
  auto positive = [&](const YAML::Node& map, const char* key, const std::string& path,
                      std::optional<std::chrono::milliseconds>& into) {
    auto d = doc.duration_at(map, key, path);
    if (!d) return;
    if (d->count() <= 0)
      doc.fail(map[key], join_path(path, key), "must be > 0");
    else
      into = *d;
  };
  if (YAML::Node h = t["http"]; h.IsDefined() && doc.is_map(h, join_path(p, "http"))) {
    const std::string hp = join_path(p, "http");
    doc.check_keys(
        h, hp,
        {"idleTimeout", "streamIdleTimeout", "requestHeadersTimeout", "requestReceivedTimeout"});
    positive(h, "idleTimeout", hp, out.idle_timeout);
    positive(h, "streamIdleTimeout", hp, out.stream_idle_timeout);
    positive(h, "requestHeadersTimeout", hp, out.header_timeout);
    positive(h, "requestReceivedTimeout", hp, out.request_received_timeout);
  }
  if (YAML::Node c = t["tcp"]; c.IsDefined() && doc.is_map(c, join_path(p, "tcp"))) {
    const std::string cp = join_path(p, "tcp");
    doc.check_keys(c, cp, {"idleTimeout"});
    positive(c, "idleTimeout", cp, out.tcp_idle_timeout);
  }
}

// headers.maxRequestHeadersKb and maxRequestHeadersCount (this project's,
// after Envoy's max_request_headers_kb and max_headers_count).
void read_header_limits(document_reader& doc, const YAML::Node& h, client_limit_settings& out) {
  if (auto kb = doc.int_at(h, "maxRequestHeadersKb", "spec.headers", false, 1, 8192))
    out.max_request_head = static_cast<std::size_t>(*kb) * 1024;
  if (auto n = doc.int_at(h, "maxRequestHeadersCount", "spec.headers", false, 1, 10000))
    out.max_header_count = static_cast<std::size_t>(*n);
}

// ClientTrafficPolicy tracing (this project's; the shape of Envoy Gateway's
// EnvoyProxy telemetry.tracing, whose spans start where requests enter):
// samplingRate (percent) or samplingFraction, and an OpenTelemetry provider
// that takes OTLP/HTTP at host:port (path /v1/traces, or `path`).
void read_tracing(document_reader& doc, const YAML::Node& t, policy_doc& p) {
  const std::string path = "spec.tracing";
  if (!doc.is_map(t, path)) return;
  doc.check_keys(t, path,
                 {"samplingRate", "samplingFraction", "provider", "serviceName", "flushInterval"});
  tracing_config c;
  c.sampling_numerator = c.sampling_denominator = 100;
  if (auto rate = doc.int_at(t, "samplingRate", path, false, 0, 100))
    c.sampling_numerator = static_cast<std::uint32_t>(*rate);
  if (YAML::Node f = t["samplingFraction"]; f.IsDefined()) {
    const std::string fp = join_path(path, "samplingFraction");
    if (t["samplingRate"].IsDefined())
      doc.fail(f, fp, "give samplingRate or samplingFraction, not both");
    if (doc.is_map(f, fp)) {
      doc.check_keys(f, fp, {"numerator", "denominator"});
      auto n = doc.int_at(f, "numerator", fp, true, 0, 1000000000);
      auto d = doc.int_at(f, "denominator", fp, false, 1, 1000000000);
      c.sampling_numerator = n ? static_cast<std::uint32_t>(*n) : 0;
      c.sampling_denominator = d ? static_cast<std::uint32_t>(*d) : 100;
      if (c.sampling_numerator > c.sampling_denominator)
        doc.fail(f, fp, "numerator is larger than denominator");
    }
  }
  if (auto name = doc.string_at(t, "serviceName", path, false)) c.service_name = *name;
  if (auto d = doc.duration_at(t, "flushInterval", path)) {
    if (d->count() < 10)
      doc.fail(t["flushInterval"], join_path(path, "flushInterval"), "must be at least 10ms");
    else
      c.flush_interval = *d;
  }
  YAML::Node pr = t["provider"];
  const std::string pp = join_path(path, "provider");
  if (!pr.IsDefined()) {
    doc.fail(t, path, "provider: required field is missing");
    return;
  }
  if (!doc.is_map(pr, pp)) return;
  doc.check_keys(pr, pp, {"type", "host", "port", "path", "tls"});
  if (auto type = doc.string_at(pr, "type", pp, true))
    doc.one_of(pr["type"], join_path(pp, "type"), *type, {"OpenTelemetry"});
  auto host = doc.string_at(pr, "host", pp, true);
  auto port = doc.int_at(pr, "port", pp, false, 1, 65535);
  std::string url_path = "/v1/traces";
  if (auto given = doc.string_at(pr, "path", pp, false)) {
    if (given->empty() || given->front() != '/')
      doc.fail(pr["path"], join_path(pp, "path"), "must start with '/'");
    url_path = *given;
  }
  bool https = false;
  if (auto tls = doc.bool_at(pr, "tls", pp)) https = *tls;
  if (!host) return;
  std::string authority = *host;
  if (authority.find(':') != std::string::npos) authority = "[" + authority + "]";  // IPv6
  c.collector = (https ? "https://" : "http://") + authority + ":" +
                std::to_string(port ? *port : 4318) + url_path;
  p.tracing = c;
}

void build_client_traffic(document_reader& doc, policy_doc& p) {
  doc.check_keys(p.spec, "spec",
                 {"targetRef", "targetRefs", "clientIPDetection", "tls", "headers", "path", "http2",
                  "connection", "timeout", "tracing"});
  if (YAML::Node n = p.spec["tracing"]; n.IsDefined()) read_tracing(doc, n, p);
  for (const target_ref& t : p.targets)
    if (t.kind != "Gateway")
      doc.fail(p.spec, "spec.targetRefs",
               "a ClientTrafficPolicy targets a Gateway (or a listener)");
  if (YAML::Node t = p.spec["tls"]; t.IsDefined()) read_client_tls(doc, t, p.client_tls);
  if (YAML::Node h = p.spec["headers"]; h.IsDefined()) {
    read_forward_client_cert(doc, h, p.client_tls);
    if (h.IsMap()) read_underscores(doc, h, p);
    if (h.IsMap()) read_header_limits(doc, h, p.limits);
  }
  if (YAML::Node n = p.spec["connection"]; n.IsDefined()) read_connection(doc, n, p.limits);
  if (YAML::Node n = p.spec["timeout"]; n.IsDefined()) read_timeouts(doc, n, p.limits);
  if (YAML::Node n = p.spec["path"]; n.IsDefined()) read_path_settings(doc, n, p);
  if (YAML::Node n = p.spec["http2"]; n.IsDefined()) read_http2(doc, n, p);
  YAML::Node d = p.spec["clientIPDetection"];
  if (!d.IsDefined() || !doc.is_map(d, "spec.clientIPDetection")) return;
  doc.check_keys(d, "spec.clientIPDetection", {"xForwardedFor"});
  YAML::Node x = d["xForwardedFor"];
  if (!x.IsDefined() || !doc.is_map(x, "spec.clientIPDetection.xForwardedFor")) return;
  doc.check_keys(x, "spec.clientIPDetection.xForwardedFor", {"numTrustedHops"});
  if (auto n = doc.int_at(x, "numTrustedHops", "spec.clientIPDetection.xForwardedFor", true, 0, 16))
    p.xff_trusted_hops = static_cast<std::uint32_t>(*n);
}

// WafPolicy: its spec (less the targets) is the "waf" filter's configuration.
void build_waf(document_reader& doc, policy_doc& p, const filter_registry& registry) {
  note_known_fields("spec", {"targetRef", "targetRefs"});  // read_policy's, taken out here
  YAML::Node cfg = YAML::Clone(p.spec);
  cfg.remove("targetRefs");
  cfg.remove("targetRef");
  add_filter(doc, p, registry, "waf", json_text(cfg), p.spec, "spec");
}

void build_project_filter(document_reader& doc, policy_doc& p, const filter_registry& registry) {
  doc.check_keys(p.spec, "spec", {"type", "config", "targetRefs"});
  auto type = doc.string_at(p.spec, "type", "spec", true);
  if (!type) return;
  YAML::Node cfg = p.spec["config"];
  add_filter(doc, p, registry, *type, cfg.IsDefined() ? json_text(cfg) : "{}",
             cfg.IsDefined() ? cfg : p.spec, cfg.IsDefined() ? "spec.config" : "spec",
             "spec.config");
}

}  // namespace

void client_limit_settings::apply(listener_limits& limits, listener_protocol protocol) const {
  if (max_connections) limits.max_connections = *max_connections;
  if (close_delay) limits.connection_close_delay = *close_delay;
  if (buffer_limit) limits.buffer_limit = *buffer_limit;
  if (max_request_head) {
    limits.max_request_head = *max_request_head;
    // The request line is part of the head: a smaller head limit bounds it too.
    limits.max_request_line = std::min(limits.max_request_line, *max_request_head);
  }
  if (max_header_count) limits.max_header_count = *max_header_count;
  if (header_timeout) limits.header_timeout = *header_timeout;
  if (idle_timeout) limits.idle_timeout = *idle_timeout;
  if (request_received_timeout) limits.request_received_timeout = *request_received_timeout;
  // A connection listener's stream is the connection itself: its idle
  // timeout is tcp.idleTimeout; an HTTP listener's is streamIdleTimeout.
  const auto& stream = protocol == listener_protocol::http ? stream_idle_timeout : tcp_idle_timeout;
  if (stream) limits.stream_idle_timeout = *stream;
}

policy_doc read_policy(document_reader& doc, const YAML::Node& d, meta m, std::string kind,
                       bool service_targets) {
  policy_doc p;
  p.kind = std::move(kind);
  p.m = std::move(m);
  p.label = doc.label();
  doc.check_keys(d, "", {"apiVersion", "kind", "metadata", "spec"}, {"status"});
  p.spec = d["spec"];
  if (!doc.is_map(p.spec, "spec")) return p;
  std::vector<std::pair<YAML::Node, std::string>> refs;
  if (YAML::Node one = p.spec["targetRef"]; one.IsDefined())
    refs.emplace_back(one, "spec.targetRef");
  if (YAML::Node many = p.spec["targetRefs"];
      many.IsDefined() && doc.is_seq(many, "spec.targetRefs"))
    for (std::size_t i = 0; i < many.size(); ++i)
      refs.emplace_back(many[i], index_path("spec.targetRefs", i));
  for (const auto& [n, path] : refs) {
    if (!doc.is_map(n, path)) continue;
    doc.check_keys(n, path, {"group", "kind", "name", "sectionName"});
    target_ref t;
    auto group = doc.string_at(n, "group", path, true).value_or("");
    t.kind = doc.string_at(n, "kind", path, true).value_or("");
    t.name = doc.string_at(n, "name", path, true).value_or("");
    t.section = doc.string_at(n, "sectionName", path, false).value_or("");
    // Connections (TCPRoute, TLSRoute) take a BackendTrafficPolicy's
    // upstream settings; nothing else of a policy acts on them.
    const bool connection_route = t.kind == "TCPRoute" || t.kind == "TLSRoute";
    if (service_targets) {
      if (p.kind == "BackendTrafficPolicy" &&
          ((group.empty() && t.kind == "Service") ||
           (group == envoy_gateway_group && t.kind == "Backend")))
        p.targets.push_back(std::move(t));
      else
        doc.fail(n, path,
                 "in a client's config a BackendTrafficPolicy targets Services (group \"\", kind "
                 "Service) or Backends (group gateway.envoyproxy.io, kind Backend): the calls to "
                 "them");
    } else if (group != gateway_api_group ||
               (t.kind != "Gateway" && t.kind != "HTTPRoute" && t.kind != "GRPCRoute" &&
                !(connection_route && p.kind == "BackendTrafficPolicy")))
      doc.fail(n, path,
               connection_route
                   ? "only a BackendTrafficPolicy targets a " + t.kind +
                         " (connections are not requests: nothing else of a policy acts on them)"
                   : "a policy targets a Gateway, an HTTPRoute or a GRPCRoute of group " +
                         std::string(gateway_api_group));
    else
      p.targets.push_back(std::move(t));
  }
  if (refs.empty() && p.kind != "Filter")
    doc.fail(p.spec, "spec.targetRefs", "required field is missing");
  return p;
}

secret_data read_secret(document_reader& doc, const YAML::Node& d) {
  doc.check_keys(d, "",
                 {"apiVersion", "kind", "metadata", "type", "data", "stringData", "immutable"});
  secret_data out;
  if (YAML::Node data = d["data"]; data.IsDefined() && doc.is_map(data, "data"))
    for (const auto& kv : data) {
      auto decoded = tls::base64_decode(kv.second.Scalar());
      if (!decoded)
        doc.fail(kv.second, join_path("data", kv.first.Scalar()), "not valid base64");
      else
        out[kv.first.Scalar()] = *decoded;
    }
  if (YAML::Node data = d["stringData"]; data.IsDefined() && doc.is_map(data, "stringData"))
    for (const auto& kv : data)
      out[kv.first.Scalar()] = kv.second.Scalar();
  return out;
}

void build_policy_filters(document_reader& doc, policy_doc& p, const filter_registry& registry,
                          const secret_lookup& secrets, const backend_lookup& backends) {
  if (!p.spec.IsDefined() || !p.spec.IsMap()) return;
  if (p.kind == "SecurityPolicy")
    build_security(doc, p, registry, secrets, backends);
  else if (p.kind == "BackendTrafficPolicy")
    build_backend_traffic(doc, p, registry, secrets);
  else if (p.kind == "ClientTrafficPolicy")
    build_client_traffic(doc, p);
  else if (p.kind == "WafPolicy")
    build_waf(doc, p, registry);
  else
    build_project_filter(doc, p, registry);
}

}  // namespace gateway::manifests
