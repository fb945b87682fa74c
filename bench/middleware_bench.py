"""bench/middleware's rows: what gateway.wsgi.Middleware adds to a WSGI
application's requests, with CORS + JWT, and with the CRS too, against the
bare app.

    middleware_bench.py SECONDS

Calls the WSGI callable in process (no server, so only the middleware's cost
shows), one caller, GET with a Bearer token and an Origin. Prints one line
per case: requests, mean and p99 latency in µs, CPU per request in µs.
"""

import base64
import hashlib
import hmac
import io
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bindings" / "python"))
from gateway.wsgi import Middleware  # noqa: E402

SECRET = b"bench-middleware-hs256-secret-32bytes"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token() -> str:
    head = b64(json.dumps({"alg": "HS256", "kid": "bench", "typ": "JWT"}).encode())
    body = b64(json.dumps({"iss": "https://bench", "aud": "api", "sub": "u1",
                           "exp": int(time.time()) + 3600}).encode())
    mac = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(mac)}"


CONFIG = f"""apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: app}}
spec:
  gatewayClassName: any
  listeners: [{{name: http, port: 80, protocol: HTTP}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: app}}
spec:
  parentRefs: [{{name: app}}]
  rules: [{{matches: [{{path: {{type: PathPrefix, value: /}}}}]}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {{name: app}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}}]
  cors: {{allowOrigins: ["https://ui.example.com"], allowMethods: [GET]}}
  jwt:
    providers:
    - name: bench
      issuer: https://bench
      audiences: [api]
      localJWKS:
        type: Inline
        inline: '{{"keys":[{{"kty":"oct","kid":"bench","alg":"HS256","k":"{b64(SECRET)}"}}]}}'
---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {{name: crs}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}}]
  ruleSet: {{crs: {{paranoiaLevel: 1}}}}
"""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "13")])
    return [b"hello, world\n"]


def environ(bearer):
    return {"REQUEST_METHOD": "GET", "PATH_INFO": "/items/42", "QUERY_STRING": "page=2",
            "SERVER_NAME": "app.test", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "198.51.100.7", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""), "HTTP_HOST": "app.test",
            "HTTP_USER_AGENT": "bench/1", "HTTP_ACCEPT": "*/*",
            "HTTP_ORIGIN": "https://ui.example.com", "HTTP_AUTHORIZATION": "Bearer " + bearer}


def run(callable_, bearer, seconds):
    def once():
        status = []
        body = b"".join(callable_(environ(bearer), lambda s, h, e=None: status.append(s)))
        if not status[0].startswith("200") or body != b"hello, world\n":
            sys.exit(f"unexpected answer: {status[0]}")
    for _ in range(200):
        once()
    latencies = []
    cpu0, until = time.process_time(), time.monotonic() + seconds
    while time.monotonic() < until:
        t = time.perf_counter()
        once()
        latencies.append(time.perf_counter() - t)
    cpu = time.process_time() - cpu0
    latencies.sort()
    n = len(latencies)
    return n, sum(latencies) / n * 1e6, latencies[int(n * 0.99)] * 1e6, cpu / n * 1e6


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    bearer = token()
    without_waf = CONFIG[:CONFIG.index("---\napiVersion: gateway.dev/v1alpha1")]
    cases = (("bare app", app, None), ("CORS + JWT", None, without_waf),
             ("CORS + JWT + CRS", None, CONFIG))
    for name, callable_, config in cases:
        wrapped = Middleware(app, config) if config else None
        try:
            n, mean, p99, cpu = run(wrapped or callable_, bearer, seconds)
        finally:
            if wrapped:
                wrapped.close()
        print(f"{name}|{n}|{mean:.1f}|{p99:.1f}|{cpu:.1f}")


if __name__ == "__main__":
    main()
