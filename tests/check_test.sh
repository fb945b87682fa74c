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
# Two Gateways with catch-all listeners on port 80: a collision unless --bind parts them.
two=$(mktemp)
trap 'rm -f "$two"' EXIT
for g in web api; do
  printf -- '---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: %s}\nspec:\n  gatewayClassName: any\n  listeners: [{name: http, port: 80, protocol: HTTP}]\n' "$g" >>"$two"
done
msg=$("$gatewayd" --check "$two" 2>&1) && { echo "colliding listeners accepted"; exit 1; }
grep -q "same hostname" <<<"$msg" || { echo "collision not named: $msg"; exit 1; }
msg=$("$gatewayd" --check "$two" --bind default/web:80=127.0.0.1:8080 \
  --bind default/api:80=127.0.0.2:8080 2>&1) || { echo "parted listeners rejected: $msg"; exit 1; }
echo "check ok"
