#include "filters/filter_counters.hpp"

#include <map>
#include <mutex>
#include <tuple>

namespace gateway::filters {
namespace {

struct registry {
  std::mutex mutex;
  std::map<std::tuple<std::string, std::string, std::string>, std::uint32_t, std::less<>> ids;
  std::vector<counter_labels> labels;
};

registry& the_registry() {
  static registry* r = new registry;  // never destroyed: workers may scrape at exit
  return *r;
}

}  // namespace

std::uint32_t counter_id(std::string_view filter, std::string_view type, std::string_view event) {
  registry& r = the_registry();
  std::lock_guard lock(r.mutex);
  auto key = std::make_tuple(std::string(filter), std::string(type), std::string(event));
  const auto [it, added] =
      r.ids.emplace(std::move(key), static_cast<std::uint32_t>(r.labels.size()));
  if (added) r.labels.push_back({std::string(filter), std::string(type), std::string(event)});
  return it->second;
}

std::vector<counter_labels> declared_counters() {
  registry& r = the_registry();
  std::lock_guard lock(r.mutex);
  return r.labels;
}

}  // namespace gateway::filters
