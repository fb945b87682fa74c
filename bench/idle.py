#!/usr/bin/env python3
"""Opens COUNT keep-alive connections to a proxy, sends one small GET on each
and reads its answer, so each is an idle keep-alive connection that has
served a request; then reports how much the proxy's resident memory grew per
connection. With --hold, keeps them open until stdin closes (while another
load runs), after printing "ready".

  idle.py --port P --pid PID [--tls] [--count 10000] [--hold]

Resident memory is the sum of VmRSS over PID and its children (nginx's
master and worker), read before the first connection and after the last,
once it has stopped moving.
"""
import argparse
import os
import socket
import ssl
import sys
import time


def rss_kib(pid: int) -> int:
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    total = 0
    for p in set(pids):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def settled_rss(pid: int) -> int:
    """RSS once two reads 200 ms apart agree (bounded at 5 s)."""
    last = rss_kib(pid)
    for _ in range(25):
        time.sleep(0.2)
        now = rss_kib(pid)
        if now == last:
            return now
        last = now
    return last


def one_request(s) -> None:
    s.sendall(b"GET /small HTTP/1.1\r\nHost: bench.test\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the response head")
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if not head.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(f"unexpected answer: {head[:40]!r}")
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed inside the body")
        body += chunk


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--hold", action="store_true")
    a = ap.parse_args()
    context = None
    if a.tls:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    before = settled_rss(a.pid)
    held = []
    for _ in range(a.count):
        raw = socket.create_connection(("127.0.0.1", a.port), timeout=30)
        s = context.wrap_socket(raw, server_hostname="bench.test") if context else raw
        one_request(s)
        held.append(s)
    after = settled_rss(a.pid)
    per = (after - before) / a.count
    print(f"{a.count} {before} {after} {per:.2f}", flush=True)
    if a.hold:
        print("ready", flush=True)
        sys.stdin.read()
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
