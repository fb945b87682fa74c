#pragma once
#include <gateway/export.hpp>

#include <functional>
#include <string_view>

namespace gateway {

// Severity of a log line, most verbose first.
enum class log_level { debug, info, warn, error, off };

// Receives each log line that passes the level; called from any worker thread,
// so it must be thread-safe. The view lives only for the call.
using log_sink = std::function<void(log_level, std::string_view message)>;

// Name of a level as printed ("debug", "info", ...); static storage.
GATEWAY_API std::string_view to_string(log_level level) noexcept;

}  // namespace gateway
