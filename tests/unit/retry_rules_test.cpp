#include "upstream/retry_rules.hpp"

#include <doctest/doctest.h>

using gateway::retry_policy;
using gateway::try_outcome;
using namespace std::chrono_literals;

TEST_SUITE("retry rules") {
  TEST_CASE("methods: the idempotent ones unless the policy lists its own") {
    CHECK(gateway::retriable_method(nullptr, "GET"));
    CHECK(gateway::retriable_method(nullptr, "PUT"));
    CHECK_FALSE(gateway::retriable_method(nullptr, "POST"));
    CHECK_FALSE(gateway::retriable_method(nullptr, "PATCH"));
    retry_policy p;
    p.methods = {"POST"};
    CHECK(gateway::retriable_method(&p, "POST"));
    CHECK_FALSE(gateway::retriable_method(&p, "GET"));
  }

  TEST_CASE("statuses: each condition covers exactly its own") {
    CHECK_FALSE(gateway::retries_status(nullptr, 503));
    retry_policy p;
    p.retry_on.status_codes = false;
    CHECK_FALSE(gateway::retries_status(&p, 500));
    p.retry_on.gateway_error = true;
    CHECK(gateway::retries_status(&p, 502));
    CHECK(gateway::retries_status(&p, 504));
    CHECK_FALSE(gateway::retries_status(&p, 500));
    p.retry_on.server_error = true;
    CHECK(gateway::retries_status(&p, 500));
    CHECK(gateway::retries_status(&p, 599));
    CHECK_FALSE(gateway::retries_status(&p, 409));
    p.retry_on.retriable_4xx = true;
    CHECK(gateway::retries_status(&p, 409));
    CHECK_FALSE(gateway::retries_status(&p, 429));
    retry_policy codes;
    codes.codes = {429};
    CHECK(gateway::retries_status(&codes, 429));
    CHECK_FALSE(gateway::retries_status(&codes, 503));
    codes.retry_on.status_codes = false;
    CHECK_FALSE(gateway::retries_status(&codes, 429));
  }

  TEST_CASE("outcomes: failures by condition, a retriable status always, the rest never") {
    retry_policy p;  // connect_failure and reset by default
    CHECK(gateway::retries_outcome(p, try_outcome::connect_failed));
    CHECK(gateway::retries_outcome(p, try_outcome::upstream_failed));
    CHECK(gateway::retries_outcome(p, try_outcome::timeout));
    CHECK(gateway::retries_outcome(p, try_outcome::retry_status));
    for (auto o : {try_outcome::ok, try_outcome::client_failed, try_outcome::client_gone,
                   try_outcome::filter_reply, try_outcome::overflow, try_outcome::no_endpoint})
      CHECK_FALSE(gateway::retries_outcome(p, o));
    p.retry_on.connect_failure = false;
    p.retry_on.reset = false;
    CHECK_FALSE(gateway::retries_outcome(p, try_outcome::connect_failed));
    CHECK_FALSE(gateway::retries_outcome(p, try_outcome::timeout));
    p.retry_on.gateway_error = true;  // implies both, as Envoy's 5xx/gateway-error do
    CHECK(gateway::retries_outcome(p, try_outcome::connect_failed));
    CHECK(gateway::retries_outcome(p, try_outcome::upstream_failed));
  }

  TEST_CASE("backoff doubles from the base, is jittered within half either way, and is capped") {
    retry_policy p;
    p.backoff = 100ms;
    p.max_backoff = 1000ms;
    for (std::uint64_t bits : {0ull, 7ull, 99ull, 1234567ull, ~0ull}) {
      for (std::uint32_t tries = 1; tries <= 6; ++tries) {
        const auto nominal = std::min(100ms * (1u << (tries - 1)), 1000ms);
        const auto w = gateway::retry_backoff(p, tries, bits);
        CHECK(w >= nominal / 2);
        CHECK(w <= std::min(nominal + nominal / 2, 1000ms));
      }
    }
    CHECK(gateway::retry_backoff(p, 1, 0) == 50ms);    // the low end of the jitter
    CHECK(gateway::retry_backoff(p, 1, 50) == 100ms);  // the nominal wait
    retry_policy defaults;                             // 25 ms base, capped at 250 ms
    CHECK(gateway::retry_backoff(defaults, 40, ~0ull) <= 250ms);
    CHECK(gateway::retry_backoff(defaults, 1, 0) == 12ms);
  }

  TEST_CASE("retry room: max_retries, then the budget with its floor, each refusal counted") {
    gateway::cluster_config c;
    c.name = "c";
    c.circuit_breakers.max_retries = 2;
    gateway::cluster_state cs(c);
    CHECK(gateway::retry_room(cs, 0));
    CHECK(gateway::retry_room(cs, 1));
    CHECK_FALSE(gateway::retry_room(cs, 2));
    CHECK(cs.overflow_retries.load() == 1);

    gateway::cluster_config b;
    b.name = "b";
    b.circuit_breakers.retry_budget_percent = 20;
    b.circuit_breakers.retry_budget_min_concurrency = 2;
    gateway::cluster_state budget(b);
    // 0 requests in flight (1 counting this one): the floor of 2 retries applies.
    CHECK(gateway::retry_room(budget, 1));
    CHECK_FALSE(gateway::retry_room(budget, 2));
    CHECK(budget.retries_budget_refused.load() == 1);
    // 49 in flight (50 with this one): 20% is 10 retries.
    budget.requests = 49;
    CHECK(gateway::retry_room(budget, 9));
    CHECK_FALSE(gateway::retry_room(budget, 10));
    CHECK(budget.retries_budget_refused.load() == 2);
  }
}
