// start_on and run_on in libgateway.so, which keeps its Asio to itself (it exports only
// gateway:: and gw_ symbols, so a host's own Asio, header-only or configured
// otherwise, can never interpose on it). A host's io_context is then another
// Asio's object, which the library's code must not run: mounting needs the
// static library, where host and gateway share one Asio.
#include <gateway/asio.hpp>
#include <gateway/error.hpp>

namespace gateway {

namespace {
[[noreturn]] void sealed() {
  throw error(errc::invalid_state,
              "mounting on a host's io_context needs the static library (CMake "
              "gateway::gateway_static): libgateway.so keeps its own Asio private, so a host's "
              "io_context is not one it can run; run the gateway (or client, middleware) on its "
              "own threads instead");
}
}  // namespace

void start_on(server&, boost::asio::io_context&) {
  sealed();
}

std::size_t run_on(server&, boost::asio::io_context&) {
  sealed();
}

}  // namespace gateway
