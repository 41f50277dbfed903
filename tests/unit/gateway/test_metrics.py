"""Per-API counters of the gateway: status classes, latency buckets, merging workers, bounded labels."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tests.prometheus_text import parse, value, values
from tollhouse.gateway.metrics import (
    ADDED_BUCKETS,
    TOTAL_BUCKETS,
    ApiMetrics,
    GatewayMetrics,
    merge_api_series,
    process_facts,
    render,
)
from tollhouse.gateway.settings import GatewaySettings


@pytest.mark.parametrize(("status", "status_class"), [
    (101, "1xx"), (200, "2xx"), (204, "2xx"), (304, "3xx"), (401, "4xx"), (499, "4xx"), (502, "5xx"), (599, "5xx"),
])
def test_a_request_counts_in_its_status_class(status, status_class):
    metrics = GatewayMetrics()
    metrics.for_api("a").observe(status, 0.002, 1.0)
    families = parse(render(metrics.snapshot({})["apis"], {0: {}}))
    assert value(families, "tollhouse_gateway_requests_total", api_id="a", status_class=status_class) == 1
    assert sum(values(families, "tollhouse_gateway_requests_total")) == 1


@pytest.mark.parametrize(("total", "upstream_ms", "total_le", "added_le"), [
    (0.0004, 0.0, "0.001", "0.0005"),       # refused before the proxy: all of it is the gateway's
    (0.001, 0.5, "0.001", "0.0005"),        # exactly on a bound: counted in that bucket (le is inclusive)
    (0.0102, 10.0, "0.025", "0.00025"),     # 10 ms upstream, 0.2 ms added
    (20.0, 19_000.0, "+Inf", "1.0"),        # past the last total bound
])
def test_total_and_gateway_added_latency_fall_in_their_buckets(total, upstream_ms, total_le, added_le):
    api = ApiMetrics()
    api.observe(200, total, upstream_ms)
    families = parse(render({"a": api.snapshot()}, {0: {}}))
    total_buckets = {labels["le"]: count for name, labels, count in families[
        "tollhouse_gateway_request_duration_seconds"].samples if name.endswith("_bucket")}
    added_buckets = {labels["le"]: count for name, labels, count in families[
        "tollhouse_gateway_added_duration_seconds"].samples if name.endswith("_bucket")}
    # The smallest bound counting the request is its bucket.
    assert min((b for b, n in total_buckets.items() if n), key=float) == total_le
    assert min((b for b, n in added_buckets.items() if n), key=float) == added_le
    assert len(total_buckets) == len(TOTAL_BUCKETS) + 1 and len(added_buckets) == len(ADDED_BUCKETS) + 1
    assert value(families, "tollhouse_gateway_request_duration_seconds_sum") == pytest.approx(total)
    assert value(families, "tollhouse_gateway_added_duration_seconds_sum") == pytest.approx(total - upstream_ms / 1000)
    assert value(families, "tollhouse_gateway_upstream_duration_seconds_total") == pytest.approx(upstream_ms / 1000)


def test_an_api_keeps_one_counter_object_across_recompiles():
    metrics = GatewayMetrics()
    first = metrics.for_api("a")
    first.observe(200, 0.001, 0.5)
    assert metrics.for_api("a") is first
    assert metrics.for_api("b") is not first


def test_workers_series_are_summed_and_their_facts_kept_apart():
    one, two = GatewayMetrics(), GatewayMetrics()
    for _ in range(3):
        one.for_api("a").observe(200, 0.003, 1.0)
    two.for_api("a").observe(503, 0.004, 2.0)
    two.for_api("b").observe(200, 0.005, 3.0)
    snapshots = [one.snapshot(process_facts(2, 1, None)), two.snapshot(process_facts(2, 4, None))]
    apis = merge_api_series(snapshot["apis"] for snapshot in snapshots)
    families = parse(render(apis, {0: snapshots[0]["process"], 1: snapshots[1]["process"]}, worker_restarts=1))
    assert value(families, "tollhouse_gateway_requests_total", api_id="a", status_class="2xx") == 3
    assert value(families, "tollhouse_gateway_requests_total", api_id="a", status_class="5xx") == 1
    assert value(families, "tollhouse_gateway_request_duration_seconds_count", api_id="a") == 4
    assert value(families, "tollhouse_gateway_request_duration_seconds_sum", api_id="a") == pytest.approx(0.013)
    assert value(families, "tollhouse_gateway_requests_total", api_id="b", status_class="2xx") == 1
    assert value(families, "tollhouse_gateway_workers") == 2
    assert value(families, "tollhouse_gateway_worker_restarts_total") == 1
    assert value(families, "tollhouse_gateway_reloads_total", worker="1") == 4
    assert values(families, "tollhouse_gateway_apis_loaded") == [2, 2]
    # merging does not change its inputs (a worker's last snapshot is merged again on the next scrape)
    assert snapshots[0]["apis"]["a"]["requests"][2] == 3


def test_analytics_facts_only_when_analytics_run():
    class Writer:
        pending, written, dropped = 5, 100, 2

    families = parse(render({}, {0: process_facts(0, 1, Writer())}))
    assert value(families, "tollhouse_gateway_analytics_queued", worker="0") == 5
    assert value(families, "tollhouse_gateway_analytics_dropped_total", worker="0") == 2
    assert "tollhouse_gateway_analytics_queued" not in parse(render({}, {0: process_facts(0, 1, None)}))


def test_classes_2xx_to_5xx_are_always_shown_others_once_seen():
    api = ApiMetrics()
    families = parse(render({"a": api.snapshot()}, {0: {}}))
    shown = {labels["status_class"] for _, labels, _ in families["tollhouse_gateway_requests_total"].samples}
    assert shown == {"2xx", "3xx", "4xx", "5xx"}


@pytest.mark.parametrize(("values", "refused"), [
    ({"metrics_port": 8080}, True),                        # the API port
    ({"metrics_port": 9000, "control_port": 9000}, True),  # the control port
    ({"metrics_port": 9100, "control_port": 9000}, False),
    ({"metrics_port": 0}, False),                          # off
    ({"metrics_port": 70000}, True),
])
def test_metrics_port_must_be_a_port_of_its_own(tmp_path, values, refused):
    base = {"listen_port": 8080, "app_path": str(tmp_path), "secret": "s" * 32, "key_hash_secret": "k" * 32}
    if refused:
        with pytest.raises(ValidationError, match="metrics_port"):
            GatewaySettings(**base, **values)
    else:
        assert GatewaySettings(**base, **values).metrics_port == values["metrics_port"]
