"""Turns an h2load run (its output and its --log-file) into the lines of
wrk's output that bench/wrk_output.py reads, so HTTP/2 rows share the table."""
import re
import sys

out, log = open(sys.argv[1]).read(), sys.argv[2]
rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
durations, bad = [], 0
for line in open(log):
    _start, status, micros = line.split("\t")
    durations.append(int(micros))
    if not 200 <= int(status) < 400:
        bad += 1
durations.sort()


def pct(p):
    return durations[min(len(durations) - 1, int(len(durations) * p))] if durations else 0


print(f"  {done} requests in (h2load)")
print(f"Requests/sec: {rps:.2f}")
print(f"     50%  {pct(0.50)}us")
print(f"     99%  {pct(0.99)}us")
if bad:
    print(f"  Non-2xx or 3xx responses: {bad}")
