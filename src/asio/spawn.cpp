#include "asio/spawn.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/version.hpp>

namespace gateway {
namespace {

#if BOOST_VERSION == 108100
#define GATEWAY_LIGHT_SPAWN 1
using entry_point = asio::detail::awaitable_thread_entry_point;
using io_executor = asio::io_context::executor_type;

// The bottom frame of the new thread of execution (what co_spawn's entry
// point is, without its dispatches and handler).
asio::awaitable<entry_point> run_detached(asio::awaitable<void> a,
                                          asio::executor_work_guard<io_executor> work) {
  try {
    co_await std::move(a);
  } catch (...) {  // dropped, as asio::detached drops it
  }
  (void)work;  // held until the coroutine ends
}
#endif

}  // namespace

void spawn(const asio::any_io_executor& ex, asio::awaitable<void> a) {
#ifdef GATEWAY_LIGHT_SPAWN
  const auto* io = ex.target<io_executor>();
  if (io && io->running_in_this_thread()) {
    asio::detail::awaitable_handler<asio::any_io_executor>(
        run_detached(std::move(a), asio::make_work_guard(*io)), ex, {}, {})
        .launch();
    return;
  }
#endif
  asio::co_spawn(ex, std::move(a), asio::detached);
}

void spawn(asio::io_context& context, asio::awaitable<void> a) {
  spawn(asio::any_io_executor(context.get_executor()), std::move(a));
}

}  // namespace gateway
