"""The Python API over the C ABI, against real upstream servers on loopback."""

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import gateway
from gateway import (PAUSE, ConfigError, Evaluation, Gateway, NotFoundError, StateError)
from conftest import GATEWAY, filter_yaml, route_yaml, service_yaml, uses


def listening(port):
    """Whether this process has a socket listening on TCP `port` (asking the
    port itself would race with other tests the kernel may give it to)."""
    import os
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            mine.add(link[8:-1])
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        with open(table) as f:
            for line in list(f)[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port and inode in mine:
                    return True
    return False


def fetch(url, headers=None, method="GET", data=None):
    """(status, headers dict, body bytes) of one request; errors are answers too."""
    rq = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(rq, timeout=10) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None


def seen(body):
    """What the echo upstream received."""
    d = json.loads(body)
    fields = {}
    for k, v in d["headers"]:  # repeated fields joined, as RFC 9110 allows
        fields[k.lower()] = fields[k.lower()] + ", " + v if k.lower() in fields else v
    d["headers"] = fields
    return d


def app_yaml(upstreams, rules=None, extra=""):
    rules = rules or "  - backendRefs: [{name: v1, port: 80}]\n"
    return (GATEWAY + service_yaml("v1", upstreams["v1"].port) +
            service_yaml("v2", upstreams["v2"].port) + route_yaml(rules) + extra)


def test_version_and_library():
    assert gateway.version().count(".") == 2
    assert Path(gateway.library_path()).name.startswith("libgateway.so")


def test_two_gateways_with_catch_all_listeners_on_one_port(upstreams):
    # bind= gives each listener its own ephemeral port, so they do not share a socket.
    second = GATEWAY.replace("name: web", "name: api") + route_yaml(
        "  - backendRefs: [{name: v2, port: 80}]\n").replace("name: app", "name: api-app").replace(
            "parentRefs: [{name: web}]", "parentRefs: [{name: api}]")
    with Gateway(app_yaml(upstreams) + "---\n" + second) as gw:
        web, api = gw.port("default/web/http"), gw.port("default/api/http")
        assert web != api
        assert fetch(f"http://127.0.0.1:{web}/", {"host": "app.test"})[1]["x-upstream"] == "v1"
        assert fetch(f"http://127.0.0.1:{api}/", {"host": "app.test"})[1]["x-upstream"] == "v2"


def test_context_manager_port_url_stats_config(upstreams):
    with Gateway(app_yaml(upstreams)) as gw:
        assert gw.port() == gw.port("default/web/http")
        assert gw.url == f"http://127.0.0.1:{gw.port()}"
        status, headers, body = fetch(gw.url + "/hello?x=1", {"host": "app.test"})
        assert status == 200 and headers["x-upstream"] == "v1"
        assert seen(body)["target"] == "/hello?x=1"
        with pytest.raises(NotFoundError, match="no/such"):
            gw.port("no/such")
        assert "gateway_requests_total" in gw.stats()
        assert gw.config()["listeners"][0]["name"] == "default/web/http"
        assert gw.config_version == 1
        port = gw.port()
        assert listening(port)
    # After the with block the gateway is stopped and freed: its socket is closed.
    assert not listening(port)


def test_errors_carry_the_c_message(upstreams):
    with pytest.raises(ConfigError, match="Mystery") as e:
        Gateway("apiVersion: v1\nkind: Mystery\nmetadata: {name: x}\n").start()
    assert e.value.status == 3
    gw = Gateway(app_yaml(upstreams))
    with pytest.raises(StateError, match="not running"):
        gw.reload(app_yaml(upstreams))
    with pytest.raises(StateError):
        gw.port()
    gw.start()
    with pytest.raises(StateError, match="register filters before"):
        gw.filter("late")(lambda s: None)
    with pytest.raises(StateError, match="already running"):
        gw.start()
    gw.close()
    with pytest.raises(ValueError):
        Gateway(app_yaml(upstreams), log_level="chatty")


def test_strict_mode_refuses_a_config_with_warnings(upstreams):
    broken = app_yaml(upstreams, "  - backendRefs: [{name: nowhere, port: 80}]\n")
    with pytest.raises(ConfigError, match="(?s)strict mode.*nowhere"):
        Gateway(broken, strict=True).start()
    with Gateway(broken) as gw:  # without it: a warning, and a 500 for the route
        assert fetch(gw.url + "/", {"host": "app.test"})[0] == 500
    with Gateway(app_yaml(upstreams), strict=True) as gw:
        assert fetch(gw.url + "/", {"host": "app.test"})[0] == 200


def test_limits_cap_connections_and_are_checked(upstreams):
    import http.client
    with Gateway(app_yaml(upstreams), limits={"max_connections": 1}) as gw:
        held = http.client.HTTPConnection("127.0.0.1", gw.port(), timeout=10)
        held.request("GET", "/", headers={"host": "app.test"})
        assert held.getresponse().read() is not None  # served, and kept open
        refused = http.client.HTTPConnection("127.0.0.1", gw.port(), timeout=10)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            refused.request("GET", "/", headers={"host": "app.test"})
            refused.getresponse()
        held.close()
        assert "gateway_limit_hits_total{limit=\"worker_connections\"} 1" in gw.stats()
    with pytest.raises(ValueError, match="max_conections"):
        Gateway(app_yaml(upstreams), limits={"max_conections": 1})
    with pytest.raises(gateway.GatewayError, match="soft threshold is above its hard one"):
        Gateway(app_yaml(upstreams), limits={"descriptors_soft": 200, "descriptors_hard": 100})


def test_config_from_a_file(upstreams, tmp_path):
    path = tmp_path / "gateway.yaml"
    path.write_text(app_yaml(upstreams))
    with Gateway(path) as gw:
        assert fetch(gw.url + "/", {"host": "app.test"})[0] == 200
        path.write_text(app_yaml(upstreams, "  - backendRefs: [{name: v2, port: 80}]\n"))
        gw.reload(path)
        assert fetch(gw.url + "/", {"host": "app.test"})[1]["x-upstream"] == "v2"


def test_filter_that_blocks(upstreams):
    gw = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("key"),
                          filter_yaml("key", "api-key", {"key": "s3cret"})))

    @gw.filter("api-key")
    def check_key(stream):
        if stream.request_headers.get("x-api-key") != stream.config["key"]:
            return stream.reply(401, "no key\n", {"www-authenticate": "ApiKey"})
        return None

    with gw:
        status, headers, body = fetch(gw.url + "/", {"host": "app.test"})
        assert (status, body, headers["www-authenticate"]) == (401, b"no key\n", "ApiKey")
        status, headers, _ = fetch(gw.url + "/", {"host": "app.test", "x-api-key": "s3cret"})
        assert status == 200 and headers["x-upstream"] == "v1"


