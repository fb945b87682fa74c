"""The Flask app under gunicorn and the Starlette app under uvicorn, each
behind gateway.yaml's policies, answered over real sockets."""

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
BINDINGS = HERE.parents[2] / "bindings" / "python"

SERVERS = {
    # The listening socket is the test's (port 0), handed to the server as a descriptor.
    "gunicorn+flask": lambda fd: ["/usr/bin/gunicorn", "-w", "1", "-b", f"fd://{fd}",
                                  "flask_app:app"],
    "uvicorn+starlette": lambda fd: [sys.executable, "-m", "uvicorn", "--fd", str(fd),
                                     "--no-access-log", "starlette_app:app"],
}


@pytest.fixture(params=sorted(SERVERS))
def server(request):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(BINDINGS), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen(SERVERS[request.param](listener.fileno()), cwd=HERE, env=env,
                            pass_fds=[listener.fileno()], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    listener.close()
    try:
        deadline = time.monotonic() + 60
        while True:  # up once it answers (the app loads the CRS first)
            try:
                status, _, _ = call(port, "GET", "/views", {"x-api-key": "key-batch"})
                if status == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{request.param} did not start: {proc.stderr.read()!r}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def call(port, method, path, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def views(port):
    status, _, body = call(port, "GET", "/views", {"x-api-key": "key-batch"})
    assert status == 200
    return json.loads(body)["views"]


def test_policies_guard_the_app(server):
    port = server
    before = len(views(port))
    # An SQL injection: the CRS answers 403, the view never runs.
    status, _, _ = call(port, "GET", "/orders?id=1%27%20OR%20%271%27%3D%271",
                        {"x-api-key": "key-frontend"})
    assert status == 403
    # No API key: 401, the view never runs.
    status, _, _ = call(port, "GET", "/orders?id=3")
    assert status == 401
    assert len(views(port)) == before  # neither reached the view
    # A CORS preflight is answered by the middleware.
    status, headers, _ = call(port, "OPTIONS", "/orders", {
        "origin": "https://shop.example.com", "access-control-request-method": "GET",
        "access-control-request-headers": "x-api-key"})
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://shop.example.com"
    # A good request reaches the view with the client the key names.
    status, headers, body = call(port, "GET", "/orders?id=9",
                                 {"x-api-key": "key-frontend", "origin": "https://shop.example.com"})
    assert status == 200
    assert json.loads(body) == {"orders": [{"id": "9"}], "client": "shop-frontend"}
    assert headers["access-control-allow-origin"] == "https://shop.example.com"
    # Five a minute per client: the sixth gets 429 and does not reach the view.
    statuses = [call(port, "GET", "/orders", {"x-api-key": "key-frontend"})[0] for _ in range(6)]
    assert statuses[0] == 200 and statuses[-1] == 429
    assert set(statuses) == {200, 429}
    reached = views(port)
    assert len(reached) == before + 1 + statuses.count(200)
    assert not any("OR" in v for v in reached)
