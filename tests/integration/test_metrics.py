"""``GET /metrics`` of real file-mode gateways (one process, and two workers) after real traffic to the upstream.

Every scrape goes through the strict reader of tests/prometheus_text.py. Counts appear once each answer
is done, so the exact expected totals are waited for (a count past them never matches).
"""

from __future__ import annotations

import os
import signal
import socket

import httpx
import pytest

from tests.gateways import keyed
from tests.integration.test_gateway_workers import children
from tests.prometheus_text import Family, parse, value, values
from tests.servers import free_port
from tests.stack import keyless, wait_until

REQUESTS = "tollhouse_gateway_requests_total"


def scrape(port: int) -> dict[str, Family]:
    reply = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(reply.text)


def counts(families: dict[str, Family]) -> dict[tuple[str, str], float]:
    """(api_id, status class) -> requests, for the series with any."""
    return {(labels["api_id"], labels["status_class"]): count
            for _, labels, count in families[REQUESTS].samples if count}


def wait_for_counts(port: int, expected: dict[tuple[str, str], int]) -> dict[str, Family]:
    found = {}

    def reached():
        found["families"] = scrape(port)
        return counts(found["families"]) == expected

    try:
        wait_until(reached, 10, message="the expected counts")
    except AssertionError:
        raise AssertionError(f"counts {counts(found['families'])} != expected {expected}") from None
    return found["families"]


@pytest.fixture
def metrics_gateway(start_file_gateway, upstream):
    target = f"http://127.0.0.1:{upstream.port}/"
    port = free_port()
    gateway = start_file_gateway(apis=[keyless("open", "/open/", target, api_id="open"),
                                       keyed("locked", "/locked/", target)],
                                 metrics_port=port, metrics_address="127.0.0.1")
    gateway.metrics_port = port
    return gateway


# (path, headers, answer status, api_id, status class): through the gateway to the real upstream.
TRAFFIC = [
    ("/open/status/200", {}, 200, "open", "2xx"),
    ("/open/echo/a", {}, 200, "open", "2xx"),
    ("/open/status/204", {}, 204, "open", "2xx"),
    ("/open/status/302", {}, 302, "open", "3xx"),
    ("/open/status/404", {}, 404, "open", "4xx"),
    ("/open/status/500", {}, 500, "open", "5xx"),
    ("/open/status/503", {}, 503, "open", "5xx"),
    ("/locked/status/200", {}, 401, "locked", "4xx"),                                  # no key: refused
    ("/locked/status/200", {"authorization": "not-a-key"}, 403, "locked", "4xx"),      # unknown key
]


def test_requests_by_api_and_status_class_after_real_traffic(metrics_gateway):
    expected: dict[tuple[str, str], int] = {}
    with httpx.Client(base_url=metrics_gateway.url, follow_redirects=False) as client:
        for path, headers, status, api_id, status_class in TRAFFIC:
            assert client.get(path, headers=headers).status_code == status, path
            expected[api_id, status_class] = expected.get((api_id, status_class), 0) + 1
        assert client.get("/nowhere/").status_code == 404  # no API: no series
    families = wait_for_counts(metrics_gateway.metrics_port, expected)

    # 2xx-5xx are always there (zeros included), per API; nothing else.
    assert {(labels["api_id"], labels["status_class"]) for _, labels, _ in families[REQUESTS].samples} == {
        (api, status_class) for api in ("open", "locked") for status_class in ("2xx", "3xx", "4xx", "5xx")}
    for api_id, answered in (("open", 7), ("locked", 2)):
        for histogram in ("tollhouse_gateway_request_duration_seconds", "tollhouse_gateway_added_duration_seconds"):
            assert value(families, f"{histogram}_count", api_id=api_id) == answered
    # The proxied requests waited for the upstream; the refused ones never reached it.
    assert value(families, "tollhouse_gateway_upstream_duration_seconds_total", api_id="open") > 0
    assert value(families, "tollhouse_gateway_upstream_duration_seconds_total", api_id="locked") == 0
    total = value(families, "tollhouse_gateway_request_duration_seconds_sum", api_id="open")
    added = value(families, "tollhouse_gateway_added_duration_seconds_sum", api_id="open")
    upstream = value(families, "tollhouse_gateway_upstream_duration_seconds_total", api_id="open")
    assert 0 < added < total and added + upstream == pytest.approx(total)
    # Process facts of the one process.
    assert value(families, "tollhouse_gateway_workers") == 1
    assert value(families, "tollhouse_gateway_apis_loaded", worker="0") == 2
    assert value(families, "tollhouse_gateway_reloads_total", worker="0") == 1
    wait_until(lambda: value(scrape(metrics_gateway.metrics_port), "tollhouse_gateway_analytics_written_total",
                             worker="0") == 9, 10, message="analytics records written")
    assert value(scrape(metrics_gateway.metrics_port), "tollhouse_gateway_analytics_dropped_total", worker="0") == 0


