#pragma once
// What the config readers accept, for a test that holds a schema (the CRDs
// under deploy/crds) against them: while a recorder is installed on a
// thread, every check of a mapping's field names there records the
// mapping's path and the names it knows. Nothing is recorded otherwise, and
// a normal load pays one thread-local read per mapping checked.
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <string_view>

namespace gateway {

struct known_fields {
  // Path ("spec.exclusions[]": indexes as "[]") -> the field names known there.
  std::map<std::string, std::set<std::string>> at;
  // Put before the paths checked now: a filter's JSON config is checked at
  // its own root, which lies at `prefix` in its document ("spec").
  std::string prefix;
};

// Installs `into` for this thread (nullptr: none); returns the one it replaces.
known_fields* record_known_fields(known_fields* into) noexcept;
// The recorder installed on this thread, or nullptr.
known_fields* known_fields_recorder() noexcept;
// Records that the mapping at `path` knows `names` (when a recorder is installed).
void note_known_fields(std::string_view path, std::initializer_list<std::string_view> names);

}  // namespace gateway
