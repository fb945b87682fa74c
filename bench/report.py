"""Turns bench/run's raw wrk outputs into the RESULTS.md table (medians)."""
import datetime
import os
import platform
import re
import subprocess
import sys

from wrk_output import med, parse

raw_path, clk_tck, runs, duration, connections = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


rows = {}
for line in open(raw_path):
    scenario, target, _run, ticks, out = line.rstrip("\n").split("\t", 4)
    rows.setdefault((scenario, target), []).append(parse(out.replace("\v", "\n"), ticks, clk_tck))


def cmd(args):
    try:
        return subprocess.run(args, capture_output=True, text=True).stdout + subprocess.run(
            args, capture_output=True, text=True).stderr
    except OSError:
        return ""


cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
nginx_v = re.search(r"nginx/(\S+)", cmd(["nginx", "-v"]))
haproxy_v = re.search(r"version (\S+)", cmd(["haproxy", "-v"]))
print("# Benchmark results\n")
print(f"Produced by `bench/run` on {datetime.date.today().isoformat()}, "
      f"{cpu_model}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
      f"nginx {nginx_v.group(1) if nginx_v else '?'}, HAProxy {haproxy_v.group(1) if haproxy_v else '?'}.\n")
print(f"Each proxy runs one worker/thread pinned to CPU 0; wrk (1 thread, {connections} connections, "
      f"{duration} s per run) and the upstream (nginx, 1 worker) share CPU 1. Keep-alive on both sides. "
      f"Median of {runs} runs. `upstream` is wrk straight to the upstream, for reference. "
      f"CPU ms/1k req is the proxy's user+system time (from /proc) per 1,000 requests.\n")
names = {"small": "GET, 13-byte body", "16k": "GET, 16 KiB body", "post": "POST, 4 KiB body",
         "lb4": "GET, 13-byte body, least request over 4 endpoints",
         "small-2w": "GET, 13-byte body, two workers each",
         "https": "HTTPS GET, 13-byte body, keep-alive",
         "https-new": "HTTPS GET, 13-byte body, a new connection (full handshake) per request",
         "h2": "HTTPS h2 GET, 13-byte body, many streams per connection (h2load)",
         "h2-h2c": "HTTPS h2 GET, 13-byte body, h2c to the upstream (h2load)",
         "h2c-up": "GET, 13-byte body, HTTP/2 (h2c) to the upstream",
         "grpc": "gRPC unary call, 13-byte messages, h2c both ways (h2load)",
         "ws": "WebSocket echo, small messages through an upgraded connection",
         "tcp": "TCP proxy, the same WebSocket echo as bytes"}
