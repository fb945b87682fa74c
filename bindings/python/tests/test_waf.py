"""gateway.Waf: the CRS and inline rules checked against a program's own
requests, through the C ABI, without a gateway."""

import threading

import pytest

import gateway
from gateway import ConfigError, StateError, Waf

RULES = (
    "SecRuleEngine On\n"
    'SecRule ARGS "@contains attack" '
    '"id:1001,phase:2,deny,status:403,msg:\'attack seen\',logdata:\'%{MATCHED_VAR}\'"\n'
    'SecRule REQUEST_HEADERS:x-probe "@streq yes" "id:1002,phase:1,pass,log,msg:\'probe\'"\n'
)


def test_crs_denies_sql_injection_and_passes_a_plain_request():
    with Waf(crs=1) as waf:
        assert waf.rule_count > 100
        v = waf.check("GET", "http://shop.test/item?id=1%27%20OR%20%271%27%3D%271")
        assert v.action == "deny"
        assert v.status == 403
        assert 942100 in v.rules  # SQL injection found by libinjection
        assert any("SQL Injection" in m for m in v.messages)
        assert all(isinstance(m, gateway.WafMatch) for m in v.matches)
        v = waf.check("GET", "http://shop.test/item?id=42")
        assert (v.action, v.status, v.rules) == ("pass", 0, [])
        # A body goes with its Content-Length (and Host from the URL), as a
        # client would send it: a plain JSON POST matches nothing.
        v = waf.check("POST", "http://shop.test/login",
                      headers={"content-type": "application/json"}, body=b'{"user": "ann"}')
        assert (v.action, v.rules) == ("pass", [])
        v = waf.check("POST", "http://shop.test/login",
                      headers={"content-type": "application/json"}, body=b'{"user": "admin\' --"}')
        assert v.action == "deny" and 942100 in v.rules


def test_inline_rules_body_headers_and_detection_only():
    waf = Waf(crs=None, directives=RULES)
    v = waf.check("POST", "/form", headers={"content-type": "application/x-www-form-urlencoded"},
                  body=b"q=an+attack")
    assert (v.action, v.status, v.rules, v.messages) == ("deny", 403, [1001], ["attack seen"])
    match = v.matches[0]
    assert match.phase == 2 and match.disruptive and "attack" in match.data
    watch = Waf(crs=None, directives=RULES, mode="DetectionOnly")
    v = watch.check("GET", "/?q=attack", headers=[("x-probe", "yes")])
    assert v.action == "pass"
    assert sorted(v.rules) == [1001, 1002]
    assert Waf(crs=None, directives=RULES, mode="Off").check("GET", "/?q=attack").rules == []
    waf.close()
    watch.close()


def test_rule_files(tmp_path):
    rules = tmp_path / "mine.conf"
    rules.write_text(RULES)
    with Waf(crs=None, files=[rules]) as waf:
        assert waf.check("GET", "/?q=attack").action == "deny"


def test_bad_input_gives_clear_errors(tmp_path):
    with pytest.raises(ConfigError) as e:
        Waf(crs=None, directives="SecNoSuchDirective On")
    assert "SecNoSuchDirective" in str(e.value)
    with pytest.raises(ConfigError) as e:
        Waf(crs=None, files=[tmp_path / "missing.conf"])
    assert "missing.conf" in str(e.value)
    with pytest.raises(gateway.GatewayError) as e:
        Waf(crs=None)
    assert "no rules" in str(e.value)
    with pytest.raises(ValueError):
        Waf(crs=7)
    with pytest.raises(ValueError):
        Waf(mode="Block")
    waf = Waf(crs=None, directives=RULES)
    with pytest.raises(gateway.GatewayError) as e:
        waf.check("GET", "ftp://files.test/")
    assert "ftp://files.test/" in str(e.value)
    waf.close()
    waf.close()  # twice is fine
    with pytest.raises(StateError):
        waf.check("GET", "/")
    with pytest.raises(StateError):
        waf.rule_count


def test_checks_from_many_threads_at_once():
    waf = Waf(crs=1)
    results, errors = [], []

    def run(i):
        try:
            bad = waf.check("GET", f"http://shop.test/item?id={i}%27%20OR%20%271%27%3D%271")
            good = waf.check("GET", f"http://shop.test/item?id={i}")
            results.append((bad.action, good.action))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    waf.close()
    assert errors == []
    assert results == [("deny", "pass")] * 8


def test_responses_through_the_response_phases():
    rules = (
        "SecRuleEngine On\n"
        'SecRule RESPONSE_STATUS "@streq 500" "id:2001,phase:3,deny,status:502,msg:\'error page\'"\n'
        'SecRule RESPONSE_BODY "@contains secret-token" "id:2002,phase:4,deny,status:403,msg:\'leak\'"\n'
    )
    with Waf(crs=None, directives=rules, response_body=True) as waf:
        v = waf.check("GET", "http://shop.test/account", response=(500, {}, b""))
        assert (v.action, v.status, v.rules) == ("deny", 502, [2001])
        v = waf.check("GET", "http://shop.test/account",
                      response=(200, {"content-type": "text/plain"}, b"the secret-token"))
        assert (v.action, v.status, v.rules) == ("deny", 403, [2002])
        v = waf.check("GET", "http://shop.test/account",
                      response=(200, {"content-type": "text/plain"}, b"fine"))
        assert v.action == "pass"
        with pytest.raises(gateway.GatewayError) as e:
            waf.check("GET", "/", response=(42, {}, b""))
        assert "status 42" in str(e.value)
    # Without response_body, bodies stay away from the rules.
    with Waf(crs=None, directives=rules) as waf:
        v = waf.check("GET", "/", response=(200, {"content-type": "text/plain"}, b"secret-token"))
        assert v.action == "pass"
