#pragma once
// The configuration gatewayd serves when started without --config.
#include <cstdint>
#include <string>

namespace gatewayd {
// Demo manifests: a Gateway on 127.0.0.1:8080, a route sending "x-version: v2"
// to demo-v2 and everything else to demo-v1, whose endpoints are the ports given.
std::string demo_config(std::uint16_t v1_port, std::uint16_t v2_port);
}  // namespace gatewayd
