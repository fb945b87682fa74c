#pragma once
// One ModSecurity transaction, owned (RAII) by whoever drives a request's
// phases: the waf filter on its evaluation pool, or waf_engine::evaluate.
// Matches are collected as the rules log them; after each phase the caller
// asks whether the rules decided to interfere.
#include <gateway/waf.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace modsecurity {
class Transaction;
}

namespace gateway::waf {

class transaction {
 public:
  // A transaction on `engine` (kept alive by the caller for the transaction's
  // life) with its mode and exclusions applied.
  transaction(const waf_engine& engine, waf_mode mode, const waf_exclusions& exclusions,
              std::string_view request_id);
  ~transaction();
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  // Each phase returns true when the rules decided to interfere (verdict()).
  bool connection(std::string_view client_ip, std::uint16_t client_port, std::string_view server_ip,
                  std::uint16_t server_port);
  bool uri(std::string_view method, std::string_view target, std::string_view http_version);
  void add_request_header(std::string_view name, std::string_view value);
  bool request_headers();
  void append_request_body(std::string_view data);
  bool request_body();
  void add_response_header(std::string_view name, std::string_view value);
  bool response_headers(int status, std::string_view protocol);
  void append_response_body(std::string_view data);
  bool response_body();
  // The logging phase (the audit log, correlation rules); once.
  void logging();

  const waf_verdict& verdict() const noexcept { return verdict_; }
  waf_verdict& verdict() noexcept { return verdict_; }
  bool decided() const noexcept { return verdict_.action != waf_action::pass; }

 private:
  bool check(int phase);
  bool take_intervention(int phase);
  void harvest();
  bool drop_rule();

  const waf_engine* engine_;
  std::unique_ptr<modsecurity::Transaction> t_;
  waf_verdict verdict_;
  std::size_t harvested_ = 0;  // rule messages already in verdict_.matches
  std::string scratch_;        // keeps C strings for calls that want them
  bool logged_ = false;
};

}  // namespace gateway::waf
