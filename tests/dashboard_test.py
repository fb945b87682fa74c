#!/usr/bin/python3
"""The admin dashboard in a real browser: gatewayd serves an HTTP and an
HTTPS listener (a certificate made here, valid 30 days), a route to a live
upstream that fails one request in four and sits behind the CRS WAF, and a
route to an endpoint that refuses connections under an active health check;
every request is traced, its spans sent to the upstream as collector.
Traffic runs while a bad config file is reloaded (rejected). Headless
Chromium, driven over the DevTools protocol, loads the dashboard; the test
reads what the page rendered (not its scripts' state) and checks it against
what it sent, the certificate and the rejected reload, then saves a
screenshot.

Usage: dashboard_test.py GATEWAYD SCREENSHOT_PATH
"""
import asyncio
import base64
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import websockets

DEADLINE = 90  # seconds for the page to show everything the test waits for


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    wbufsize = 65536  # head and body in one write (no Nagle wait between them)

    def do_GET(self):
        status = 500 if self.path.startswith("/app/fail") else 200
        body = b"failed" if status == 500 else b"ok"
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # the OTLP collector: takes every batch
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.send_response(200 if self.path == "/v1/traces" else 404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def make_certificate(folder):
    key, crt = os.path.join(folder, "tls.key"), os.path.join(folder, "tls.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30", "-subj",
                    "/CN=dash.example", "-addext", "subjectAltName=DNS:dash.example",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-dateopt", "iso_8601",
                          "-in", crt], check=True, capture_output=True, text=True).stdout
    # notAfter=2027-01-05 02:50:00Z
    return open(crt, "rb").read(), open(key, "rb").read(), end.split("=", 1)[1][:10]


def config(crt, key, app_port, dead_port):
    b64 = lambda b: base64.b64encode(b).decode()
    return f"""
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: web}}
spec:
  gatewayClassName: gatewayd
  listeners:
  - {{name: http, port: 80, protocol: HTTP}}
  - name: https
    port: 443
    protocol: HTTPS
    tls: {{mode: Terminate, certificateRefs: [{{name: dash-cert}}]}}
---
apiVersion: v1
kind: Secret
metadata: {{name: dash-cert}}
type: kubernetes.io/tls
data: {{tls.crt: {b64(crt)}, tls.key: {b64(key)}}}
---
apiVersion: v1
kind: Service
metadata: {{name: app}}
spec: {{ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: app-1, labels: {{kubernetes.io/service-name: app}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1]}}]
ports: [{{name: http, port: {app_port}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: dead}}
spec: {{ports: [{{name: http, port: 80}}]}}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {{name: dead-1, labels: {{kubernetes.io/service-name: dead}}}}
addressType: IPv4
endpoints: [{{addresses: [127.0.0.1]}}]
ports: [{{name: http, port: {dead_port}}}]
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: BackendTrafficPolicy
metadata: {{name: dead-checks}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: dead}}]
  healthCheck:
    active:
      type: HTTP
      interval: 500ms
      timeout: 500ms
      unhealthyThreshold: 1
      healthyThreshold: 1
      http: {{path: /healthz}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: app}}
spec:
  parentRefs: [{{name: web}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /app}}}}]
    backendRefs: [{{name: app, port: 80}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: dead}}
spec:
  parentRefs: [{{name: web}}]
  rules:
  - matches: [{{path: {{type: PathPrefix, value: /dead}}}}]
    backendRefs: [{{name: dead, port: 80}}]
---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {{name: crs}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}}]
  mode: "On"
  ruleSet: {{crs: {{}}}}
  log: {{path: "{os.devnull}", format: JSON}}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: ClientTrafficPolicy
metadata: {{name: tracing}}
spec:
  targetRefs: [{{group: gateway.networking.k8s.io, kind: Gateway, name: web}}]
  tracing:
    samplingRate: 100
    flushInterval: 200ms
    provider: {{type: OpenTelemetry, host: 127.0.0.1, port: {app_port}}}
"""


def wait_for(what, check, seconds):
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def log_address(path, pattern):
    with open(path, errors="replace") as f:
        m = re.search(pattern, f.read())
    return int(m.group(1)) if m else None


