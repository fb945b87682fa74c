#include "filters/credential_source.hpp"

#include "stream/cookies.hpp"

namespace gateway::filters {
namespace {

// The value of `name` in a query string ("a=1&b=2"), raw (not percent-decoded).
std::optional<std::string_view> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    std::size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    std::size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
  }
  return std::nullopt;
}

}  // namespace

found_credential find_credential(filter_context& ctx, const std::vector<credential_source>& from) {
  for (const credential_source& s : from) {
    switch (s.type) {
      case credential_source::kind::header:
        if (auto v = ctx.request_headers().get(s.name)) {
          std::string_view value = *v;
          if (!s.prefix.empty()) {
            if (value.size() < s.prefix.size() ||
                !http::iequals(value.substr(0, s.prefix.size()), s.prefix))
              continue;
            value.remove_prefix(s.prefix.size());
          }
          return {&s, value};
        }
        break;
      case credential_source::kind::param:
        if (auto v = query_param(ctx.query(), s.name)) return {&s, *v};
        break;
      case credential_source::kind::cookie:
        for (const http::header& h : ctx.request_headers().all()) {
          if (!http::iequals(h.name, "cookie")) continue;
          std::optional<std::string_view> hit;
          http::for_each_cookie(h.value,
                                [&](std::string_view n, std::string_view v, std::string_view) {
                                  if (!hit && n == s.name) hit = v;
                                });
          if (hit) return {&s, *hit};
        }
        break;
    }
  }
  return {};
}

void strip_credential(filter_context& ctx, const found_credential& found) {
  if (!found.source) return;
  const credential_source& s = *found.source;
  switch (s.type) {
    case credential_source::kind::header:
      ctx.request_headers().remove(s.name);
      break;
    case credential_source::kind::param: {
      std::string kept;
      std::string_view query = ctx.query();
      while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
        if (pair.substr(0, pair.find('=')) == s.name) continue;
        if (!kept.empty()) kept.push_back('&');
        kept.append(pair);
      }
      ctx.set_query(kept);
      break;
    }
    case credential_source::kind::cookie: {
      std::string kept;
      for (const http::header& h : ctx.request_headers().all()) {
        if (!http::iequals(h.name, "cookie")) continue;
        http::for_each_cookie(h.value,
                              [&](std::string_view n, std::string_view, std::string_view item) {
                                if (n == s.name) return;
                                while (!item.empty() && item.front() == ' ')
                                  item.remove_prefix(1);
                                if (!kept.empty()) kept.append("; ");
                                kept.append(item);
                              });
      }
      ctx.request_headers().remove("cookie");
      if (!kept.empty()) ctx.request_headers().add("cookie", kept);
      break;
    }
  }
}

void read_sources(const json_object& o, std::string_view path,
                  std::vector<credential_source>& out) {
  check_fields(o, path, {"headers", "params", "cookies"});
  if (const auto* headers = array_field(o, "headers", path))
    for (std::size_t i = 0; i < headers->size(); ++i) {
      const std::string ip = index_path(field_path(path, "headers"), i);
      credential_source s;
      if ((*headers)[i].is_string()) {
        s.name = std::string((*headers)[i].get_string());
      } else {
        const json_object& h = as_object((*headers)[i], ip);
        check_fields(h, ip, {"name", "valuePrefix"});
        s.name = *string_field(h, "name", ip, true);
        s.prefix = string_field(h, "valuePrefix", ip).value_or("");
      }
      out.push_back(std::move(s));
    }
  for (const std::string& p : strings_field(o, "params", path))
    out.push_back({credential_source::kind::param, p, ""});
  for (const std::string& c : strings_field(o, "cookies", path))
    out.push_back({credential_source::kind::cookie, c, ""});
}

}  // namespace gateway::filters
