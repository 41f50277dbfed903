"""Hard timeouts per path (extended_paths.hard_timeouts), shorter and longer than the gateway's own."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.upstreams import api, url

HARD_TIMEOUT = {"error": "Upstream service reached hard timeout."}


@pytest.fixture
def gateway(upstream, start_file_gateway):
    definition = api("timed", url(upstream), extended_paths={"hard_timeouts": [
        {"path": "/slow/short", "method": "GET", "timeout": 0.3},
        {"path": "/slow/long", "method": "GET", "timeout": 5},
    ]})
    return start_file_gateway([definition], upstream_timeout_seconds=1)


@pytest.mark.parametrize(("method", "path", "status", "error"), [
    ("GET", "/slow/short?delay=2", 504, HARD_TIMEOUT["error"]),
    ("GET", "/slow/short?delay=0.05", 200, None),
    ("GET", "/slow/long?delay=1.5", 200, None),   # longer than the gateway's upstream_timeout_seconds
    ("POST", "/slow/short?delay=1.5", 504, "upstream response timed out after 1s"),  # the gateway's own timeout
    ("GET", "/slow/other?delay=1.5", 504, "upstream response timed out after 1s"),
])
def test_a_path_waits_its_hard_timeout_for_the_response(gateway, method, path, status, error):
    reply = httpx.request(method, f"{gateway.url}/timed{path}", timeout=10)
    assert reply.status_code == status
    if error is not None:
        assert reply.json() == {"error": error}
