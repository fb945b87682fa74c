#!/usr/bin/env bash
# gatewayd --check: exit 1 with document, field path and line for a broken file;
# exit 0 for the demo's own manifests written out as a file.
set -uo pipefail
gatewayd=$1
data=$2
msg=$("$gatewayd" --check "$data/broken.yaml" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || { echo "expected exit 1, got $rc: $msg"; exit 1; }
grep -q 'broken.yaml:11: document 1 (Gateway default/web): spec.listeners\[0\].tls' <<<"$msg" ||
  { echo "message lacks file:line, document and field path: $msg"; exit 1; }
for f in example filters ingress policies waf upstreams; do  # the README's example configs
  msg=$("$gatewayd" --check "$data/$f.yaml" 2>&1) || { echo "$f.yaml rejected: $msg"; exit 1; }
done
echo "check ok"
