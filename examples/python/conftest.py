"""The gateway fixture for the shop's tests, and a stand-in for its API."""

import http.server
import json
import sys
import threading
from pathlib import Path

import pytest

# In this repository the package is not installed; an installed one needs no path.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))
pytest_plugins = ["gateway.pytest_plugin"]


class Api(http.server.BaseHTTPRequestHandler):
    """Answers with the path and the headers it got."""
    def do_GET(self):
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def api_port():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway_config(api_port):
    text = (Path(__file__).parent / "gateway.yaml").read_text()
    return text.replace("API_PORT", str(api_port))
