"""Reading wrk's output (shared by bench/report.py and bench/waf_report.py)."""
import re
import statistics


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]


def parse(out, ticks, clk_tck):
    """One wrk run: requests/s, latency percentiles, proxy CPU ms per request, failures."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    p50 = to_ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sockerr = re.search(r"Socket errors: (.*)", out)
    cpu = int(ticks) / clk_tck / total * 1000 if total else float("nan")
    return dict(rps=rps, p50=p50, p99=p99, cpu=cpu, bad=(errors.group(1) if errors else "0"),
                sockerr=(sockerr.group(1) if sockerr else ""))


def med(values):
    return statistics.median(values)
