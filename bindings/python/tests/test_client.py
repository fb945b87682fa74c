"""gateway.Client: calls to Services through the upstream pool, against real
upstream servers on loopback."""

import json
import threading

import pytest

from conftest import Upstream
from gateway import (ArgumentError, Client, ConfigError, NotFoundError, StateError,
                     UnavailableError)


def service(name, ports, namespace="shop"):
    """Service `name` (port 8080) with one EndpointSlice per upstream port."""
    text = f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: {namespace}}}
spec: {{ports: [{{name: http, port: 8080}}]}}
"""
    for i, port in enumerate(ports):
        text += f"""---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}-{i}, namespace: {namespace}, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1]}}]
ports: [{{name: http, port: {port}}}]
"""
    return text


def test_calls_go_to_the_service_endpoints_in_turn(upstreams):
    config = service("api", [upstreams["v1"].port, upstreams["v2"].port])
    with Client(config) as client:
        names = [client.get("http://api.shop:8080/items?id=1").json()["name"] for _ in range(6)]
        assert sorted(names) == ["v1"] * 3 + ["v2"] * 3
        r = client.post("http://api.shop.svc.cluster.local:8080/orders", body=b'{"n": 1}',
                        headers={"content-type": "application/json"})
        assert r.status == 200
        seen = r.json()
        assert seen["method"] == "POST" and seen["target"] == "/orders"
        assert seen["body"] == '{"n": 1}'
        assert r.header("X-Upstream") in ("v1", "v2")
        assert "shop/api:8080" in client.stats()


def test_bad_calls_raise_clear_errors(upstreams):
    with Client(service("api", [upstreams["v1"].port])) as client:
        with pytest.raises(ArgumentError, match="http://"):
            client.get("api.shop/")
        with pytest.raises(NotFoundError, match="api.shop:8080"):
            client.get("http://nothing.shop:8080/")
        with pytest.raises(NotFoundError, match="port 81"):
            client.get("http://api.shop:81/")
        with pytest.raises(ArgumentError, match="400"):
            client.get("http://api.shop:8080/", headers={"bad name": "x"})
        assert client.get("http://api.shop:8080/").status == 200
    with pytest.raises(StateError):
        client.get("http://api.shop:8080/")
    with pytest.raises(ConfigError, match="a client's config has no Gateway"):
        Client("apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n")


def test_a_dead_endpoint_is_retried_past(upstreams):
    dead = Upstream("gone")
    dead_port = dead.port
    dead.close()
    policy = """---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {name: resilient, namespace: shop}
spec:
  targetRefs: [{group: "", kind: Service, name: api}]
  retry: {numRetries: 2, retryOn: {triggers: [connect-failure]}}
"""
    with Client(service("api", [upstreams["v1"].port, dead_port]) + policy) as client:
        assert all(client.get("http://api.shop:8080/").status == 200 for _ in range(10))


def test_threads_share_a_client_and_close_ends_it(upstreams):
    client = Client(service("api", [upstreams["v1"].port, upstreams["v2"].port]), threads=2)
    results = []
    lock = threading.Lock()

    def work():
        for _ in range(10):
            status = client.get("http://api.shop:8080/").status
            with lock:
                results.append(status)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 60
    client.close()
    client.close()  # twice is fine
    with pytest.raises(StateError):
        client.get("http://api.shop:8080/")


def test_a_timeout_gets_the_gateway_504():
    import http.server
    import time

    class Slow(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            time.sleep(2)
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with Client(service("slow", [server.server_address[1]])) as client:
            r = client.get("http://slow.shop:8080/", timeout=0.1)
            assert r.status == 504
    finally:
        server.shutdown()
        server.server_close()


def test_the_response_keeps_repeated_fields(upstreams):
    with Client(service("api", [upstreams["v1"].port])) as client:
        r = client.request("PUT", "http://api.shop:8080/x", headers=[("x-a", "1"), ("x-a", "2")],
                           body="text")
        seen = json.loads(r.text)
        assert [v for k, v in seen["headers"] if k.lower() == "x-a"] == ["1", "2"]
        assert UnavailableError.__mro__[1].__name__ == "GatewayError"
