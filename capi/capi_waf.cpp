// The C ABI's WAF handle: gateway::waf_engine for a host's own requests.
// Loads swap an immutable engine under a lock; a check takes its own
// reference, so checks never wait on a load nor on each other.
#include <gateway/waf.hpp>

#include <charconv>
#include <cstring>

#include "capi_internal.hpp"

struct gw_waf {
  mutable std::mutex mutex;                           // guards `engine`
  std::shared_ptr<const gateway::waf_engine> engine;  // null: nothing loaded
  gateway::capi::error_slot errors;
};

struct gw_waf_verdict {
  gateway::waf_verdict verdict;
};

namespace {

using gateway::capi::bad_text;
using gateway::capi::fail_on;
using gateway::capi::guarded_on;
using gateway::capi::text;

const gateway::capi::error_slot* slot(const gw_waf* waf) noexcept {
  return waf ? &waf->errors : nullptr;
}

// The path and query of a gw_request url ("http://host[:port]/p?q" or
// "/p?q"), and the host an absolute one names.
bool split_url(std::string_view url, std::string_view& target, std::string_view& host) {
  if (url.empty()) {
    target = "/";
    return true;
  }
  if (url.front() == '/') {
    target = url;
    return true;
  }
  const std::size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return false;
  const std::string_view name = url.substr(0, scheme);
  if (name != "http" && name != "https") return false;
  std::string_view rest = url.substr(scheme + 3);
  const std::size_t slash = rest.find_first_of("/?");
  host = rest.substr(0, slash);
  if (host.empty()) return false;
  target = slash == std::string_view::npos ? std::string_view("/") : rest.substr(slash);
  return target.front() == '/' || target.front() == '?';
}

// A request, and its response when given, through the rules.
// `raw_mode`: the caller's gw_waf_mode as its integer (see raw_value), since
// even passing an out-of-range enum on is undefined.
gw_status check_exchange(gw_waf* waf, const gw_request* request, const gw_response* response,
                         std::underlying_type_t<gw_waf_mode> raw_mode, gw_waf_verdict** verdict,
                         const std::string& who) {
  if (!waf || !request || !verdict)
    return fail_on(slot(waf), GW_INVALID_ARGUMENT, who + ": waf, request or verdict is NULL");
  *verdict = nullptr;
  if (raw_mode < GW_WAF_ON || raw_mode > GW_WAF_OFF)
    return fail_on(slot(waf), GW_INVALID_ARGUMENT,
                   who + ": mode " + std::to_string(raw_mode) + " is not a gw_waf_mode");
  return guarded_on(slot(waf), [&] {
    gw_request r;
    std::string why;
    if (!gateway::capi::read_sized(*request, r, "gw_request", why))
      return fail_on(slot(waf), GW_INVALID_ARGUMENT, who + ": " + why);
    if (bad_text(r.method, r.method_length) || bad_text(r.url, r.url_length) ||
        bad_text(r.body, r.body_length) || bad_text(r.client_ip, r.client_ip_length) ||
        (!r.headers && r.header_count))
      return fail_on(slot(waf), GW_INVALID_ARGUMENT, who + ": a NULL pointer with a length");
    std::string_view target, host;
    if (!split_url(text(r.url, r.url_length), target, host))
      return fail_on(slot(waf), GW_INVALID_ARGUMENT,
                     who + ": url '" + std::string(text(r.url, r.url_length)) +
                         "' is neither http(s)://host/path nor /path");
    std::vector<gateway::http::header> headers;
    headers.reserve(r.header_count + 2);
    bool has_host = false, has_length = false;
    for (std::size_t i = 0; i < r.header_count; ++i) {
      const gw_header& h = r.headers[i];
      if (bad_text(h.name, h.name_length) || bad_text(h.value, h.value_length) || !h.name_length)
        return fail_on(slot(waf), GW_INVALID_ARGUMENT,
                       who + ": header " + std::to_string(i) + " has no name or a NULL pointer");
      headers.push_back({text(h.name, h.name_length), text(h.value, h.value_length)});
      has_host = has_host || gateway::http::iequals(headers.back().name, "host");
      has_length = has_length || gateway::http::iequals(headers.back().name, "content-length") ||
                   gateway::http::iequals(headers.back().name, "transfer-encoding");
    }
    // The Host an absolute URL names, as a client sending it would (the
    // CRS counts a request without one as an anomaly).
    if (!has_host && !host.empty()) headers.push_back({"host", host});
    // And the body's length, as a client sending it would (the CRS counts a
    // POST without one as an anomaly).
    const std::string_view method = text(r.method, r.method_length);
    char length[24];
    if (!has_length &&
        (r.body_length || method == "POST" || method == "PUT" || method == "PATCH")) {
      const auto end = std::to_chars(length, length + sizeof length, r.body_length).ptr;
      headers.push_back({"content-length", {length, static_cast<std::size_t>(end - length)}});
    }
    gw_response rs{};
    std::vector<gateway::http::header> response_headers;
    if (response) {
      if (!gateway::capi::read_sized(*response, rs, "gw_response", why))
        return fail_on(slot(waf), GW_INVALID_ARGUMENT, who + ": " + why);
      if (bad_text(rs.body, rs.body_length) || (!rs.headers && rs.header_count))
        return fail_on(slot(waf), GW_INVALID_ARGUMENT,
                       who + ": a NULL pointer with a length in the response");
      if (rs.status != 0 && (rs.status < 100 || rs.status > 999))
        return fail_on(
            slot(waf), GW_INVALID_ARGUMENT,
            who + ": response status " + std::to_string(rs.status) + " is not 100 to 999");
      for (std::size_t i = 0; i < rs.header_count; ++i) {
        const gw_header& h = rs.headers[i];
        if (bad_text(h.name, h.name_length) || bad_text(h.value, h.value_length) || !h.name_length)
          return fail_on(
              slot(waf), GW_INVALID_ARGUMENT,
              who + ": response header " + std::to_string(i) + " has no name or a NULL pointer");
        response_headers.push_back({text(h.name, h.name_length), text(h.value, h.value_length)});
      }
    }
    std::shared_ptr<const gateway::waf_engine> engine;
    {
      std::lock_guard lock(waf->mutex);
      engine = waf->engine;
    }
    auto out = std::make_unique<gw_waf_verdict>();
    if (engine) {
      gateway::waf_request wr;
      if (r.method_length) wr.method = text(r.method, r.method_length);
      wr.uri = target;
      wr.headers = headers;
      wr.body = text(r.body, r.body_length);
      if (r.client_ip_length) wr.client_ip = text(r.client_ip, r.client_ip_length);
      const auto m = static_cast<gateway::waf_mode>(raw_mode);
      if (response) {
        gateway::waf_response wrs;
        wrs.status = rs.status ? rs.status : 200;
        wrs.headers = response_headers;
        wrs.body = text(rs.body, rs.body_length);
        out->verdict = engine->evaluate(wr, wrs, m);
      } else {
        out->verdict = engine->evaluate(wr, m);
      }
    }
    *verdict = out.release();
    return GW_OK;
  });
}

}  // namespace

