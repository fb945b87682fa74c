#!/usr/bin/env bash
# gatewayd reloads its config file when it changes and on SIGHUP, rejects a
# broken version whole (the running one keeps serving), and maps Gateway ports
# to local ones with --bind; with two workers, and with one, which runs on its
# main thread, the process's only one until a reload starts another. Real
# upstreams (python http.server), real curl.
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

# A real upstream answering every GET with its name; writes its port to a file.
start_upstream() {
  python3 "$(dirname "$0")/support/name_upstream.py" "$1" "$work/$1.port" &
  pids+=($!)
}
wait_file() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done; fail "no $1"; }

start_upstream alpha
start_upstream beta
wait_file "$work/alpha.port"
wait_file "$work/beta.port"

# config NAME PORT: one Gateway on port 80, everything to Service NAME.
config() {
  gateway_manifest
  route_manifest all "$1"
  service_manifest "$1" "$2"
}
# Replaces the file the way editors and ConfigMaps do: a new file moved over it.
install_config() { cat >"$work/next.yaml"; mv "$work/next.yaml" "$work/gw.yaml"; }

config alpha "$(cat "$work/alpha.port")" | install_config

# --dump-config shows the mapping: Gateway port 80, bound to 127.0.0.1:0.
dump=$("$gatewayd" --config "$work/gw.yaml" --bind 80=127.0.0.1:0 --dump-config) ||
  fail "--dump-config failed"
python3 -c 'import json,sys; l=json.loads(sys.argv[1])["listeners"][0]; assert (l["port"],l["bind_address"],l["bind_port"])==(80,"127.0.0.1",0), l' "$dump" ||
  fail "--dump-config: $dump"
# A mapping that matches nothing is an error, not ignored.
msg=$("$gatewayd" --config "$work/gw.yaml" --bind 81=127.0.0.1:0 --dump-config 2>&1) &&
  fail "--bind for a port no listener has was accepted"
grep -q "no listener has port 81" <<<"$msg" || fail "unclear --bind error: $msg"

# run_daemon THREADS: the whole story with THREADS workers.
run_daemon() {
  "$gatewayd" --config "$work/gw.yaml" --bind default/web:80=127.0.0.1:0 --threads "$1" \
    --log-level info 2>"$work/gw.log" &
  gw=$!
  pids+=($gw)
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\) for default\/web\/http.*/\1/p' "$work/gw.log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "gatewayd did not report its port"

  get() { curl -s --max-time 5 "http://127.0.0.1:$port/"; }
  # until_body WANT: polls (bounded) until the gateway answers WANT.
  until_body() {
    for _ in $(seq 100); do [ "$(get)" = "$1" ] && return 0; sleep 0.05; done
    fail "expected '$1', got '$(get)'"
  }
  until_body alpha
  if [ "$1" = 1 ]; then
    local n
    n=$(ls /proc/$gw/task | wc -l)
    [ "$n" = 1 ] || fail "one worker: $n threads, expected the main thread only"
  fi

  # The file changes: the new config is picked up without a signal.
  config beta "$(cat "$work/beta.port")" | install_config
  until_body beta
  grep -q "config file changed: config version 2 active" "$work/gw.log" || fail "no reload log line"

  # A broken version is rejected whole, with its location, and beta keeps serving.
  { config alpha "$(cat "$work/alpha.port")"; echo "bogus: 1"; } | install_config
  for _ in $(seq 100); do grep -q "config rejected" "$work/gw.log" && break; sleep 0.05; done
  grep -q "config rejected, version 2 keeps serving" "$work/gw.log" || fail "no rejection logged"
  grep -q "gw.yaml:[0-9]*: document 4 (EndpointSlice default/alpha): bogus" "$work/gw.log" ||
    fail "rejection does not say where"
  [ "$(get)" = beta ] || fail "a rejected config changed what is served"

  # A valid version again (version 3 from the file watch), then SIGHUP, which
  # re-reads and applies the file even when it did not change (version 4).
  config alpha "$(cat "$work/alpha.port")" | install_config
  until_body alpha
  kill -HUP "$gw"
  for _ in $(seq 100); do grep -q "SIGHUP: config version" "$work/gw.log" && break; sleep 0.05; done
  grep -q "SIGHUP: config version 4 active" "$work/gw.log" || fail "SIGHUP did not reload"
  [ "$(get)" = alpha ] || fail "after SIGHUP"

  kill -TERM "$gw"
  wait "$gw" || fail "gatewayd exited with an error"
}

for threads in 2 1; do
  config alpha "$(cat "$work/alpha.port")" | install_config
  run_daemon "$threads"
done
echo "daemon reload ok"
