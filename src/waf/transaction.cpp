#include "waf/transaction.hpp"

#include <modsecurity/actions/action.h>
#include <modsecurity/intervention.h>
#include <modsecurity/rule_message.h>
#include <modsecurity/rule_with_actions.h>
#include <modsecurity/transaction.h>

#include <charconv>

#include "waf/engine.hpp"

namespace gateway::waf {

namespace {

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

int paranoia_from_tags(const std::list<std::string>& tags) {
  constexpr std::string_view prefix = "paranoia-level/";
  for (const std::string& t : tags) {
    if (t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0) {
      int level = 0;
      std::from_chars(t.data() + prefix.size(), t.data() + t.size(), level);
      return level;
    }
  }
  return 0;
}

}  // namespace

transaction::transaction(const waf_engine& engine, waf_mode mode, const waf_exclusions& ex,
                         std::string_view request_id)
    : engine_(&engine) {
  scratch_.assign(request_id);
  auto& rules = *engine.internals().set;
  if (scratch_.empty()) {
    t_ = std::make_unique<modsecurity::Transaction>(&library(), &rules, this);
  } else {
    t_ = std::make_unique<modsecurity::Transaction>(&library(), &rules, scratch_.data(), this);
  }
  t_->m_secRuleEngine = mode == waf_mode::detection_only
                            ? modsecurity::RulesSet::DetectionOnlyRuleEngine
                            : modsecurity::RulesSet::EnabledRuleEngine;
  // What ctl:ruleRemoveById and friends do, for this request only.
  for (int id : ex.rule_ids)
    t_->m_ruleRemoveById.push_back(id);
  for (const auto& [from, to] : ex.rule_id_ranges)
    t_->m_ruleRemoveByIdRange.emplace_back(from, to);
  for (const std::string& tag : ex.tags)
    t_->m_ruleRemoveByTag.push_back(tag);
  for (const auto& [id, target] : ex.targets_by_id)
    t_->m_ruleRemoveTargetById.emplace_back(id, target);
  for (const auto& [tag, target] : ex.targets_by_tag)
    t_->m_ruleRemoveTargetByTag.emplace_back(tag, target);
}

transaction::~transaction() = default;

void transaction::harvest() {
  // The transaction keeps every message a rule logged (the disruptive one
  // too, which never reaches the server log callback); take the new ones.
  auto& messages = t_->m_rulesMessages;
  auto it = messages.begin();
  std::advance(it, static_cast<std::ptrdiff_t>(harvested_));
  for (; it != messages.end(); ++it, ++harvested_) {
    modsecurity::RuleMessage* rm = &*it;
    // A multiMatch rule's message is stored before its tag actions run.
    if (rm->m_tags.empty()) {
      auto found = engine_->internals().tags.find(rm->m_ruleId);
      if (found != engine_->internals().tags.end())
        rm->m_tags.assign(found->second.begin(), found->second.end());
    }
    waf_match& m = verdict_.matches.emplace_back();
    m.rule_id = rm->m_ruleId;
    m.phase = rm->m_phase;
    m.severity = rm->m_rule && rm->m_rule->hasSeverity() ? rm->m_severity : -1;
    m.disruptive = rm->m_isDisruptive;
    m.message = rm->m_message;
    m.data = rm->m_data;
    m.tags.assign(rm->m_tags.begin(), rm->m_tags.end());
    m.paranoia_level = paranoia_from_tags(rm->m_tags);
    m.log_line =
        modsecurity::RuleMessage::log(rm, modsecurity::RuleMessage::ClientLogMessageInfo,
                                      rm->m_isDisruptive && verdict_.status ? verdict_.status : -1);
  }
}

bool transaction::check(int phase) {
  if (decided()) return true;
  const bool disruptive = take_intervention(phase);
  harvest();
  return disruptive;
}

bool transaction::take_intervention(int phase) {
  modsecurity::ModSecurityIntervention it;
  modsecurity::intervention::clean(&it);
  const bool disruptive = t_->intervention(&it);
  if (disruptive) {
    verdict_.phase = phase;
    verdict_.status = it.status;
    if (it.url) {
      verdict_.action = waf_action::redirect;
      verdict_.url = it.url;
      if (verdict_.status < 300 || verdict_.status > 399) verdict_.status = 302;
    } else if (drop_rule()) {
      verdict_.action = waf_action::drop;
    } else {
      verdict_.action = waf_action::deny;
      if (verdict_.status < 400 || verdict_.status > 599) verdict_.status = 403;
    }
  }
  modsecurity::intervention::free(&it);
  return disruptive;
}

bool transaction::connection(std::string_view client_ip, std::uint16_t client_port,
                             std::string_view server_ip, std::uint16_t server_port) {
  std::string client(client_ip), server(server_ip);
  t_->processConnection(client.c_str(), client_port, server.c_str(), server_port);
  return check(0);
}

bool transaction::uri(std::string_view method, std::string_view target,
                      std::string_view http_version) {
  std::string m(method), u(target), v(http_version);
  t_->processURI(u.c_str(), m.c_str(), v.c_str());
  return check(1);
}

void transaction::add_request_header(std::string_view name, std::string_view value) {
  t_->addRequestHeader(bytes(name), name.size(), bytes(value), value.size());
}

bool transaction::request_headers() {
  t_->processRequestHeaders();
  return check(1);
}

void transaction::append_request_body(std::string_view data) {
  t_->appendRequestBody(bytes(data), data.size());
}

bool transaction::request_body() {
  t_->processRequestBody();
  return check(2);
}

void transaction::add_response_header(std::string_view name, std::string_view value) {
  t_->addResponseHeader(bytes(name), name.size(), bytes(value), value.size());
}

bool transaction::response_headers(int status, std::string_view protocol) {
  t_->processResponseHeaders(status, std::string(protocol));
  return check(3);
}

void transaction::append_response_body(std::string_view data) {
  t_->appendResponseBody(bytes(data), data.size());
}

bool transaction::response_body() {
  t_->processResponseBody();
  return check(4);
}

void transaction::logging() {
  if (logged_) return;
  logged_ = true;
  if (verdict_.status) t_->updateStatusCode(verdict_.status);
  t_->processLogging();
  harvest();
}

bool transaction::drop_rule() {
  // libmodsecurity carries out drop as a deny; the disruptive rule says which.
  for (auto it = t_->m_rulesMessages.rbegin(); it != t_->m_rulesMessages.rend(); ++it) {
    if (it->m_isDisruptive && it->m_rule)
      return !it->m_rule->getActionsByName("drop", t_.get()).empty();
  }
  return false;
}

}  // namespace gateway::waf