class Tenant:
    """A filter class: made once per Filter object, hooks per request."""
    made = []

    def __init__(self, config):
        if "tenant" not in config:
            raise ValueError("config needs 'tenant'")
        self.tenant = config["tenant"]
        Tenant.made.append(self.tenant)

    def on_request(self, stream):
        h = stream.request_headers
        stream.state["seen"] = h.get("x-debug", "none")
        h["x-tenant"] = self.tenant
        h.add("x-trace", "a")
        h.add("x-trace", "b")
        assert h.remove("x-debug") in (True, False)
        assert ("x-tenant", self.tenant) in h.items()
        assert "X-Tenant" in h and "x-absent" not in h and h["x-tenant"] == self.tenant
        assert len(h) == len(h.items()) and "host" in [n.lower() for n in h]
        with pytest.raises(KeyError):
            h["x-absent"]
        stream.set_metadata("tenant", self.tenant)
        assert stream.metadata("tenant") == self.tenant
        assert stream.method == "GET" and stream.path == "/t" and stream.query == "q=1"
        assert stream.host == "app.test" and stream.scheme == "http"
        assert stream.client_ip == "127.0.0.1" and stream.route == "default/app"
        assert stream.listener == "default/web/http" and stream.protocol == "HTTP/1.1"
        assert len(stream.request_id) == 36

    def on_response(self, stream):
        assert stream.response_status == 200
        stream.response_headers["x-served-tenant"] = self.tenant
        stream.response_headers["x-saw-debug"] = stream.state["seen"]
        del stream.response_headers["x-upstream"]
        stream.response_headers.remove("content-length")

    def on_response_body(self, stream, data, end):
        stream.set_body_chunk(data.upper())

    def on_done(self, stream):
        stream.state["done"] = True