def test_a_thousand_paths_and_keys_still_make_one_series_per_api_and_class(metrics_gateway):
    with httpx.Client(base_url=metrics_gateway.url) as client:
        for n in range(1000):
            assert client.get(f"/open/echo/{n}?q={n}").status_code == 200
            assert client.get(f"/locked/{n}", headers={"authorization": f"key-{n}"}).status_code == 403
    families = wait_for_counts(metrics_gateway.metrics_port, {("open", "2xx"): 1000, ("locked", "4xx"): 1000})
    series = [sample for family in families.values() for sample in family.samples]
    label_values = {value for _, labels, _ in series for value in labels.values()}
    assert not any("echo" in label or "key-" in label for label in label_values)
    assert len(families[REQUESTS].samples) == 8  # 2 APIs x 2xx..5xx
    assert len(series) < 100


def test_counts_survive_a_reload_that_recompiles_the_api(metrics_gateway, upstream):
    with httpx.Client(base_url=metrics_gateway.url) as client:
        for _ in range(3):
            assert client.get("/open/echo/x").status_code == 200
    wait_for_counts(metrics_gateway.metrics_port, {("open", "2xx"): 3})
    changed = keyless("open renamed", "/open/", f"http://127.0.0.1:{upstream.port}/", api_id="open")
    metrics_gateway.write_api(changed)
    metrics_gateway.reload(lambda: value(scrape(metrics_gateway.metrics_port), "tollhouse_gateway_reloads_total",
                                         worker="0") == 2)
    assert httpx.get(f"{metrics_gateway.url}/open/echo/x").status_code == 200
    wait_for_counts(metrics_gateway.metrics_port, {("open", "2xx"): 4})


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 404), ("GET", "/metrics/x", 404), ("POST", "/metrics", 405), ("GET", "/metrics?name[]=x", 200),
])
def test_the_metrics_port_answers_only_get_metrics(metrics_gateway, method, path, status):
    reply = httpx.request(method, f"http://127.0.0.1:{metrics_gateway.metrics_port}{path}")
    assert reply.status_code == status


def test_metrics_are_not_served_on_the_api_or_control_paths(metrics_gateway):
    assert httpx.get(f"{metrics_gateway.url}/metrics").status_code == 404


def test_metrics_port_taken_stops_the_start_with_the_reason(start_file_gateway, upstream, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        with pytest.raises(RuntimeError, match="did not start"):
            start_file_gateway(apis=[keyless("open", "/open/", f"http://127.0.0.1:{upstream.port}/", api_id="open")],
                               metrics_port=taken, metrics_address="127.0.0.1", name="taken")
    assert f"or {taken}" in (tmp_path / "taken.log").read_text()


# -- two workers: the supervisor sums ------------------------------------------------------------------


@pytest.fixture
def two_worker_gateway(start_file_gateway, upstream):
    port = free_port()
    gateway = start_file_gateway(apis=[keyless("open", "/open/", f"http://127.0.0.1:{upstream.port}/",
                                               api_id="open")], workers=2, metrics_port=port,
                                 metrics_address="127.0.0.1")
    gateway.metrics_port = port
    wait_until(lambda: value(scrape(port), "tollhouse_gateway_workers") == 2, 10, message="both workers report")
    return gateway


def send_on_new_connections(url: str, path: str, count: int) -> None:
    """One connection per request: the kernel spreads new connections over the workers."""
    for _ in range(count):
        assert httpx.get(f"{url}{path}", headers={"connection": "close"}).status_code == 200


def test_two_workers_report_the_total_of_both(two_worker_gateway):
    send_on_new_connections(two_worker_gateway.url, "/open/echo/x", 60)
    families = wait_for_counts(two_worker_gateway.metrics_port, {("open", "2xx"): 60})
    assert value(families, "tollhouse_gateway_request_duration_seconds_count", api_id="open") == 60
    assert value(families, "tollhouse_gateway_workers") == 2
    assert sorted(labels["worker"] for _, labels, _ in families["tollhouse_gateway_apis_loaded"].samples) == ["0", "1"]
    # Each worker served part of it: neither reported all 60 (2 ** -59 chance by accident).
    wait_until(lambda: sum(values(scrape(two_worker_gateway.metrics_port),
                                  "tollhouse_gateway_analytics_written_total")) == 60, 10, message="analytics")
    written = values(scrape(two_worker_gateway.metrics_port), "tollhouse_gateway_analytics_written_total")
    assert len(written) == 2 and all(0 < share < 60 for share in written)


def test_counts_do_not_go_down_when_a_worker_dies(two_worker_gateway):
    send_on_new_connections(two_worker_gateway.url, "/open/echo/x", 30)
    wait_for_counts(two_worker_gateway.metrics_port, {("open", "2xx"): 30})  # the supervisor has both snapshots
    victim = min(children(two_worker_gateway.process.pid))
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: value(scrape(two_worker_gateway.metrics_port), "tollhouse_gateway_worker_restarts_total") == 1
               and value(scrape(two_worker_gateway.metrics_port), "tollhouse_gateway_workers") == 2, 15,
               message="the worker replaced")
    assert counts(scrape(two_worker_gateway.metrics_port)) == {("open", "2xx"): 30}
    send_on_new_connections(two_worker_gateway.url, "/open/echo/x", 10)
    wait_for_counts(two_worker_gateway.metrics_port, {("open", "2xx"): 40})
