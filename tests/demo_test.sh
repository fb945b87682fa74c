#!/usr/bin/env bash
# The demo as a newcomer runs it: start gatewayd without a config, paste the
# three curl lines it prints, check each answer, stop it with SIGTERM.
set -euo pipefail
gatewayd=$1
out=$(mktemp)
"$gatewayd" --demo-port 0 --admin 127.0.0.1:0 --threads 1 >"$out" 2>&1 &
pid=$!
cleanup() { kill -KILL "$pid" 2>/dev/null || true; rm -f "$out"; }
trap cleanup EXIT

for _ in $(seq 1 100); do  # up to 10 s for the banner
  grep -q "Stop with Ctrl-C" "$out" && break
  sleep 0.1
done
mapfile -t lines < <(grep -E '^  curl ' "$out")
[ "${#lines[@]}" -eq 3 ] || { echo "expected 3 curl lines, got:"; cat "$out"; exit 1; }

expect=("demo-v1 saw GET /hello" "demo-v2 saw GET /hello" "body: ping")
for i in 0 1 2; do
  answer=$(eval "${lines[$i]} --max-time 5 --silent --show-error")
  echo "${lines[$i]}"
  grep -q "^HTTP/1.1 200 OK" <<<"$answer" || { echo "not 200:"; echo "$answer"; exit 1; }
  grep -q "${expect[$i]}" <<<"$answer" || { echo "missing '${expect[$i]}':"; echo "$answer"; exit 1; }
  grep -qi "^x-forwarded-for: 127.0.0.1" <<<"$(sed -n '/saw/,$p' <<<"$answer" | sed 's/^  //')" ||
    { echo "upstream did not see X-Forwarded-For:"; echo "$answer"; exit 1; }
done

kill -TERM "$pid"
for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then echo "gatewayd did not stop on SIGTERM"; exit 1; fi
wait "$pid"
echo "demo ok"
