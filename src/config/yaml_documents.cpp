#include "config/yaml_documents.hpp"

#include <fmt/format.h>
#include <charconv>

#include "core/known_fields.hpp"

namespace gateway::yaml_config {

int line_of(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  auto mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : 0;
}

namespace {
// Whether a document's text holds more than its "---" marker, blank lines and comments.
bool has_content(std::string_view part) {
  if (part.starts_with("---")) part.remove_prefix(3);
  while (!part.empty()) {
    const std::size_t eol = part.find('\n');
    std::string_view line = part.substr(0, eol);
    const std::size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string_view::npos && line[first] != '#') return true;
    part.remove_prefix(eol == std::string_view::npos ? part.size() : eol + 1);
  }
  return false;
}
}  // namespace

std::vector<YAML::Node> load_documents(std::string_view text) {
  std::vector<YAML::Node> docs;
  std::string chunk;
  // Loads text[from, to), which starts on line `line` (0-based), padded
  // with as many newlines so that its marks count from the stream's start.
  auto load = [&](std::size_t from, std::size_t to, std::size_t line) {
    const std::string_view part = text.substr(from, to - from);
    if (part.find_first_not_of(" \t\r\n") == std::string_view::npos) return;
    chunk.assign(line, '\n');
    chunk.append(part);
    YAML::Node doc = YAML::Load(chunk);
    if (doc.IsNull() && has_content(part)) {
      // Text that yaml-cpp made no node of (",") or an explicit null: no
      // manifest either way, and never to be skipped as an empty document.
      YAML::Mark at = YAML::Mark::null_mark();
      at.line = static_cast<int>(line);
      at.column = 0;
      throw YAML::ParserException(at, "expected a mapping (a Kubernetes manifest)");
    }
    // Comments alone make no document; "---" with nothing after it does (null).
    if (doc.IsNull() && !part.starts_with("---")) return;
    docs.push_back(std::move(doc));
  };
  // A marker is "---" or "..." at a line's start, then a blank or the end.
  auto marker = [&](std::size_t at, char c) {
    if (text.compare(at, 3, std::string(3, c)) != 0) return false;
    return at + 3 == text.size() || text[at + 3] == ' ' || text[at + 3] == '\t' ||
           text[at + 3] == '\r' || text[at + 3] == '\n';
  };
  std::size_t start = 0, start_line = 0, line = 0;
  for (std::size_t at = 0; at < text.size(); ++line) {
    const std::size_t eol = text.find('\n', at);
    const std::size_t next = eol == std::string_view::npos ? text.size() : eol + 1;
    if (marker(at, '-')) {  // a new document begins with this line
      load(start, at, start_line);
      start = at;
      start_line = line;
    } else if (marker(at, '.')) {  // the document ends before this line
      load(start, at, start_line);
      start = next;
      start_line = line + 1;
    }
    at = next;
  }
  load(start, text.size(), start_line);
  return docs;
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

// A missing key of a const node is a "zombie" that throws on any question
// but IsDefined(): asked first, so a missing field is an issue, not a throw.
bool document_reader::is_map(const YAML::Node& node, std::string_view path) {
  if (!node.IsDefined()) {
    fail(node, path, "required field is missing");
    return false;
  }
  if (node.IsMap()) return true;
  fail(node, path, "expected a mapping");
  return false;
}

bool document_reader::is_seq(const YAML::Node& node, std::string_view path) {
  if (!node.IsDefined()) {
    fail(node, path, "required field is missing");
    return false;
  }
  if (node.IsSequence()) return true;
  fail(node, path, "expected a list");
  return false;
}

void document_reader::check_keys(const YAML::Node& map, std::string_view path,
                                 std::initializer_list<std::string_view> known,
                                 std::initializer_list<std::string_view> inert) {
  note_known_fields(path, known);
  note_known_fields(path, inert);
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
         fmt::format("unknown or unsupported field (supported here: {})", list));
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
    fail(n, p, fmt::format("expected an integer, got '{}'", s));
    return std::nullopt;
  }
  if (v < min || v > max) {
    fail(n, p, fmt::format("must be between {} and {}", min, max));
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

std::optional<std::uint64_t> document_reader::bytes_at(const YAML::Node& map, std::string_view key,
                                                       std::string_view path, std::uint64_t min,
                                                       std::uint64_t max) {
  YAML::Node n = map[std::string(key)];
  if (!n.IsDefined() || n.IsNull()) return std::nullopt;
  const std::string text = n.IsScalar() ? n.Scalar() : "";
  std::uint64_t value = 0;
  const auto r = std::from_chars(text.data(), text.data() + text.size(), value);
  const std::string_view unit(r.ptr, static_cast<std::size_t>(text.data() + text.size() - r.ptr));
  static constexpr std::pair<std::string_view, std::uint64_t> units[] = {
      {"", 1},           {"k", 1000},        {"M", 1000000},
      {"G", 1000000000}, {"Ki", 1ull << 10}, {"Mi", 1ull << 20},
      {"Gi", 1ull << 30}};
  std::uint64_t scale = 0;
  for (const auto& [name, factor] : units)
    if (unit == name) scale = factor;
  if (r.ec != std::errc() || r.ptr == text.data() || scale == 0 || value > max / scale ||
      value * scale < min) {
    fail(n, join_path(path, key),
         fmt::format("'{}' is not a byte quantity from {} to {} (a number, or one with Ki, Mi, Gi, "
                     "k, M or G)",
                     text, min, max));
    return std::nullopt;
  }
  return value * scale;
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
         fmt::format("invalid duration '{}' (examples: 500ms, 30s, 1m30s, 1h)", *s));
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
  fail(at, path, fmt::format("unsupported value '{}' (expected one of: {})", value, list));
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