def test_filter_that_modifies_headers_and_body(upstreams):
    extra = filter_yaml("blue", "tenant", {"tenant": "blue"})
    gw = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("blue"),
                          extra), filters={"tenant": Tenant})
    with gw:
        status, headers, body = fetch(gw.url + "/t?q=1", {"host": "app.test", "x-debug": "1"})
        assert status == 200
        assert headers["x-served-tenant"] == "blue" and headers["x-saw-debug"] == "1"
        assert "x-upstream" not in headers
        got = seen(body.lower())
        assert got["headers"]["x-tenant"] == "blue" and "x-debug" not in got["headers"]
        assert got["headers"]["x-trace"] == "a, b"
        assert body == body.upper()
        assert "blue" in Tenant.made
    # A config the class refuses is a ConfigError naming the reason.
    bad = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("blue"),
                           filter_yaml("blue", "tenant", {"colour": "blue"})),
                  filters={"tenant": Tenant})
    with pytest.raises(ConfigError, match="config needs 'tenant'"):
        bad.start()
    bad.close()


class Gate:
    """Counts what it lets through and what it refuses."""

    def __init__(self, config):
        self.allowed = gateway.counter("allowed")
        self.refused = gateway.counter("refused")

    def on_request(self, stream):
        if stream.path == "/no":
            stream.count(self.refused, 2)
            return stream.reply(403, "no\n")
        stream.count(self.allowed)
        return None


def test_filter_counters_are_metrics(upstreams):
    gw = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("gate"),
                          filter_yaml("gate", "gate", {})), filters={"gate": Gate})
    with gw:
        assert [fetch(gw.url + p, {"host": "app.test"})[0] for p in ("/", "/no", "/")] == \
            [200, 403, 200]
        labels = 'filter="Filter default/gate",type="gate",event='
        stats = gw.stats()
        assert f'gateway_filter_events_total{{{labels}"allowed"}} 2' in stats
        assert f'gateway_filter_events_total{{{labels}"refused"}} 2' in stats
    # Outside a filter's configuration there is no Filter to count for.
    with pytest.raises(gateway.StateError, match="__init__"):
        gateway.counter("stray")


def test_filter_that_raises_is_a_500_and_serving_goes_on(upstreams):
    gw = Gateway(app_yaml(upstreams, "  - matches: [{path: {type: PathPrefix, value: /boom}}]\n"
                                     "    backendRefs: [{name: v1, port: 80}]\n" + uses("boom") +
                          "  - backendRefs: [{name: v1, port: 80}]\n",
                          filter_yaml("boom", "boom")))

    @gw.filter("boom")
    def boom(stream):
        raise RuntimeError("the filter broke")

    with gw:
        for _ in range(3):
            status, _, body = fetch(gw.url + "/boom", {"host": "app.test"})
            assert (status, body) == (500, b"filter error\n")
        assert fetch(gw.url + "/fine", {"host": "app.test"})[0] == 200
        assert any("RuntimeError: the filter broke" in m for _, m in gw.logs)


def test_filter_returning_nonsense_is_a_500(upstreams):
    gw = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("odd"),
                          filter_yaml("odd", "odd")))
    gw.filter("odd")(lambda stream: "yes")
    with gw:
        assert fetch(gw.url + "/", {"host": "app.test"})[0] == 500
        assert any("return None, CONTINUE, STOP or PAUSE" in m for _, m in gw.logs)


