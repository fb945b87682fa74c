#pragma once
// The private side of waf_engine: libmodsecurity's process-wide instance and
// the compiled rule set. Only src/waf includes this (and <modsecurity/...>).
#include <gateway/waf.hpp>

#include <modsecurity/modsecurity.h>
#include <modsecurity/rules_set.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace gateway {

struct waf_engine::impl {
  waf_rule_set rules;
  std::string key;  // what equal rule sets share
  std::unique_ptr<modsecurity::RulesSet> set;
  std::size_t count = 0;
  // Each rule's tags, read from its source at load: libmodsecurity leaves
  // them out of a multiMatch rule's messages (most of the CRS).
  std::unordered_map<std::int64_t, std::vector<std::string>> tags;
};

namespace waf {

// The one ModSecurity instance of the process (it holds the log callback;
// transactions of every engine hang off it).
modsecurity::ModSecurity& library();

// The directives an engine is loaded from before the policy's own (the
// gateway's settings, the CRS and the rule files as Includes).
std::string rules_text(const waf_rule_set& rules);

// Where Debian's modsecurity-crs puts the CRS.
inline constexpr std::string_view crs_setup_file = "/etc/modsecurity/crs/crs-setup.conf";
inline constexpr std::string_view crs_rules_dir = "/usr/share/modsecurity-crs/rules";
inline constexpr std::string_view crs_exclusions_before =
    "/etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf";
inline constexpr std::string_view crs_exclusions_after =
    "/etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf";

}  // namespace waf
}  // namespace gateway
