#!/usr/bin/python3
"""HTTP/2 attacks (and cases clients cannot make) played with raw frames
against a gateway on 127.0.0.1.

Each command prints what the gateway did, one word and a detail, for the
C++ test that runs it (tests/integration/http2_test.cpp):

  stall PORT PATH          a client that keeps its window shut after asking
  rapid-reset PORT N       N streams opened and reset at once (CVE-2023-44487)
  continuation PORT N      a head sent as N CONTINUATION frames (CVE-2024-28182)
  hpack-bomb PORT N        a 3 KiB field stored once, referenced N times
  ping-flood PORT N        N PINGs from a client that does not read
  control-flood PORT KIND N  N SETTINGS, WINDOW_UPDATE or empty DATA frames,
                           from a client that reads what comes back
  graceful PORT PATH       asks for PATH, then reports the GOAWAY and the
                           answer in the order they came, until it has both
                           or the connection ends (a stop meanwhile)
  streams PORT PATH N WHEN  N GETs of PATH at once on one connection, sent
                           "early" (with the preface) or "acked" (once the
                           gateway's SETTINGS came and were acknowledged);
                           prints each stream's status or reset in order,
                           then "|" and how the connection ended
  big-head PORT PATH SIZE  a GET with one x-big field of SIZE bytes; prints
                           its status or reset
  trickle PORT PATH N GAP  a POST of N body bytes, one every GAP ms; prints
                           the status, then "end" (the answer ended and all
                           was sent) or the reset that followed the answer
  later PORT PATH FILE     a GET of PATH; once FILE exists, two more at once
                           on the same connection; prints each stream's status,
                           reset or "unprocessed" (no answer, past a GOAWAY) in
                           order, separated by "; ", then "|" and each GOAWAY (its code and last
                           stream) or how the connection ended
  deadlines PORT           GET /long (stream 1), then GET /short (3); once 3
                           is answered, GET /fast (5); prints each answer
                           (stream:status or stream:rst) in the order they
                           came, until 3 and 5 have theirs
  trailers PORT PATH LENGTH  a POST of "hello" ending with trailers
                           x-req-sum: 42 (with content-length 5 when LENGTH
                           is "known"); prints the status and the body
"""
import os
import socket
import struct
import sys
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DEADLINE = 30.0  # seconds any command waits at most


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings(**values):
    codes = {"window": 4, "max_streams": 3}
    return frame(4, 0, 0, b"".join(struct.pack(">HI", codes[k], v) for k, v in values.items()))


def request_block(encoder, path, port, extra=(), method="GET"):
    fields = [(":method", method), (":path", path), (":scheme", "http"),
              (":authority", "127.0.0.1:%d" % port)] + list(extra)
    return encoder.encode(fields)


def send_quietly(sock, data):
    """Sends `data`; a gateway that already closed the connection is an answer too."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


class reader:
    """Reads frames until a stop condition or the deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.sock.settimeout(0.5)

    def frames(self, until):
        end = time.monotonic() + until
        while time.monotonic() < end:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                kind, flags = self.buf[3], self.buf[4]
                stream = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                payload = self.buf[9:9 + n]
                self.buf = self.buf[9 + n:]
                if kind == 4 and not flags & 1:  # their SETTINGS: acknowledged, as a client does
                    send_quietly(self.sock, frame(4, 1, 0))
                yield kind, flags, stream, payload
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except ConnectionResetError:
                yield None, 0, 0, b"reset"
                return
            if not data:
                yield None, 0, 0, b"eof"
                return
            self.buf += data


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(PREFACE + settings())
    return s


def goaway_or_end(r):
    for kind, _, _, payload in r.frames(DEADLINE):
        if kind == 7:  # GOAWAY
            code = int.from_bytes(payload[4:8], "big")
            return "goaway %d" % code
        if kind is None:
            return payload.decode()
    return "nothing"


def stall(port, path):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(PREFACE + settings(window=0))
    enc = hpack.Encoder()
    s.sendall(frame(1, 0x5, 1, request_block(enc, path, port)))  # END_STREAM | END_HEADERS
    r = reader(s)
    got_head = False
    for kind, flags, stream, payload in r.frames(DEADLINE):
        if kind == 1 and stream == 1:
            got_head = True
        if kind == 3 and stream == 1:
            return "rst %d head=%s" % (int.from_bytes(payload, "big"), got_head)
        if kind == 7:
            return "goaway %d" % int.from_bytes(payload[4:8], "big")
        if kind is None:
            return payload.decode()
    return "nothing"


