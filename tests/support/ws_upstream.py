#!/usr/bin/env python3
"""A real WebSocket server (Debian's python3-websockets) for the gateway's tests.

Usage: ws_upstream.py PORT_FILE

Listens on 127.0.0.1 on a port it picks (written to PORT_FILE). Every
connection echoes each message back as it came (text or binary); on path
/headers it first sends one text message: the request's headers as JSON.
"""
import die_with_parent  # noqa: F401 (first: the server dies with its test)
import asyncio
import json
import os
import sys

import websockets


async def main():
    port_file = sys.argv[1]

    async def handler(ws, path=None):
        path = path if path is not None else ws.path
        if path.startswith("/headers"):
            await ws.send(json.dumps({k.lower(): v for k, v in ws.request_headers.raw_items()}))
        async for message in ws:
            await ws.send(message)

    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, max_queue=None,
                                compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as f:
            f.write(str(port))
        os.rename(port_file + ".tmp", port_file)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
