#include "tls/digest.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <algorithm>

namespace gateway::tls {
namespace {
template <std::size_t N>
std::array<std::uint8_t, N> digest(const EVP_MD* md, std::string_view data) noexcept {
  std::array<std::uint8_t, N> out{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &n, md, nullptr);
  return out;
}
}  // namespace

std::array<std::uint8_t, 20> sha1(std::string_view data) noexcept {
  return digest<20>(EVP_sha1(), data);
}
std::array<std::uint8_t, 32> sha256(std::string_view data) noexcept {
  return digest<32>(EVP_sha256(), data);
}
std::array<std::uint8_t, 16> md5(std::string_view data) noexcept {
  return digest<16>(EVP_md5(), data);
}

std::string base64_encode(std::string_view data) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    std::uint32_t v = (std::uint32_t(std::uint8_t(data[i])) << 16) |
                      (std::uint32_t(std::uint8_t(data[i + 1])) << 8) | std::uint8_t(data[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out.push_back(table[(v >> s) & 63]);
  }
  if (i < data.size()) {
    std::uint32_t v = std::uint32_t(std::uint8_t(data[i])) << 16;
    if (i + 1 < data.size()) v |= std::uint32_t(std::uint8_t(data[i + 1])) << 8;
    out.push_back(table[(v >> 18) & 63]);
    out.push_back(table[(v >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? table[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=')
    text.remove_suffix(1);
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) return std::nullopt;  // a dangling character
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string apr1_crypt(std::string_view password, std::string_view salt) {
  // Poul-Henning Kamp's MD5-crypt with Apache's "$apr1$" magic.
  static constexpr std::string_view magic = "$apr1$";
  salt = salt.substr(0, std::min<std::size_t>(salt.find('$'), 8));
  auto alt = md5(std::string(password).append(salt).append(password));
  std::string ctx(password);
  ctx.append(magic).append(salt);
  for (std::size_t n = password.size(); n > 0; n -= std::min<std::size_t>(n, 16))
    ctx.append(reinterpret_cast<const char*>(alt.data()), std::min<std::size_t>(n, 16));
  for (std::size_t n = password.size(); n; n >>= 1)
    ctx.push_back((n & 1) ? '\0' : password.empty() ? '\0' : password[0]);
  auto result = md5(ctx);
  for (int i = 0; i < 1000; ++i) {
    std::string round;
    std::string_view r(reinterpret_cast<const char*>(result.data()), result.size());
    round.append((i & 1) ? password : r);
    if (i % 3) round.append(salt);
    if (i % 7) round.append(password);
    round.append((i & 1) ? r : password);
    result = md5(round);
  }
  static constexpr char itoa64[] =
      "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out(magic);
  out.append(salt).push_back('$');
  auto put = [&](std::uint32_t v, int n) {
    while (n-- > 0) {
      out.push_back(itoa64[v & 0x3f]);
      v >>= 6;
    }
  };
  const auto* f = result.data();
  put((std::uint32_t(f[0]) << 16) | (std::uint32_t(f[6]) << 8) | f[12], 4);
  put((std::uint32_t(f[1]) << 16) | (std::uint32_t(f[7]) << 8) | f[13], 4);
  put((std::uint32_t(f[2]) << 16) | (std::uint32_t(f[8]) << 8) | f[14], 4);
  put((std::uint32_t(f[3]) << 16) | (std::uint32_t(f[9]) << 8) | f[15], 4);
  put((std::uint32_t(f[4]) << 16) | (std::uint32_t(f[10]) << 8) | f[5], 4);
  put(f[11], 2);
  return out;
}

}  // namespace gateway::tls
