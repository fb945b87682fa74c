"""A service calling another through gateway.Client while that service's
endpoints fail: three endpoint processes, one killed and later restarted,
another restarted in passing. Retries carry every call past the failures,
outlier detection ejects the dead endpoint and health checks bring it back.

    python3 client_failover.py      # prints what each endpoint served; exit 0 when no call failed
"""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

# In this repository the package is not installed; an installed one needs no path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))
import gateway  # noqa: E402

# One endpoint: answers every GET with its name; prints its port once listening.
ENDPOINT = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = sys.argv[1].encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), H)
s.daemon_threads = True
print(s.server_address[1], flush=True)
s.serve_forever()
"""


class Endpoint:
    """An endpoint process that can be killed and started again on its port."""

    def __init__(self, name):
        self.name, self.port, self.proc = name, 0, None
        self.start()

    def start(self):
        for _ in range(50):  # the port may linger a moment after a kill
            self.proc = subprocess.Popen([sys.executable, "-c", ENDPOINT, self.name, str(self.port)],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            line = self.proc.stdout.readline()
            if line:
                self.port = int(line)
                return
            self.proc.wait(5)
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} could not listen on {self.port}")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self):
        if self.proc.poll() is None:
            self.kill()


def config(endpoints):
    slices = "".join(f"""---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: orders-{e.name}, namespace: shop, labels: {{kubernetes.io/service-name: orders}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1]}}]
ports: [{{name: http, port: {e.port}}}]
""" for e in endpoints)
    return f"""apiVersion: v1
kind: Service
metadata: {{name: orders, namespace: shop}}
spec: {{ports: [{{name: http, port: 80}}]}}
{slices}---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: orders, namespace: shop}}
spec:
  targetRefs: [{{group: "", kind: Service, name: orders}}]
  retry:
    numRetries: 3
    retryOn: {{triggers: [connect-failure, reset]}}
    perRetry: {{backOff: {{baseInterval: 10ms, maxInterval: 50ms}}}}
  healthCheck:
    active: {{type: HTTP, interval: 200ms, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 1,
             http: {{path: /health}}}}
    passive: {{consecutiveLocalOriginFailures: 1, splitExternalLocalOriginErrors: true,
              baseEjectionTime: 1s, maxEjectionPercent: 100}}
"""


def ejections(client, port):
    match = re.search(r'gateway_upstream_endpoint_ejections_total\{[^}]*endpoint="127\.0\.0\.1:'
                      + str(port) + r'"\} (\d+)', client.stats())
    return int(match.group(1)) if match else 0


def main():
    endpoints = [Endpoint(n) for n in ("a", "b", "c")]
    a, b, _ = endpoints
    served, failed = {}, []
    try:
        with gateway.Client(config(endpoints)) as client:
            def call(step):
                try:
                    r = client.get("http://orders.shop/order/" + str(step))
                    if r.status != 200:
                        failed.append((step, r.status))
                    else:
                        served.setdefault(r.text, []).append(step)
                except gateway.GatewayError as e:
                    failed.append((step, str(e)))

            step = 0
            for step in range(0, 60):
                call(step)
            a.kill()                      # a dies with connections in the pool
            for step in range(60, 160):
                call(step)
            b.kill()                      # b restarts on its port
            b.start()
            for step in range(160, 220):
                call(step)
            killed_at = len(served.get("a", []))
            a.start()                     # a comes back on its port
            deadline = time.monotonic() + 30
            while len(served.get("a", [])) == killed_at and time.monotonic() < deadline:
                step += 1
                call(step)
                time.sleep(0.02)
            a_ejected = ejections(client, a.port)
    finally:
        for e in endpoints:
            e.close()
    print({name: len(steps) for name, steps in served.items()}, "failed:", failed,
          "a ejected:", a_ejected)
    back = [s for s in served.get("a", []) if s >= 220]
    gap = [s for s in served.get("a", []) if 60 <= s < 220]
    ok = not failed and a_ejected >= 1 and back and not gap
    print("ok" if ok else "FAILED: " + ("calls failed" if failed else
                                         "a was not ejected" if a_ejected < 1 else
                                         "a served while dead" if gap else "a never came back"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
