#pragma once
// The WAF log (each rule match as a JSON line, or as libmodsecurity's own
// text line as nginx writes it to its error log) and the WAF's metrics.
// Written from the evaluation pool right after the phase that matched, so a
// blocked request's lines are out before its 403 is.
#include <gateway/waf.hpp>

#include <memory>
#include <string>
#include <string_view>

#include "core/metrics.hpp"

namespace gateway::waf {

enum class log_format : std::uint8_t { json, text };

// The request a match belongs to; views borrowed for the call.
struct match_context {
  std::string_view request_id, client, route, mode;
  waf_action decision = waf_action::pass;  // for the disruptive match
};

class match_log {
 public:
  // The log for `path` ("-": stderr; else a file, appended, made if missing),
  // shared by every policy that names it; throws gateway::error when the file
  // cannot be opened.
  static std::shared_ptr<match_log> open(const std::string& path, log_format format);
  // Reopens every log file (after logrotate moved it).
  static void reopen_all();

  ~match_log();
  match_log(const match_log&) = delete;
  match_log& operator=(const match_log&) = delete;

  // One line per match; one write(2) each, so lines from threads never mix.
  void write(std::span<const waf_match> matches, const match_context& c) const;

  match_log(std::string path, log_format format, int fd) noexcept
      : path_(std::move(path)), format_(format), fd_(fd) {}

 private:
  friend struct log_registry;
  std::string path_;
  log_format format_;
  int fd_;
};

// Metrics: matches per rule id and action, requests per decision.
void count_matches(std::span<const waf_match> matches, const match_context& c);
void count_request(waf_action decision, bool detection_only, bool overload = false);
// Counts a phase queued to run on a worker's thread or on the evaluation pool.
void count_phase(bool on_worker);
// Writes the rows of a WAF family (metrics::owner::waf) for /stats/prometheus.
void metric_rows(const metrics::family& f, std::string& out);

}  // namespace gateway::waf
