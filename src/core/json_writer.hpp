#pragma once
// A small streaming JSON writer for the control plane (config dumps, admin
// answers, access log lines): appends to a string, inserts commas itself.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace gateway {

class json_writer {
 public:
  explicit json_writer(std::string& out) : out_(out) {}

  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }
  // The key of the next value in the current object.
  json_writer& key(std::string_view k);
  json_writer& value(std::string_view v);
  json_writer& value(const char* v) { return value(std::string_view(v)); }
  json_writer& value(const std::string& v) { return value(std::string_view(v)); }
  json_writer& value(std::int64_t v);
  json_writer& value(std::uint64_t v);
  json_writer& value(int v) { return value(static_cast<std::int64_t>(v)); }
  json_writer& value(unsigned v) { return value(static_cast<std::uint64_t>(v)); }
  json_writer& value(double v);
  json_writer& value(bool v);
  json_writer& null();
  // A value already in JSON form (a number formatted elsewhere), appended as is.
  json_writer& raw(std::string_view json);
  // key(k).value(v) in one call.
  template <class T>
  json_writer& field(std::string_view k, const T& v) {
    return key(k).value(v);
  }

  // Appends `t` as UTC ISO 8601 with milliseconds ("2026-11-26T21:05:00.123Z").
  static void append_time(std::string& out, std::chrono::system_clock::time_point t);
  // Appends `text` to `out` as JSON string content (no quotes), escaping as needed.
  static void escape(std::string& out, std::string_view text);

 private:
  json_writer& open(char c);
  json_writer& close(char c);
  void separate();

  std::string& out_;
  bool first_ = true;       // no value yet at this level
  bool after_key_ = false;  // the next value belongs to a key just written
};

}  // namespace gateway
