#pragma once
// Starting a coroutine nobody waits for, for less than asio::co_spawn costs.
//
// co_spawn(ex, a, detached) wraps `a` in an entry coroutine of its own (a
// frame), takes two work guards through the type-erased executor (copies and
// `prefer` calls), dispatches itself, and at the end dispatches the detached
// handler. An HTTP/2 stream starts one coroutine per request, so that was
// about a thousand instructions per request for nothing the stream uses.
//
// spawn() starts `a` right away on the calling thread, which must be running
// `ex`'s io_context (otherwise, or with another executor, it is co_spawn),
// with one work guard of the concrete io_context executor for its life (so
// that a host's run() does not return while it waits on something that is not
// an Asio operation). As with detached, an exception that escapes `a` ends it
// and is dropped; our coroutines do not throw.
//
// Starting a thread of execution needs two of Asio's internal types
// (awaitable_thread's entry point, awaitable_handler). They are used for the
// Boost that Debian 12 ships; anywhere else spawn() is co_spawn.
#include "asio/asio.hpp"

namespace gateway {

// Runs `a` until its first wait, then lets it go on by itself (see above).
void spawn(const asio::any_io_executor& ex, asio::awaitable<void> a);
void spawn(asio::io_context& context, asio::awaitable<void> a);

}  // namespace gateway