class Gather:
    """Pauses each request and resumes them all, from another thread, once `count`
    requests are paused at the same time (or after a bound, so a failure cannot hang)."""

    lock = threading.Lock()
    paused = []
    most = 0

    def __init__(self, config):
        self.count = config["count"]

    def on_request(self, stream):
        handle = stream.pause()
        with Gather.lock:
            Gather.paused.append(handle)
            Gather.most = max(Gather.most, len(Gather.paused))
            if len(Gather.paused) == self.count:
                release, Gather.paused = Gather.paused, []
                threading.Thread(target=lambda: [h.resume() for h in release]).start()
            elif len(Gather.paused) == 1:
                bound = threading.Timer(8, Gather.release_all)
                bound.daemon = True
                bound.start()
        return PAUSE

    @staticmethod
    def release_all():
        with Gather.lock:
            release, Gather.paused = Gather.paused, []
        for h in release:
            h.resume()

    def on_resume(self, stream):
        stream.request_headers["x-resumed"] = "yes"


def test_pause_and_resume_from_another_thread_concurrently(upstreams):
    # What this proves: all 16 requests were paused at once (seen inside the filter),
    # so a paused request holds neither its worker nor the GIL, and each resumes
    # from a thread of Python's own. No clock is read.
    gw = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("gather"),
                          filter_yaml("gather", "gather", {"count": 16})),
                 threads=2, filters={"gather": Gather})
    results = []

    def client():
        status, _, body = fetch(gw.url + "/", {"host": "app.test"})
        results.append((status, seen(body)["headers"].get("x-resumed")))

    with gw:
        clients = [threading.Thread(target=client) for _ in range(16)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(30)
        assert results == [(200, "yes")] * 16
        assert Gather.most == 16


def test_stop_while_a_python_filter_runs(upstreams):
    entered = threading.Event()
    gw = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("nap"),
                          filter_yaml("nap", "nap")))

    @gw.filter("nap")
    def nap(stream):
        entered.set()
        time.sleep(0.3)

    gw.start()
    t = threading.Thread(target=fetch, args=(gw.url + "/", {"host": "app.test"}))
    t.start()
    assert entered.wait(10)
    gw.stop(drain=2.0)  # waits for the worker, which needs the GIL this thread released
    gw.close()
    t.join(10)
    assert not t.is_alive()


def test_reload_replaces_routes_and_keeps_serving_on_error(upstreams):
    with Gateway(app_yaml(upstreams)) as gw:
        assert fetch(gw.url + "/", {"host": "app.test"})[1]["x-upstream"] == "v1"
        gw.reload(app_yaml(upstreams, "  - backendRefs: [{name: v2, port: 80}]\n"))
        assert gw.config_version == 2
        assert fetch(gw.url + "/", {"host": "app.test"})[1]["x-upstream"] == "v2"
        with pytest.raises(ConfigError, match="Mystery"):
            gw.reload("apiVersion: v1\nkind: Mystery\nmetadata: {name: x}\n")
        assert gw.config_version == 2
        assert fetch(gw.url + "/", {"host": "app.test"})[1]["x-upstream"] == "v2"


# ---- evaluate agrees with the real requests ---------------------------------

RULES = """  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}, statusCode: 301}}]
  - matches: [{path: {type: PathPrefix, value: /api}, headers: [{name: x-version, value: v2}]}]
    backendRefs: [{name: v2, port: 80}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}}},
              {type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-route, value: api-v2}], remove: [x-secret]}}]
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: v1, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /admin}}]
    backendRefs: [{name: v1, port: 80}]
""" + uses("admins", "tag") + """  - matches: [{path: {type: Exact, value: /gone}}]
    backendRefs: [{name: nothing, port: 80}]
"""

USERS = "admin:{SHA}0DPiKuNIrrVmD8IUCuw1hQxNqZc="  # admin:admin


def evaluation_gateway(upstreams):
    extra = (filter_yaml("admins", "basic-auth", {"htpasswd": USERS}) +
             filter_yaml("tag", "tag"))
    gw = Gateway(app_yaml(upstreams, RULES, extra), threads=2)

    @gw.filter("tag")
    def tag(stream):
        stream.request_headers["x-tagged"] = "by-python"

    return gw