class Traffic(threading.Thread):
    """Per round: 3 good requests, 1 the upstream fails (500), 1 the WAF
    blocks (403), all on the app route; 1 to the dead route."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.rounds, self.statuses = port, threading.Event(), 0, {}

    def get(self, conn, path):
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        self.statuses[(path.split("?")[0], response.status)] = \
            self.statuses.get((path.split("?")[0], response.status), 0) + 1
        if response.getheader("connection", "").lower() == "close":
            conn.close()

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            try:
                for path in ["/app/ok", "/app/ok", "/app/fail", "/app/ok",
                             "/app/search?q=%3Cscript%3Ealert(1)%3C/script%3E", "/dead/x"]:
                    self.get(conn, path)
                self.rounds += 1
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            self.stop.wait(0.01)
        conn.close()


class Browser:
    """Headless Chromium and one page, over the DevTools protocol."""

    def __init__(self, profile):
        self.process = subprocess.Popen(
            ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--remote-debugging-port=0",
             "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + profile,
             "--window-size=1400,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        active = os.path.join(profile, "DevToolsActivePort")
        port = wait_for("chromium's DevTools port",
                        lambda: os.path.exists(active) and open(active).read().split("\n")[0],
                        60)
        pages = wait_for("chromium's page", lambda: self.pages(port), 30)
        self.ws_url, self.ws, self.next_id = pages[0]["webSocketDebuggerUrl"], None, 0

    @staticmethod
    def pages(port):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%s/json/list" % port, timeout=5) as r:
                return [t for t in json.load(r) if t.get("type") == "page"]
        except OSError:
            return None

    async def call(self, method, **params):
        self.next_id += 1
        await self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events in between are not needed
            message = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise AssertionError("%s: %s" % (method, message["error"]))
                return message["result"]

    async def evaluate(self, expression):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError("page script failed: %s" % result["exceptionDetails"])
        return result["result"].get("value")

    def close(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


# What the page shows: its header values and each table's rows by key, as text.
READ_PAGE = """JSON.stringify({
  updates: window.dashboard.updates,
  header: Object.fromEntries(["config-version", "last-reload", "reload-error", "total-rps",
      "total-errors", "total-p50", "total-p99", "tracing"].map(id => [id, document.getElementById(id).textContent])),
  tables: Object.fromEntries([...document.querySelectorAll("table")].map(t => [t.id,
      Object.fromEntries([...t.querySelectorAll("tr[data-key]")].map(r => [r.dataset.key,
          [...r.cells].map(c => c.textContent)]))]))
})"""


def number(text):
    m = re.match(r"^([0-9.]+)", text)
    return float(m.group(1)) if m else None


def problems_of(page, expiry_date):
    """What the page does not show yet; empty when it shows everything."""
    p = []
    h, t = page["header"], page["tables"]
    if page["updates"] < 5:
        p.append("fewer than 5 updates")
    if h["config-version"] != "1":
        p.append("config version %r, not 1" % h["config-version"])
    if not h["last-reload"].startswith("failed"):
        p.append("last reload %r, not failed" % h["last-reload"])
    if "NoSuchKind" not in h["reload-error"]:
        p.append("the reload's error %r does not name the bad kind" % h["reload-error"])
    if not (number(h["total-rps"]) or 0) > 0:
        p.append("total requests/s %r" % h["total-rps"])
    traced = re.match(r"^tracing: ([0-9.]+) spans/s, (\d+) exported, 0 dropped, 0 failed$",
                      h["tracing"])
    if not traced or not float(traced.group(1)) > 0 or not int(traced.group(2)) > 0:
        p.append("tracing line %r" % h["tracing"])
    app = t["routes"].get("default/app")
    if not app:
        p.append("no default/app route row")
    else:
        # route, req/s, 5xx, p50, p90, p99, requests: 1 in 5 of its requests is a 500
        share = number(app[2])
        if not (number(app[1]) or 0) > 0:
            p.append("default/app req/s %r" % app[1])
        if share is None or not 10 <= share <= 35:
            p.append("default/app 5xx share %r, expected about 20%%" % app[2])
        for i in (3, 4, 5):
            if not re.match(r"^[0-9.]+ ms$", app[i]):
                p.append("default/app latency %r" % app[i])
    dead = t["routes"].get("default/dead")
    if not dead or dead[2] != "100.0%":
        p.append("default/dead row %r, expected 100.0%% 5xx" % (dead,))
    http_row = t["listeners"].get("default/web/http")
    if not http_row or not (number(http_row[1]) or 0) > 0:
        p.append("listener default/web/http row %r" % (http_row,))
    # Rows are "CLUSTER ENDPOINT"; a policy's settings make their own cluster, "NAME@POLICY".
    health = {k.split(" ")[0].split("@")[0]: v[2] for k, v in t["endpoints"].items()}
    if health.get("default/app:80") != "healthy" or health.get("default/dead:80") != "unhealthy":
        p.append("endpoint health %r" % health)
    if not any(int(v[2]) > 0 for v in t["waf-decisions"].values()):
        p.append("WAF decisions %r" % t["waf-decisions"])
    if not any(k.startswith("941") for k in t["waf-rules"]):
        p.append("no XSS rule (941xxx) among the top rules %r" % list(t["waf-rules"]))
    cert = t["certificates"].get("default/web/https dash.example EC")
    if not cert or cert[3] != expiry_date or cert[4] not in ("29", "30"):
        p.append("certificate row %r, expected %s and 29 or 30 days" % (cert, expiry_date))
    return p


async def drive(browser, admin_port, expiry_date, screenshot):
    async with websockets.connect(browser.ws_url, max_size=None, ping_interval=None) as ws:
        browser.ws = ws
        await browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                           deviceScaleFactor=1, mobile=False)
        await browser.call("Page.enable")
        await browser.call("Page.navigate", url="http://127.0.0.1:%d/dashboard" % admin_port)
        until, page, problems = time.monotonic() + DEADLINE, None, ["not loaded"]
        while time.monotonic() < until:
            await asyncio.sleep(0.5)
            if await browser.evaluate("typeof window.dashboard") != "object":
                continue
            page = json.loads(await browser.evaluate(READ_PAGE))
            problems = problems_of(page, expiry_date)
            if not problems:
                break
        assert not problems, "the dashboard does not show:\n  %s\npage: %s" % (
            "\n  ".join(problems), json.dumps(page, indent=1))
        shot = await browser.call("Page.captureScreenshot", format="png",
                                  captureBeyondViewport=True)
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        return page


def main():
    gatewayd, screenshot = sys.argv[1], sys.argv[2]
    if not shutil.which("chromium"):
        sys.exit("chromium is not installed (scripts/bootstrap installs it)")
    work = tempfile.mkdtemp(prefix="dashboard-test-")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    upstream.daemon_threads = True
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    # The dead endpoint: a port this test holds without listening, so
    # connections to it are refused.
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    crt, key, expiry_date = make_certificate(work)
    config_path = os.path.join(work, "gw.yaml")
    good = config(crt, key, upstream.server_port, dead.getsockname()[1])
    with open(config_path, "w") as f:
        f.write(good)
    log_path = os.path.join(work, "gatewayd.log")
    gateway = subprocess.Popen(
        [gatewayd, "--config", config_path, "--bind", "80=127.0.0.1:0", "--bind",
         "443=127.0.0.1:0", "--admin", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=open(log_path, "w"), start_new_session=True)
    browser, traffic = None, None
    try:
        def listening():
            assert gateway.poll() is None, "gatewayd exited"
            return log_address(log_path, r"listening on 127\.0\.0\.1:(\d+) for default/web/http\b")
        http_port = wait_for("the HTTP listener", listening, 60)
        admin_port = wait_for("the admin listener", lambda: log_address(
            log_path, r"admin listener on 127\.0\.0\.1:(\d+)"), 10)
        traffic = Traffic(http_port)
        traffic.start()
        wait_for("traffic", lambda: traffic.rounds >= 5, 60)

        # A config the loader rejects: the dashboard shows the failure, the
        # old config keeps serving.
        with open(config_path, "w") as f:
            f.write(good + "---\napiVersion: v1\nkind: NoSuchKind\nmetadata: {name: x}\n")
        try:
            urllib.request.urlopen(urllib.request.Request(
                "http://127.0.0.1:%d/reload" % admin_port, method="POST"), timeout=60)
            raise AssertionError("POST /reload accepted a config with an unknown kind")
        except urllib.error.HTTPError as e:
            assert e.code == 400, e.code
        with urllib.request.urlopen("http://127.0.0.1:%d/status" % admin_port, timeout=10) as r:
            status = json.load(r)
        assert status["last_reload"]["ok"] is False and "NoSuchKind" in \
            status["last_reload"]["error"], status

        browser = Browser(os.path.join(work, "profile"))
        page = asyncio.run(drive(browser, admin_port, expiry_date, screenshot))
        rounds = traffic.rounds
        traffic.stop.set()
        traffic.join(30)
        # What the traffic got is what the page said it would.
        got = traffic.statuses
        assert got.get(("/app/fail", 500)) and got.get(("/app/search", 403)) and \
            got.get(("/app/ok", 200)), got
        assert set(k[1] for k in got if k[0] == "/dead/x") <= {502, 503}, got
        assert gateway.poll() is None, "gatewayd exited"
        print("dashboard: %d updates, %d traffic rounds, routes %s; screenshot %s" % (
            page["updates"], rounds, json.dumps(page["tables"]["routes"]), screenshot))
    except BaseException:
        sys.stderr.write("gatewayd's log:\n" + open(log_path, errors="replace").read())
        raise
    finally:
        if traffic:
            traffic.stop.set()
        if browser:
            browser.close()
        gateway.send_signal(signal.SIGTERM)
        try:
            gateway.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(gateway.pid, signal.SIGKILL)
            gateway.wait()
        upstream.shutdown()
        dead.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
