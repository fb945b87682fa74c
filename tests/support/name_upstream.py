#!/usr/bin/env python3
"""A real HTTP/1.1 upstream for the shell tests: answers every GET with its
name as the body, keeps connections alive, one thread per connection, on a
loopback port the kernel picks, which it writes to PORT_FILE (atomically)."""
import http.server
import os
import sys

name, port_file = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = name.encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_port))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
