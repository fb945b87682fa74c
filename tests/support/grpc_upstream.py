#!/usr/bin/env python3
"""A real gRPC server (Debian's python3-grpcio) for the gateway's tests.

Usage: grpc_upstream.py PORT_FILE NAME [HEALTH_FILE]

Serves, on 127.0.0.1 and a port it picks (written to PORT_FILE), methods of
service "test.Echo" on raw bytes (no protobuf needed):
  Unary         replies a JSON object: the server's NAME, the request body,
                the request metadata and the time left before the deadline
  Sleep         sleeps the milliseconds the body says, then replies "slept"
  ServerStream  replies the number of messages the body says ("0", "1", ...)
  ClientStream  replies the messages it got, joined by ","
  Bidi          replies each message as it comes, upper-cased
  Fail          ends with the status code the body names, message "failed on purpose"
Every reply carries the trailing metadata x-server: NAME.

It also serves grpc.health.v1.Health/Check (protobuf written by hand): the
server and "test.Echo" are SERVING, or what HEALTH_FILE says (SERVING or
NOT_SERVING) when it exists; other services are NOT_FOUND.
"""
import die_with_parent  # noqa: F401 (first: the server dies with its test)
import json
import sys
import time
from concurrent import futures

import grpc


def main():
    port_file, name = sys.argv[1], sys.argv[2]
    trailer = (("x-server", name),)

    def unary(request, context):
        context.set_trailing_metadata(trailer)
        body = {
            "server": name,
            "body": request.decode("latin-1"),
            "metadata": [[k, v if isinstance(v, str) else v.decode("latin-1")]
                         for k, v in context.invocation_metadata()],
            "remaining": context.time_remaining(),
        }
        return json.dumps(body).encode()

    def sleep(request, context):
        context.set_trailing_metadata(trailer)
        until = time.monotonic() + int(request.decode()) / 1000.0
        while time.monotonic() < until and context.is_active():
            time.sleep(0.01)
        return b"slept"

    def server_stream(request, context):
        context.set_trailing_metadata(trailer)
        for i in range(int(request.decode())):
            yield str(i).encode()

    def client_stream(requests, context):
        context.set_trailing_metadata(trailer)
        return b",".join(requests)

    def bidi(requests, context):
        context.set_trailing_metadata(trailer)
        for r in requests:
            yield r.upper()

    def fail(request, context):
        context.set_trailing_metadata(trailer)
        context.abort(getattr(grpc.StatusCode, request.decode()), "failed on purpose")

    methods = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    health_file = sys.argv[3] if len(sys.argv) > 3 else None

    def check(request, context):
        service = b""
        if request[:1] == b"\x0a":  # HealthCheckRequest.service (one length byte is enough here)
            service = request[2:2 + request[1]]
        if service not in (b"", b"test.Echo"):
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")
        status = "SERVING"
        if health_file:
            try:
                with open(health_file) as f:
                    status = f.read().strip() or status
            except FileNotFoundError:
                pass
        return b"\x08" + (b"\x01" if status == "SERVING" else b"\x02")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32),
                         options=[("grpc.so_reuseport", 0)])
    server.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("test.Echo", methods),
        grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}),
    ))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(port))
    import os
    os.rename(port_file + ".tmp", port_file)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
