#include <gateway/error.hpp>
#include <gateway/upstream.hpp>

#include <doctest/doctest.h>

#include <map>
#include <vector>

TEST_SUITE("upstream") {
  TEST_CASE("weighted round robin gives each endpoint its exact share, interleaved") {
    std::vector<std::uint32_t> w{5, 1, 1};
    gateway::weighted_round_robin rr(w);
    std::vector<std::size_t> seq;
    for (int i = 0; i < 7; ++i)
      seq.push_back(rr.next());
    // nginx's smooth WRR sequence for 5/1/1: a a b a c a a
    CHECK(seq == std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0});
    std::map<std::size_t, int> counts;
    for (int i = 0; i < 700; ++i)
      counts[rr.next()]++;
    CHECK(counts[0] == 500);
    CHECK(counts[1] == 100);
    CHECK(counts[2] == 100);
  }

  TEST_CASE("equal weights are plain round robin") {
    std::vector<std::uint32_t> w{1, 1, 1};
    gateway::weighted_round_robin rr(w);
    for (int i = 0; i < 9; ++i)
      CHECK(rr.next() == static_cast<std::size_t>(i % 3));
  }

  TEST_CASE("no endpoints or a zero weight is a configuration error") {
    std::vector<std::uint32_t> none;
    CHECK_THROWS_AS(gateway::weighted_round_robin{none}, gateway::error);
    std::vector<std::uint32_t> zero{1, 0};
    CHECK_THROWS_AS(gateway::weighted_round_robin{zero}, gateway::error);
  }
}
