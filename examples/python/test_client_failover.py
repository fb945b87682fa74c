"""Runs client_failover.py: no call fails while endpoints die and come back."""

import client_failover


def test_calls_survive_endpoints_failing():
    assert client_failover.main() == 0