extern "C" {

gw_status gw_waf_new(gw_waf** out) {
  if (!out) return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_waf_new: out is NULL");
  *out = nullptr;
  return guarded_on(nullptr, [&] {
    *out = new gw_waf();
    return GW_OK;
  });
}

void gw_waf_free(gw_waf* waf) {
  delete waf;
}

const char* gw_waf_errmsg(const gw_waf* waf) {
  return gateway::capi::errmsg_of(slot(waf));
}

gw_status gw_waf_load(gw_waf* waf, const gw_waf_rules* rules) {
  if (!waf || !rules)
    return fail_on(slot(waf), GW_INVALID_ARGUMENT, "gw_waf_load: waf or rules is NULL");
  return guarded_on(slot(waf), [&] {
    gw_waf_rules r;
    std::string why;
    if (!gateway::capi::read_sized(*rules, r, "gw_waf_rules", why))
      return fail_on(slot(waf), GW_INVALID_ARGUMENT, "gw_waf_load: " + why);
    if (bad_text(r.directives, r.directives_length) || (!r.files && r.file_count))
      return fail_on(slot(waf), GW_INVALID_ARGUMENT, "gw_waf_load: a NULL pointer with a length");
    gateway::waf_rule_set set;
    set.crs = r.crs != 0;
    set.paranoia_level = r.paranoia_level ? r.paranoia_level : 1;
    if (set.paranoia_level < 1 || set.paranoia_level > 4)
      return fail_on(
          slot(waf), GW_INVALID_ARGUMENT,
          "gw_waf_load: paranoia_level " + std::to_string(r.paranoia_level) + " is not 1 to 4");
    if (r.inbound_anomaly_threshold < 0 || r.outbound_anomaly_threshold < 0)
      return fail_on(slot(waf), GW_INVALID_ARGUMENT,
                     "gw_waf_load: an anomaly threshold is negative");
    if (r.inbound_anomaly_threshold) set.inbound_anomaly_threshold = r.inbound_anomaly_threshold;
    if (r.outbound_anomaly_threshold) set.outbound_anomaly_threshold = r.outbound_anomaly_threshold;
    for (std::size_t i = 0; i < r.file_count; ++i) {
      if (!r.files[i] || !*r.files[i])
        return fail_on(slot(waf), GW_INVALID_ARGUMENT,
                       "gw_waf_load: files[" + std::to_string(i) + "] is NULL or empty");
      set.files.emplace_back(r.files[i]);
    }
    set.directives.assign(text(r.directives, r.directives_length));
    set.response_body = r.response_body != 0;
    if (!set.crs && set.files.empty() && set.directives.empty())
      return fail_on(slot(waf), GW_INVALID_ARGUMENT,
                     "gw_waf_load: no rules (set crs, files or directives)");
    std::shared_ptr<const gateway::waf_engine> engine = gateway::waf_engine::load(set);
    std::lock_guard lock(waf->mutex);
    waf->engine = std::move(engine);
    return GW_OK;
  });
}

gw_status gw_waf_rule_count(const gw_waf* waf, size_t* count) {
  if (!waf || !count)
    return fail_on(slot(waf), GW_INVALID_ARGUMENT, "gw_waf_rule_count: waf or count is NULL");
  std::lock_guard lock(waf->mutex);
  *count = waf->engine ? waf->engine->rule_count() : 0;
  return GW_OK;
}

gw_status gw_waf_check(gw_waf* waf, const gw_request* request, gw_waf_mode mode,
                       gw_waf_verdict** verdict) {
  return check_exchange(waf, request, nullptr, gateway::capi::raw_value(mode), verdict,
                        "gw_waf_check");
}

gw_status gw_waf_check_response(gw_waf* waf, const gw_request* request, const gw_response* response,
                                gw_waf_mode mode, gw_waf_verdict** verdict) {
  if (!response)
    return fail_on(slot(waf), GW_INVALID_ARGUMENT, "gw_waf_check_response: response is NULL");
  return check_exchange(waf, request, response, gateway::capi::raw_value(mode), verdict,
                        "gw_waf_check_response");
}

void gw_waf_verdict_free(gw_waf_verdict* verdict) {
  delete verdict;
}

gw_waf_action gw_waf_verdict_action(const gw_waf_verdict* verdict) {
  return verdict ? static_cast<gw_waf_action>(verdict->verdict.action) : GW_WAF_PASS;
}

int gw_waf_verdict_status(const gw_waf_verdict* verdict) {
  return verdict ? verdict->verdict.status : 0;
}

const char* gw_waf_verdict_url(const gw_waf_verdict* verdict) {
  return verdict ? verdict->verdict.url.c_str() : "";
}

size_t gw_waf_verdict_match_count(const gw_waf_verdict* verdict) {
  return verdict ? verdict->verdict.matches.size() : 0;
}

gw_status gw_waf_verdict_match(const gw_waf_verdict* verdict, size_t index, gw_waf_match* out) {
  if (!verdict || !out)
    return fail_on(nullptr, GW_INVALID_ARGUMENT, "gw_waf_verdict_match: verdict or out is NULL");
  if (index >= verdict->verdict.matches.size())
    return fail_on(nullptr, GW_NOT_FOUND,
                   "gw_waf_verdict_match: index " + std::to_string(index) + " of " +
                       std::to_string(verdict->verdict.matches.size()) + " matches");
  const gateway::waf_match& m = verdict->verdict.matches[index];
  gw_waf_match full{};
  full.rule_id = m.rule_id;
  full.phase = m.phase;
  full.severity = m.severity;
  full.paranoia_level = m.paranoia_level;
  full.disruptive = m.disruptive ? 1 : 0;
  full.message = m.message.c_str();
  full.message_length = m.message.size();
  full.data = m.data.c_str();
  full.data_length = m.data.size();
  if (!gateway::capi::write_sized(full, *out))
    return fail_on(nullptr, GW_INVALID_ARGUMENT,
                   "gw_waf_verdict_match: struct_size is not set (use sizeof(gw_waf_match))");
  return GW_OK;
}

}  // extern "C"
