// The Prometheus text format (0.0.4) pieces every writer of a family shares.
#include "core/metrics.hpp"

#include "http1/head_text.hpp"

namespace gateway::metrics {
namespace {

// The table's rules, checked when this file compiles: one row per name,
// counters named *_total, every row explained, no label value twice.
consteval bool table_is_sound() {
  for (std::size_t i = 0; i < std::size(families); ++i) {
    const family& f = families[i];
    if (!f.name.starts_with("gateway_")) throw "metrics: a name starts with gateway_";
    if ((f.kind == counter) != f.name.ends_with("_total"))
      throw "metrics: counters, and only they, end in _total";
    if (f.help.empty() || !f.help.ends_with('.')) throw "metrics: every family has a help sentence";
    if ((f.where == rows) != (f.rows_by != owner::none))
      throw "metrics: a rows family names its owner, and only it";
    if (f.where != rows && f.label.empty() != f.values.empty())
      throw "metrics: a label comes with its values";
    for (std::size_t j = 0; j < i; ++j)
      if (families[j].name == f.name) throw "metrics: a name is declared twice";
    for (std::size_t a = 0; a < value_count(f.values); ++a)
      for (std::size_t b = 0; b < a; ++b)
        if (label_value(f, a) == label_value(f, b)) throw "metrics: a label value is listed twice";
  }
  return true;
}
static_assert(table_is_sound());

}  // namespace

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out.append("\\n");
    } else {
      out.push_back(c);
    }
  }
}

void write_header(std::string& out, const family& f) {
  static constexpr std::string_view type_names[] = {"counter", "gauge", "histogram"};
  out.append("# HELP ").append(f.name).append(" ").append(f.help).append("\n");
  out.append("# TYPE ")
      .append(f.name)
      .append(" ")
      .append(type_names[static_cast<std::size_t>(f.kind)])
      .append("\n");
}

void write_row(std::string& out, const family& f, std::string_view labels, std::uint64_t value,
               std::string_view suffix) {
  out.append(f.name).append(suffix);
  if (!labels.empty()) out.append("{").append(labels).append("}");
  out.push_back(' ');
  append_uint(out, value);
  out.push_back('\n');
}

}  // namespace gateway::metrics
