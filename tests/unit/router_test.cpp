#include <gateway/error.hpp>
#include <gateway/router.hpp>

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace gateway;

namespace {

route_match prefix(std::string v) {
  return {{path_match_type::prefix, std::move(v)}, {}, {}, {}};
}
route_match exact(std::string v) {
  return {{path_match_type::exact, std::move(v)}, {}, {}, {}};
}
route_match regex(std::string v) {
  return {{path_match_type::regex, std::move(v)}, {}, {}, {}};
}

route_rule rule_to(std::string backend, std::vector<route_match> matches) {
  route_rule r;
  r.name = backend;
  r.matches = std::move(matches);
  r.backends.push_back({std::move(backend), 1});
  return r;
}

route make_route(std::string name, std::vector<route_rule> rules,
                 std::vector<std::string> hosts = {}, std::int64_t order = 0) {
  route r;
  r.name = std::move(name);
  r.rules = std::move(rules);
  r.hostnames = std::move(hosts);
  r.creation_order = order;
  return r;
}

// Which backend serves the request, or "" for no match.
struct probe {
  std::string method = "GET";
  std::string host = "example.com";
  std::string path = "/";
  std::string query;
  std::vector<http::header> headers;
};
std::string pick(const router& r, const probe& p) {
  request_view v{p.method, p.host, p.path, p.query, p.headers};
  auto sel = r.match(v);
  return sel ? sel.rule->backends.front().cluster : std::string();
}

}  // namespace

