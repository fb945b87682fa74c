"""pytest fixtures for testing an application's gateway configuration.

Enable it with ``pytest_plugins = ["gateway.pytest_plugin"]`` in a conftest.py
(or ``-p gateway.pytest_plugin``). Then:

- ``gateway``: a Gateway started for one test from the ``gateway_config``
  fixture (YAML text, or a pathlib.Path to a file; define it in your
  conftest or test module)
  and the ``gateway_filters`` fixture (a dict name -> filter, default none).
- ``module_gateway``: one Gateway for a whole test module, from the module's
  ``GATEWAY_CONFIG`` (and optional ``GATEWAY_FILTERS``) attributes.
- Strict mode (a config with warnings, such as a backendRef that does not
  resolve, fails to load): a ``gateway_strict`` fixture returning True, or
  ``GATEWAY_STRICT = True`` in the module.

Both bind 127.0.0.1 on ephemeral ports, so tests run in parallel. When a
test fails, the gateway's log lines from that test are attached to its report
as the section "gateway log".
"""

import pytest

from . import Gateway

_LOG_KEY = pytest.StashKey[list]()


@pytest.fixture
def gateway_config():
    """The configuration the ``gateway`` fixture starts from; override it."""
    raise pytest.UsageError(
        "the gateway fixture needs a gateway_config fixture returning YAML text or a path")


@pytest.fixture
def gateway_strict():
    """Whether the ``gateway`` fixture refuses a config with warnings (an
    unresolved backendRef, ...); override it to return True."""
    return False


@pytest.fixture
def gateway_filters():
    """Filters registered before the ``gateway`` fixture loads: {type name: filter}."""
    return {}


def _attach(request, gw, first_line):
    """Keeps the log lines written during the test for the failure report."""
    request.node.stash.setdefault(_LOG_KEY, []).append((gw, first_line))


@pytest.fixture
def gateway(request, gateway_config, gateway_filters, gateway_strict):
    """A started in-process gateway for this test."""
    with Gateway(gateway_config, filters=gateway_filters, strict=gateway_strict) as gw:
        _attach(request, gw, 0)
        yield gw


@pytest.fixture(scope="module")
def module_gateway(request):
    """A started in-process gateway shared by the tests of one module."""
    config = getattr(request.module, "GATEWAY_CONFIG", None)
    if config is None:
        raise pytest.UsageError("module_gateway needs GATEWAY_CONFIG in the test module")
    with Gateway(config, filters=getattr(request.module, "GATEWAY_FILTERS", None),
                 strict=getattr(request.module, "GATEWAY_STRICT", False)) as gw:
        yield gw


@pytest.fixture(autouse=True)
def _gateway_log_marker(request):
    """Remembers where each module gateway's log stood when the test began."""
    if "module_gateway" in request.fixturenames:
        gw = request.getfixturevalue("module_gateway")
        _attach(request, gw, len(gw.logs))
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or not report.failed:
        return
    for gw, first in item.stash.get(_LOG_KEY, []):
        lines = list(gw.logs)[first:] if first <= len(gw.logs) else list(gw.logs)
        text = "\n".join(f"[{level}] {message}" for level, message in lines)
        report.sections.append(("gateway log", text or "(no log lines)"))
