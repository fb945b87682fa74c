"""gateway.Router: a config's routes matched against requests, through the
C ABI, without a gateway."""

import threading

import pytest

import gateway
from gateway import ConfigError, NotFoundError, Router, StateError

CONFIG = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners:
  - {name: http, port: 80, protocol: HTTP}
  - {name: admin, port: 8080, protocol: HTTP, hostname: admin.test}
---
apiVersion: v1
kind: Service
metadata: {name: api}
spec: {ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: greeter}
spec: {ports: [{name: grpc, port: 50051}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop}
spec:
  parentRefs: [{name: web, sectionName: http}]
  hostnames: [shop.test]
  rules:
  - name: v2
    matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-version, value: "2"}]}]
    backendRefs: [{name: api, port: 80, weight: 9}, {name: missing, port: 80, weight: 1}]
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: api, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: greeter}
spec:
  parentRefs: [{name: web, sectionName: http}]
  hostnames: [grpc.test]
  rules:
  - matches: [{method: {service: helloworld.Greeter, method: SayHello}}]
    backendRefs: [{name: greeter, port: 50051}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: admin}
spec:
  parentRefs: [{name: web, sectionName: admin}]
  rules:
  - name: all
    backendRefs: [{name: api, port: 80}]
"""


def test_matches_route_rule_and_backends():
    with Router(CONFIG) as router:
        m = router.match("GET", "http://shop.test/api/items", headers={"x-version": "2"})
        assert (m.listener, m.route, m.kind, m.rule) == (
            "default/web/http", "default/shop", "HTTPRoute", "v2")
        assert m.backends == [gateway.Backend("default/api:80", 9, True),
                              gateway.Backend("", 1, False)]
        m = router.match("GET", "http://shop.test/api/items")
        assert m.rule == "#1" and [b.name for b in m.backends] == ["default/api:80"]
        # Normalised as the listener would: /./%61pi is /api.
        assert router.match("GET", "http://shop.test/./%61pi/x").rule == "#1"
        # Relative URL: Host from the headers.
        assert router.match("GET", "/api", headers=[("host", "shop.test")]).route == "default/shop"
        assert router.match("GET", "http://shop.test/other") is None
        assert router.match("GET", "http://elsewhere.test/api") is None


def test_grpc_routes_listeners_by_port_and_name():
    router = Router(CONFIG)
    m = router.match("POST", "http://grpc.test/helloworld.Greeter/SayHello",
                     headers={"content-type": "application/grpc"})
    assert (m.kind, m.route) == ("GRPCRoute", "default/greeter")
    assert m.backends[0].name.startswith("default/greeter:50051")
    assert router.match("GET", "http://admin.test:8080/anything").listener == "default/web/admin"
    assert router.match("GET", "/x", headers={"host": "admin.test"},
                        listener="default/web/admin").rule == "all"
    with pytest.raises(NotFoundError) as e:
        router.match("GET", "http://shop.test:9999/")
    assert "9999" in str(e.value)
    with pytest.raises(NotFoundError):
        router.match("GET", "/", listener="default/web/nope")
    with pytest.raises(gateway.GatewayError) as e:
        router.match("GET", "ftp://shop.test/")
    assert "http://" in str(e.value)
    router.close()
    with pytest.raises(StateError):
        router.match("GET", "/")


def test_bad_config_and_files(tmp_path):
    with pytest.raises(ConfigError):
        Router("kind: Nothing\n")
    with pytest.raises(ConfigError) as e:
        Router(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(e.value)
    path = tmp_path / "routes.yaml"
    path.write_text(CONFIG)
    with Router(path) as router:
        assert router.match("GET", "http://shop.test/api").route == "default/shop"


def test_matches_from_many_threads():
    router = Router(CONFIG)
    got, errors = [], []

    def run():
        try:
            for _ in range(200):
                got.append(router.match("GET", "http://shop.test/api/x").rule)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    router.close()
    assert errors == [] and got == ["#1"] * 800
