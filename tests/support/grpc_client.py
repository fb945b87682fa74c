#!/usr/bin/env python3
"""A real gRPC client (Debian's python3-grpcio) for the gateway's tests.

Usage: grpc_client.py SPEC_JSON

SPEC_JSON: {"target": "127.0.0.1:PORT", "authority": optional,
            "ca": optional CA file (TLS), "server_name": optional name the
            certificate is checked for, "calls": [CALL, ...]}
CALL: {"kind": "unary" | "server_stream" | "client_stream" | "bidi",
       "method": "/test.Echo/Unary", "body": "text" (or "size": n for n "x"
       bytes, or "parts": [...] for the streaming kinds),
       "timeout": optional seconds, "metadata": optional [[k, v], ...],
       "concurrency": optional n (that many copies of the call at once)}
Prints one JSON object per call (per copy): {"code": "OK" or the status
name, "details", "replies": [...], "trailers": [[k, v], ...]}.
"""
import json
import sys
from concurrent import futures

import grpc


def decode(items):
    return [[k, v if isinstance(v, str) else v.decode("latin-1")] for k, v in (items or ())]


def run_call(channel, call):
    kind = call["kind"]
    method = call["method"]
    timeout = call.get("timeout")
    metadata = [tuple(m) for m in call.get("metadata", [])]
    parts = [p.encode() for p in call.get("parts", [])]
    body = ("x" * call["size"]).encode() if "size" in call else call.get("body", "").encode()
    result = {"code": "OK", "details": "", "replies": [], "trailers": []}
    try:
        if kind == "unary":
            reply, rpc = channel.unary_unary(method).with_call(
                body, timeout=timeout, metadata=metadata)
            result["replies"] = [reply.decode("latin-1")]
            result["trailers"] = decode(rpc.trailing_metadata())
        elif kind == "server_stream":
            it = channel.unary_stream(method)(body, timeout=timeout, metadata=metadata)
            for r in it:
                result["replies"].append(r.decode("latin-1"))
            result["trailers"] = decode(it.trailing_metadata())
        elif kind == "client_stream":
            reply, rpc = channel.stream_unary(method).with_call(
                iter(parts), timeout=timeout, metadata=metadata)
            result["replies"] = [reply.decode("latin-1")]
            result["trailers"] = decode(rpc.trailing_metadata())
        elif kind == "bidi":
            it = channel.stream_stream(method)(iter(parts), timeout=timeout, metadata=metadata)
            for r in it:
                result["replies"].append(r.decode("latin-1"))
            result["trailers"] = decode(it.trailing_metadata())
        else:
            raise SystemExit("unknown call kind " + kind)
    except grpc.RpcError as e:
        result["code"] = e.code().name
        result["details"] = e.details() or ""
        result["trailers"] = decode(e.trailing_metadata())
    return result


def main():
    spec = json.loads(sys.argv[1])
    options = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
    if spec.get("authority"):
        options.append(("grpc.default_authority", spec["authority"]))
    if spec.get("ca"):
        with open(spec["ca"], "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        if spec.get("server_name"):
            options.append(("grpc.ssl_target_name_override", spec["server_name"]))
        channel = grpc.secure_channel(spec["target"], creds, options=options)
    else:
        channel = grpc.insecure_channel(spec["target"], options=options)
    with channel:
        for call in spec["calls"]:
            n = call.get("concurrency", 1)
            if n == 1:
                results = [run_call(channel, call)]
            else:
                with futures.ThreadPoolExecutor(max_workers=n) as pool:
                    results = list(pool.map(lambda _: run_call(channel, call), range(n)))
            for r in results:
                print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
