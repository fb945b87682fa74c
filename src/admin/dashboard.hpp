#pragma once
// The admin listener's dashboard: one self-contained HTML page (its source is
// dashboard.html, compiled in), served at / and /dashboard.
#include <string_view>

namespace gateway {

// The page, static for the life of the program.
std::string_view dashboard_page() noexcept;

}  // namespace gateway
