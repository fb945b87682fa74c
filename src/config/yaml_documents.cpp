#include "config/yaml_documents.hpp"

#include <charconv>

namespace gateway::yaml_config {

int line_of(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  auto mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

std::string join_path(std::string_view base, std::string_view key) {
  if (base.empty()) return std::string(key);
  std::string out(base);
  out.push_back('.');
  out.append(key);
  return out;
}

std::string index_path(std::string_view base, std::size_t index) {
  return std::string(base) + "[" + std::to_string(index) + "]";
}

void document_reader::fail(const YAML::Node& at, std::string_view path, std::string message) {
  issues_.push_back({label_, std::string(path), line_of(at), std::move(message)});
}

void document_reader::warn(const YAML::Node& at, std::string_view path, std::string message) {
  config_issue w{label_, std::string(path), line_of(at), std::move(message)};
  warnings_.push_back(w.to_string(""));
}

bool document_reader::is_map(const YAML::Node& node, std::string_view path) {
  if (node.IsMap()) return true;
  fail(node, path, "expected a mapping");
  return false;
}

bool document_reader::is_seq(const YAML::Node& node, std::string_view path) {
  if (node.IsSequence()) return true;
  fail(node, path, "expected a list");
  return false;
}

void document_reader::check_keys(const YAML::Node& map, std::string_view path,
                                 std::initializer_list<std::string_view> known,
                                 std::initializer_list<std::string_view> inert) {
  if (!map.IsMap()) return;
  for (const auto& kv : map) {
    std::string key = kv.first.Scalar();
    bool ok = false;
    for (auto k : known)
      ok = ok || k == key;
    if (ok) continue;
    bool is_inert = false;
    for (auto k : inert)
      is_inert = is_inert || k == key;
    if (is_inert) {
      warn(kv.first, join_path(path, key), "accepted but has no effect in gateway");
      continue;
    }
    std::string list;
    for (auto k : known) {
      if (!list.empty()) list += ", ";
      list += k;
    }
    fail(kv.first, join_path(path, key),
         "unknown or unsupported field (supported here: " + list + ")");
  }
}

std::optional<std::string> document_reader::string_at(const YAML::Node& map, std::string_view key,
                                                      std::string_view path, bool required) {
  YAML::Node n = map[std::string(key)];
  std::string p = join_path(path, key);
  if (!n.IsDefined() || n.IsNull()) {
    if (required) fail(map, p, "required field is missing");
    return std::nullopt;
  }
  if (!n.IsScalar()) {
    fail(n, p, "expected a string");
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<std::int64_t> document_reader::int_at(const YAML::Node& map, std::string_view key,
                                                    std::string_view path, bool required,
                                                    std::int64_t min, std::int64_t max) {
  YAML::Node n = map[std::string(key)];
  std::string p = join_path(path, key);
  if (!n.IsDefined() || n.IsNull()) {
    if (required) fail(map, p, "required field is missing");
    return std::nullopt;
  }
  std::int64_t v = 0;
  const std::string& s = n.IsScalar() ? n.Scalar() : std::string();
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!n.IsScalar() || r.ec != std::errc() || r.ptr != s.data() + s.size()) {
    fail(n, p, "expected an integer, got '" + s + "'");
    return std::nullopt;
  }
  if (v < min || v > max) {
    fail(n, p, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> document_reader::bool_at(const YAML::Node& map, std::string_view key,
                                             std::string_view path) {
  YAML::Node n = map[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) return n.Scalar() == "true";
  fail(n, join_path(path, key), "expected true or false");
  return std::nullopt;
}

std::optional<std::chrono::milliseconds> document_reader::duration_at(const YAML::Node& map,
                                                                      std::string_view key,
                                                                      std::string_view path) {
  auto s = string_at(map, key, path, false);
  if (!s) return std::nullopt;
  YAML::Node n = map[std::string(key)];
  std::string_view v = *s;
  std::int64_t total = 0;
  bool any = false;
  while (!v.empty()) {
    std::int64_t num = 0;
    auto r = std::from_chars(v.data(), v.data() + v.size(), num);
    if (r.ec != std::errc() || num < 0) break;
    v.remove_prefix(static_cast<std::size_t>(r.ptr - v.data()));
    std::int64_t unit = 0;
    if (v.starts_with("ms")) {
      unit = 1;
      v.remove_prefix(2);
    } else if (v.starts_with("h")) {
      unit = 3600000;
      v.remove_prefix(1);
    } else if (v.starts_with("m")) {
      unit = 60000;
      v.remove_prefix(1);
    } else if (v.starts_with("s")) {
      unit = 1000;
      v.remove_prefix(1);
    } else {
      break;
    }
    total += num * unit;
    any = true;
  }
  if (!any || !v.empty()) {
    fail(n, join_path(path, key),
         "invalid duration '" + *s + "' (examples: 500ms, 30s, 1m30s, 1h)");
    return std::nullopt;
  }
  return std::chrono::milliseconds(total);
}

bool document_reader::one_of(const YAML::Node& at, std::string_view path, const std::string& value,
                             std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed)
    if (a == value) return true;
  std::string list;
  for (auto a : allowed) {
    if (!list.empty()) list += ", ";
    list += a;
  }
  fail(at, path, "unsupported value '" + value + "' (expected one of: " + list + ")");
  return false;
}

}  // namespace gateway::yaml_config

namespace gateway {
std::string config_issue::to_string(std::string_view source_name) const {
  std::string out;
  if (!source_name.empty()) {
    out.append(source_name);
    out.append(":");
    if (line > 0) out.append(std::to_string(line)).append(":");
    out.append(" ");
  } else if (line > 0) {
    out.append("line ").append(std::to_string(line)).append(": ");
  }
  out.append(document);
  if (!path.empty()) out.append(": ").append(path);
  out.append(": ").append(message);
  return out;
}
}  // namespace gateway
