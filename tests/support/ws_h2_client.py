#!/usr/bin/env python3
"""WebSocket over HTTP/2 (RFC 8441) against the gateway, built by hand on
Debian's python3-h2: an extended CONNECT on one stream, WebSocket frames
(RFC 6455, masked from the client) in its DATA.

Usage: ws_h2_client.py SPEC, SPEC being JSON:
  port          the gateway's port (h2c, prior knowledge)
  path          the :path (default /)
  headers       [[name, value], ...] more request fields
  messages      text messages to send; each echo is read back
  sizes         then messages of this many bytes each
  expect_first  read one message the server sends first (its /headers JSON)
  protocol      the :protocol (default websocket)

Prints one JSON line: the server's ENABLE_CONNECT_PROTOCOL setting, the
response status, the messages received, and whether the stream ended
cleanly (END_STREAM both ways) after a close frame.
"""
import json
import os
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings


def frame(opcode, payload):
    """A masked client frame."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def parse(buf):
    """One unmasked server frame from buf: (opcode, payload, rest) or None."""
    if len(buf) < 2:
        return None
    opcode = buf[0] & 0x0F
    n = buf[1] & 0x7F
    at = 2
    if n == 126:
        if len(buf) < 4:
            return None
        n = struct.unpack("!H", buf[2:4])[0]
        at = 4
    elif n == 127:
        if len(buf) < 10:
            return None
        n = struct.unpack("!Q", buf[2:10])[0]
        at = 10
    if len(buf) < at + n:
        return None
    return opcode, buf[at:at + n], buf[at + n:]


def main():
    spec = json.loads(sys.argv[1])
    sock = socket.create_connection(("127.0.0.1", spec["port"]), timeout=20)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    out = {"enable_connect_protocol": None, "status": None, "received": [], "ended": False}
    stream_id = None
    data = b""
    remote_ended = False
    settings_seen = False

    def pump():
        nonlocal data, remote_ended, settings_seen
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed")
        for event in conn.receive_data(chunk):
            if isinstance(event, h2.events.RemoteSettingsChanged):
                settings_seen = True
                setting = event.changed_settings.get(h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL)
                if setting is not None:
                    out["enable_connect_protocol"] = setting.new_value
            elif isinstance(event, h2.events.ResponseReceived):
                out["status"] = int(dict(event.headers)[b":status"])
                out["response_headers"] = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h2.events.DataReceived):
                data += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                remote_ended = True
            elif isinstance(event, h2.events.StreamReset):
                out["reset"] = event.error_code
                remote_ended = True
        sock.sendall(conn.data_to_send())

    while not settings_seen:
        pump()
    stream_id = conn.get_next_available_stream_id()
    headers = [(":method", "CONNECT"), (":protocol", spec.get("protocol", "websocket")),
               (":scheme", "http"), (":path", spec.get("path", "/")),
               (":authority", "example.test"), ("sec-websocket-version", "13")]
    headers += [tuple(h) for h in spec.get("headers", [])]
    conn.send_headers(stream_id, headers)
    sock.sendall(conn.data_to_send())
    while out["status"] is None and not remote_ended:
        pump()
    if out["status"] != 200:
        print(json.dumps(out))
        return

    def send(payload):
        view = memoryview(payload)
        while view:
            room = min(conn.local_flow_control_window(stream_id), conn.max_outbound_frame_size)
            if room <= 0:
                pump()
                continue
            conn.send_data(stream_id, bytes(view[:room]))
            view = view[room:]
            sock.sendall(conn.data_to_send())

    def read_message():
        nonlocal data
        while True:
            got = parse(data)
            if got is not None:
                opcode, payload, data = got
                return opcode, payload
            if remote_ended:
                raise EOFError("stream ended")
            pump()

    if spec.get("expect_first"):
        out["received"].append(read_message()[1].decode())
    for m in spec.get("messages", []) + ["w" * n for n in spec.get("sizes", [])]:
        send(frame(0x1, m.encode()))
        opcode, payload = read_message()
        out["received"].append(payload.decode() if len(payload) < 200 else "%d bytes" % len(payload))
    # A close frame, answered by one; then this side ends its stream.
    send(frame(0x8, struct.pack("!H", 1000)))
    opcode, _ = read_message()
    out["close_answered"] = opcode == 0x8
    conn.end_stream(stream_id)
    sock.sendall(conn.data_to_send())
    while not remote_ended:
        pump()
    out["ended"] = "reset" not in out
    print(json.dumps(out))
    sock.close()


if __name__ == "__main__":
    main()
