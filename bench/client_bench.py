"""bench/clients' Python rows: gateway.Client against urllib3 with a pooled
connection, the same GET to the same upstream, one caller.

    client_bench.py gateway|urllib3 PORT SECONDS

Prints: requests, seconds, requests/s and the process's CPU per request in µs.
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bindings" / "python"))

SERVICE = """apiVersion: v1
kind: Service
metadata: {{name: up, namespace: bench}}
spec: {{ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: up, namespace: bench, labels: {{kubernetes.io/service-name: up}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1]}}]
ports: [{{name: http, port: {port}}}]
"""


def main():
    mode, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    if mode == "gateway":
        import gateway
        client = gateway.Client(SERVICE.format(port=port))

        def call():
            return client.get("http://up.bench/").status
    else:
        import urllib3
        pool = urllib3.HTTPConnectionPool("127.0.0.1", port, maxsize=1)

        def call():
            return pool.request("GET", "/").status
    for _ in range(100):  # connections made, code warm
        call()
    cpu0, start = time.process_time(), time.monotonic()
    until, n = start + seconds, 0
    while time.monotonic() < until:
        if call() != 200:
            sys.exit("a call failed")
        n += 1
    wall, cpu = time.monotonic() - start, time.process_time() - cpu0
    print(f"requests {n} seconds {wall:.2f} rps {n / wall:.0f} cpu_us_per_request {cpu * 1e6 / n:.2f}")


if __name__ == "__main__":
    main()
