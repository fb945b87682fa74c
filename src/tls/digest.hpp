#pragma once
// Hashes, Base64 and constant-time comparison for the auth filters (OpenSSL
// stays inside src/tls/).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gateway::tls {

std::array<std::uint8_t, 20> sha1(std::string_view data) noexcept;
std::array<std::uint8_t, 32> sha256(std::string_view data) noexcept;
std::array<std::uint8_t, 16> md5(std::string_view data) noexcept;
// Standard Base64 with padding.
std::string base64_encode(std::string_view data);
// Standard or URL-safe Base64, padding optional; nothing when malformed.
std::optional<std::string> base64_decode(std::string_view text);
// Equal contents, in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;
// The "$apr1$" MD5-crypt of Apache htpasswd for `password` with `salt` (at
// most 8 characters); returns the whole "$apr1$salt$hash" string.
std::string apr1_crypt(std::string_view password, std::string_view salt);

}  // namespace gateway::tls