def rapid_reset(port, n):
    s = connect(port)
    enc = hpack.Encoder()
    out = []
    for i in range(n):
        stream = 1 + 2 * i
        out.append(frame(1, 0x5, stream, request_block(enc, "/reset", port)))
        out.append(frame(3, 0, stream, struct.pack(">I", 8)))  # RST_STREAM CANCEL
    send_quietly(s, b"".join(out))
    return goaway_or_end(reader(s))


def continuation(port, n):
    s = connect(port)
    enc = hpack.Encoder()
    block = request_block(enc, "/c", port)
    out = [frame(1, 0x1, 1, block)]  # END_STREAM, no END_HEADERS
    filler = enc.encode([("x-filler", "a")])
    out += [frame(9, 0, 1, filler) for _ in range(n)]
    send_quietly(s, b"".join(out))
    return goaway_or_end(reader(s))


def hpack_bomb(port, n):
    s = connect(port)
    enc = hpack.Encoder()
    # Store one 3 KiB field in the table (4 KiB by default), then name it by
    # index n times: a few bytes on the wire, n * 3 KiB decoded.
    first = enc.encode([(":method", "GET"), (":path", "/bomb"), (":scheme", "http"),
                        (":authority", "127.0.0.1:%d" % port), ("x-bomb", "b" * 3000)])
    index = bytes([0x80 | 62])  # the newest dynamic entry
    block = first + index * n
    # In frames of at most 16 KiB: HEADERS then CONTINUATIONs.
    chunks = [block[i:i + 16000] for i in range(0, len(block), 16000)]
    out = []
    for i, c in enumerate(chunks):
        last = i == len(chunks) - 1
        flags = (0x4 if last else 0) | (0x1 if i == 0 else 0)
        out.append(frame(1 if i == 0 else 9, flags, 1, c))
    s.sendall(b"".join(out))
    return first_answer(s)


def first_answer(s):
    """What came first for stream 1: its status, its reset, a GOAWAY, or the end."""
    d = hpack.Decoder()
    d.max_allowed_table_size = 65536
    for kind, flags, stream, payload in reader(s).frames(DEADLINE):
        if kind == 1 and stream == 1:
            try:
                return "status %s" % dict(d.decode(payload)).get(":status", "?")
            except Exception as e:  # a head we cannot decode alone: report it
                return "head (%s)" % type(e).__name__
        if kind == 3 and stream == 1:
            return "rst %d" % int.from_bytes(payload, "big")
        if kind == 7:
            return "goaway %d" % int.from_bytes(payload[4:8], "big")
        if kind is None:
            return payload.decode()
    return "nothing"


def ping_flood(port, n):
    s = connect(port)
    s.settimeout(DEADLINE)
    ping = frame(6, 0, 0, b"12345678")
    sent = 0
    batch = ping * 4096
    try:
        while sent < n:
            s.sendall(batch)
            sent += 4096
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
    return goaway_or_end(reader(s)) + " after %d" % sent


def control_flood(port, kind, n):
    s = connect(port)
    enc = hpack.Encoder()
    if kind == "empty-data":  # on an open request stream
        s.sendall(frame(1, 0x4, 1, request_block(enc, "/slow", port)))
        one = frame(0, 0, 1)
    elif kind == "window-update":
        one = frame(8, 0, 0, struct.pack(">I", 1))
    else:
        one = settings(max_streams=100)
    r = reader(s)
    s.setblocking(False)
    sent = 0
    batch = one * 1000
    end = time.monotonic() + DEADLINE
    while sent < n and time.monotonic() < end:
        try:
            s.send(batch)
            sent += 1000
        except BlockingIOError:
            pass
        except (BrokenPipeError, ConnectionResetError):
            break
        # Read what comes back, as a well-behaved client would.
        try:
            data = s.recv(1 << 16)
            if not data:
                break
            r.buf += data
            if b"\x07\x00\x00\x00\x00\x00" in r.buf:  # a GOAWAY header, probably
                break
        except BlockingIOError:
            pass
        except ConnectionResetError:
            break
    s.setblocking(True)
    return goaway_or_end(r)


