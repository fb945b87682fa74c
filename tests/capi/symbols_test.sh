#!/bin/sh
# The symbol check passes on the library as built, and fails, naming the
# symbol, when the list has a name the library lacks (what removing or
# renaming a gw_ function looks like) or lacks a name the library exports.
# usage: symbols_test.sh CHECK_SCRIPT LIBRARY SYMBOL_LIST HEADER
set -u
check=$1 lib=$2 list=$3 header=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$check" "$lib" "$list" "$header" || fail "the check refuses the library as built"

{ cat "$list"; echo gw_gateway_removed_function; } > "$tmp/extra.symbols"
if "$check" "$lib" "$tmp/extra.symbols" "$header" 2> "$tmp/err"; then
  fail "a listed symbol missing from the library passed"
fi
grep -q "missing from.*removed or renamed" "$tmp/err" || fail "no 'missing' report: $(cat "$tmp/err")"
grep -q "gw_gateway_removed_function" "$tmp/err" || fail "the missing symbol is not named"

grep -v '^gw_stream_resume$' "$list" > "$tmp/short.symbols"
if "$check" "$lib" "$tmp/short.symbols" "$header" 2> "$tmp/err"; then
  fail "an exported symbol missing from the list passed"
fi
grep -q "gw_stream_resume" "$tmp/err" || fail "the unlisted symbol is not named"
echo "symbol check: passes as built, catches a removed and an unlisted symbol"
