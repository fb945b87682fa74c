#include "filters/json_config.hpp"

#include <gateway/error.hpp>

#include <gateway/http.hpp>

#include <fmt/format.h>
#include <boost/json/parse.hpp>

#include "core/known_fields.hpp"

namespace gateway::filters {

void config_error(std::string_view path, std::string_view message) {
  std::string text(path.empty() ? "config" : path);
  text.append(": ").append(message);
  throw error(errc::invalid_config, std::move(text));
}

std::string field_path(std::string_view parent, std::string_view key) {
  std::string p(parent);
  if (!p.empty()) p.push_back('.');
  p.append(key);
  return p;
}

std::string index_path(std::string_view parent, std::size_t index) {
  return std::string(parent) + "[" + std::to_string(index) + "]";
}

json_value parse_config(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return json_object();
  boost::system::error_code ec;
  json_value v = boost::json::parse(text, ec);
  if (ec) config_error("", fmt::format("invalid JSON: {}", ec.message()));
  as_object(v, "");
  return v;
}

const json_object& as_object(const json_value& v, std::string_view path) {
  if (!v.is_object()) config_error(path, "must be a mapping");
  return v.get_object();
}

void check_fields(const json_object& o, std::string_view path,
                  std::initializer_list<std::string_view> allowed) {
  note_known_fields(path, allowed);
  for (const auto& kv : o) {
    bool known = false;
    for (std::string_view a : allowed)
      known = known || kv.key() == a;
    if (known) continue;
    std::string list;
    for (std::string_view a : allowed) {
      if (!list.empty()) list.append(", ");
      list.append(a);
    }
    config_error(field_path(path, kv.key()),
                 fmt::format("unsupported field (supported: {})", (list.empty() ? "none" : list)));
  }
}

std::optional<std::string> string_field(const json_object& o, std::string_view key,
                                        std::string_view path, bool required) {
  const json_value* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) config_error(field_path(path, key), "required field is missing");
    return std::nullopt;
  }
  if (!v->is_string()) config_error(field_path(path, key), "must be a string");
  return std::string(v->get_string());
}

std::vector<std::string> strings_field(const json_object& o, std::string_view key,
                                       std::string_view path) {
  std::vector<std::string> out;
  const boost::json::array* a = array_field(o, key, path);
  if (!a) return out;
  const std::string at = field_path(path, key);
  for (std::size_t i = 0; i < a->size(); ++i) {
    if (!(*a)[i].is_string()) config_error(index_path(at, i), "must be a string");
    out.emplace_back((*a)[i].get_string());
  }
  return out;
}

std::optional<std::int64_t> int_field(const json_object& o, std::string_view key,
                                      std::string_view path, std::int64_t min, std::int64_t max,
                                      bool required) {
  const json_value* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) config_error(field_path(path, key), "required field is missing");
    return std::nullopt;
  }
  std::int64_t n = 0;
  if (v->is_int64())
    n = v->get_int64();
  else if (v->is_uint64() && v->get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
    n = static_cast<std::int64_t>(v->get_uint64());
  else
    config_error(field_path(path, key), "must be an integer");
  if (n < min || n > max)
    config_error(field_path(path, key), fmt::format("must be between {} and {}", min, max));
  return n;
}

std::optional<bool> bool_field(const json_object& o, std::string_view key, std::string_view path) {
  const json_value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  if (!v->is_bool()) config_error(field_path(path, key), "must be true or false");
  return v->get_bool();
}

std::optional<std::chrono::milliseconds> duration_field(const json_object& o, std::string_view key,
                                                        std::string_view path) {
  const json_value* v = o.if_contains(key);
  if (!v || v->is_null()) return std::nullopt;
  const std::string at = field_path(path, key);
  if (v->is_int64() || v->is_uint64()) {
    auto n = int_field(o, key, path, 0, 100LL * 365 * 24 * 3600);
    return std::chrono::seconds(*n);
  }
  if (!v->is_string()) config_error(at, "must be a duration such as \"10s\" or \"500ms\"");
  std::string_view s = v->get_string();
  if (s.empty()) config_error(at, "must be a duration such as \"10s\" or \"500ms\"");
  std::int64_t total = 0;
  while (!s.empty()) {
    std::size_t digits = 0;
    std::int64_t n = 0;
    while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9' && digits < 9)
      n = n * 10 + (s[digits++] - '0');
    s.remove_prefix(digits);
    std::int64_t unit = 0;
    if (s.starts_with("ms")) {
      unit = 1;
      s.remove_prefix(2);
    } else if (!s.empty() && (s[0] == 'h' || s[0] == 'm' || s[0] == 's')) {
      unit = s[0] == 'h' ? 3600000 : s[0] == 'm' ? 60000 : 1000;
      s.remove_prefix(1);
    }
    if (digits == 0 || unit == 0)
      config_error(at, "must be a duration such as \"10s\", \"1m30s\" or \"500ms\"");
    total += n * unit;
  }
  return std::chrono::milliseconds(total);
}

const boost::json::array* array_field(const json_object& o, std::string_view key,
                                      std::string_view path, bool required) {
  const json_value* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) config_error(field_path(path, key), "required field is missing");
    return nullptr;
  }
  if (!v->is_array()) config_error(field_path(path, key), "must be a list");
  return &v->get_array();
}

bool framing_field(std::string_view n) noexcept {
  for (std::string_view f : {"content-length", "transfer-encoding", "connection", "host", "upgrade",
                             "te", "trailer", "keep-alive"})
    if (http::iequals(n, f)) return true;
  return false;
}

std::vector<std::pair<std::string, std::string>> fields_field(const json_object& o,
                                                              std::string_view key,
                                                              std::string_view path) {
  std::vector<std::pair<std::string, std::string>> out;
  const auto* a = array_field(o, key, path);
  if (!a) return out;
  const std::string lp = field_path(path, key);
  for (std::size_t i = 0; i < a->size(); ++i) {
    const std::string ip = index_path(lp, i);
    const json_object& item = as_object((*a)[i], ip);
    check_fields(item, ip, {"name", "value"});
    std::string name = *string_field(item, "name", ip, true);
    bool valid = !name.empty();
    for (char c : name)
      valid = valid && c > ' ' && c != ':' && c != 0x7f;
    if (!valid) config_error(field_path(ip, "name"), "not a valid field name");
    if (framing_field(name))
      config_error(field_path(ip, "name"),
                   fmt::format("'{}' frames the message and cannot be changed", name));
    std::string value = string_field(item, "value", ip).value_or("");
    if (value.find_first_of("\r\n") != std::string::npos)
      config_error(field_path(ip, "value"), "must not contain CR or LF");
    out.emplace_back(std::move(name), std::move(value));
  }
  return out;
}

}  // namespace gateway::filters
