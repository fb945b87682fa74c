#pragma once
#include <string>

namespace gatewayd {

// gatewayd --waf-test: runs the sample requests of `samples_path` through the
// WAF of the config at `config_path` and prints each decision with its
// matched rules. Returns the exit status: 0 when every expectation held, 1
// when one did not, 2 when a file cannot be used.
int waf_test(const std::string& config_path, const std::string& samples_path);

}  // namespace gatewayd