TEST_SUITE("router") {
  TEST_CASE("path prefix is matched element by element") {
    router r({make_route("a", {rule_to("foo", {prefix("/foo")}), rule_to("root", {prefix("/")})})});
    CHECK(pick(r, {.path = "/foo"}) == "foo");
    CHECK(pick(r, {.path = "/foo/"}) == "foo");
    CHECK(pick(r, {.path = "/foo/bar"}) == "foo");
    CHECK(pick(r, {.path = "/foobar"}) == "root");
    CHECK(pick(r, {.path = "/fo"}) == "root");
  }

  TEST_CASE("a trailing slash in a prefix is ignored") {
    router r({make_route("a", {rule_to("v1", {prefix("/v1/")})})});
    CHECK(pick(r, {.path = "/v1"}) == "v1");
    CHECK(pick(r, {.path = "/v1/x"}) == "v1");
    CHECK(pick(r, {.path = "/v10"}).empty());
  }

  TEST_CASE("exact beats any prefix, longest prefix beats shorter") {
    router r(
        {make_route("a", {rule_to("short", {prefix("/api")}), rule_to("long", {prefix("/api/v1")}),
                          rule_to("exact", {exact("/api/v1/users")})})});
    CHECK(pick(r, {.path = "/api/v1/users"}) == "exact");
    CHECK(pick(r, {.path = "/api/v1/users/7"}) == "long");
    CHECK(pick(r, {.path = "/api/v2"}) == "short");
    CHECK(pick(r, {.path = "/other"}).empty());
  }

  TEST_CASE("exact path does not match longer paths or a trailing slash") {
    router r({make_route("a", {rule_to("e", {exact("/login")})})});
    CHECK(pick(r, {.path = "/login"}) == "e");
    CHECK(pick(r, {.path = "/login/"}).empty());
    CHECK(pick(r, {.path = "/login/x"}).empty());
  }

  TEST_CASE("regular expressions use a full match, after exact and before prefixes") {
    router r({make_route(
        "a", {rule_to("prefix", {prefix("/items")}), rule_to("re", {regex("/items/[0-9]+")}),
              rule_to("exact", {exact("/items/42")})})});
    CHECK(pick(r, {.path = "/items/42"}) == "exact");
    CHECK(pick(r, {.path = "/items/7"}) == "re");
    CHECK(pick(r, {.path = "/items/7/x"}) == "prefix");  // full match, not a search
    CHECK(pick(r, {.path = "/items/abc"}) == "prefix");
  }

  TEST_CASE("method match wins over no method at equal path") {
    route_match post = prefix("/orders");
    post.method = "POST";
    router r({make_route("a", {rule_to("any", {prefix("/orders")}), rule_to("post", {post})})});
    CHECK(pick(r, {.method = "POST", .path = "/orders"}) == "post");
    CHECK(pick(r, {.method = "GET", .path = "/orders"}) == "any");
  }

  TEST_CASE("longer prefix beats a method match on a shorter prefix") {
    route_match post = prefix("/a");
    post.method = "POST";
    router r({make_route("a", {rule_to("post-short", {post}), rule_to("long", {prefix("/a/b")})})});
    CHECK(pick(r, {.method = "POST", .path = "/a/b/c"}) == "long");
  }

  TEST_CASE("more header matches win, names are case-insensitive, values exact or regex") {
    route_match one = prefix("/");
    one.headers.push_back({value_match_type::exact, "x-version", "v2"});
    route_match two = prefix("/");
    two.headers.push_back({value_match_type::exact, "x-version", "v2"});
    two.headers.push_back({value_match_type::regex, "x-user", "admin-[a-z]+"});
    router r({make_route(
        "a", {rule_to("none", {prefix("/")}), rule_to("one", {one}), rule_to("two", {two})})});
    CHECK(pick(r, {.headers = {{"X-Version", "v2"}}}) == "one");
    CHECK(pick(r, {.headers = {{"x-version", "v2"}, {"X-User", "admin-bob"}}}) == "two");
    CHECK(pick(r, {.headers = {{"x-version", "v2"}, {"x-user", "admin-7"}}}) == "one");
    CHECK(pick(r, {.headers = {{"x-version", "V2"}}}) == "none");
  }

  TEST_CASE("more query matches win, exact and regex") {
    route_match q1 = prefix("/");
    q1.query_params.push_back({value_match_type::exact, "debug", "1"});
    route_match q2 = q1;
    q2.query_params.push_back({value_match_type::regex, "id", "[0-9]+"});
    router r({make_route(
        "a", {rule_to("none", {prefix("/")}), rule_to("q1", {q1}), rule_to("q2", {q2})})});
    CHECK(pick(r, {.query = "debug=1"}) == "q1");
    CHECK(pick(r, {.query = "id=12&debug=1"}) == "q2");
    CHECK(pick(r, {.query = "id=x&debug=1"}) == "q1");
    CHECK(pick(r, {.query = "debug=2"}) == "none");
    CHECK(pick(r, {.query = "debugx=1"}) == "none");
  }

  TEST_CASE("header matches beat query matches") {
    route_match h = prefix("/");
    h.headers.push_back({value_match_type::exact, "x-a", "1"});
    route_match q = prefix("/");
    q.query_params.push_back({value_match_type::exact, "a", "1"});
    q.query_params.push_back({value_match_type::exact, "b", "1"});
    router r({make_route("a", {rule_to("q", {q}), rule_to("h", {h})})});
    CHECK(pick(r, {.query = "a=1&b=1", .headers = {{"x-a", "1"}}}) == "h");
  }

  TEST_CASE("ties across routes: older route first, then namespace/name") {
    router r({make_route("zeta", {rule_to("zeta", {prefix("/x")})}, {}, 1),
              make_route("beta", {rule_to("beta", {prefix("/x")})}, {}, 2),
              make_route("alpha", {rule_to("alpha", {prefix("/x")})}, {}, 2)});
    CHECK(pick(r, {.path = "/x"}) == "zeta");
    router same_age({make_route("beta", {rule_to("beta", {prefix("/x")})}),
                     make_route("alpha", {rule_to("alpha", {prefix("/x")})})});
    CHECK(pick(same_age, {.path = "/x"}) == "alpha");
  }

  TEST_CASE("ties within a route: first rule in list order") {
    router r(
        {make_route("a", {rule_to("first", {prefix("/x")}), rule_to("second", {prefix("/x")})})});
    CHECK(pick(r, {.path = "/x/y"}) == "first");
  }

  TEST_CASE("a rule without matches matches every path") {
    route_rule all;
    all.backends.push_back({"all", 1});
    router r({make_route("a", {all})});
    CHECK(pick(r, {.path = "/anything/at/all"}) == "all");
  }

  TEST_CASE("hostnames: exact beats wildcard, longer wildcard beats shorter, any host last") {
    router r({make_route("any", {rule_to("any", {prefix("/")})}),
              make_route("wild", {rule_to("wild", {prefix("/")})}, {"*.example.com"}),
              make_route("deep", {rule_to("deep", {prefix("/")})}, {"*.api.example.com"}),
              make_route("exact", {rule_to("exact", {prefix("/")})}, {"www.example.com"})});
    CHECK(pick(r, {.host = "www.example.com"}) == "exact");
    CHECK(pick(r, {.host = "WWW.Example.COM:8080"}) == "exact");
    CHECK(pick(r, {.host = "shop.example.com"}) == "wild");
    CHECK(pick(r, {.host = "a.b.example.com"}) == "wild");
    CHECK(pick(r, {.host = "v1.api.example.com"}) == "deep");
    CHECK(pick(r, {.host = "example.com"}) == "any");  // a wildcard needs one more label
    CHECK(pick(r, {.host = "other.org"}) == "any");
  }

  TEST_CASE("a more specific host without a matching path falls back to less specific hosts") {
    router r({make_route("exact", {rule_to("exact", {prefix("/admin")})}, {"www.example.com"}),
              make_route("wild", {rule_to("wild", {prefix("/")})}, {"*.example.com"})});
    CHECK(pick(r, {.host = "www.example.com", .path = "/admin/x"}) == "exact");
    CHECK(pick(r, {.host = "www.example.com", .path = "/shop"}) == "wild");
  }

  TEST_CASE("no route for an unknown host when every route names hosts") {
    router r({make_route("a", {rule_to("a", {prefix("/")})}, {"a.example.com"})});
    CHECK(pick(r, {.host = "b.example.com"}).empty());
    CHECK(pick(r, {.host = ""}).empty());
  }

  TEST_CASE("invalid regexes, paths and hostnames are rejected at compile time") {
    CHECK_THROWS_AS(router({make_route("a", {rule_to("x", {regex("/(unclosed")})})}), error);
    CHECK_THROWS_AS(router({make_route("a", {rule_to("x", {prefix("no-slash")})})}), error);
    CHECK_THROWS_AS(router({make_route("a", {rule_to("x", {prefix("/")})}, {"bad host"})}), error);
    std::error_code ec;
    std::string message;
    auto r = router::compile({make_route("a", {rule_to("x", {regex("(")})})}, ec, message);
    CHECK(!r);
    CHECK(ec == errc::invalid_config);
    CHECK(message.find("route default/a rule 0") != std::string::npos);
  }
}

