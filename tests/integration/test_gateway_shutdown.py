"""SIGTERM stops the gateway promptly, with the notification listener and Redis connections open."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.gateways import keyed, store_key


@pytest.mark.parametrize("attempt", range(3))
def test_sigterm_exits_promptly(start_file_gateway, upstream, redis_url, attempt):
    store_key(redis_url, "k", {"access_rights": {"a": {}}})
    gateway = start_file_gateway(apis=[keyed("a", "/a/", f"http://127.0.0.1:{upstream.port}/")],
                                 node_secret="n" * 32)
    for _ in range(20):
        assert httpx.get(f"{gateway.url}/a/x", headers={"Authorization": "k"}).status_code == 200
    started = time.monotonic()
    gateway.process.stop(signal.SIGTERM, timeout=30)
    took = time.monotonic() - started
    assert gateway.process.process.returncode == 0, gateway.process.log()[-2000:]
    assert took < 10, f"stopping took {took:.1f}s\n{gateway.process.log()[-2000:]}"
