# Shared by bench/run and bench/waf: process cleanup, ports, CPU accounting,
# and writing one script's section of bench/RESULTS.md. Source after `set -e`
# and after setting $work (a scratch directory).
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # wait up to 10 s for a listener
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

# Processes whose CPU time is charged to a target (nginx: master and workers).
# The caller defines target_pids TARGET.
with_children() { for p in "$@"; do echo "$p"; pgrep -P "$p" || true; done; }
cpu_ticks() {  # utime+stime of the target's processes, in clock ticks
  local total=0
  for p in $(target_pids "$1"); do
    [ -r "/proc/$p/stat" ] || continue
    local f
    f=$(sed 's/^.*) //' "/proc/$p/stat")
    set -- $f
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

# Replaces the section NAME of bench/RESULTS.md (between its marker comments)
# with the file CONTENT, or appends it.
write_section() {
  python3 - "$1" "$2" <<'PY'
import re, sys
name, content = sys.argv[1], open(sys.argv[2]).read().rstrip("\n") + "\n"
path = "bench/RESULTS.md"
try:
    text = open(path).read()
except FileNotFoundError:
    text = ""
begin, end = f"<!-- begin {name} -->\n", f"<!-- end {name} -->\n"
block = begin + content + end
if begin in text and end in text:
    text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text + ("\n" if text and not text.endswith("\n\n") else "") + block
open(path, "w").write(text)
PY
}