CASES = [
    ("GET", "/api/orders?page=2", {"host": "app.test"}),
    ("GET", "/api/orders", {"host": "app.test", "x-version": "v2", "x-secret": "1"}),
    ("POST", "/api/orders", {"host": "app.test", "content-type": "application/json"}),
    ("GET", "/old/page?x=1", {"host": "app.test"}),
    ("GET", "/admin/panel", {"host": "app.test"}),
    ("GET", "/admin/panel", {"host": "app.test", "authorization": "Basic YWRtaW46YWRtaW4="}),
    ("GET", "/admin/panel", {"host": "app.test", "authorization": "Basic YWRtaW46d3Jvbmc="}),
    ("GET", "/anything", {"host": "other.test"}),
    ("GET", "/gone", {"host": "app.test"}),
    ("GET", "/a/../api/x", {"host": "app.test"}),
]


@pytest.mark.parametrize("method,path,headers", CASES)
def test_evaluate_agrees_with_real_requests(upstreams, method, path, headers):
    body = b'{"n": 1}' if method == "POST" else b""
    gw = evaluation_gateway(upstreams)
    with gw:
        predicted = gw.evaluate(method, path, headers=headers, body=body)
        assert isinstance(predicted, Evaluation)
        status, answer_headers, answer = fetch(gw.url + path, headers, method, body or None)
        if predicted.upstream is None:
            assert predicted.response is not None
            assert predicted.status == status
            assert predicted.response.body == answer
            for name in ("location", "www-authenticate", "content-type"):
                assert predicted.response.header(name) == answer_headers.get(name)
        else:
            assert status == 200 and predicted.response is None
            got = seen(answer)
            assert f"default/{got['name']}:80" == predicted.backend  # Service:port
            assert predicted.endpoint == f"127.0.0.1:{upstreams[got['name']].port}"
            assert predicted.upstream.protocol == "HTTP/1.1"
            assert predicted.upstream.target == got["target"]
            assert predicted.upstream.method == got["method"]
            assert predicted.upstream.body == got["body"].encode()
            for name, value in predicted.upstream.headers:
                if name.lower() in ("x-request-id", "x-forwarded-for", "via"):
                    continue  # per request, or written by the test client's stack
                assert got["headers"].get(name.lower()) is not None, name
            for name in ("x-route", "x-tagged", "x-secret", "authorization"):
                assert predicted.upstream.header(name) == got["headers"].get(name)


def test_evaluate_reports_route_rule_filters_and_metadata(upstreams):
    gw = evaluation_gateway(upstreams).load()  # evaluate works before start
    r = gw.evaluate("GET", "http://app.test/admin/x",
                    headers={"authorization": "Basic YWRtaW46YWRtaW4="})
    assert (r.listener, r.route, r.rule) == ("default/web/http", "default/app", "#3")
    assert [(f.filter, f.phase, f.decision) for f in r.filters] == [
        ("basic-auth", "request", "continue"), ("tag", "request", "continue")]
    assert r.metadata["basic-auth.user"] == "admin"
    assert r.upstream.header("x-tagged") == "by-python"
    assert r.backend == "default/v1:80" and r.response is None and not r.dropped
    refused = gw.evaluate("GET", "http://app.test/admin/x")
    assert refused.status == 401 and refused.filters[0].decision == "reply"
    assert refused.upstream is None and refused.backend == ""
    missing = gw.evaluate("GET", "http://nowhere.test/")
    assert (missing.status, missing.route) == (404, "")
    with pytest.raises(NotFoundError, match="port 8080"):
        gw.evaluate("GET", "http://app.test:8080/")
    with pytest.raises(ConfigError, match="URL"):
        gw.evaluate("GET", "ftp://app.test/")
    assert gw.evaluate("GET", "/api/x", listener="default/web/http",
                       headers={"host": "app.test"}).route == "default/app"
    with pytest.raises(NotFoundError):
        gw.evaluate("GET", "/x", listener="nope")
    gw.close()


# ---- the pytest plugin ------------------------------------------------------

