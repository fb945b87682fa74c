#pragma once
// A gateway served by a host's own Boost.Asio io_context: the host that
// already runs a Beast (or any Asio) server mounts the gateway on the same
// loop, and no worker thread is made. The overload manager's samples and the
// certificate files' checks run on the loop too (a change's reload compiles
// on a thread of its own). Health checks and DNS refreshes, when a cluster
// has them, and the admin listener keep a thread of their own.
//
// The loop must be run by one thread at a time (the gateway's connections
// are not guarded against concurrent handlers), as a worker's loop is.
//
// Mounting needs the static library (CMake gateway::gateway_static): host and
// gateway are then one program with one Asio, and the target gives the host
// the library's Asio configuration (BOOST_ASIO_SEPARATE_COMPILATION and the
// others), so its io_context and the gateway's code agree on every Asio type.
// libgateway.so keeps its Asio private (it exports only gateway:: and gw_
// symbols), so its start_on throws gateway::error (invalid_state).
#include <gateway/server.hpp>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>

namespace gateway {

// start_on(server&, io_context&) and async_stop(...) are declared in
// server.hpp (they need no Asio definitions there):
//
// start_on: opens the listeners and serves on `context` with one worker,
// instead of server::start()'s threads. Throws gateway::error like start().
// Call it before or while the host runs `context`.
//
// run_on: runs `context` on the calling thread, as context.run() does, and
// makes that thread the mounted gateway's worker thread: WAF phases with no
// body to inspect then run on this loop between its handlers (waiting at
// most 2 ms while other handlers are ready), as on a worker of
// server::start(), instead of on the WAF evaluation pool's threads. For a
// loop that is the gateway's above all (gatewayd with one worker runs on
// it); a host whose own handlers must never wait behind a WAF phase calls
// context.run() instead. Call it after start_on, from one thread; the server
// outlives the call. Returns what run() returns; an exception a handler
// throws comes out of it, as out of run().
//
// async_stop: from any thread; on `context` it stops accepting, lets
// requests in flight finish for `drain`, closes the rest, and then calls
// `done` there. The server may be destroyed after `done`. A call while a
// stop is under way waits for the same end; on a stopped gateway it only
// calls back. (server::stop()
// from another thread does the same and waits; from the loop's own thread it
// throws, since it would wait for itself.)
using gateway::async_stop;
using gateway::run_on;
using gateway::start_on;

}  // namespace gateway