def graceful(port, path):
    s = connect(port)
    enc = hpack.Encoder()
    s.sendall(frame(1, 0x5, 1, request_block(enc, path, port)))
    r = reader(s)
    seen = []
    dec = hpack.Decoder()
    for kind, flags, stream, payload in r.frames(DEADLINE):
        if kind == 7:
            seen.append("goaway %d last %d" % (int.from_bytes(payload[4:8], "big"),
                                                int.from_bytes(payload[:4], "big") & 0x7FFFFFFF))
        if kind == 1 and stream == 1:
            seen.append("status %s" % dict(dec.decode(payload)).get(":status"))
        if kind == 0 and stream == 1 and flags & 1:
            seen.append("end")
        if kind is None:
            seen.append(payload.decode())
            break
        if "end" in seen and any(x.startswith("goaway") for x in seen):
            break
    return ", ".join(seen)


def trailers(port, path, length):
    s = connect(port)
    enc = hpack.Encoder()
    extra = [("content-length", "5")] if length == "known" else []
    s.sendall(frame(1, 0x4, 1, request_block(enc, path, port, extra, "POST"))  # END_HEADERS
              + frame(0, 0, 1, b"hello")
              + frame(1, 0x5, 1, enc.encode([("x-req-sum", "42")])))  # trailers, END_STREAM
    r = reader(s)
    dec = hpack.Decoder()
    status, body = None, b""
    for kind, flags, stream, payload in r.frames(DEADLINE):
        if kind == 1 and stream == 1 and status is None:
            status = dict(dec.decode(payload)).get(":status")
        elif kind == 1 and stream == 1:
            dec.decode(payload)
        if kind == 0 and stream == 1:
            body += payload
        if kind in (0, 1) and stream == 1 and flags & 1:
            break
        if kind == 3 and stream == 1:
            return "rst %d" % int.from_bytes(payload, "big")
        if kind is None:
            return payload.decode()
    return "status %s %s" % (status, body.decode(errors="replace"))


def trickle(port, path, n, gap_ms):
    s = connect(port)
    enc = hpack.Encoder()
    send_quietly(s, frame(1, 0x4, 1, request_block(enc, path, port,
                                                   [("content-length", str(n))], "POST")))
    r = reader(s)
    r.sock.settimeout(min(0.5, gap_ms / 1000.0))
    dec = hpack.Decoder()
    status, ended, reset, sent = None, False, None, 0

    def take(until):
        nonlocal status, ended, reset
        for kind, flags, stream, payload in r.frames(until):
            if kind == 1 and stream == 1:
                fields = dict(dec.decode(payload))
                status = status or fields.get(":status")
            if kind in (0, 1) and stream == 1 and flags & 1:
                ended = True
            if kind == 3 and stream == 1:
                reset = "rst %d" % int.from_bytes(payload, "big")
            if kind is None or kind == 7 or reset or (ended and sent == n):
                return

    for i in range(n):
        send_quietly(s, frame(0, 0x1 if i == n - 1 else 0, 1, b"b"))
        sent += 1
        take(gap_ms / 1000.0)
        if reset or ended:
            break
    if not reset and not (ended and sent == n):
        take(DEADLINE)
    return "status %s %s" % (status, reset or ("end" if ended else "open"))


def later(port, path, signal):
    s = connect(port)
    enc, dec = hpack.Encoder(), hpack.Decoder()
    r = reader(s)
    outcome = {1: "none", 3: "none", 5: "none"}
    ended = "open"

    def take(until, wanted):
        nonlocal ended
        for kind, flags, stream, payload in r.frames(until):
            if kind == 1:
                fields = dict(dec.decode(payload))
                if stream in outcome and outcome[stream] == "none":
                    outcome[stream] = fields.get(":status", "?")
            if kind == 3 and stream in outcome and outcome[stream] == "none":
                outcome[stream] = "rst %d" % int.from_bytes(payload, "big")
            if kind == 7:  # every one, in order (a graceful shutdown may send two)
                seen = "goaway %d last %d" % (int.from_bytes(payload[4:8], "big"),
                                              int.from_bytes(payload[:4], "big") & 0x7FFFFFFF)
                ended = seen if ended == "open" else ended + ", " + seen
            if kind is None:
                ended = ended if ended.startswith("goaway") else payload.decode()
                return
            if all(outcome[k] != "none" for k in wanted) and (ended != "open" or 5 not in wanted):
                return

    send_quietly(s, frame(1, 0x5, 1, request_block(enc, path, port)))
    take(DEADLINE, [1])
    end = time.monotonic() + DEADLINE
    while not os.path.exists(signal) and time.monotonic() < end:
        time.sleep(0.01)
    send_quietly(s, frame(1, 0x5, 3, request_block(enc, path, port))
                 + frame(1, 0x5, 5, request_block(enc, path, port)))
    take(DEADLINE, [3, 5])
    # A stream past a GOAWAY's last one that got no answer was not processed
    # (RFC 9113 §6.8): as safe to send again as one refused.
    lasts = [int(g.rsplit(" ", 1)[1]) for g in ended.split(", ") if g.startswith("goaway")]
    for k in outcome:
        if outcome[k] == "none" and lasts and k > min(lasts):
            outcome[k] = "unprocessed"
    return "; ".join(outcome[k] for k in sorted(outcome)) + " | " + ended