PLUGIN_TEST = '''
import urllib.request, urllib.error
from pathlib import Path
import pytest

CONFIG = {config!r}

@pytest.fixture
def gateway_config():
    return CONFIG

GATEWAY_CONFIG = CONFIG

def test_function_fixture(gateway):
    assert urllib.request.urlopen(gateway.url + "/", timeout=5).status == 200

def test_module_fixture_a(module_gateway):
    assert module_gateway.config_version == 1
    module_gateway.reload(CONFIG)

def test_module_fixture_b(module_gateway):
    assert module_gateway.config_version == 2  # the same gateway as in _a

def test_fails_with_log(gateway):
    assert gateway.evaluate("GET", "/").status == 999
'''


def test_pytest_plugin_fixtures_and_log_on_failure(pytester, upstreams):
    config = (GATEWAY + service_yaml("v1", upstreams["v1"].port) +
              route_yaml("  - backendRefs: [{name: v1, port: 80}]\n").replace(
                  "hostnames: [app.test]", "hostnames: []"))
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(Path(gateway.__file__).parents[1])!r})\n"
                          "pytest_plugins = ['gateway.pytest_plugin']\n")
    pytester.makepyfile(test_inner=PLUGIN_TEST.format(config=config))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["*gateway log*", "*listening on 127.0.0.1:*"])


STRICT_TEST = '''
import pytest
from gateway import ConfigError

@pytest.fixture
def gateway_config():
    return {config!r}

@pytest.fixture
def gateway_strict():
    return True

def test_strict(request):
    with pytest.raises(ConfigError, match="strict mode"):
        request.getfixturevalue("gateway")
'''


def test_pytest_plugin_strict_fixture(pytester, upstreams):
    broken = GATEWAY + route_yaml("  - backendRefs: [{name: nowhere, port: 80}]\n")
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(Path(gateway.__file__).parents[1])!r})\n"
                          "pytest_plugins = ['gateway.pytest_plugin']\n")
    pytester.makepyfile(test_strict_inner=STRICT_TEST.format(config=broken))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_library_found_without_the_environment_variable(tmp_path):
    """From a checkout, the package finds the build tree's library; a wrong
    GATEWAY_LIBRARY is an error that says what it tried. The checkout is laid
    out here (the package copied, build/src/libgateway.so a link to the library
    under test), so the check runs whatever the real build folder is called."""
    import os
    import shutil
    import subprocess
    import sys
    checkout = tmp_path / "checkout"
    package = checkout / "bindings" / "python" / "gateway"
    shutil.copytree(Path(gateway.__file__).resolve().parent, package,
                    ignore=shutil.ignore_patterns("__pycache__", "_install.py"))
    built = checkout / "build" / "src" / "libgateway.so"
    built.parent.mkdir(parents=True)
    built.symlink_to(Path(gateway.library_path()).resolve())
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_LIBRARY"}
    env["PYTHONPATH"] = str(package.parent)
    code = "import gateway; print(gateway.library_path())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(built)
    env["GATEWAY_LIBRARY"] = str(tmp_path / "missing.so")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)
    assert out.returncode != 0
    assert "libgateway.so not found" in out.stderr and "missing.so" in out.stderr


class BodyCheck:
    """Reads the whole request body before deciding; drops on request."""

    def __init__(self, config):
        self.limit = config["limit"]

    def on_request(self, stream):
        if stream.request_headers.get("x-drop"):
            return stream.drop()
        stream.buffer_request_body(self.limit)

    def on_request_body(self, stream, data, end):
        stream.state["bytes"] = len(data)
        if b"forbidden" in data:
            return stream.reply(422, "forbidden word\n")
        return None


