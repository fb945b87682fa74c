#!/bin/sh
# Checks the C ABI libgateway.so exports against capi/gateway.symbols and
# capi/gateway.h: a gw_ function removed or renamed, one added without being
# listed, a declaration without its symbol, or any other C symbol exported
# fails; so does any exported symbol that is neither gw_ nor gateway::. A symbol once shipped keeps its name, so the list only grows.
# usage: check_symbols.sh LIBRARY SYMBOL_LIST HEADER
set -eu
lib=$1 list=$2 header=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$lib" | awk '$2 ~ /^[TWiu]$/ && $3 !~ /^_Z/ {print $3}' | sort > "$tmp/exported"
grep -v '^#' "$list" | sed '/^$/d' | sort > "$tmp/listed"
sed -n 's/^GW_API[^(]*[ *]\(gw_[a-z0-9_]*\)(.*/\1/p' "$header" | sort > "$tmp/declared"
status=0
report() {  # title, file
  if [ -s "$2" ]; then
    echo "$1:" >&2
    sed 's/^/  /' "$2" >&2
    status=1
  fi
}
comm -23 "$tmp/listed" "$tmp/exported" > "$tmp/missing"
report "listed in $(basename "$list") but missing from $(basename "$lib") (removed or renamed?)" "$tmp/missing"
grep -v '^gw_' "$tmp/exported" > "$tmp/foreign" || true
report "exported C symbols without the gw_ prefix (the version script should hide them)" "$tmp/foreign"
grep '^gw_' "$tmp/exported" | comm -13 "$tmp/listed" - > "$tmp/unlisted" || true
report "exported but not listed in $(basename "$list") (add new symbols to it)" "$tmp/unlisted"
# Everything exported at all is the C ABI or the gateway:: C++ API (with its
# type information): no Asio, no other library compiled in, that a host's own
# copy could interpose on.
nm -D --defined-only -C "$lib" | cut -d' ' -f3- |
  grep -Ev '^(gw_[a-z0-9_]*|gateway::.*|(typeinfo|typeinfo name|vtable|VTT) for gateway::.*)$' \
    > "$tmp/other" || true
report "exported symbols outside gw_ and gateway:: (cmake/libgateway.map should keep them local)" "$tmp/other"
comm -3 "$tmp/listed" "$tmp/declared" > "$tmp/header"
report "$(basename "$list") and $(basename "$header") disagree" "$tmp/header"
[ $status -eq 0 ] && echo "$(wc -l < "$tmp/listed") gw_ symbols exported, listed and declared"
exit $status
