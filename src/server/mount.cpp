// start_on in the static library, where the host and the gateway are one
// program with one Asio, compiled with the same settings (the
// gateway::gateway_static target's interface definitions): the host's
// io_context is one the gateway's code can run on.
#include "server/server_impl.hpp"
#include "server/worker.hpp"

namespace gateway {

void start_on(server& srv, asio::io_context& context) {
  srv.impl_->start(srv, &context);
}

std::size_t run_on(server& srv, asio::io_context& context) {
  idle_queue* queue = nullptr;
  {
    server::impl& i = *srv.impl_;
    std::lock_guard lock(i.control);
    if (i.host != &context || i.workers.empty())
      throw error(errc::invalid_state, "run_on: the gateway is not mounted on this io_context");
    queue = &i.workers.front()->idle();
  }
  const idle_queue::scope in_loop(*queue);
  return context.run();
}

}  // namespace gateway
