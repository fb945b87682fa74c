#include "waf/match_log.hpp"

#include <gateway/error.hpp>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/json_writer.hpp"
#include "server/idle_queue.hpp"
#include "waf/evaluation_pool.hpp"

namespace gateway::waf {

namespace {

std::string_view match_action(const waf_match& m, const match_context& c) {
  return m.disruptive ? to_string(c.decision) : std::string_view("log");
}

void json_line(std::string& out, const waf_match& m, const match_context& c) {
  json_writer w(out);
  std::string time;
  json_writer::append_time(time, std::chrono::system_clock::now());
  w.begin_object()
      .field("time", time)
      .field("request_id", c.request_id)
      .field("client", c.client)
      .field("route", c.route)
      .field("rule_id", m.rule_id)
      .field("phase", m.phase)
      .field("message", m.message)
      .field("data", m.data)
      .field("severity", m.severity)
      .field("paranoia_level", m.paranoia_level)
      .field("action", match_action(m, c))
      .field("mode", c.mode)
      .key("tags")
      .begin_array();
  for (const std::string& t : m.tags)
    w.value(t);
  w.end_array().end_object();
  out.push_back('\n');
}

}  // namespace

struct log_registry {
  std::mutex mutex;
  std::vector<std::weak_ptr<match_log>> logs;

  static log_registry& get() {
    static log_registry r;
    return r;
  }
  static int open_file(const std::string& path) {
    return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  }
};

std::shared_ptr<match_log> match_log::open(const std::string& path, log_format format) {
  auto& r = log_registry::get();
  std::lock_guard lock(r.mutex);
  for (auto& w : r.logs) {
    auto l = w.lock();
    if (l && l->path_ == path && l->format_ == format) return l;
  }
  int fd = 2;
  if (path != "-") {
    fd = log_registry::open_file(path);
    if (fd < 0)
      throw error(errc::invalid_config, fmt::format("waf: log file '{}' cannot be opened: {}", path,
                                                    std::strerror(errno)));
  }
  auto made = std::make_shared<match_log>(path, format, fd);
  std::erase_if(r.logs, [](const auto& w) { return w.expired(); });
  r.logs.push_back(made);
  return made;
}

void match_log::reopen_all() {
  auto& r = log_registry::get();
  std::lock_guard lock(r.mutex);
  for (auto& w : r.logs) {
    auto l = w.lock();
    if (!l || l->path_ == "-") continue;
    int fd = log_registry::open_file(l->path_);
    if (fd < 0) continue;  // keep writing where it was
    ::dup2(fd, l->fd_);    // writers never see a closed descriptor
    ::close(fd);
  }
}

match_log::~match_log() {
  if (fd_ > 2) ::close(fd_);
}

void match_log::write(std::span<const waf_match> matches, const match_context& c) const {
  std::string line;
  for (const waf_match& m : matches) {
    line.clear();
    if (format_ == log_format::json) {
      json_line(line, m, c);
    } else {
      json_writer::append_time(line, std::chrono::system_clock::now());
      line.append(" waf ").append(m.log_line);
      line.append(" [route \"").append(c.route).append("\"]\n");
    }
    for (std::size_t done = 0; done < line.size();) {
      ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // a full disk costs lines, never a request
      done += static_cast<std::size_t>(n);
    }
  }
}

namespace {

// Decisions as gateway_waf_requests_total labels them: the waf_action
// values in order, then a detection-only evaluation and an overload pass.
constexpr std::string_view decisions[] = {"pass", "deny", "redirect", "drop", "detect", "overload"};
static_assert(static_cast<int>(waf_action::pass) == 0 && static_cast<int>(waf_action::deny) == 1 &&
              static_cast<int>(waf_action::redirect) == 2 &&
              static_cast<int>(waf_action::drop) == 3);

struct counters {
  std::mutex mutex;  // guards `matches` (taken only when rules matched)
  std::map<std::pair<int, std::string>, std::uint64_t> matches;
  // Every evaluated request counts here: no lock, no allocation.
  std::array<std::atomic<std::uint64_t>, std::size(decisions)> requests{};
  std::array<std::atomic<std::uint64_t>, 2> phases{};  // on the pool, on a worker
  static counters& get() {
    // Never destroyed: evaluation threads may still count a last request
    // while the process exits and runs static destructors.
    static counters* c = new counters;
    return *c;
  }
};

}  // namespace

void count_matches(std::span<const waf_match> matches, const match_context& c) {
  if (matches.empty()) return;
  auto& k = counters::get();
  std::lock_guard lock(k.mutex);
  for (const waf_match& m : matches)
    ++k.matches[{m.rule_id, std::string(match_action(m, c))}];
}

void count_request(waf_action decision, bool detection_only, bool overload) {
  const std::size_t i = overload ? 5 : detection_only ? 4 : static_cast<std::size_t>(decision);
  counters::get().requests[i].fetch_add(1, std::memory_order_relaxed);
}

void count_phase(bool on_worker) {
  counters::get().phases[on_worker].fetch_add(1, std::memory_order_relaxed);
}

void metric_rows(const metrics::family& f, std::string& out) {
  const std::string_view name = f.name;
  if (name == "gateway_waf_queued") {
    metrics::write_row(out, f, {},
                       evaluation_pool::shared().queued() + idle_queue::queued_everywhere());
    return;
  }
  if (name == "gateway_waf_phases_back_to_back_total") {
    metrics::write_row(out, f, {}, idle_queue::back_to_back_everywhere());
    return;
  }
  if (name == "gateway_waf_phases_total") {
    auto& k = counters::get();
    metrics::write_row(out, f, "thread=\"pool\"", k.phases[0].load(std::memory_order_relaxed));
    metrics::write_row(out, f, "thread=\"worker\"", k.phases[1].load(std::memory_order_relaxed));
    return;
  }
  auto& k = counters::get();
  std::lock_guard lock(k.mutex);
  std::string labels;
  if (name == "gateway_waf_requests_total") {
    for (std::size_t i = 0; i < k.requests.size(); ++i) {
      const std::uint64_t n = k.requests[i].load(std::memory_order_relaxed);
      if (n == 0) continue;  // decisions this process has not taken
      labels.assign("decision=\"").append(decisions[i]).append("\"");
      metrics::write_row(out, f, labels, n);
    }
  } else if (name == "gateway_waf_rule_matches_total") {
    for (const auto& [key, n] : k.matches) {
      labels.assign("rule_id=\"").append(std::to_string(key.first)).append("\",action=\"");
      metrics::append_label_value(labels, key.second);
      labels.push_back('"');
      metrics::write_row(out, f, labels, n);
    }
  }
}

}  // namespace gateway::waf
