// The WAF engine in process, with Debian's OWASP CRS: decisions, matches,
// modes, exclusions, sharing of loaded rule sets, and rule errors.
#include <gateway/error.hpp>
#include <gateway/waf.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace gateway;

namespace {

std::shared_ptr<const waf_engine> crs_engine() {
  waf_rule_set rules;
  rules.crs = true;
  return waf_engine::load(rules);
}

bool has_rule(const waf_verdict& v, int id) {
  return std::any_of(v.matches.begin(), v.matches.end(),
                     [&](const waf_match& m) { return m.rule_id == id; });
}

std::vector<http::header> browser_headers() {
  return {{"Host", "app.example"},
          {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"},
          {"Accept", "text/html,application/xhtml+xml"},
          {"Accept-Language", "en-US,en;q=0.5"}};
}

}  // namespace

TEST_CASE("waf engine: the CRS blocks SQL injection and names the rules") {
  auto engine = crs_engine();
  CHECK(engine->rule_count() > 500);
  auto headers = browser_headers();
  waf_request r;
  r.uri = "/search?q=1%27%20OR%20%271%27%3D%271";
  r.headers = headers;
  r.request_id = "req-sqli-1";
  waf_verdict v = engine->evaluate(r);
  CHECK(v.action == waf_action::deny);
  CHECK(v.status == 403);
  CHECK(v.phase == 2);
  CHECK(has_rule(v, 949110));  // the inbound anomaly score
  const bool sqli = std::any_of(v.matches.begin(), v.matches.end(), [](const waf_match& m) {
    return m.rule_id >= 942000 && m.rule_id < 943000;
  });
  CHECK(sqli);
  for (const waf_match& m : v.matches) {
    if (m.rule_id < 942000 || m.rule_id >= 943000) continue;
    INFO(m.log_line);
    CHECK(m.paranoia_level == 1);
    CHECK(!m.message.empty());
    CHECK(m.log_line.find("[id \"" + std::to_string(m.rule_id) + "\"]") != std::string::npos);
    CHECK(m.log_line.find("[unique_id \"req-sqli-1\"]") != std::string::npos);
    CHECK(std::find(m.tags.begin(), m.tags.end(), "attack-sqli") != m.tags.end());
  }
}

TEST_CASE("waf engine: an ordinary request passes with no match") {
  auto engine = crs_engine();
  auto headers = browser_headers();
  waf_request r;
  r.uri = "/products/42?sort=price&page=2";
  r.headers = headers;
  waf_verdict v = engine->evaluate(r);
  CHECK(v.action == waf_action::pass);
  CHECK(v.matches.empty());
}

TEST_CASE("waf engine: detection only logs the matches and passes") {
  auto engine = crs_engine();
  auto headers = browser_headers();
  waf_request r;
  r.uri = "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
  r.headers = headers;
  CHECK(engine->evaluate(r).action == waf_action::deny);
  waf_verdict v = engine->evaluate(r, waf_mode::detection_only);
  CHECK(v.action == waf_action::pass);
  CHECK(has_rule(v, 941100));
  CHECK(engine->evaluate(r, waf_mode::off).matches.empty());
}

TEST_CASE("waf engine: exclusions switch off one rule, one tag, or one argument") {
  auto engine = crs_engine();
  auto headers = browser_headers();
  waf_request r;
  r.uri = "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
  r.headers = headers;
  waf_exclusions by_tag;
  by_tag.tags = {"attack-xss"};
  waf_verdict v = engine->evaluate(r, waf_mode::on, by_tag);
  CHECK(v.action == waf_action::pass);
  CHECK(!has_rule(v, 941100));

  waf_exclusions by_target;
  for (int id : {941100, 941110, 941160, 941170, 941180, 941390})
    by_target.targets_by_id.emplace_back(id, "ARGS:q");
  for (int id : {941100, 941110, 941160, 941170, 941180, 941390})
    by_target.targets_by_id.emplace_back(id, "ARGS_NAMES:q");
  v = engine->evaluate(r, waf_mode::on, by_target);
  CHECK(!has_rule(v, 941100));
  // The same attack in another argument is still caught.
  waf_request other = r;
  other.uri = "/?comment=%3Cscript%3Ealert(1)%3C%2Fscript%3E";
  v = engine->evaluate(other, waf_mode::on, by_target);
  CHECK(v.action == waf_action::deny);
  CHECK(has_rule(v, 941100));
}

TEST_CASE("waf engine: equal rule sets share one engine, a different one loads anew") {
  auto a = crs_engine();
  auto b = crs_engine();
  CHECK(a.get() == b.get());
  waf_rule_set other;
  other.crs = true;
  other.paranoia_level = 2;
  auto c = waf_engine::load(other);
  CHECK(c.get() != a.get());
}

TEST_CASE("waf engine: inline directives, redirect and a broken rule") {
  waf_rule_set rules;
  rules.directives =
      "SecRule ARGS:go \"@streq away\" \"id:10001,phase:1,redirect:https://example.com/,msg:'go "
      "away'\"\n"
      "SecRule REQUEST_HEADERS:X-Secret \"@streq 1\" "
      "\"id:10002,phase:1,deny,status:451,log,msg:'secret'\"\n";
  auto engine = waf_engine::load(rules);
  waf_request r;
  r.uri = "/?go=away";
  waf_verdict v = engine->evaluate(r);
  CHECK(v.action == waf_action::redirect);
  CHECK(v.url == "https://example.com/");
  CHECK(v.status == 302);
  std::vector<http::header> h{{"X-Secret", "1"}};
  r.uri = "/";
  r.headers = h;
  v = engine->evaluate(r);
  CHECK(v.action == waf_action::deny);
  CHECK(v.status == 451);
  REQUIRE(v.matches.size() == 1);
  CHECK(v.matches[0].message == "secret");

  waf_rule_set broken;
  broken.directives = "SecRule ARGS \"@rx (\" \"id:1,phase:1,deny\"\nSecNoSuchDirective On\n";
  try {
    waf_engine::load(broken);
    FAIL("a broken rule set loaded");
  } catch (const error& e) {
    CHECK(std::string(e.what()).find("waf:") != std::string::npos);
    MESSAGE(std::string(e.what()));
  }
  waf_rule_set missing;
  missing.files = {"/nonexistent/rules.conf"};
  CHECK_THROWS_WITH_AS(waf_engine::load(missing), doctest::Contains("/nonexistent/rules.conf"),
                       error);
}

TEST_CASE("waf engine: a response goes through the response phases when the request passed") {
  waf_rule_set rules;
  rules.directives =
      "SecRuleEngine On\n"
      "SecRule REQUEST_URI \"@contains /blocked\" \"id:3000,phase:1,deny,status:403\"\n"
      "SecRule RESPONSE_HEADERS:x-debug \"@streq on\" \"id:3001,phase:3,deny,status:502\"\n"
      "SecRule RESPONSE_BODY \"@contains stack trace\" \"id:3002,phase:4,deny,status:500\"\n";
  rules.response_body = true;
  const auto engine = waf_engine::load(rules);
  const http::header debug{"x-debug", "on"}, text{"content-type", "text/html"};
  waf_request rq;
  rq.uri = "/page";
  waf_response rs;
  rs.headers = {&debug, 1};
  waf_verdict v = engine->evaluate(rq, rs);
  CHECK(v.action == waf_action::deny);
  CHECK(v.status == 502);
  REQUIRE(v.matches.size() == 1);
  CHECK(v.matches[0].rule_id == 3001);
  rs.headers = {&text, 1};
  rs.body = "<pre>stack trace: ...</pre>";
  v = engine->evaluate(rq, rs);
  CHECK(v.status == 500);
  CHECK(v.matches.at(0).rule_id == 3002);
  // A request the rules refuse never reaches the response rules.
  rq.uri = "/blocked";
  v = engine->evaluate(rq, rs);
  CHECK(v.status == 403);
  REQUIRE(v.matches.size() == 1);
  CHECK(v.matches[0].rule_id == 3000);
  // Detection only: the match, no decision; the body (no text type now)
  // is not given to the rules.
  rq.uri = "/page";
  rs.headers = {&debug, 1};
  v = engine->evaluate(rq, rs, waf_mode::detection_only);
  CHECK(v.action == waf_action::pass);
  REQUIRE(v.matches.size() == 1);
  CHECK(v.matches[0].rule_id == 3001);
}
