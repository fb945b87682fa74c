#!/usr/bin/python3
"""The soak's report: from the run's output directory (bench/soak), a plot
(soak.png) and the samples (samples.csv) into DEST, and the markdown section
for bench/RESULTS.md on stdout.

usage: soak_report.py RUN_DIR DEST MINUTES
"""
import csv
import glob
import os
import re
import shutil
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def slope(xs, ys):
    """Least-squares slope of ys over xs."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0


def load_results(run):
    """One row per load tool: what it sent and what failed, from its own output."""
    rows = []
    for path in sorted(glob.glob(os.path.join(run, "load-*.txt"))):
        name = os.path.basename(path)[5:-4]
        out = open(path).read()
        if "requests in" in out and not name.startswith("ws"):  # wrk
            done = int(re.search(r"(\d+) requests in", out).group(1))
            bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
            sock = re.search(r"Socket errors: (.*)", out)
            rows.append((name, "wrk", done, int(bad.group(1)) if bad else 0,
                         sock.group(1) if sock else "none"))
        elif "requests:" in out:  # h2load
            m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                          r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
            codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
            rows.append((name, "h2load", int(m.group(3)), int(codes.group(3)) + int(codes.group(4)),
                         f"{m.group(5)} failed, {m.group(6)} errored, {m.group(7)} timeout"))
        else:  # ws_bench: wrk's lines, WebSocket messages as requests
            done = re.search(r"(\d+) requests in", out)
            rows.append((name, "ws_bench", int(done.group(1)) if done else 0, 0,
                         "none" if done else out.strip().splitlines()[-1] if out.strip() else "?"))
    return rows


def main():
    run, dest, minutes = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(os.path.join(run, "samples.csv")) as f:
        samples = [{k: int(v) for k, v in row.items()} for row in csv.DictReader(f)]
    if os.path.abspath(dest) != os.path.abspath(run):
        shutil.copy(os.path.join(run, "samples.csv"), os.path.join(dest, "samples.csv"))
    t = [s["seconds"] / 60 for s in samples]
    last = samples[-1]
    # Warm-up: the first fifth of the run (at least a minute), when pools,
    # caches and the allocator's arenas fill.
    warm = max(1.0, t[-1] / 5)
    after = [s for s in samples if s["seconds"] / 60 >= warm]
    xs = [s["seconds"] / 60 for s in after]
    rss_slope = slope(xs, [s["rss_kib"] for s in after])
    fd_slope = slope(xs, [s["descriptors"] for s in after])
    rss_after = [s["rss_kib"] for s in after]
    heap = [s["heap_bytes"] for s in after if s.get("heap_bytes")]
    heap_slope = slope(xs[-len(heap):], [h / 1024 for h in heap]) if heap else None

    fig, ax = plt.subplots(4, 1, figsize=(9, 10), sharex=True)
    ax[0].plot(t, [s["rss_kib"] / 1024 for s in samples], color="tab:blue")
    ax[0].set_ylabel("resident MiB")
    ax[1].plot(t, [s["descriptors"] for s in samples], color="tab:green")
    ax[1].set_ylabel("open descriptors")
    ax[2].plot(t, [s["downstream_connections"] for s in samples], label="client connections")
    ax[2].plot(t, [s["upstream_connections"] for s in samples], label="upstream connections")
    ax[2].legend(loc="upper left", fontsize=8)
    ax[2].set_ylabel("connections")
    ax[3].plot(t, [s["5xx_steady"] for s in samples], label="5xx, steady upstreams (errors)",
               color="tab:red")
    ax[3].plot(t, [s["5xx_flaky"] for s in samples], label="5xx, restarted upstream (provoked)",
               color="tab:orange")
    ax[3].plot(t, [s["403_waf"] for s in samples], label="403, WAF attacks (provoked)",
               color="tab:purple")
    ax[3].plot(t, [s["reloads_failed"] for s in samples], label="failed reloads (errors)",
               color="black")
    ax[3].legend(loc="upper left", fontsize=8)
    ax[3].set_ylabel("count (cumulative)")
    ax[3].set_xlabel("minutes")
    for a in ax:
        a.axvline(warm, color="grey", linewidth=0.8, linestyle=":")
        a.grid(alpha=0.3)
    fig.suptitle(f"bench/soak: {minutes} minutes of mixed traffic, reloads every 5 s")
    fig.tight_layout()
    fig.savefig(os.path.join(dest, "soak.png"), dpi=80)

    # The log at warn: error lines are errors; warnings are too unless they
    # are about what the soak provokes (the restarted upstream, a reload);
    # WAF matches have lines of their own.
    log_errors = unexpected = 0
    with open(os.path.join(run, "gatewayd.log"), errors="replace") as f:
        for line in f:
            level = line.split(" ", 2)[1] if line.count(" ") >= 2 else ""
            if level == "error":
                log_errors += 1
            elif level == "warn" and "default/flaky:80" not in line:
                unexpected += 1
    leaving = open(os.path.join(run, "leaving.txt")).read().strip()
    out = []
    w = out.append
    w(f"### Soak: {minutes} minutes (`bench/soak`)\n")
    w("One gatewayd (2 workers) under HTTP/1.1 and HTTP/2, plain and TLS, small "
      "and 256 KiB responses, 64 KiB uploads, a CRS WAF route (clean and SQL "
      "injection requests), 8 WebSocket tunnels and clients that leave "
      "mid-request, mid-upload, mid-response and mid-handshake; meanwhile the "
      "config is reloaded every 5 s, the flaky upstream is killed and restarted "
      "every 60 s, and the certificate is replaced every 90 s.\n")
    w(f"- Requests served: {last['requests']:,} "
      f"({last['requests'] / max(1, last['seconds']):,.0f}/s); config reloads "
      f"{last['reloads_ok']} ok, {last['reloads_failed']} failed; upstream restarts "
      f"{last['restarts']}; certificate rotations {last['rotations']}; clients "
      f"that left early: {leaving}.")
    w(f"- After the warm-up ({warm:.0f} min): resident memory {min(rss_after) / 1024:.1f} to "
      f"{max(rss_after) / 1024:.1f} MiB, slope **{rss_slope:+.1f} KiB/min**; open "
      f"descriptors {min(s['descriptors'] for s in after)} to "
      f"{max(s['descriptors'] for s in after)}, slope **{fd_slope:+.2f}/min**" +
      (f"; heap in use (glibc's count) {min(heap) / 2**20:.1f} to {max(heap) / 2**20:.1f} MiB, "
       f"slope **{heap_slope:+.1f} KiB/min**." if heap else "."))
    w(f"- Errors: 5xx from the steady upstreams **{last['5xx_steady']}**, failed reloads "
      f"**{last['reloads_failed']}**, error lines in the gateway's log **{log_errors}**, "
      f"warnings about anything but the restarted upstream **{unexpected}**. Provoked: 5xx from the restarted upstream "
      f"{last['5xx_flaky']}, WAF denials {last['403_waf']}, requests that got no "
      f"response (clients that left) {last['no_response']}, limit hits "
      f"{last['limit_hits']}.\n")
    w("| load | tool | requests | non-2xx | socket errors |")
    w("| --- | --- | --- | --- | --- |")
    for name, tool, done, bad, sock in load_results(run):
        w(f"| {name} | {tool} | {done:,} | {bad:,} | {sock} |")
    w("")
    w("| minute | resident MiB | descriptors | client conns | upstream conns | requests | "
      "5xx steady | 5xx provoked | reloads ok |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    step = max(1, len(samples) // 12)
    for s in samples[::step] + ([last] if (len(samples) - 1) % step else []):
        w(f"| {s['seconds'] / 60:.1f} | {s['rss_kib'] / 1024:.1f} | {s['descriptors']} | "
          f"{s['downstream_connections']} | {s['upstream_connections']} | {s['requests']:,} | "
          f"{s['5xx_steady']} | {s['5xx_flaky']} | {s['reloads_ok']} |")
    w("")
    w(f"![soak](soak.d/soak.png) (every 10 s sample: [soak.d/samples.csv](soak.d/samples.csv))")
    print("\n".join(out))


if __name__ == "__main__":
    main()
