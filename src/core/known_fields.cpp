#include "core/known_fields.hpp"

namespace gateway {

namespace {
thread_local known_fields* recorder = nullptr;
}  // namespace

known_fields* record_known_fields(known_fields* into) noexcept {
  known_fields* before = recorder;
  recorder = into;
  return before;
}

known_fields* known_fields_recorder() noexcept {
  return recorder;
}

void note_known_fields(std::string_view path, std::initializer_list<std::string_view> names) {
  if (!recorder) return;
  std::string at = recorder->prefix;
  if (!at.empty() && !path.empty() && path.front() != '[') at.push_back('.');
  // Indexes say which item was checked; every item knows the same names.
  for (std::size_t i = 0; i < path.size(); ++i) {
    at.push_back(path[i]);
    if (path[i] == '[') {
      while (i + 1 < path.size() && path[i + 1] != ']')
        ++i;
    }
  }
  std::set<std::string>& into = recorder->at[at];
  for (std::string_view n : names)
    into.emplace(n);
}

}  // namespace gateway
