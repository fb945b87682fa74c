#!/usr/bin/python3
"""A real HTTP/2 upstream (h2c, prior knowledge) for the tests, on python3-h2:
one thread per connection, on a loopback port the kernel picks, written to
PORT_FILE (atomically). Every request is answered 200 with a JSON account of
what arrived (method, path, authority, fields, body length, whether the body
is the test pattern, the body itself up to 4 KiB, trailers)
and the fields x-conn (the connection's number) and x-stream (the stream id),
unless the path or MODE says otherwise:

  /size/N        N bytes of the test pattern ((i * 31 + 7) & 0xff) as the body
  /trailers      the account, then trailers x-upstream-trailer: done
  /pad/N         "ok" with one more field, x-pad, of N bytes
  /fields/N      "ok" with N more fields, x-f0: v ... (no x-conn or x-stream)
  /hang          nothing more on this connection: it stops reading and answering

MODE:
  echo           as above
  refuse-once    the first stream the server sees is reset with REFUSED_STREAM
  goaway-second  on each connection, a second stream gets GOAWAY naming the
                 first as the last processed, and the connection closes
  goaway-first   on each connection, the first stream's head is met with a
                 GOAWAY naming it as the last (a graceful drain): the stream is
                 still answered in full, then the connection closes
"""
import die_with_parent  # noqa: F401 (first: the server dies with its test)
import json
import os
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import hyperframe.frame

port_file, mode = sys.argv[1], sys.argv[2]
lock = threading.Lock()
state = {"connections": 0, "refused": False}


def pattern(n):
    return bytes(((i * 31 + 7) & 0xff) for i in range(n))


class stream_out:
    def __init__(self, data, trailers):
        self.data = data
        self.trailers = trailers


def serve(sock, number):
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    requests = {}  # stream id -> account so far
    out = {}  # stream id -> stream_out
    streams_seen = 0
    closing = False
    drain_after = None  # goaway-first: the stream after whose answer it closes

    def flush():
        for sid in list(out):
            o = out[sid]
            while o.data:
                room = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if room <= 0:
                    break
                conn.send_data(sid, o.data[:room])
                o.data = o.data[room:]
            if not o.data:
                if o.trailers:
                    conn.send_headers(sid, o.trailers, end_stream=True)
                else:
                    conn.end_stream(sid)
                del out[sid]
        sock.sendall(conn.data_to_send())

    def answer(sid):
        r = requests.pop(sid)
        path = r["path"]
        trailers = None
        if path.startswith("/pad/") or path.startswith("/fields/"):
            n = int(path.rsplit("/", 1)[1])
            extra = [("x-pad", "p" * n)] if path.startswith("/pad/") else \
                [("x-f%d" % i, "v") for i in range(n)]
            conn.send_headers(sid, [(":status", "200"), ("content-length", "2")] + extra)
            out[sid] = stream_out(b"ok", None)
            return
        if path.startswith("/size/"):
            body = pattern(int(path[len("/size/"):]))
        else:
            data = r.pop("body")
            r["body_length"] = len(data)
            r["body_is_pattern"] = len(data) > 0 and data == pattern(len(data))
            if len(data) <= 4096:
                r["body"] = data.decode("latin-1")
            body = json.dumps(r).encode()
            if path == "/trailers":
                trailers = [("x-upstream-trailer", "done")]
        fields = [(":status", "200"), ("x-conn", str(number)), ("x-stream", str(sid))]
        if not path.startswith("/size/"):
            fields.append(("content-type", "application/json"))
        fields.append(("content-length", str(len(body))))
        conn.send_headers(sid, fields)
        out[sid] = stream_out(body, trailers)

    try:
        while not closing:
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    streams_seen += 1
                    sid = event.stream_id
                    fields = dict((n, v) for n, v in event.headers if n.startswith(":"))
                    requests[sid] = {
                        "method": fields.get(":method"), "path": fields.get(":path"),
                        "authority": fields.get(":authority"), "scheme": fields.get(":scheme"),
                        "fields": [[n, v] for n, v in event.headers if not n.startswith(":")],
                        "body": b"", "trailers": [], "conn": number, "stream": sid}
                    if fields.get(":path") == "/hang":
                        time.sleep(120)  # killed with the server long before
                    if mode == "goaway-first" and streams_seen == 1:
                        # Written around h2's state machine, which would
                        # refuse to answer after its own GOAWAY.
                        sock.sendall(conn.data_to_send() + hyperframe.frame.GoAwayFrame(
                            0, last_stream_id=sid).serialize())
                        drain_after = sid
                    if mode == "goaway-second" and streams_seen == 2:
                        conn.close_connection(error_code=h2.errors.ErrorCodes.NO_ERROR,
                                              last_stream_id=sid - 2)
                        closing = True
                        break
                    if mode == "refuse-once":
                        with lock:
                            first = not state["refused"]
                            state["refused"] = True
                        if first:
                            conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
                            requests.pop(sid)
                elif isinstance(event, h2.events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                    if event.stream_id in requests:
                        requests[event.stream_id]["body"] += event.data
                elif isinstance(event, h2.events.TrailersReceived):
                    if event.stream_id in requests:
                        requests[event.stream_id]["trailers"] = [[n, v] for n, v in event.headers]
                elif isinstance(event, h2.events.StreamEnded):
                    if event.stream_id in requests:
                        answer(event.stream_id)
                        if event.stream_id == drain_after:
                            flush()
                            closing = True
                elif isinstance(event, h2.events.StreamReset):
                    requests.pop(event.stream_id, None)
                    out.pop(event.stream_id, None)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    closing = True
            flush()
    except (OSError, h2.exceptions.ProtocolError):
        pass
    finally:
        # A lingering close, as real servers do: what the peer still sends
        # is read and dropped, so no RST takes the last answer with it.
        try:
            sock.sendall(conn.data_to_send())
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(2)
            while sock.recv(65536):
                pass
        except OSError:
            pass
        sock.close()


listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
with open(port_file + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(port_file + ".tmp", port_file)
while True:
    s, _ = listener.accept()
    with lock:
        state["connections"] += 1
        n = state["connections"]
    threading.Thread(target=serve, args=(s, n), daemon=True).start()
