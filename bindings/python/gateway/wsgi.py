"""The gateway's policies in front of a WSGI application (Flask, Django...):

    from gateway.wsgi import Middleware
    app = Middleware(app, open("gateway.yaml").read())   # or a pathlib.Path

Each request goes through the middleware's request side (routing, JWT, API
keys, IP rules, rate limits, CORS, the CRS WAF, header rewrites): a request
it answers (401, 403, a preflight, 429) never reaches the application; one it
lets through reaches it with the edits made (headers, path). The
application's response then goes through the response side (response
filters, header modifiers, CORS fields). Request and response bodies are
buffered whole.
"""

from __future__ import annotations

import io
from http import HTTPStatus
from typing import Any, Iterable, List, Tuple
from urllib.parse import quote, unquote_to_bytes

from ._adapter import HOP, Adapter

__all__ = ["Middleware"]

def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _target(environ) -> str:
    """The request target as the client sent it, when the server says;
    else rebuilt from the decoded path."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        return raw
    path = (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")) or "/"
    target = quote(path.encode("latin-1"), safe="/;=,:@!$&'()*+~")
    query = environ.get("QUERY_STRING", "")
    return target + ("?" + query if query else "")


def _headers(environ) -> List[Tuple[str, str]]:
    fields = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            fields.append((key[5:].replace("_", "-").lower(), value))
    if environ.get("CONTENT_TYPE"):
        fields.append(("content-type", environ["CONTENT_TYPE"]))
    if environ.get("CONTENT_LENGTH"):
        fields.append(("content-length", environ["CONTENT_LENGTH"]))
    if not any(n == "host" for n, _ in fields):
        fields.append(("host", environ.get("SERVER_NAME", "localhost") + ":" +
                       str(environ.get("SERVER_PORT", "80"))))
    return fields


def _body(environ) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))
    if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
        return stream.read()  # the server decodes the chunks and ends the stream
    return b""


def _forwarded_environ(environ, request) -> dict:
    """The application's environ: the original, with the request as the
    middleware lets it through."""
    out = {k: v for k, v in environ.items()
           if not k.startswith("HTTP_") and k not in ("CONTENT_TYPE", "CONTENT_LENGTH")}
    out["REQUEST_METHOD"] = request.method
    path, _, query = request.target.partition("?")
    script = environ.get("SCRIPT_NAME", "")
    decoded = unquote_to_bytes(path).decode("latin-1")
    out["PATH_INFO"] = decoded[len(script):] if script and decoded.startswith(script) else decoded
    out["QUERY_STRING"] = query
    if "RAW_URI" in out:
        out["RAW_URI"] = request.target
    if "REQUEST_URI" in out:
        out["REQUEST_URI"] = request.target
    for name, value in request.headers:
        lower = name.lower()
        if lower == "content-type":
            out["CONTENT_TYPE"] = value
        elif lower == "content-length":
            out["CONTENT_LENGTH"] = value
        else:
            key = "HTTP_" + lower.replace("-", "_").upper()
            out[key] = out[key] + "," + value if key in out else value
    out["CONTENT_LENGTH"] = str(len(request.body))
    out.pop("HTTP_TRANSFER_ENCODING", None)
    out["wsgi.input"] = io.BytesIO(request.body)
    return out


class Middleware(Adapter):
    """A WSGI application: `app` behind the gateway `config` (YAML text or a
    path). `threads`: the pipeline's event-loop threads."""

    def __call__(self, environ, start_response) -> Iterable[bytes]:
        exchange = self.pipeline.handle(environ["REQUEST_METHOD"], _target(environ),
                                        _headers(environ), _body(environ),
                                        client_ip=environ.get("REMOTE_ADDR", ""))
        with exchange:
            if exchange.replied:
                return self._send(exchange.response, start_response)
            started: List[Any] = []

            def capture(status: str, headers, exc_info=None):
                if exc_info and started:
                    raise exc_info[1].with_traceback(exc_info[2])
                started[:] = [status, headers]
                return lambda data: chunks.append(data)  # the legacy write()

            chunks: List[bytes] = []
            result = self.app(_forwarded_environ(environ, exchange.request), capture)
            try:
                for chunk in result:
                    chunks.append(chunk)
            finally:
                if hasattr(result, "close"):
                    result.close()
            if not started:
                raise RuntimeError("the WSGI application returned without start_response")
            status = int(started[0].split(" ", 1)[0])
            final = exchange.respond(status, started[1], b"".join(chunks))
            return self._send(final, start_response)

    @staticmethod
    def _send(response, start_response) -> List[bytes]:
        headers = [(n, v) for n, v in response.headers if n.lower() not in HOP]
        start_response(f"{response.status} {_reason(response.status)}", headers)
        return [response.body]
