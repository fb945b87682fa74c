"""Turns bench/waf's raw outputs into the WAF section of RESULTS.md (medians)."""
import datetime
import os
import re
import subprocess
import sys

from wrk_output import med, parse

raw_path, micro_path, clk_tck = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs, duration, connections = sys.argv[4], sys.argv[5], sys.argv[6]

rows = {}
for line in open(raw_path):
    scenario, target, ticks, out = line.rstrip("\n").split("\t", 3)
    rows.setdefault((scenario, target), []).append(parse(out.replace("\v", "\n"), ticks, clk_tck))
limit = {}
for line in open(micro_path):
    name, rps = line.split()
    limit.setdefault(name, []).append(float(rps))


def version(pkg):
    out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True)
    return out.stdout or "?"


def row(target, rs, base_rps, note=""):
    rps = med([r["rps"] for r in rs])
    ratio = f"{rps / base_rps:.2f}x" if base_rps else "-"
    lo, hi = min(r["rps"] for r in rs), max(r["rps"] for r in rs)
    return (f"| {target}{note} | {rps:,.0f} | {lo:,.0f}-{hi:,.0f} | {ratio} | "
            f"{med([r['p50'] for r in rs]):.2f} | {med([r['p99'] for r in rs]):.2f} | "
            f"{med([r['cpu'] for r in rs]) * 1000:.2f} | {max(int(r['bad']) for r in rs)} |")


print("## WAF: OWASP CRS at paranoia level 1\n")
print(f"Produced by `bench/waf` on {datetime.date.today().isoformat()}: libmodsecurity "
      f"{version('libmodsecurity3')}, CRS {version('modsecurity-crs')}, "
      f"libnginx-mod-http-modsecurity {version('libnginx-mod-http-modsecurity')}. "
      f"Both proxies load the same directives (`bench/waf_micro --print-rules`: engine On, request "
      f"body inspected, response body not, no audit log) and are pinned to CPU 0 (nginx: one "
      f"worker; gatewayd: one worker on its main thread, which runs the phases without a body, "
      f"plus the evaluation threads for bodies, started at the first one); wrk (1 thread, "
      f"{connections} connections, {duration} s) and the upstream share CPU 1. Requests carry "
      f"Host, User-Agent and Accept and match no rule. Median of {runs} runs. CPU ms/1k req is "
      f"the proxy's user+system time per 1,000 requests. `in-process limit` is "
      f"`bench/waf_micro`: the same rules and requests through libmodsecurity on one thread of "
      f"CPU 0, every phase, no network. `multi-threaded process` is the same after a second "
      f"thread was started and joined (`waf_micro --threaded`): from then on libstdc++ counts "
      f"shared_ptr references with atomic instructions, and libmodsecurity copies several per "
      f"rule it evaluates. nginx's single-threaded worker never pays that; gatewayd pays it "
      f"once a feature has started a thread (here: the first inspected body), so each run starts "
      f"a fresh gatewayd and measures its small GET before the POST and again after it.\n")
names = {"small": "GET, 13-byte response", "post": "POST, 4 KiB urlencoded body"}
for scenario in ("small", "post"):
    print(f"### {names[scenario]}\n")
    print("| target | requests/s | range over runs | vs nginx + ModSecurity | p50 ms | p99 ms | "
          "CPU ms / 1k req | non-2xx |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    base = rows.get((scenario, "nginx"))
    base_rps = med([r["rps"] for r in base]) if base else None
    one = "gatewayd, one thread" if scenario == "small" else "gatewayd"
    for key, label in (((scenario, "nginx"), "nginx + ModSecurity"), ((scenario, "gatewayd"), one),
                       ((f"{scenario}-threaded", "gatewayd"),
                        "gatewayd, evaluation threads running")):
        if key in rows:
            print(row(label, rows[key], base_rps))
    # Each limit beside the gatewayd row in the same threading state.
    for key, label, gw_key in (
            (scenario, "in-process limit", (scenario, "gatewayd")),
            (f"threaded-{scenario}", "in-process limit, multi-threaded process",
             (f"{scenario}-threaded" if scenario == "small" else scenario, "gatewayd"))):
        if key not in limit or not base_rps:
            continue
        lim = med(limit[key])
        gw = rows.get(gw_key)
        share = f" ({one if gw_key[0] == scenario else 'gatewayd, threads running'} reaches " \
                f"{med([r['rps'] for r in gw]) / lim:.0%} of it)" if gw else ""
        print(f"| {label}{share} | {lim:,.0f} | {min(limit[key]):,.0f}-"
              f"{max(limit[key]):,.0f} | {lim / base_rps:.2f}x | - | - | - | - |")
    print()
print("### Routes without the WAF while the WAF routes are saturated\n")
print("GET /plain/small (no WAF) on the same worker, alone and while a second wrk keeps "
      f"{connections} connections busy on /waf/small. `kept` is the plain route's throughput "
      "under load over its throughput alone.\n")
print("| target | plain alone req/s | plain under WAF load req/s | kept | p99 ms under load |")
print("| --- | ---: | ---: | ---: | ---: |")
for target, label in (("nginx", "nginx + ModSecurity"), ("gatewayd", "gatewayd")):
    alone, loaded = rows.get(("plain", target)), rows.get(("mixed", target))
    if not alone or not loaded:
        continue
    a, l = med([r["rps"] for r in alone]), med([r["rps"] for r in loaded])
    print(f"| {label} | {a:,.0f} | {l:,.0f} | {l / a:.0%} | {med([r['p99'] for r in loaded]):.2f} |")
print()
