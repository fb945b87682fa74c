"""The gateway's policies in front of an ASGI application (Starlette,
FastAPI...):

    from gateway.asgi import Middleware
    app = Middleware(app, open("gateway.yaml").read())   # or a pathlib.Path

HTTP requests go through the middleware's request side first: one it answers
(401, 403, a preflight, 429) never reaches the application; one it lets
through reaches it with the edits made. The application's response then goes
through the response side. Bodies are buffered whole; the pipeline's calls
run on a thread (the GIL released), never on the event loop. WebSocket and
lifespan events pass through untouched.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List
from urllib.parse import unquote_to_bytes

from ._adapter import HOP, Adapter

__all__ = ["Middleware"]

class Middleware(Adapter):
    """An ASGI application: `app` behind the gateway `config` (YAML text or a
    path). `threads`: the pipeline's event-loop threads."""

    async def __call__(self, scope: Dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in scope["headers"]]
        client = scope.get("client") or ("", 0)
        loop = asyncio.get_running_loop()
        exchange = await loop.run_in_executor(
            None, lambda: self.pipeline.handle(scope["method"], target, headers, bytes(body),
                                               client_ip=client[0] or ""))
        try:
            if exchange.replied:
                await self._send(exchange.response, send)
                return
            request = exchange.request
            path, _, query_text = request.target.partition("?")
            raw = path.encode("latin-1")
            inner = dict(scope)
            inner["method"] = request.method
            inner["raw_path"] = raw
            inner["path"] = unquote_to_bytes(raw).decode("utf-8", "replace")
            inner["query_string"] = query_text.encode("latin-1")
            inner["headers"] = [(n.lower().encode("latin-1"), v.encode("latin-1"))
                                for n, v in request.headers]
            given = False

            async def inner_receive():
                nonlocal given
                if not given:
                    given = True
                    return {"type": "http.request", "body": request.body, "more_body": False}
                return await receive()  # the client's disconnect, when it comes

            started: Dict[str, Any] = {}
            chunks: List[bytes] = []

            async def inner_send(message):
                if message["type"] == "http.response.start":
                    started.update(message)
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))

            await self.app(inner, inner_receive, inner_send)
            if not started:
                raise RuntimeError("the ASGI application sent no http.response.start")
            fields = [(n.decode("latin-1"), v.decode("latin-1"))
                      for n, v in started.get("headers", [])]
            final = await loop.run_in_executor(
                None, lambda: exchange.respond(started["status"], fields, b"".join(chunks)))
            await self._send(final, send)
        finally:
            exchange.close()

    @staticmethod
    async def _send(response, send) -> None:
        headers = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in response.headers
                   if n.lower() not in HOP]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})
