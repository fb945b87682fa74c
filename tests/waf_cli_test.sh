#!/usr/bin/env bash
# gatewayd --waf-test: the example samples meet their expectations (exit 0)
# and print the CRS rules that matched; a sample whose expectation is wrong
# makes it exit 1.
set -uo pipefail
gatewayd=$1
data=$2
out=$("$gatewayd" --config "$data/waf.yaml" --waf-test "$data/waf-samples.yaml" 2>&1)
rc=$?
[ "$rc" -eq 0 ] || { echo "expected exit 0, got $rc: $out"; exit 1; }
grep -q '^search with SQL injection: deny 403' <<<"$out" || { echo "no deny line: $out"; exit 1; }
grep -q '^  942100 ' <<<"$out" || { echo "no CRS rule id: $out"; exit 1; }
grep -q '0 of 7 expectations not met' <<<"$out" || { echo "bad summary: $out"; exit 1; }
wrong=$(mktemp)
trap 'rm -f "$wrong"' EXIT
printf -- '- {url: "/?q=%%3Cscript%%3Ealert(1)%%3C/script%%3E", headers: {Host: a.example, User-Agent: x, Accept: "*/*"}, expect: pass}\n' >"$wrong"
out=$("$gatewayd" --config "$data/waf.yaml" --waf-test "$wrong" 2>&1)
rc=$?
[ "$rc" -eq 1 ] || { echo "expected exit 1 for an unmet expectation, got $rc: $out"; exit 1; }
grep -q 'EXPECTED pass' <<<"$out" || { echo "unmet expectation not shown: $out"; exit 1; }
# The gateway's own answers before routing are shown as such (one normalisation
# for the server and --waf-test): an escaped slash redirects, an underscore refuses.
printf -- '- {name: slash, url: "/a%%2Fb", headers: {Host: shop.example}, expect: redirect}\n- {name: under, url: "/", headers: {Host: shop.example, X_Key: "1"}, expect: deny}\n' >"$wrong"
out=$("$gatewayd" --config "$data/waf.yaml" --waf-test "$wrong" 2>&1)
rc=$?
[ "$rc" -eq 0 ] || { echo "expected exit 0 for the gateway's own answers, got $rc: $out"; exit 1; }
grep -q '^slash: redirected before routing (307 to /a/b)' <<<"$out" || { echo "no redirect line: $out"; exit 1; }
grep -q '^under: refused before routing (400' <<<"$out" || { echo "no refusal line: $out"; exit 1; }
echo "waf-test ok"
