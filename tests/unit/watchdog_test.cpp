// A watchdog group: one timer for many watchdogs' deadlines (an HTTP/2
// connection's streams). It must wake by the earliest armed deadline, even
// one armed after a later one, and go on to the next deadline after a wake
// with no member arming again.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "transport/watchdog.hpp"

using namespace gateway;
using namespace std::chrono_literals;

TEST_SUITE("watchdog group") {
  TEST_CASE("wakes for the earliest member's deadline, then the next, then stops") {
    asio::io_context io;
    transport::watchdog_group group(io.get_executor());
    transport::watchdog late(io.get_executor()), early(io.get_executor()), never(io.get_executor());
    transport::watchdog* members[] = {&late, &early, &never};
    for (auto* w : members)
      w->join(group);
    std::vector<std::string> passed;  // in the order the group found them
    int wakes = 0;
    group.run([&](steady_clock::time_point now) {
      ++wakes;
      steady_clock::time_point next = steady_clock::time_point::max();
      const char* names[] = {"late", "early", "never"};
      for (int i = 0; i < 3; ++i) {
        if (members[i]->passed(now)) passed.push_back(names[i]);
        next = std::min(next, members[i]->deadline());
      }
      return next;
    });
    const auto run_until = [&](std::size_t count) {
      for (int i = 0; i < 3000 && passed.size() < count; ++i)
        io.run_one_for(10ms);
    };
    // Armed in this order: the later deadline first, so the earlier one
    // must pull the group's wait in.
    late.arm(transport::deadline_phase::upstream, 2s);
    early.arm(transport::deadline_phase::stream, 50ms);
    run_until(1);
    REQUIRE(passed.size() == 1);
    CHECK(passed[0] == "early");
    CHECK(early.expired());
    CHECK(!late.expired());
    CHECK(early.deadline() == steady_clock::time_point::max());
    // Nobody arms again: the group goes on to `late` by itself.
    run_until(2);
    REQUIRE(passed.size() == 2);
    CHECK(passed[1] == "late");
    CHECK(late.expired());
    CHECK(!never.expired());
    // A disarmed member never passes; an armed one after stop() is not waited for.
    never.arm(transport::deadline_phase::stream, 1h);
    never.disarm();
    const int before = wakes;
    group.stop();
    early.arm(transport::deadline_phase::stream, 1ms);
    io.restart();
    io.run();  // returns: nothing is waiting any more
    CHECK(wakes == before);
    CHECK(passed.size() == 2);
  }
}
