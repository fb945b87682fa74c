#include <gateway/error.hpp>
#include <gateway/upstream.hpp>

#include <doctest/doctest.h>

#include <map>
#include <string>
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

  TEST_CASE("consistent hashing: weights, and only a leaving endpoint's keys move") {
    const std::vector<std::string> four{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"};
    const std::vector<std::string> three(four.begin(), four.end() - 1);
    for (auto kind : {gateway::lb_policy::maglev, gateway::lb_policy::ring_hash}) {
      CAPTURE(static_cast<int>(kind));
      const std::uint32_t size = kind == gateway::lb_policy::maglev ? 65537 : 1024;
      std::vector<std::uint32_t> w4{1, 1, 1, 1}, w3{1, 1, 1}, heavy{3, 1, 1, 1};
      gateway::consistent_hash before(kind, four, w4, size), after(kind, three, w3, size),
          weighted(kind, four, heavy, size);
      constexpr int keys = 100000;
      int kept = 0, others_moved = 0;
      std::map<std::size_t, int> share;
      for (int k = 0; k < keys; ++k) {
        const auto h = gateway::hash_key("key-" + std::to_string(k));
        const std::size_t a = before.pick(h), b = after.pick(h);
        if (a == b)
          ++kept;
        else if (a != 3)
          ++others_moved;
        share[weighted.pick(h)]++;
      }
      CHECK(kept >= keys * 70 / 100);
      if (kind == gateway::lb_policy::ring_hash)
        CHECK(others_moved == 0);  // fixed points per endpoint: only the leaver's keys move
      else
        CHECK(others_moved <= keys / 50);  // Maglev: a little more disruption
      // Weight 3 of 6: half the keys, within a few percent.
      CHECK(share[0] >= keys * 45 / 100);
      CHECK(share[0] <= keys * 55 / 100);
    }
  }

  TEST_CASE("a Maglev table size that is not a prime is refused") {
    const std::vector<std::string> names{"a", "b"};
    const std::vector<std::uint32_t> w{1, 1};
    CHECK_THROWS_AS(gateway::consistent_hash(gateway::lb_policy::maglev, names, w, 1000),
                    gateway::error);
    CHECK_NOTHROW(gateway::consistent_hash(gateway::lb_policy::maglev, names, w, 1009));
  }
}
