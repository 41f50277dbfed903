"""Circuit breakers per path (extended_paths.circuit_breakers) against real upstreams that fail on demand."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.upstreams import api, set_flap, start_upstreams, url
from tests.stack import wait_until

OPEN_ANSWER = {"error": "Service temporarily unavailable."}


@pytest.fixture
def flappy(tmp_path):
    [server] = start_upstreams(tmp_path, 1)
    yield server
    server.stop()


def breaker_api(server, path: str = "/flap", method: str = "GET", **breaker) -> dict:
    entry = {"path": path, "method": method, "threshold_percent": 0.5, "samples": 4, "return_to_service_after": 1,
             **breaker}
    return api("cb", url(server), extended_paths={"circuit_breakers": [entry]})


def statuses(gateway, count: int, path: str = "/cb/flap", method: str = "GET") -> list[int]:
    return [httpx.request(method, f"{gateway.url}{path}").status_code for _ in range(count)]


def test_the_circuit_opens_on_failures_then_a_trial_success_closes_it(start_file_gateway, flappy):
    gateway = start_file_gateway([breaker_api(flappy)])
    set_flap(flappy, 500)
    assert statuses(gateway, 4) == [500, 500, 500, 500]  # 4 of the last 4 failed: open
    calls = set_flap(flappy, 200)  # the upstream recovers, but the breaker has not seen it yet
    reply = httpx.get(f"{gateway.url}/cb/flap")
    assert (reply.status_code, reply.json()) == (503, OPEN_ANSWER)
    assert set_flap(flappy, 200) == calls  # refused without calling the upstream
    # After return_to_service_after, one trial request goes through; its success closes the circuit.
    wait_until(lambda: httpx.get(f"{gateway.url}/cb/flap").status_code == 200, 10, message="circuit closed")
    assert statuses(gateway, 5) == [200] * 5
    assert set_flap(flappy, 200) == calls + 6


def test_a_failed_trial_opens_the_circuit_again(start_file_gateway, flappy):
    gateway = start_file_gateway([breaker_api(flappy, return_to_service_after=5)])
    set_flap(flappy, 502)
    assert statuses(gateway, 4) == [502] * 4
    calls = set_flap(flappy, 502)
    wait_until(lambda: httpx.get(f"{gateway.url}/cb/flap").status_code == 502, 15, message="the trial request")
    assert set_flap(flappy, 200) == calls + 1  # exactly one trial reached the upstream
    assert statuses(gateway, 3) == [503] * 3  # open again, for another 5 s
    wait_until(lambda: httpx.get(f"{gateway.url}/cb/flap").status_code == 200, 15, message="circuit closed")


@pytest.mark.parametrize(("path", "method", "answers"), [
    ("/cb/flap", "GET", [503, 503]),
    ("/cb/flap/deeper", "GET", [503, 503]),  # Tyk's paths match as prefixes
    ("/cb/flap", "POST", [500, 500]),        # another method: the upstream's own answer
    ("/cb/other", "GET", [200, 200]),        # another path (the upstream echoes it)
])
def test_only_the_listed_path_and_method_are_guarded(start_file_gateway, flappy, path, method, answers):
    gateway = start_file_gateway([breaker_api(flappy)])
    set_flap(flappy, 500)
    try:
        assert statuses(gateway, 4) == [500] * 4
        assert statuses(gateway, 2, path, method) == answers
    finally:
        set_flap(flappy, 200)


def test_connection_failures_open_it_and_a_restarted_upstream_closes_it(start_file_gateway, flappy):
    gateway = start_file_gateway([breaker_api(flappy, path="/echo", samples=2, threshold_percent=1)])
    assert statuses(gateway, 2, "/cb/echo") == [200, 200]
    flappy.stop()
    assert statuses(gateway, 3, "/cb/echo") == [502, 502, 503]
    flappy.start()
    wait_until(lambda: httpx.get(f"{gateway.url}/cb/echo").status_code == 200, 10, message="circuit closed")


def test_a_bad_breaker_entry_is_refused_with_the_field_named(start_file_gateway, flappy):
    gateway = start_file_gateway([breaker_api(flappy, threshold_percent=50)])
    wait_until(lambda: "extended_paths.circuit_breakers.0.threshold_percent" in gateway.process.log(), 5,
               message="the rejection logged")
    assert httpx.get(f"{gateway.url}/cb/flap").status_code == 404
