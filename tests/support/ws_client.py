#!/usr/bin/env python3
"""A real WebSocket client (Debian's python3-websockets) for the gateway's tests.

Usage: ws_client.py SPEC_JSON

SPEC_JSON: {"url": "ws://127.0.0.1:PORT/path", "headers": [[k, v], ...],
            "tunnels": n (connections at once, default 1),
            "messages": ["text", ...], "size": n (one binary message of n
            bytes instead), "wait_close": seconds (after the echoes, wait
            that long for the gateway to end the connection)}
Prints one JSON object per tunnel: "ok" (every echo came back equal),
"first" (the first message received, when text), "status" (the handshake's
HTTP status when it was refused), "closed_by_peer" (with wait_close).
"""
import asyncio
import json
import os
import sys

import websockets


async def one(spec):
    out = {"ok": False}
    try:
        async with websockets.connect(spec["url"], extra_headers=spec.get("headers", []),
                                      max_size=None, compression=None, open_timeout=20,
                                      close_timeout=5) as ws:
            if "size" in spec:
                data = os.urandom(spec["size"])
                await ws.send(data)
                out["ok"] = await asyncio.wait_for(ws.recv(), 60) == data
            else:
                if spec.get("expect_first"):
                    out["first"] = await asyncio.wait_for(ws.recv(), 20)
                got = []
                for m in spec.get("messages", []):
                    await ws.send(m)
                    got.append(await asyncio.wait_for(ws.recv(), 20))
                out["ok"] = got == spec.get("messages", [])
            if "wait_close" in spec:
                try:
                    await asyncio.wait_for(ws.recv(), spec["wait_close"])
                    out["closed_by_peer"] = False
                except websockets.ConnectionClosed:
                    out["closed_by_peer"] = True
                except asyncio.TimeoutError:
                    out["closed_by_peer"] = False
    except websockets.InvalidStatusCode as e:
        out["status"] = e.status_code
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        out["error"] = f"{type(e).__name__}: {e}"
    return out


async def main():
    spec = json.loads(sys.argv[1])
    results = await asyncio.gather(*(one(spec) for _ in range(spec.get("tunnels", 1))))
    for r in results:
        print(json.dumps(r))


if __name__ == "__main__":
    asyncio.run(main())
