// The filter chain runtime driven directly, without sockets: hook order,
// local replies, failures, pauses, per-request state; and the pieces the
// built-in filters are made of.
#include <gateway/error.hpp>
#include <gateway/router.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "filters/client_address.hpp"
#include "filters/filter_chain.hpp"
#include "tls/digest.hpp"

using namespace gateway;

namespace {

// Records the hooks it sees into a shared trace.
class tracer final : public filter {
 public:
  tracer(std::string name, std::vector<std::string>& trace, filter_status request_result)
      : name_(std::move(name)), trace_(trace), result_(request_result) {}
  ~tracer() override { trace_.push_back(name_ + ".destroyed"); }
  filter_status on_request(filter_context& ctx) override {
    trace_.push_back(name_ + ".request");
    if (result_ == filter_status::stop) ctx.send_local_reply(403, "no\n");
    if (result_ == filter_status::pause) handle_ = ctx.pause_handle();
    return result_;
  }
  filter_status on_resume(filter_context&) override {
    trace_.push_back(name_ + ".resume");
    return filter_status::next;
  }
  filter_status on_response(filter_context& ctx) override {
    trace_.push_back(name_ + ".response " + std::to_string(ctx.response_status()));
    return filter_status::next;
  }
  void on_log(filter_context&) noexcept override { trace_.push_back(name_ + ".log"); }

 private:
  std::string name_;
  std::vector<std::string>& trace_;
  filter_status result_;
  resume_handle handle_;
};

class tracer_factory final : public filter_factory {
 public:
  tracer_factory(std::string name, std::vector<std::string>& trace,
                 filter_status result = filter_status::next)
      : name_(std::move(name)), trace_(trace), result_(result) {}
  filter* create(filter_arena& arena) const override {
    return arena.make<tracer>(name_, trace_, result_);
  }

 private:
  std::string name_;
  std::vector<std::string>& trace_;
  filter_status result_;
};

class thrower final : public filter {
 public:
  filter_status on_request(filter_context&) override { throw std::runtime_error("bad day"); }
};
class thrower_factory final : public filter_factory {
 public:
  filter* create(filter_arena& arena) const override { return arena.make<thrower>(); }
};

filter_ref ref(std::string name, std::shared_ptr<const filter_factory> f) {
  return {std::move(name), std::move(f)};
}

}  // namespace

