"""Round robin over proxy.target_list, against real upstreams; failed traffic takes a host out of rotation."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.upstreams import api, served_by, start_upstreams, url
from tests.servers import free_port


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory):
    servers = start_upstreams(tmp_path_factory.mktemp("lb"), 3)
    yield servers
    for server in servers:
        server.stop()


def test_requests_go_to_each_target_in_turn(start_file_gateway, upstreams):
    targets = [url(server) for server in upstreams]
    gateway = start_file_gateway([api("lb", targets[0], proxy={"enable_load_balancing": True,
                                                               "target_list": targets})])
    ports = [served_by(httpx.get(f"{gateway.url}/lb/echo")) for _ in range(6)]
    expected = [server.port for server in upstreams]
    assert ports == expected + expected


def test_target_list_replaces_target_url_and_each_target_keeps_its_path(start_file_gateway, upstreams):
    first, second = upstreams[:2]
    gateway = start_file_gateway([api("paths", url(upstreams[2], "/ignored"), proxy={
        "enable_load_balancing": True, "target_list": [url(first, "/one"), url(second, "/two/")]})])
    seen = [httpx.get(f"{gateway.url}/paths/echo?x=1").json() for _ in range(2)]
    assert [(reply["path"], reply["query"]) for reply in seen] == [("/one/echo", "x=1"), ("/two/echo", "x=1")]


@pytest.mark.parametrize("balanced", [True, False])
def test_failed_connections_take_a_host_out_of_rotation_only_between_several_hosts(
        start_file_gateway, upstreams, balanced):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    live = url(upstreams[0])
    proxy = {"enable_load_balancing": True, "target_list": [dead, live]} if balanced else {}
    gateway = start_file_gateway([api("passive", dead if not balanced else live, proxy=proxy)],
                                 upstream_passive_failures=2, upstream_passive_down_seconds=300)
    statuses = [httpx.get(f"{gateway.url}/passive/echo").status_code for _ in range(8)]
    if balanced:
        # dead, live, dead (its second failure in a row: out for 300 s), then live only
        assert statuses == [502, 200, 502, 200, 200, 200, 200, 200]
    else:
        assert statuses == [502] * 8  # a lone host is always tried: resting it would only turn 502 into 503


def test_a_definition_with_load_balancing_and_no_targets_is_refused(start_file_gateway, upstreams):
    gateway = start_file_gateway([api("empty", url(upstreams[0]), proxy={"enable_load_balancing": True}),
                                  api("fine", url(upstreams[0]))])
    assert httpx.get(f"{gateway.url}/fine/echo").status_code == 200
    assert httpx.get(f"{gateway.url}/empty/echo").status_code == 404
    assert "proxy.target_list: enable_load_balancing needs at least one URL here" in gateway.process.log()
