# Sends N keep-alive GETs on one connection and prints how many got 200.
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
extra = sys.argv[3] if len(sys.argv) > 3 else ""
s = socket.create_connection(("127.0.0.1", port))
req = ("GET /small HTTP/1.1\r\nHost: a\r\n" + extra + "\r\n").encode()
buf = b""
ok = 0
for i in range(n):
    s.sendall(req)
    while True:
        end = buf.find(b"\r\n\r\n")
        if end >= 0:
            head = buf[:end].decode()
            length = 0
            for line in head.split("\r\n")[1:]:
                k, v = line.split(":", 1)
                if k.lower() == "content-length": length = int(v)
            if len(buf) >= end + 4 + length:
                if head.startswith("HTTP/1.1 200"): ok += 1
                buf = buf[end + 4 + length:]
                break
        buf += s.recv(65536)
print(ok)
