// The YAML loader on random documents: a configuration or a gateway::error
// that says where and why, never a crash, a hang or another exception
// (which would escape a host's reload as something it does not expect). A
// configuration that loads also validates and prints as JSON.
#include <gateway/config.hpp>
#include <gateway/error.hpp>

#include <cstdint>
#include <string_view>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  gateway::gateway_config config;
  try {
    config = gateway::load_yaml(text, "fuzz.yaml");
  } catch (const gateway::error& e) {
    FUZZ_CHECK(e.code() == gateway::errc::invalid_config && *e.what() != '\0');
    return 0;
  }
  try {
    gateway::validate(config);
  } catch (const gateway::error& e) {
    FUZZ_CHECK(*e.what() != '\0');
    return 0;
  }
  FUZZ_CHECK(!gateway::to_json(config).empty());
  return 0;
}
