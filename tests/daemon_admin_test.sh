#!/usr/bin/env bash
# gatewayd's admin listener, Prometheus stats and access log, checked from
# outside: counters must match the requests this test sends, the exposition
# must parse, every access log line must be JSON with the documented fields,
# and SIGUSR1 must reopen a rotated log.
set -uo pipefail
gatewayd=$1
. "$(dirname "$0")/support/manifests.sh"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$work/gw.log" ] && sed 's/^/  log: /' "$work/gw.log"; exit 1; }

python3 "$(dirname "$0")/support/name_upstream.py" app "$work/up.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/up.port" ] && break; sleep 0.05; done
[ -s "$work/up.port" ] || fail "upstream did not start"

{
  gateway_manifest
  route_manifest app app /app
  service_manifest app "$(cat "$work/up.port")"
} >"$work/gw.yaml"

"$gatewayd" --config "$work/gw.yaml" --bind 80=127.0.0.1:0 --admin 127.0.0.1:0 --threads 2 \
  --access-log "$work/access.log" 2>"$work/gw.log" &
gw=$!
pids+=($gw)
port= admin=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\) for.*/\1/p' "$work/gw.log")
  admin=$(sed -n 's/.*admin listener on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/gw.log")
  [ -n "$port" ] && [ -n "$admin" ] && break
  sleep 0.05
done
[ -n "$port" ] && [ -n "$admin" ] || fail "gatewayd did not report its ports"

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
[ "$(code "http://127.0.0.1:$admin/live")" = 200 ] || fail "/live"
[ "$(code "http://127.0.0.1:$admin/ready")" = 200 ] || fail "/ready"
[ "$(code -X POST "http://127.0.0.1:$admin/ready")" = 405 ] || fail "POST /ready is not 405"
[ "$(code "http://127.0.0.1:$admin/nope")" = 404 ] || fail "unknown admin path is not 404"
curl -s --max-time 5 "http://127.0.0.1:$admin/config" | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c["listeners"][0]["name"] == "default/web/http", c["listeners"]
st = c["statuses"][0]
assert st["route"] == "default/app", st
assert {x["type"]: x["status"] for x in st["conditions"]} == {"Accepted": "True", "ResolvedRefs": "True"}, st
' || fail "/config"

for i in 1 2 3 4 5; do [ "$(code "http://127.0.0.1:$port/app/$i?q=$i")" = 200 ] || fail "request $i"; done
for i in 1 2 3; do [ "$(code "http://127.0.0.1:$port/other")" = 404 ] || fail "404 request $i"; done
[ "$(code -X POST "http://127.0.0.1:$admin/reload")" = 200 ] || fail "POST /reload"

curl -s --max-time 5 "http://127.0.0.1:$admin/stats/prometheus" >"$work/stats.txt" || fail "scrape"
python3 - "$work/stats.txt" <<'PY' || fail "stats: $(cat "$work/stats.txt")"
# A small parser of the Prometheus text format (0.0.4): comments, then
# name{labels} value lines; every sample's family must have a TYPE first.
import re, sys
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
sample_re = re.compile(r"^(" + name_re + r")(?:\{((?:" + label_re + r",?)*)\})? (\S+)$")
types, samples = {}, []
for line in open(sys.argv[1]).read().splitlines():
    if line.startswith("# HELP "):
        continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert kind in ("counter", "gauge", "histogram"), line
        types[name] = kind
        continue
    m = sample_re.match(line)
    assert m, "not a sample line: " + line
    name, labels, value = m.group(1), m.group(2) or "", m.group(5)
    family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
    assert family in types, "no TYPE before " + line
    samples.append((name, dict(re.findall(label_re, labels)), float(value)))

def value(name, **want):
    got = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in want.items())]
    assert len(got) == 1, (name, want, got)
    return got[0]

app = dict(listener="default/web/http", route="default/app", backend="default/app:80")
assert value("gateway_requests_total", code_class="2xx", **app) == 5
assert value("gateway_requests_total", listener="default/web/http", route="", backend="",
             code_class="4xx") == 3
assert value("gateway_request_duration_seconds_count", **app) == 5
assert value("gateway_request_duration_seconds_bucket", le="+Inf", **app) == 5
buckets = [v for n, l, v in samples if n == "gateway_request_duration_seconds_bucket"
           and l.get("route") == "default/app"]
assert buckets == sorted(buckets), "buckets are not cumulative"
assert value("gateway_response_bytes_total", **app) > 0
assert value("gateway_config_reloads_total", result="ok") == 1
assert value("gateway_config_version") == 2
assert value("gateway_workers", state="reporting") == 2
PY

# Access log: the 8 requests above, as JSON with the documented fields.
for _ in $(seq 100); do [ "$(wc -l <"$work/access.log")" -ge 8 ] && break; sleep 0.05; done
python3 - "$work/access.log" "$port" <<'PY' || fail "access log: $(cat "$work/access.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 8, len(lines)
fields = {"time", "request_id", "client", "method", "protocol", "host", "path", "status", "bytes_in",
          "bytes_out", "duration_ms", "upstream", "upstream_ms", "route", "listener"}
for l in lines:
    assert set(l) == fields, sorted(l)
    assert l["client"] == "127.0.0.1" and l["method"] == "GET" and len(l["request_id"]) == 36
    assert l["protocol"] == "HTTP/1.1"
    assert l["host"] == "127.0.0.1:" + sys.argv[2] and l["time"].endswith("Z")
    assert l["bytes_in"] > 0 and l["bytes_out"] > 0 and l["duration_ms"] >= 0
ok = [l for l in lines if l["status"] == 200]
assert sorted(l["path"] for l in ok) == ["/app/%d?q=%d" % (i, i) for i in range(1, 6)]
assert all(l["route"] == "default/app" and l["upstream"].startswith("127.0.0.1:") and
           l["upstream_ms"] is not None for l in ok)
missed = [l for l in lines if l["status"] == 404]
assert len(missed) == 3 and all(l["route"] == "" and l["upstream"] == "" and
                                l["upstream_ms"] is None for l in missed)
PY

# Rotation: move the file away, SIGUSR1, and new lines go to a new file.
mv "$work/access.log" "$work/access.log.1"
kill -USR1 "$gw"
for _ in $(seq 100); do [ -e "$work/access.log" ] && break; sleep 0.05; done
[ -e "$work/access.log" ] || fail "SIGUSR1 did not reopen the access log"
[ "$(code "http://127.0.0.1:$port/app/after")" = 200 ] || fail "request after rotation"
for _ in $(seq 100); do grep -q '/app/after' "$work/access.log" && break; sleep 0.05; done
grep -q '/app/after' "$work/access.log" || fail "no line in the reopened log"
[ "$(wc -l <"$work/access.log.1")" -eq 8 ] || fail "the rotated file changed"

kill -TERM "$gw"
wait "$gw" || fail "gatewayd exited with an error"
echo "admin, stats and access log ok"