for scenario in ("small", "16k", "post", "lb4", "small-2w", "https", "https-new", "h2", "h2-h2c", "h2c-up",
                 "grpc", "ws", "tcp"):
    if not any(s == scenario for s, _ in rows):
        continue
    print(f"## {names[scenario]}\n")
    if scenario == "lb4":
        print("The upstream listens on four ports, one endpoint each. nginx: `least_conn`; HAProxy: "
              "`balance leastconn`; gatewayd: a BackendTrafficPolicy with `loadBalancer: "
              "{type: LeastRequest}` (two random choices, the one with fewer requests in flight).\n")
    if scenario == "small-2w":
        one = {t: med([r["cpu"] for r in rows[("small", t)]]) for t in ("nginx", "haproxy", "gatewayd")
               if rows.get(("small", t))}
        two = {t: med([r["cpu"] for r in rows[("small-2w", t)]]) for t in one
               if rows.get(("small-2w", t))}
        costs = ", ".join(f"{t} {two[t] / one[t]:.2f}x" for t in two)
        print("nginx: `worker_processes 2` with `reuseport`; HAProxy: `nbthread 2`; gatewayd: "
              "`--threads 2` (a socket per worker, SO_REUSEPORT). The machine has two CPUs and no "
              "third for the load, so each proxy may use both, and so does wrk (2 threads); the "
              "upstream stays on CPU 1. Throughput is bounded by the two CPUs all of them share; "
              "what a second worker costs shows in the CPU per request against the one-worker row "
              f"(two workers over one: {costs}).\n")
    if scenario == "h2":
        h2c, h2m = os.environ.get("H2_CLIENTS", "32"), os.environ.get("H2_STREAMS", "10")
        print(f"h2load (1 thread, {h2c} connections, {h2m} concurrent streams each) on CPU 1, h2 by "
              "ALPN with the TLS parameters below; nginx: `listen ... ssl http2`, HAProxy: "
              "`alpn h2`, gatewayd: `alpnProtocols: [h2, http/1.1]`; the upstream is reached over "
              "HTTP/1.1 keep-alive by all three. p50/p99 from h2load's per-request log.\n")
    if scenario == "h2-h2c":
        print("h2load as above to each proxy (h2 by ALPN, the same TLS parameters), which reaches "
              "the upstream nginx (`listen ... http2`, plain) over h2c: nginx with `grpc_pass` (its "
              "only HTTP/2 upstream module), HAProxy `server ... proto h2`, gatewayd a Service port "
              "with `appProtocol: kubernetes.io/h2c`.\n")
    if scenario == "h2c-up":
        print("wrk as above (HTTP/1.1 keep-alive) to the proxy, which reaches the upstream nginx "
              "(`listen ... http2`, plain) over h2c with prior knowledge: HAProxy `server ... proto "
              "h2`, gatewayd a Service port with `appProtocol: kubernetes.io/h2c`. nginx cannot "
              "proxy to an HTTP/2 upstream (only gRPC), so the ratio is against HAProxy.\n")
    if scenario == "grpc":
        h2c, h2m = os.environ.get("H2_CLIENTS", "32"), os.environ.get("H2_STREAMS", "10")
        print(f"h2load ({h2c} connections, {h2m} concurrent streams each, h2c) sends POST "
              "/bench.Echo/Unary with a gRPC-framed 13-byte message, `content-type: "
              "application/grpc` and `te: trailers`; the upstream nginx (h2c) answers a framed "
              "message from a file with `grpc-status: 0` as a trailer. nginx: `listen ... http2` "
              "and `grpc_pass`; HAProxy: `bind ... proto h2`, `server ... proto h2`; gatewayd: a "
              "GRPCRoute (its backend speaks h2c). A request is one call; CPU per 1,000 calls.\n")
    if scenario == "ws":
        size = os.environ.get("WS_SIZE", "64")
        print(f"`bench/ws_bench client` ({connections} connections, 1 thread, CPU 1) opens a "
              f"WebSocket (HTTP/1.1 Upgrade) through the proxy to `bench/ws_bench server` (CPU 1), "
              f"then on each connection sends a {size}-byte masked text message and waits for its "
              "echo, again and again. nginx: `proxy_pass` with `Upgrade`/`Connection` set; "
              "HAProxy: `mode http` (it tunnels after the 101); gatewayd: the HTTPRoute of the "
              "first rows. A request is one message's round trip; CPU per 1,000 messages.\n")
    if scenario == "tcp":
        print("The WebSocket row's client and echo server, through TCP proxies that see only "
              "bytes: nginx `stream` with `proxy_pass`, HAProxy `mode tcp`, gatewayd a TCP "
              "listener with a TCPRoute. One connection each way per client connection, held "
              "for the run; CPU per 1,000 messages.\n")
    if scenario in ("https", "https-new"):
        print("Each proxy terminates TLS with the same ECDSA P-256 certificate, TLS 1.3 only, "
              "`TLS_AES_128_GCM_SHA256`, X25519; the upstream is plain HTTP as above."
              + (" wrk sends `Connection: close`, so every request pays a full handshake "
                 "(wrk does not resume sessions)." if scenario == "https-new" else "") + "\n")
    versus = "haproxy" if scenario == "h2c-up" else "nginx"
    print(f"| target | requests/s | range over runs | vs {'HAProxy' if versus == 'haproxy' else 'nginx'} "
          "| p50 ms | p99 ms | CPU ms / 1k req | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base = rows.get((scenario, versus))
    base_rps = med([r["rps"] for r in base]) if base else None
    for target in ("upstream", "nginx", "haproxy", "gatewayd"):
        rs = rows.get((scenario, target))
        if not rs:
            continue
        rps = med([r["rps"] for r in rs])
        ratio = f"{rps / base_rps:.2f}x" if base_rps and target != "upstream" else "-"
        cpu = med([r["cpu"] for r in rs])
        cpu_s = f"{cpu * 1000:.1f}" if target != "upstream" else f"({cpu * 1000:.1f})"
        lo, hi = min(r["rps"] for r in rs), max(r["rps"] for r in rs)
        print(f"| {target} | {rps:,.0f} | {lo / 1000:,.1f}k-{hi / 1000:,.1f}k | {ratio} | "
              f"{med([r['p50'] for r in rs]):.2f} | "
              f"{med([r['p99'] for r in rs]):.2f} | {cpu_s} | {max(int(r['bad']) for r in rs)} |")
    print()


def variants(scenario, title, blurb, targets, base_label):
    """A table of gatewayd variants against plain gatewayd, same run."""
    if not rows.get((scenario, "gatewayd")):
        return
    print(f"## {title}\n")
    print(blurb + "\n")
    print(f"| target | requests/s | range over runs | vs {base_label} | p50 ms | p99 ms | CPU ms / 1k req | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base_rps = med([r["rps"] for r in rows[(scenario, "gatewayd")]])
    for target in targets:
        rs = rows.get((scenario, target))
        if not rs:
            continue
        rps = med([r["rps"] for r in rs])
        lo, hi = min(r["rps"] for r in rs), max(r["rps"] for r in rs)
        print(f"| {target} | {rps:,.0f} | {lo / 1000:,.1f}k-{hi / 1000:,.1f}k | {rps / base_rps:.2f}x | "
              f"{med([r['p50'] for r in rs]):.2f} | {med([r['p99'] for r in rs]):.2f} | "
              f"{med([r['cpu'] for r in rs]) * 1000:.1f} | {max(int(r['bad']) for r in rs)} |")
    print()


# The filter chain's cost: the small GET through CORS + JWT (HS256) + a local
# rate limit, against the same gateway without filters.
variants("filters", "GET, 13-byte body, with CORS + JWT + local rate limit",
         "`gatewayd-filters` runs the same config plus a SecurityPolicy (CORS, JWT with an HS256 key) "
         "and a BackendTrafficPolicy (local rate limit, never reached); every request carries an "
         "`Origin` and a valid token. Ratio against `gatewayd` without filters, same run.",
         ("gatewayd", "gatewayd-filters"), "no filters")
# Tracing's cost: every request sampled, spans to a collector that takes them
# and to one that is gone.
variants("tracing", "GET, 13-byte body, every request traced",
         "`gatewayd-traced` samples every request (a server and a client span each) and sends the "
         "spans to a collector that answers 200 (the upstream nginx); `gatewayd-traced-dead` sends "
         "them to a port nothing listens on, so every batch fails. Ratio against `gatewayd` without "
         "tracing, same run.",
         ("gatewayd", "gatewayd-traced", "gatewayd-traced-dead"), "no tracing")
