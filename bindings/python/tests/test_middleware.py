"""gateway.Middleware and its WSGI and ASGI adapters: the gateway's policies
in front of an application, through the C ABI."""

import asyncio
import io
import json
import threading
import wsgiref.util

import pytest

from gateway import ArgumentError, ConfigError, Middleware, StateError
from gateway.asgi import Middleware as AsgiMiddleware
from gateway.wsgi import Middleware as WsgiMiddleware

CONFIG = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web}
spec:
  gatewayClassName: any
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app}
spec:
  parentRefs: [{name: web}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /v1}}]
    filters:
    - type: URLRewrite
      urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /api}}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-policy, value: checked}]}
---
apiVersion: v1
kind: Secret
metadata: {name: keys}
stringData: {tester: key-1}
---
apiVersion: gateway.envoyproxy.io/v1alpha1
kind: SecurityPolicy
metadata: {name: edge}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  apiKeyAuth:
    credentialRefs: [{name: keys}]
    extractFrom: [{headers: [x-api-key]}]
    forwardClientIDHeader: x-client
---
apiVersion: gateway.dev/v1alpha1
kind: WafPolicy
metadata: {name: crs}
spec:
  targetRefs: [{group: gateway.networking.k8s.io, kind: HTTPRoute, name: app}]
  ruleSet: {crs: {paranoiaLevel: 1}}
"""

KEY = {"host": "app.test", "x-api-key": "key-1"}


def test_handle_replies_or_forwards_and_the_response_side_runs():
    with Middleware(CONFIG) as mw:
        denied = mw.handle("GET", "/v1/items", {"host": "app.test"})
        assert denied.replied and denied.response.status == 401
        assert denied.request is None
        ex = mw.handle("POST", "/v1/items?x=1", KEY, b'{"n": 1}', client_ip="203.0.113.9")
        assert not ex.replied
        assert ex.request.target == "/api/items?x=1"  # the rewrite
        assert ex.request.header("x-client") == "tester"
        assert ex.request.header("x-api-key") is None
        assert "203.0.113.9" in ex.request.header("x-forwarded-for")
        assert ex.request.body == b'{"n": 1}'
        final = ex.respond(201, [("content-type", "application/json")], b"{}")
        assert final.status == 201 and final.header("x-policy") == "checked"
        with pytest.raises(StateError):
            ex.respond(200)
        blocked = mw.handle("GET", "/v1/items?id=1%27%20OR%20%271%27%3D%271", KEY)
        assert blocked.replied and blocked.response.status == 403
        assert 'route="default/app"' in mw.stats()
        with pytest.raises(ArgumentError):
            mw.handle("GET", "no-slash", KEY)
    with pytest.raises(StateError):
        mw.handle("GET", "/v1/items", KEY)
    with pytest.raises(ConfigError):
        Middleware("kind: Nothing\n")


def _wsgi_app(seen):
    def app(environ, start_response):
        seen.append({"path": environ["PATH_INFO"], "query": environ["QUERY_STRING"],
                     "client": environ.get("HTTP_X_CLIENT"),
                     "body": environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello ", b"world"]
    return app


def _environ(method, path, query="", headers=None, body=b""):
    environ = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                    "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_ADDR": "198.51.100.4", "HTTP_HOST": "app.test"})
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def _call_wsgi(app, environ):
    status = []
    body = b"".join(app(environ, lambda s, h, e=None: status.extend([s, h])))
    return status[0], dict(status[1]), body


def test_wsgi_middleware_guards_the_application():
    seen = []
    app = WsgiMiddleware(_wsgi_app(seen), CONFIG)
    try:
        status, _, _ = _call_wsgi(app, _environ("GET", "/v1/items"))
        assert status.startswith("401") and seen == []
        status, headers, body = _call_wsgi(app, _environ("POST", "/v1/items", "a=1",
                                                         {"x-api-key": "key-1"}, b"payload"))
        assert status == "200 OK" and body == b"hello world"
        assert headers["x-policy"] == "checked"
        assert seen == [{"path": "/api/items", "query": "a=1", "client": "tester",
                         "body": b"payload"}]
        status, _, _ = _call_wsgi(app, _environ("GET", "/v1/items", "id=1%27%20OR%20%271%27%3D%271",
                                                {"x-api-key": "key-1"}))
        assert status.startswith("403") and len(seen) == 1
    finally:
        app.close()


def test_asgi_middleware_guards_the_application():
    seen = []

    async def app(scope, receive, send):
        message = await receive()
        seen.append((scope["path"], scope["query_string"], dict(scope["headers"]).get(b"x-client"),
                     message["body"]))
        await send({"type": "http.response.start", "status": 202,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": json.dumps({"ok": True}).encode()})

    mw = AsgiMiddleware(app, CONFIG)

    async def call(method, path, query=b"", headers=(), body=b""):
        scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                 "query_string": query, "client": ("192.0.2.7", 5000),
                 "headers": [(b"host", b"app.test")] + list(headers)}
        sent = []
        chunks = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive():
            return chunks.pop(0) if chunks else {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
        await mw(scope, receive, send)
        return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]

    try:
        status, _, _ = asyncio.run(call("GET", "/v1/items"))
        assert status == 401 and seen == []
        status, headers, body = asyncio.run(call(
            "POST", "/v1/items", b"z=2", [(b"x-api-key", b"key-1"), (b"content-type", b"application/json")],
            b"{\"d\": 1}"))
        assert status == 202 and json.loads(body) == {"ok": True}
        assert headers[b"x-policy"] == b"checked"
        assert seen == [("/api/items", b"z=2", b"tester", b"{\"d\": 1}")]
    finally:
        mw.close()


def test_a_middleware_serves_many_threads():
    with Middleware(CONFIG, threads=2) as mw:
        results = []

        def work():
            for _ in range(20):
                ex = mw.handle("GET", "/v1/x", KEY)
                results.append(ex.respond(200, [], b"ok").status)
                ex.close()
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == [200] * 80