def test_request_body_hook_drop_and_admin(upstreams):
    gw = Gateway(app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("body"),
                          filter_yaml("body", "body-check", {"limit": 64})),
                 filters={"body-check": BodyCheck}, admin=True)
    with gw:
        headers = {"host": "app.test", "content-type": "text/plain"}
        status, _, body = fetch(gw.url + "/", headers, "POST", b"a fine body")
        assert status == 200 and seen(body)["body"] == "a fine body"
        assert fetch(gw.url + "/", headers, "POST", b"a forbidden body")[:3:2] == (422, b"forbidden word\n")
        assert fetch(gw.url + "/", headers, "POST", b"x" * 100)[0] == 413  # over the buffer limit
        with pytest.raises((ConnectionError, urllib.error.URLError, OSError)):
            fetch(gw.url + "/", {**headers, "x-drop": "1"})
        r = gw.evaluate("POST", "http://app.test/", body=b"a forbidden body")
        assert [(f.phase, f.decision) for f in r.filters] == [("request", "continue"),
                                                              ("request_body", "reply")]
        assert r.status == 422
        assert gw.evaluate("GET", "http://app.test/", headers={"x-drop": "1"}).dropped
        admin = gw.admin_port
        assert admin and admin != gw.port()
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=5) as ready:
            assert ready.status == 200


def test_a_gateway_left_open_is_closed_at_exit(upstreams, tmp_path):
    """A script that exits while its gateway is open and a Python filter is
    in the middle of a request: the gateway is stopped at exit while the
    interpreter can still run the filter, so the request is finished and
    forwarded, and the process exits cleanly."""
    import subprocess
    import sys
    script = tmp_path / "left_open.py"
    package = str(Path(gateway.__file__).resolve().parents[1])
    config = app_yaml(upstreams, "  - backendRefs: [{name: v1, port: 80}]\n" + uses("t"),
                      filter_yaml("t", "t"))
    script.write_text(f"""
import sys, threading, time, urllib.request
sys.path.insert(0, {package!r})
from gateway import Gateway
gw = Gateway({config!r}, log_level="off", threads=2)
entered = threading.Event()

@gw.filter("t")
def slow(stream):
    entered.set()
    time.sleep(0.3)
    stream.request_headers["x-finished"] = "yes"

gw.start()
rq = urllib.request.Request(gw.url + "/left-open", headers={{"host": "app.test"}})
threading.Thread(target=lambda: urllib.request.urlopen(rq, timeout=10), daemon=True).start()
entered.wait(10)
print("exiting with a request in the filter")
""")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout.strip()) == (0, "exiting with a request in the filter"), \
        out.stderr
    assert ("/left-open", "yes") in upstreams["v1"].server.seen


class GrpcStatusNote:
    """Sees a gRPC response's trailers: notes its status, adds a trailer and
    turns NOT_FOUND into PERMISSION_DENIED."""

    def __init__(self, config):
        pass

    def on_response_trailers(self, stream):
        t = stream.response_trailers
        stream.set_metadata("grpc-status", t.get("grpc-status", "none"))
        t["x-seen-status"] = t.get("grpc-status", "none")
        if t.get("grpc-status") == "5":
            t["grpc-status"] = "7"


def test_filter_sees_and_edits_grpc_trailers():
    grpc = pytest.importorskip("grpc")  # Debian's python3-grpcio
    from concurrent import futures

    def echo(request, context):
        return request

    def missing(request, context):
        # A message first, so the status comes in trailers, not a Trailers-Only head.
        yield b"partial"
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("t.Svc", {
        "Echo": grpc.unary_unary_rpc_method_handler(echo),
        "Missing": grpc.unary_stream_rpc_method_handler(missing),
    }),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yaml = (GATEWAY + service_yaml("echo", port) + f"""---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: echo}}
spec:
  parentRefs: [{{name: web}}]
  rules:
  - backendRefs: [{{name: echo, port: 80}}]
""" + uses("note") + filter_yaml("note", "grpc-note"))
        with Gateway(yaml, filters={"grpc-note": GrpcStatusNote}) as gw:
            with grpc.insecure_channel(gw.url[len("http://"):],
                                       options=[("grpc.enable_http_proxy", 0)]) as ch:
                reply, call = ch.unary_unary("/t.Svc/Echo").with_call(b"hi", timeout=10)
                assert reply == b"hi"
                assert ("x-seen-status", "0") in call.trailing_metadata()
                it = ch.unary_stream("/t.Svc/Missing")(b"", timeout=10)
                with pytest.raises(grpc.RpcError) as failed:
                    list(it)
                assert failed.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert ("x-seen-status", "5") in failed.value.trailing_metadata()
    finally:
        server.stop(None)
