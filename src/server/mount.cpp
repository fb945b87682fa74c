// start_on in the static library, where the host and the gateway are one
// program with one Asio, compiled with the same settings (the
// gateway::gateway_static target's interface definitions): the host's
// io_context is one the gateway's code can run on.
#include "server/server_impl.hpp"

namespace gateway {

void start_on(server& srv, asio::io_context& context) {
  srv.impl_->start(srv, &context);
}

}  // namespace gateway
