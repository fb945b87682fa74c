// How the overload manager judges a sample: thresholds passed raise the
// level, and it only comes down once the values are clearly under them.
#include <doctest/doctest.h>

#include "server/overload.hpp"

using namespace gateway;

TEST_SUITE("overload") {
  TEST_CASE("levels rise at their thresholds and fall 5% under them") {
    overload_options o;
    o.heap_soft = 1000;
    o.heap_hard = 2000;
    o.descriptors_soft = 100;
    using L = overload_level;
    auto at = [&](std::uint64_t heap, std::uint64_t fds, L current) {
      return judge_overload(o, {heap, fds}, current);
    };
    CHECK(at(999, 10, L::normal) == L::normal);  // the last value allowed
    CHECK(at(1000, 10, L::normal) == L::saturated);
    CHECK(at(10, 100, L::normal) == L::saturated);  // either resource
    CHECK(at(2000, 10, L::normal) == L::shedding);
    CHECK(at(2000, 10, L::saturated) == L::shedding);
    // Hovering just under a threshold keeps the level; 5% under leaves it.
    CHECK(at(960, 10, L::saturated) == L::saturated);
    CHECK(at(940, 10, L::saturated) == L::normal);
    CHECK(at(1960, 10, L::shedding) == L::shedding);
    CHECK(at(1800, 10, L::shedding) == L::saturated);
    CHECK(at(900, 10, L::shedding) == L::normal);
    // Nothing watched: always normal.
    CHECK(judge_overload(overload_options{}, {~0ull, ~0ull}, L::normal) == L::normal);
  }

  TEST_CASE("a sample of this process sees its heap and its descriptors") {
    const resource_sample s = sample_resources();
    CHECK(s.heap > 0);
    CHECK(s.descriptors >= 3);  // stdin, stdout, stderr at least
  }
}
