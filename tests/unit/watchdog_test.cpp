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
    transport::watchdog late(io.get_executor()), first(io.get_executor()),
        second(io.get_executor());
    transport::watchdog* members[] = {&late, &first, &second};
    const char* names[] = {"late", "first", "second"};
    for (auto* w : members)
      w->join(group);
    std::vector<std::string> passed;  // in the order the group found them
    int wakes = 0;
    group.run([&](steady_clock::time_point now) {
      ++wakes;
      steady_clock::time_point next = steady_clock::time_point::max();
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
    // The later deadline armed first (an hour: it never passes here), so
    // the earlier one must pull the group's wait in.
    late.arm(transport::deadline_phase::upstream, 1h);
    first.arm(transport::deadline_phase::stream, 50ms);
    run_until(1);
    REQUIRE(passed.size() == 1);
    CHECK(passed[0] == "first");
    CHECK(first.expired());
    CHECK(!late.expired());
    CHECK(first.deadline() == steady_clock::time_point::max());
    // Two more, the earlier armed first: once the group woke for it, it
    // goes on to the other with nobody arming again (both may pass in one
    // wake on a slow machine; either way both pass, and `late` does not).
    first.arm(transport::deadline_phase::stream, 20ms);
    second.arm(transport::deadline_phase::stream, 150ms);
    run_until(3);
    REQUIRE(passed.size() == 3);
    CHECK(passed[1] == "first");
    CHECK(passed[2] == "second");
    CHECK(!late.expired());
    // A disarmed member never passes; one armed after stop() is not waited for.
    late.disarm();
    const int before = wakes;
    group.stop();
    first.arm(transport::deadline_phase::stream, 1ms);
    io.restart();
    io.run();  // returns: nothing is waiting any more
    CHECK(wakes == before);
    CHECK(passed.size() == 3);
  }
}
