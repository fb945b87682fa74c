#pragma once
// Reading a filter's JSON configuration with errors that name the field
// ("allowOrigins[2]: must be a string"); every filter parses its config once,
// when the configuration is loaded, through these.
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gateway::filters {

using json_object = boost::json::object;
using json_value = boost::json::value;

// Throws gateway::error(invalid_config) with "path: message".
[[noreturn]] void config_error(std::string_view path, std::string_view message);
// "a.b", "a[3]" from a parent path and a key or index.
std::string field_path(std::string_view parent, std::string_view key);
std::string index_path(std::string_view parent, std::size_t index);

// Parses `text` (empty means {}); the root must be an object.
json_value parse_config(std::string_view text);
const json_object& as_object(const json_value& v, std::string_view path);
// Fails on a field not in `allowed`, listing the supported ones.
void check_fields(const json_object& o, std::string_view path,
                  std::initializer_list<std::string_view> allowed);

std::optional<std::string> string_field(const json_object& o, std::string_view key,
                                        std::string_view path, bool required = false);
std::vector<std::string> strings_field(const json_object& o, std::string_view key,
                                       std::string_view path);
std::optional<std::int64_t> int_field(const json_object& o, std::string_view key,
                                      std::string_view path, std::int64_t min, std::int64_t max,
                                      bool required = false);
std::optional<bool> bool_field(const json_object& o, std::string_view key, std::string_view path);
// A Gateway API duration ("1h2m3s", "500ms") or a number of seconds.
std::optional<std::chrono::milliseconds> duration_field(const json_object& o, std::string_view key,
                                                        std::string_view path);
// The list at `key` (empty when absent).
const boost::json::array* array_field(const json_object& o, std::string_view key,
                                      std::string_view path, bool required = false);

// A list of {name, value} header fields at `key`; names must be valid field
// names, values free of CR/LF, and no field may be one that frames messages.
std::vector<std::pair<std::string, std::string>> fields_field(const json_object& o,
                                                              std::string_view key,
                                                              std::string_view path);
// Content-Length, Transfer-Encoding, Connection, Host and the like.
bool framing_field(std::string_view name) noexcept;

}  // namespace gateway::filters
