"""Active uptime checks (uptime_tests) mark hosts down and up again; checked APIs pass over down hosts."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.upstreams import api, served_by, set_flap, start_upstreams, url
from tests.stack import wait_until

CHECKS = {"uptime_time_wait_seconds": 0.1, "uptime_failure_trigger_sample_size": 2, "uptime_check_timeout_seconds": 1}


@pytest.fixture
def upstreams(tmp_path):
    servers = start_upstreams(tmp_path, 2)
    yield servers
    for server in servers:
        server.stop()


def checked_api(upstreams, *, check_hosts: bool = True) -> dict:
    targets = [url(server) for server in upstreams]
    return api("checked", targets[0], proxy={"enable_load_balancing": True, "target_list": targets,
                                             "check_host_against_uptime_tests": check_hosts},
               uptime_tests={"check_list": [{"url": url(server, "/flap"), "method": "GET"} for server in upstreams],
                             "config": {"expire_utime_after": 60}})


def ports_serving(gateway, count: int = 4) -> set[int]:
    return {served_by(httpx.get(f"{gateway.url}/checked/echo")) for _ in range(count)}


def test_a_host_failing_its_checks_leaves_the_rotation_and_returns_when_they_pass(start_file_gateway, upstreams):
    first, second = upstreams
    gateway = start_file_gateway([checked_api(upstreams)], **CHECKS)
    assert ports_serving(gateway) == {first.port, second.port}
    set_flap(second, 500)
    wait_until(lambda: ports_serving(gateway) == {first.port}, 10, message="second host out of rotation")
    set_flap(second, 200)
    wait_until(lambda: ports_serving(gateway) == {first.port, second.port}, 10, message="second host back")


def test_a_stopped_host_is_marked_down_and_every_host_down_answers_503(start_file_gateway, upstreams):
    first, second = upstreams
    gateway = start_file_gateway([checked_api(upstreams)], **CHECKS)
    second.stop()
    wait_until(lambda: ports_serving(gateway) == {first.port}, 10, message="stopped host out of rotation")
    set_flap(first, 503)
    reply = wait_until(lambda: (r := httpx.get(f"{gateway.url}/checked/echo")).status_code == 503 and r, 10,
                       message="every host down")
    assert reply.json() == {"error": "all hosts are down"}
    second.start()
    wait_until(lambda: httpx.get(f"{gateway.url}/checked/echo").status_code == 200, 10, message="restarted host up")
    assert ports_serving(gateway) == {second.port}
    set_flap(first, 200)


def test_without_check_host_against_uptime_tests_down_hosts_still_get_traffic(start_file_gateway, upstreams):
    first, second = upstreams
    try:
        set_flap(second, 500)
        gateway = start_file_gateway([checked_api(upstreams, check_hosts=False)], **CHECKS)
        # Checks ran (and failed) for a while: the second host is down for the checker, yet still used.
        wait_until(lambda: f"upstream host 127.0.0.1:{second.port} is down" in gateway.process.log(), 10,
                   message="the checker marked the host down")
        assert ports_serving(gateway) == {first.port, second.port}
    finally:
        set_flap(second, 200)


def test_uptime_tests_can_be_switched_off_on_the_gateway(start_file_gateway, upstreams):
    first, second = upstreams
    try:
        calls = set_flap(second, 500)
        gateway = start_file_gateway([checked_api(upstreams)], uptime_tests_disable=True, **CHECKS)
        assert ports_serving(gateway, 6) == {first.port, second.port}
        assert set_flap(second, 500) == calls  # nothing checked /flap
    finally:
        set_flap(second, 200)


def test_bad_uptime_tests_are_refused_with_the_field_named(start_file_gateway, upstreams):
    bad = checked_api(upstreams)
    bad["uptime_tests"]["check_list"][1]["body"] = "not base64!"
    gateway = start_file_gateway([bad])
    wait_until(lambda: "uptime_tests.check_list.1.body: must be base64" in gateway.process.log(), 5,
               message="the rejection logged")
    assert httpx.get(f"{gateway.url}/checked/echo").status_code == 404
