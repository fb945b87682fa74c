"""The shop's routing and auth rules, tested in process: real requests
through the `gateway` fixture, and `evaluate` for what no request can show."""

import json
import urllib.error
import urllib.request


def get(gateway, path, headers=None):
    rq = urllib.request.Request(gateway.url + path, headers={"host": "shop.test", **(headers or {})})
    try:
        with urllib.request.urlopen(rq, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_orders_reach_the_api_rewritten(gateway):
    status, body = get(gateway, "/api/orders/42?full=1")
    assert status == 200
    assert json.loads(body)["path"] == "/orders/42?full=1"


def test_admin_needs_staff(gateway):
    assert get(gateway, "/admin/users")[0] == 401
    staff = {"authorization": "Basic b3BzOnN0YWZm"}  # ops:staff
    assert get(gateway, "/admin/users", staff)[0] == 200

    # The same question without a socket, with the reasons.
    refused = gateway.evaluate("GET", "http://shop.test/admin/users")
    assert refused.rule == "admin" and refused.status == 401
    assert refused.response.header("www-authenticate").startswith("Basic")
    allowed = gateway.evaluate("GET", "http://shop.test/admin/users", headers=staff)
    assert allowed.metadata["basic-auth.user"] == "ops"
    assert allowed.upstream.target == "/admin/users"


def test_docs_moved(gateway):
    r = gateway.evaluate("GET", "http://shop.test/docs/intro")
    assert (r.status, r.response.header("location")) == (301, "http://docs.shop.test/docs/intro")


def test_other_hosts_are_not_served(gateway):
    assert gateway.evaluate("GET", "http://elsewhere.test/api/orders").status == 404