TEST_SUITE("filter chain") {
  TEST_CASE("request hooks run forward, response hooks in reverse, on_log for every filter") {
    std::vector<std::string> trace;
    std::vector<filter_ref> gateway_level = {
        ref("a", std::make_shared<tracer_factory>("a", trace))};
    std::vector<filter_ref> route_level = {ref("b", std::make_shared<tracer_factory>("b", trace)),
                                           ref("c", std::make_shared<tracer_factory>("c", trace))};
    filter_chain chain;
    std::vector<http::header> fields = {{"host", "x"}};
    chain_request rq;
    rq.method = "GET";
    rq.path = "/p";
    REQUIRE(chain.begin(gateway_level, route_level, rq, fields));
    CHECK(chain.run_request(0).status == filter_status::next);
    std::vector<http::header> response = {{"content-type", "text/plain"}};
    CHECK(chain.run_response(chain.response_start(), 200, response).status == filter_status::next);
    chain.finish();
    CHECK(trace == std::vector<std::string>{"a.request", "b.request", "c.request", "c.response 200",
                                            "b.response 200", "a.response 200", "a.log", "b.log",
                                            "c.log", "c.destroyed", "b.destroyed", "a.destroyed"});
  }

  TEST_CASE("a stop ends the request phase, only the filters it reached see the response") {
    std::vector<std::string> trace;
    std::vector<filter_ref> route_level = {
        ref("a", std::make_shared<tracer_factory>("a", trace)),
        ref("b", std::make_shared<tracer_factory>("b", trace, filter_status::stop)),
        ref("c", std::make_shared<tracer_factory>("c", trace))};
    filter_chain chain;
    std::vector<http::header> fields;
    REQUIRE(chain.begin({}, route_level, {}, fields));
    chain_step step = chain.run_request(0);
    CHECK(step.status == filter_status::stop);
    CHECK(step.at == 1);
    CHECK(chain.reply_status() == 403);
    CHECK(chain.reply_body() == "no\n");
    std::vector<http::header> response;
    chain.run_response(chain.response_start(), 403, response);
    chain.finish();
    CHECK(trace[2] == "b.response 403");
    CHECK(trace[3] == "a.response 403");
    CHECK(std::find(trace.begin(), trace.end(), "c.request") == trace.end());
  }

  TEST_CASE("a pause stops the phase at the filter, on_resume runs it on") {
    std::vector<std::string> trace;
    std::vector<filter_ref> route_level = {
        ref("a", std::make_shared<tracer_factory>("a", trace, filter_status::pause)),
        ref("b", std::make_shared<tracer_factory>("b", trace))};
    filter_chain chain;
    int woken = 0;
    chain.set_waker([&] { return std::function<void()>([&] { ++woken; }); });
    std::vector<http::header> fields;
    REQUIRE(chain.begin({}, route_level, {}, fields));
    chain_step step = chain.run_request(0);
    CHECK(step.status == filter_status::pause);
    CHECK(chain.run_resumed(step.at) == filter_status::next);
    CHECK(chain.run_request(step.at + 1).status == filter_status::next);
    CHECK(trace == std::vector<std::string>{"a.request", "a.resume", "b.request"});
    chain.finish();
  }

  TEST_CASE("a filter that throws becomes a 500 reply with a log line") {
    std::vector<std::string> logged;
    filter_chain chain;
    chain.set_error_log([&](std::string_view line) { logged.emplace_back(line); });
    std::vector<filter_ref> route_level = {ref("boom", std::make_shared<thrower_factory>())};
    std::vector<http::header> fields;
    REQUIRE(chain.begin({}, route_level, {}, fields));
    CHECK(chain.run_request(0).status == filter_status::stop);
    CHECK(chain.reply_status() == 500);
    REQUIRE(logged.size() == 1);
    CHECK(logged[0].find("filter boom failed: bad day") != std::string::npos);
    chain.finish();
  }

  TEST_CASE("header edits, metadata and typed state") {
    filter_chain chain;
    std::vector<http::header> fields = {{"a", "1"}, {"B", "2"}, {"a", "3"}};
    REQUIRE(chain.begin({}, {}, {}, fields));
    header_map& h = chain.request_headers();
    CHECK(h.get("A") == "1");
    h.set("a", "new");
    h.add("c", std::string(5000, 'x'));  // larger than a storage block
    CHECK(h.remove("b"));
    CHECK_FALSE(h.remove("zz"));
    REQUIRE(fields.size() == 2);
    CHECK(fields[0].name == "a");
    CHECK(fields[0].value == "new");
    CHECK(fields[1].value.size() == 5000);
    chain.set_metadata("k", "v1");
    chain.set_metadata("k", "v2");
    CHECK(chain.metadata("k") == "v2");
    CHECK_FALSE(chain.metadata("other"));
    chain.state<int>() = 7;
    CHECK(chain.state<int>() == 7);
    CHECK(chain.state<double>() == 0.0);
    chain.finish();
    CHECK_FALSE(chain.metadata("k"));
  }

  TEST_CASE("the registry: built-ins, a host's own, and errors") {
    filter_registry r = filter_registry::builtin();
    CHECK(r.find("cors"));
    CHECK(r.find("jwt"));
    CHECK_THROWS_AS(r.add("cors", [](std::string_view) { return nullptr; }), error);
    r.add("mine", [](std::string_view) -> std::shared_ptr<const filter_factory> {
      return std::make_shared<thrower_factory>();
    });
    CHECK(r.make("mine", "{}").factory);
    try {
      r.make("nope", "{}");
      FAIL("made");
    } catch (const error& e) {
      CHECK(std::string(e.what()).find("registered: api-key-auth") != std::string::npos);
    }
    try {
      r.make("request-size-limit", R"({"maxBytes": "ten"})");
      FAIL("made");
    } catch (const error& e) {
      CHECK(std::string(e.what()) == "maxBytes: must be an integer");
    }
    try {
      r.make("headers", R"({"request": {"set": [{"name": "content-length", "value": "1"}]}})");
      FAIL("made");
    } catch (const error& e) {
      CHECK(std::string(e.what()).find("request.set[0].name") == 0);
    }
  }
}

TEST_SUITE("filter building blocks") {
  TEST_CASE("CIDR ranges, IPv4 and IPv6, mapped addresses") {
    using gateway::filters::cidr;
    using gateway::filters::ip_address;
    auto net = cidr::parse("10.1.0.0/16");
    REQUIRE(net);
    CHECK(net->contains(*ip_address::parse("10.1.200.3")));
    CHECK_FALSE(net->contains(*ip_address::parse("10.2.0.1")));
    CHECK(net->contains(*ip_address::parse("::ffff:10.1.0.9")));
    auto v6 = cidr::parse("2001:db8::/33");
    REQUIRE(v6);
    CHECK(v6->contains(*ip_address::parse("2001:db8:7fff::1")));
    CHECK_FALSE(v6->contains(*ip_address::parse("2001:db8:8000::1")));
    CHECK(cidr::parse("0.0.0.0/0")->contains(*ip_address::parse("8.8.8.8")));
    CHECK_FALSE(cidr::parse("10.0.0.0/33"));
    CHECK_FALSE(cidr::parse("10.0.0.300/8"));
    CHECK_FALSE(cidr::parse("10.0.0.0/"));
  }

  TEST_CASE("htpasswd hashes and Base64") {
    // Reference value from `openssl passwd -apr1 -salt abcdefgh secret1`.
    CHECK(gateway::tls::apr1_crypt("secret1", "abcdefgh") ==
          "$apr1$abcdefgh$paCto.rW8wn6thJ8b0QQY.");
    CHECK(gateway::tls::base64_encode("user:pass") == "dXNlcjpwYXNz");
    CHECK(gateway::tls::base64_decode("dXNlcjpwYXNz") == "user:pass");
    CHECK(gateway::tls::base64_decode("_-8") == std::string("\xff\xef", 2));
    CHECK_FALSE(gateway::tls::base64_decode("a$b"));
    CHECK(gateway::tls::constant_time_equal("abc", "abc"));
    CHECK_FALSE(gateway::tls::constant_time_equal("abc", "abd"));
    CHECK_FALSE(gateway::tls::constant_time_equal("abc", "ab"));
  }
}
