#pragma once
// The counters filter factories declare (filter_factory_context::counter):
// ids for (filter, type, event), process-wide and never reused, so a reload
// that keeps a filter keeps its counts and workers index plain arrays by id.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gateway::filters {

struct counter_labels {
  std::string filter, type, event;
};

// The id of (filter, type, event), made on its first declaration. Any thread.
std::uint32_t counter_id(std::string_view filter, std::string_view type, std::string_view event);
// The labels of every id declared so far, by id. Any thread.
std::vector<counter_labels> declared_counters();

}  // namespace gateway::filters
