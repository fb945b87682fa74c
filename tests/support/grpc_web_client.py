#!/usr/bin/env python3
"""A gRPC-Web call as a browser's grpc-web library makes it, over HTTP/1.1.

Usage: grpc_web_client.py HOST:PORT METHOD BODY [CONTENT_TYPE]

Sends BODY as one length-prefixed message to METHOD ("/test.Echo/Unary")
with CONTENT_TYPE (application/grpc-web+proto by default; a -text type sends
and reads the bodies as base64) and prints a JSON
object: the HTTP status, the response's headers, the messages of its body and
the fields of its trailers frame (flag 0x80), or "error" when the body does
not parse as gRPC-Web.
"""
import base64
import http.client
import json
import struct
import sys


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    method, body = sys.argv[2], sys.argv[3].encode()
    content_type = sys.argv[4] if len(sys.argv) > 4 else "application/grpc-web+proto"
    frame = b"\x00" + struct.pack(">I", len(body)) + body
    text = "-text" in content_type  # the text form: base64 both ways
    if text:
        frame = base64.b64encode(frame)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.request("POST", method, body=frame,
                 headers={"content-type": content_type, "x-grpc-web": "1",
                          "x-user-agent": "grpc-web-javascript/0.1"})
    resp = conn.getresponse()
    raw = resp.read()
    if text and resp.status == 200:  # padded groups may follow each other
        raw = b"".join(base64.b64decode(raw[i:i + 4]) for i in range(0, len(raw), 4))
    out = {"status": resp.status,
           "headers": {k.lower(): v for k, v in resp.getheaders()},
           "messages": [], "trailers": {}}
    at = 0
    while at < len(raw):
        if len(raw) - at < 5:
            out["error"] = "a frame cut short"
            break
        flags, n = raw[at], struct.unpack(">I", raw[at + 1:at + 5])[0]
        data = raw[at + 5:at + 5 + n]
        at += 5 + n
        if flags & 0x80:
            for line in data.decode("latin-1").split("\r\n"):
                if line:
                    k, v = line.split(":", 1)
                    out["trailers"][k.strip()] = v.strip()
        else:
            out["messages"].append(data.decode("latin-1"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
