#pragma once
// Strict reading of YAML documents: every mapping is checked against the keys
// a kind supports, every problem is recorded with document, field path and line.
#include <gateway/config.hpp>

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gateway::yaml_config {

// One document being read, and where its problems go.
class document_reader {
 public:
  document_reader(std::string label, std::vector<config_issue>& issues,
                  std::vector<std::string>& warnings)
      : label_(std::move(label)), issues_(issues), warnings_(warnings) {}

  void set_label(std::string label) { label_ = std::move(label); }
  const std::string& label() const { return label_; }

  void fail(const YAML::Node& at, std::string_view path, std::string message);
  void warn(const YAML::Node& at, std::string_view path, std::string message);

  // True if `node` is a mapping; records an error otherwise.
  bool is_map(const YAML::Node& node, std::string_view path);
  // True if `node` is a sequence; records an error otherwise.
  bool is_seq(const YAML::Node& node, std::string_view path);
  // Records an error for each key not in `known`, and a warning for each key in
  // `inert` (accepted because manifests carry it, but without effect here).
  void check_keys(const YAML::Node& map, std::string_view path,
                  std::initializer_list<std::string_view> known,
                  std::initializer_list<std::string_view> inert = {});

  std::optional<std::string> string_at(const YAML::Node& map, std::string_view key,
                                       std::string_view path, bool required);
  std::optional<std::int64_t> int_at(const YAML::Node& map, std::string_view key,
                                     std::string_view path, bool required, std::int64_t min,
                                     std::int64_t max);
  std::optional<bool> bool_at(const YAML::Node& map, std::string_view key, std::string_view path);
  // A Gateway API Duration ("1h", "30s", "500ms", "1m30s").
  std::optional<std::chrono::milliseconds> duration_at(const YAML::Node& map, std::string_view key,
                                                       std::string_view path);
  // A Kubernetes quantity of bytes ("65536", "64Ki", "1Mi") in [min, max].
  std::optional<std::uint64_t> bytes_at(const YAML::Node& map, std::string_view key,
                                        std::string_view path, std::uint64_t min,
                                        std::uint64_t max);
  // `value` must be one of `allowed`.
  bool one_of(const YAML::Node& at, std::string_view path, const std::string& value,
              std::initializer_list<std::string_view> allowed);

 private:
  std::string label_;
  std::vector<config_issue>& issues_;
  std::vector<std::string>& warnings_;
};

// "a.b" + "c" -> "a.b.c"; "a" + 3 -> "a[3]".
std::string join_path(std::string_view base, std::string_view key);
std::string index_path(std::string_view base, std::size_t index);
int line_of(const YAML::Node& node);

// The documents of a YAML stream, as YAML::LoadAll would give them (marks
// count lines from the stream's start); throws YAML::Exception when one is
// malformed. Not LoadAll itself: yaml-cpp 0.7's loops forever, allocating,
// on a document it cannot start (a stream of just ",": yaml-cpp issue 1040),
// so each document, split at its "---" or "..." line, is loaded on its own.
std::vector<YAML::Node> load_documents(std::string_view text);

}  // namespace gateway::yaml_config