namespace {

route_match grpc_match(std::string service, std::string method,
                       value_match_type type = value_match_type::exact,
                       std::vector<header_match> headers = {}) {
  route_match m;
  m.grpc = grpc_method_match{type, std::move(service), std::move(method)};
  m.headers = std::move(headers);
  return m;
}

route grpc_route(std::string name, std::vector<route_rule> rules,
                 std::vector<std::string> hosts = {}, std::int64_t order = 0) {
  route r = make_route(std::move(name), std::move(rules), std::move(hosts), order);
  r.kind = route_kind::grpc;
  return r;
}

}  // namespace

TEST_SUITE("router grpc") {
  TEST_CASE("service and method match exactly and by regular expression") {
    router r({grpc_route("g", {rule_to("both", {grpc_match("helloworld.Greeter", "SayHello")}),
                               rule_to("service", {grpc_match("helloworld.Greeter", "")}),
                               rule_to("method", {grpc_match("", "Check")}),
                               rule_to("regex", {grpc_match("shop\\..*", "(Get|List)Items",
                                                            value_match_type::regex)}),
                               rule_to("any", {})})});
    CHECK(pick(r, {.method = "POST", .path = "/helloworld.Greeter/SayHello"}) == "both");
    CHECK(pick(r, {.method = "POST", .path = "/helloworld.Greeter/SayBye"}) == "service");
    CHECK(pick(r, {.method = "POST", .path = "/grpc.health.v1.Health/Check"}) == "method");
    CHECK(pick(r, {.method = "POST", .path = "/shop.v1.Cart/ListItems"}) == "regex");
    // A regex matches each part whole: "ListItemsNow" is not "(Get|List)Items".
    CHECK(pick(r, {.method = "POST", .path = "/shop.v1.Cart/ListItemsNow"}) == "any");
    // Only "/SERVICE/METHOD" paths match a service or method condition.
    CHECK(pick(r, {.method = "POST", .path = "/helloworld.Greeter/SayHello/x"}) == "any");
    CHECK(pick(r, {.method = "POST", .path = "/helloworld.Greeter"}) == "any");
  }

  TEST_CASE("precedence: exact pair, then longer service, then longer method, then headers") {
    const std::vector<http::header> v2{{"version", "2"}};
    router r({grpc_route("old",
                         {rule_to("method-only", {grpc_match("", "Get")}),
                          rule_to("short-service", {grpc_match("a", "")})},
                         {}, 0),
              grpc_route("new",
                         {rule_to("long-service", {grpc_match("a.Long", "")}),
                          rule_to("long-service-headers",
                                  {grpc_match("a.Long", "", value_match_type::exact,
                                              {{value_match_type::exact, "version", "2"}})}),
                          rule_to("pair", {grpc_match("a.Long", "Get")})},
                         {}, 1)});
    CHECK(pick(r, {.path = "/a.Long/Get"}) == "pair");
    CHECK(pick(r, {.path = "/a.Long/Put", .headers = v2}) == "long-service-headers");
    CHECK(pick(r, {.path = "/a.Long/Put"}) == "long-service");
    // A service match outranks a method match, however old the latter's route.
    CHECK(pick(r, {.path = "/a/Get"}) == "short-service");
    CHECK(pick(r, {.path = "/b/Get"}) == "method-only");
    CHECK(pick(r, {.path = "/b/Put"}).empty());
  }

  TEST_CASE("hostnames pick the route before the method does") {
    router r({grpc_route("any-host", {rule_to("any", {grpc_match("svc.A", "")})}),
              grpc_route("host", {rule_to("host", {grpc_match("", "")})}, {"grpc.example.com"})});
    CHECK(pick(r, {.host = "grpc.example.com", .path = "/svc.A/M"}) == "host");
    CHECK(pick(r, {.host = "other.example.com", .path = "/svc.A/M"}) == "any");
  }

  TEST_CASE("bad gRPC matches are refused when compiled") {
    CHECK_THROWS_AS(router({grpc_route("g", {rule_to("x", {grpc_match("a/b", "M")})})}), error);
    CHECK_THROWS_AS(
        router({grpc_route("g", {rule_to("x", {grpc_match("(", "", value_match_type::regex)})})}),
        error);
    CHECK_THROWS_AS(router({make_route("h", {rule_to("x", {grpc_match("a", "b")})})}), error);
  }
}
