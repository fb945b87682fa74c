#!/usr/bin/python3
"""The soak's own part (bench/soak starts the gateway, upstreams and load):
disruptions on a schedule, clients that leave mid-request and mid-response,
and a sample of the gateway every 10 s into a CSV.

Disruptions: the config swaps between two variants and the admin /reload
is asked every --reload-every seconds; the flaky upstream (an nginx) is
killed and started again every --restart-every seconds; the HTTPS
certificate is replaced (a new key, the symlink swapped) every
--rotate-every seconds, which the gateway's file watch picks up.
"""
import argparse
import csv
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request


# The series the soak provokes on purpose: the restarted upstream's 5xx, and
# the WAF's 403s (the gateway's own answers on the route: no backend).
FLAKY_5XX = 'backend="default/flaky:80",code_class="5xx"'
WAF_DENIED = 'route="default/web",backend="",code_class="4xx"'


def metrics(admin):
    with urllib.request.urlopen(f"http://127.0.0.1:{admin}/stats/prometheus", timeout=10) as r:
        return r.read().decode()


def total(text, name, match=""):
    """The sum of the series of metric `name` whose labels contain `match`."""
    n = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and match in line:
            n += float(line.rsplit(" ", 1)[1])
    return int(n)


def process(pid):
    """(resident KiB, open descriptors) of process `pid`."""
    with open(f"/proc/{pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


class leaving_clients(threading.Thread):
    """Clients that go away early, over and over: half a head, half an
    upload, a response read in part, a TLS handshake abandoned."""

    def __init__(self, http, https, until):
        super().__init__(daemon=True)
        self.http, self.https, self.until = http, https, until
        self.done = {"half_head": 0, "half_upload": 0, "half_response": 0, "half_handshake": 0}

    def connect(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        return s

    def run(self):
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
        while time.monotonic() < self.until:
            kind = random.choice(list(self.done))
            try:
                if kind == "half_head":
                    s = self.connect(self.http)
                    s.sendall(b"GET /small HTTP/1.1\r\nHost: soak\r\nX-Part: ")
                elif kind == "half_upload":
                    s = self.connect(self.http)
                    s.sendall(b"POST /upload HTTP/1.1\r\nHost: soak\r\nContent-Length: 1048576\r\n\r\n"
                              + b"u" * 65536)
                elif kind == "half_response":
                    s = self.connect(self.http)
                    s.sendall(b"GET /large HTTP/1.1\r\nHost: soak\r\n\r\n")
                    s.recv(4096)
                else:
                    raw = self.connect(self.https)
                    s = tls.wrap_socket(raw, do_handshake_on_connect=False, server_hostname="soak.test")
                    s.setblocking(False)
                    try:
                        s.do_handshake()  # the ClientHello goes out; the answer is not awaited
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                time.sleep(random.uniform(0, 0.05))
                s.close()  # a reset (linger 0): gone without a goodbye
                self.done[kind] += 1
            except OSError:
                pass  # refused while the gateway saturated, say: counted by its metrics
            time.sleep(0.02)


def main():
    a = argparse.ArgumentParser()
    for flag in ("--seconds", "--admin", "--pid", "--http", "--https", "--reload-every",
                 "--restart-every", "--rotate-every"):
        a.add_argument(flag, type=int, required=True)
    a.add_argument("--work", required=True)
    a.add_argument("--out", required=True)
    o = a.parse_args()
    start = time.monotonic()
    until = start + o.seconds
    leaving = leaving_clients(o.http, o.https, until)
    leaving.start()

    work = o.work
    variant = "a"
    generation = 0
    next_reload, next_restart, next_rotate = o.reload_every, o.restart_every, o.rotate_every
    restarted = rotated = reloads_asked = 0
    flaky_down_until = None
    next_sample = 0.0
    with open(o.out, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seconds", "rss_kib", "descriptors", "downstream_connections",
                      "upstream_connections", "requests", "5xx_steady", "5xx_flaky",
                      "403_waf", "no_response", "reloads_ok", "reloads_failed", "limit_hits",
                      "restarts", "rotations", "heap_bytes"])
        while True:
            now = time.monotonic() - start
            if now >= o.seconds:
                break
            if now >= next_reload:
                next_reload += o.reload_every
                variant = "b" if variant == "a" else "a"
                shutil.copy(f"{work}/gateway-{variant}.yaml", f"{work}/gateway.yaml.new")
                os.replace(f"{work}/gateway.yaml.new", f"{work}/gateway.yaml")
                req = urllib.request.Request(f"http://127.0.0.1:{o.admin}/reload", method="POST")
                try:
                    urllib.request.urlopen(req, timeout=30).read()
                except OSError as e:
                    print(f"soak: reload at {now:.0f} s: {e}")
                reloads_asked += 1
            if now >= next_restart and flaky_down_until is None:
                next_restart += o.restart_every
                with open(f"{work}/flaky/pid") as p:
                    os.kill(int(p.read()), signal.SIGTERM)  # in-flight requests are cut
                flaky_down_until = now + 3
            if flaky_down_until is not None and now >= flaky_down_until:
                flaky_down_until = None
                for _ in range(100):  # its old process must be gone before the port is free
                    try:
                        with open(f"{work}/flaky/nginx.pid"):
                            time.sleep(0.05)
                    except FileNotFoundError:
                        break
                p = subprocess.Popen(["nginx", "-c", f"{work}/flaky/nginx.conf", "-p",
                                      f"{work}/flaky"])
                with open(f"{work}/flaky/pid", "w") as pf:
                    pf.write(str(p.pid))
                restarted += 1
            if now >= next_rotate:
                next_rotate += o.rotate_every
                generation += 1
                d = f"{work}/tls/gen-{generation}"
                os.makedirs(d)
                subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                                f"/CN=soak.test/serialNumber={generation}", "-addext",
                                "subjectAltName=DNS:soak.test", "-keyout", f"{d}/key.pem",
                                "-out", f"{d}/cert.pem"], check=True, capture_output=True)
                os.symlink(f"gen-{generation}", f"{work}/tls/next")
                os.replace(f"{work}/tls/next", f"{work}/tls/current")
                rotated += 1
            if now >= next_sample:
                next_sample += 10
                text = metrics(o.admin)
                rss, fds = process(o.pid)
                out.writerow([
                    round(now), rss, fds,
                    total(text, "gateway_downstream_connections"),
                    total(text, "gateway_upstream_connections"),
                    total(text, "gateway_requests_total"),
                    total(text, "gateway_requests_total", 'code_class="5xx"')
                    - total(text, "gateway_requests_total", FLAKY_5XX),
                    total(text, "gateway_requests_total", FLAKY_5XX),
                    total(text, "gateway_requests_total", WAF_DENIED),
                    total(text, "gateway_requests_total", 'code_class="none"'),
                    total(text, "gateway_config_reloads_total", 'result="ok"'),
                    total(text, "gateway_config_reloads_total", 'result="failed"'),
                    total(text, "gateway_limit_hits_total"),
                    restarted, rotated,
                    # glibc's count of what is allocated (gatewayd's overload
                    # manager samples it): a leak shows here, allocator
                    # retention only in the resident set.
                    total(text, "gateway_overload_resource", 'resource="heap_bytes"'),
                ])
                f.flush()
            time.sleep(0.1)
    print(f"soak: {reloads_asked} reloads asked, {restarted} restarts, {rotated} rotations; "
          f"leaving clients: {leaving.done}")
    with open(os.path.join(os.path.dirname(o.out), "leaving.txt"), "w") as f:
        f.write(repr(leaving.done) + "\n")


if __name__ == "__main__":
    main()