def streams(port, path, n, when):
    s = connect(port)
    frames = reader(s).frames(DEADLINE)
    if when == "acked":
        for kind, flags, _, payload in frames:
            if kind == 4 and not flags & 1:
                break  # their SETTINGS, which the reader acknowledged before our requests
            if kind is None:
                return "| " + payload.decode()
    enc = hpack.Encoder()
    send_quietly(s, b"".join(frame(1, 0x5, 1 + 2 * i, request_block(enc, path, port))
                             for i in range(n)))
    outcome = {1 + 2 * i: "none" for i in range(n)}
    ended = "open"
    dec = hpack.Decoder()
    for kind, flags, stream, payload in frames:
        if kind == 1:
            fields = dict(dec.decode(payload))  # every block, to keep the table in step
            if stream in outcome and outcome[stream] == "none":
                outcome[stream] = fields.get(":status", "?")
        if kind == 3 and stream in outcome and outcome[stream] == "none":
            outcome[stream] = "rst %d" % int.from_bytes(payload, "big")
        if kind == 7:
            ended = "goaway %d" % int.from_bytes(payload[4:8], "big")
            break
        if kind is None:
            ended = payload.decode()
            break
        if "none" not in outcome.values():
            break
    return " ".join(outcome[k] for k in sorted(outcome)) + " | " + ended


def deadlines(port):
    s = connect(port)
    frames = reader(s).frames(DEADLINE)
    enc = hpack.Encoder()
    send_quietly(s, frame(1, 0x5, 1, request_block(enc, "/long", port)) +
                 frame(1, 0x5, 3, request_block(enc, "/short", port)))
    dec = hpack.Decoder()
    came = []
    for kind, flags, stream, payload in frames:
        answer = None
        if kind == 1:
            fields = dict(dec.decode(payload))  # every block, to keep the table in step
            if ":status" in fields:
                answer = "%d:%s" % (stream, fields[":status"])
        if kind == 3:
            answer = "%d:rst" % stream
        if kind is None:
            came.append(payload.decode())
            break
        if answer and not any(c.startswith("%d:" % stream) for c in came):
            came.append(answer)
            if stream == 3:
                send_quietly(s, frame(1, 0x5, 5, request_block(enc, "/fast", port)))
        if any(c.startswith("3:") for c in came) and any(c.startswith("5:") for c in came):
            break
    return " ".join(came)


def big_head(port, path, size):
    s = connect(port)
    enc = hpack.Encoder()
    send_quietly(s, frame(1, 0x5, 1, request_block(enc, path, port, [("x-big", "x" * size)])))
    return first_answer(s)


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    result = {
        "stall": lambda: stall(port, arg),
        "rapid-reset": lambda: rapid_reset(port, int(arg)),
        "continuation": lambda: continuation(port, int(arg)),
        "hpack-bomb": lambda: hpack_bomb(port, int(arg)),
        "ping-flood": lambda: ping_flood(port, int(arg)),
        "control-flood": lambda: control_flood(port, arg, int(sys.argv[4])),
        "graceful": lambda: graceful(port, arg),
        "trailers": lambda: trailers(port, arg, sys.argv[4]),
        "later": lambda: later(port, arg, sys.argv[4]),
        "trickle": lambda: trickle(port, arg, int(sys.argv[4]), int(sys.argv[5])),
        "streams": lambda: streams(port, arg, int(sys.argv[4]), sys.argv[5]),
        "big-head": lambda: big_head(port, arg, int(sys.argv[4])),
        "deadlines": lambda: deadlines(port),
    }[cmd]()
    print(result)


if __name__ == "__main__":
    main()
