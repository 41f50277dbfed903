"""Round robin over an API's hosts, passing over those uptime tests or failed traffic marked down."""

from __future__ import annotations

import pytest

from tollhouse.gateway.upstream_hosts import HostList, HostStates, host_key, target_from_url

URLS = ["http://10.0.0.1:8001", "http://10.0.0.2:8002/base/", "https://api.example"]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def picks(hosts: HostList, count: int) -> list[int | None]:
    ports = []
    for _ in range(count):
        upstream = hosts.pick()
        ports.append(upstream.target.port if upstream is not None else None)
    return ports


@pytest.mark.parametrize(("url", "target", "base_path"), [
    ("http://10.0.0.1:8001", ("http", "10.0.0.1", 8001, "10.0.0.1:8001"), ""),
    ("http://10.0.0.2:8002/base/", ("http", "10.0.0.2", 8002, "10.0.0.2:8002"), "/base"),
    ("https://api.example", ("https", "api.example", 443, "api.example"), ""),
    ("http://[::1]:9000/v1", ("http", "::1", 9000, "[::1]:9000"), "/v1"),
])
def test_targets_from_urls(url, target, base_path):
    upstream, path = target_from_url(url)
    assert (upstream.scheme, upstream.host, upstream.port, upstream.host_header) == target
    assert path == base_path


def test_round_robin_takes_each_host_in_turn():
    hosts = HostList(URLS, HostStates(), skip_checked_down=True, skip_resting=True)
    assert picks(hosts, 6) == [8001, 8002, 443, 8001, 8002, 443]


def test_a_host_down_by_uptime_tests_is_passed_over_only_when_the_api_checks_hosts():
    states = HostStates(failure_trigger=2)
    for _ in range(2):
        states.check_failed(host_key(URLS[1]), "refused")
    assert picks(HostList(URLS, states, skip_checked_down=True, skip_resting=False), 4) == [8001, 443, 443, 8001]
    assert picks(HostList(URLS, states, skip_checked_down=False, skip_resting=False), 3) == [8001, 8002, 443]


def test_uptime_tests_mark_a_host_down_after_the_trigger_and_up_at_the_first_pass():
    states = HostStates(failure_trigger=3)
    key = host_key(URLS[0])
    states.check_failed(key, "500")
    states.check_failed(key, "500")
    assert not states.is_down(key, by_checks=True, by_traffic=True)
    states.check_failed(key, "500")
    assert states.is_down(key, by_checks=True, by_traffic=True)
    states.check_passed(key)
    assert not states.is_down(key, by_checks=True, by_traffic=True)


def test_every_host_down_picks_none():
    states = HostStates(failure_trigger=1)
    for url in URLS:
        states.check_failed(host_key(url), "refused")
    assert HostList(URLS, states, skip_checked_down=True, skip_resting=True).pick() is None


def test_failed_traffic_rests_a_host_for_the_settle_time():
    clock = Clock()
    states = HostStates(passive_failures=2, passive_settle=10, clock=clock)
    hosts = HostList(URLS[:2], states, skip_checked_down=False, skip_resting=True)
    key = host_key(URLS[0])
    states.request_failed(key, "refused")
    states.request_answered(key)  # an answer resets the count
    states.request_failed(key, "refused")
    assert picks(hosts, 2) == [8001, 8002]
    states.request_failed(key, "refused")
    assert picks(hosts, 3) == [8002, 8002, 8002]
    clock.now += 10
    assert sorted(picks(hosts, 2)) == [8001, 8002]


def test_passive_marking_can_be_turned_off():
    states = HostStates(passive_failures=0)
    for _ in range(5):
        states.request_failed(host_key(URLS[0]), "refused")
    assert not states.is_down(host_key(URLS[0]), by_checks=True, by_traffic=True)
