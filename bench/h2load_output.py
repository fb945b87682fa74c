"""Turns an h2load run (its output and its --log-file) into the lines of
wrk's output that bench/wrk_output.py reads, so HTTP/2 rows share the table."""
import re
import sys

out, log = open(sys.argv[1]).read(), sys.argv[2]
rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", out).group(1))
# Failures from h2load's own count (4xx, 5xx, failed); its log also lists, as
# status -1, the streams still open when the duration ended, which are not.
codes = re.search(r"status codes: \d+ 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx", out)
failed = re.search(r"(\d+) failed", out)
bad = (int(codes.group(1)) + int(codes.group(2)) if codes else 0) + (int(failed.group(1)) if failed else 0)
durations = []
for line in open(log):
    _start, status, micros = line.split("\t")
    if int(status) >= 0:
        durations.append(int(micros))
durations.sort()


def pct(p):
    return durations[min(len(durations) - 1, int(len(durations) * p))] if durations else 0


print(f"  {done} requests in (h2load)")
print(f"Requests/sec: {rps:.2f}")
print(f"     50%  {pct(0.50)}us")
print(f"     99%  {pct(0.99)}us")
if bad:
    print(f"  Non-2xx or 3xx responses: {bad}")
