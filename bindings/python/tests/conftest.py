"""Shared by the binding's tests: the package from this tree, the plugin, and
real upstream HTTP servers on loopback."""

import http.server
import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytest_plugins = ["gateway.pytest_plugin", "pytester"]


class _Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with what it received, as JSON."""
    protocol_version = "HTTP/1.1"

    def _answer(self):
        self.server.seen.append((self.path, self.headers.get("x-finished")))
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {"name": self.server.name, "method": self.command, "target": self.path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body": body.decode("utf-8", "replace")}
        out = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.send_header("x-upstream", self.server.name)
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


class Upstream:
    """A real HTTP server on 127.0.0.1, port 0, in a thread."""

    def __init__(self, name):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        self.server.name = name
        self.server.seen = []  # (target, x-finished) of every request, in order
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="session")
def upstreams():
    made = {name: Upstream(name) for name in ("v1", "v2")}
    yield made
    for u in made.values():
        u.close()


def service_yaml(name, port):
    return f"""---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec: {{ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: {name}, labels: {{kubernetes.io/service-name: {name}}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1]}}]
ports: [{{name: http, port: {port}}}]
"""


GATEWAY = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
"""


def route_yaml(rules):
    return f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: app}}
spec:
  parentRefs: [{{name: web}}]
  hostnames: [app.test]
  rules:
{rules}"""


def filter_yaml(name, type_, config=None):
    spec = f"{{type: {type_}" + (f", config: {json.dumps(config)}" if config is not None else "") + "}"
    return f"""---
apiVersion: gateway.dev/v1alpha1
kind: Filter
metadata: {{name: {name}}}
spec: {spec}
"""


def uses(*filters):
    refs = ", ".join("{type: ExtensionRef, extensionRef: {group: gateway.dev, kind: Filter, "
                     f"name: {f}}}}}" for f in filters)
    return f"    filters: [{refs}]\n"
