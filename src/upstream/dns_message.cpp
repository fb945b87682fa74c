// DNS messages as the resolver writes and reads them (dns_message.hpp).
#include "upstream/dns_message.hpp"

#include <algorithm>

namespace gateway::dns {

void put16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

std::uint16_t get16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) |
                                    static_cast<unsigned char>(s[at + 1]));
}

std::uint32_t get32(std::string_view s, std::size_t at) {
  return (static_cast<std::uint32_t>(get16(s, at)) << 16) | get16(s, at + 2);
}

std::string make_query(std::uint16_t id, const std::string& name, std::uint16_t type) {
  std::string q;
  put16(q, id);
  put16(q, 0x0100);  // RD
  put16(q, 1);       // QDCOUNT
  put16(q, 0);
  put16(q, 0);
  put16(q, 1);  // ARCOUNT: the OPT record
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q.push_back(static_cast<char>(dot - start));
    q.append(name, start, dot - start);
    start = dot + 1;
  }
  q.push_back('\0');
  put16(q, type);
  put16(q, 1);        // IN
  q.push_back('\0');  // OPT: root name
  put16(q, type_opt);
  put16(q, 1232);  // UDP payload size
  put16(q, 0);     // extended RCODE, version
  put16(q, 0);     // flags
  put16(q, 0);     // RDLENGTH
  return q;
}

bool skip_name(std::string_view s, std::size_t& at) {
  for (int labels = 0; labels < 128; ++labels) {
    if (at >= s.size()) return false;
    const auto len = static_cast<unsigned char>(s[at]);
    if (len == 0) {
      ++at;
      return true;
    }
    if ((len & 0xc0) == 0xc0) {  // a pointer ends the name
      if (at + 2 > s.size()) return false;
      at += 2;
      return true;
    }
    at += 1 + len;
  }
  return false;
}

parsed parse_answer(std::string_view s, std::uint16_t id, std::uint16_t type) {
  parsed p;
  if (s.size() < 12 || get16(s, 0) != id) return p;
  const std::uint16_t flags = get16(s, 2);
  if (!(flags & 0x8000)) return p;  // not a response
  p.truncated = flags & 0x0200;
  p.rcode = flags & 0x000f;
  const std::uint16_t qd = get16(s, 4), an = get16(s, 6);
  std::size_t at = 12;
  for (std::uint16_t i = 0; i < qd; ++i) {
    if (!skip_name(s, at) || at + 4 > s.size()) return p;
    at += 4;
  }
  for (std::uint16_t i = 0; i < an; ++i) {
    if (!skip_name(s, at) || at + 10 > s.size()) return p;
    const std::uint16_t rtype = get16(s, at), rclass = get16(s, at + 2);
    const std::uint32_t ttl = get32(s, at + 4);
    const std::uint16_t len = get16(s, at + 8);
    at += 10;
    if (at + len > s.size()) return p;
    // CNAMEs lead here; the addresses at the end of the chain are the answer.
    if (rclass == 1 && rtype == type) {
      if (type == type_a && len == 4) {
        boost::asio::ip::address_v4::bytes_type b;
        std::copy_n(s.data() + at, 4, b.begin());
        p.addresses.emplace_back(boost::asio::ip::address_v4(b));
        p.ttl = std::min(p.ttl, ttl);
      } else if (type == type_aaaa && len == 16) {
        boost::asio::ip::address_v6::bytes_type b;
        std::copy_n(s.data() + at, 16, b.begin());
        p.addresses.emplace_back(boost::asio::ip::address_v6(b));
        p.ttl = std::min(p.ttl, ttl);
      }
    }
    at += len;
  }
  p.ok = true;
  return p;
}

bool dns_name(std::string_view n) {
  if (!n.empty() && n.back() == '.') n.remove_suffix(1);
  if (n.empty() || n.size() > 253) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    if (c == '.') {
      if (label == 0 || n[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (c != '-' || label == 0)) return false;
    if (++label > 63) return false;
  }
  return n.back() != '-';
}

}  // namespace gateway::dns
