"""The pump's exposition: counters by sink, the batch histogram, queue gauges only when Redis answered."""

from __future__ import annotations

from tests.prometheus_text import parse, value
from tollhouse.pump.metrics import PumpMetrics


def test_counters_by_sink_and_batch_histogram():
    metrics = PumpMetrics()
    metrics.claimed(200, redelivered=False)
    metrics.claimed(50, redelivered=True)
    metrics.records_written["mongo"] += 249
    metrics.records_rejected["mongo"] += 1
    metrics.retries["redis"] += 2
    metrics.batch_done(0.03)
    metrics.batch_done(0.2)
    families = parse(metrics.render(["mongo", "mongo_aggregate"], 1, {"backlog": 7, "processing": 0,
                                                                       "dead_letter": 1}))
    assert value(families, "tollhouse_pump_records_read_total") == 250
    assert value(families, "tollhouse_pump_records_redelivered_total") == 50
    assert value(families, "tollhouse_pump_records_written_total", sink="mongo") == 249
    assert value(families, "tollhouse_pump_records_written_total", sink="mongo_aggregate") == 0
    assert value(families, "tollhouse_pump_records_rejected_total", sink="mongo") == 1
    assert value(families, "tollhouse_pump_records_dead_lettered_total") == 1
    assert value(families, "tollhouse_pump_retries_total", target="redis") == 2
    assert value(families, "tollhouse_pump_retries_total", target="mongo") == 0
    assert value(families, "tollhouse_pump_batch_duration_seconds_count") == 2
    assert value(families, "tollhouse_pump_batch_duration_seconds_bucket", le="0.05") == 1
    assert value(families, "tollhouse_pump_queue_length", list="backlog") == 7


def test_without_redis_the_queue_gauges_are_left_out():
    families = parse(PumpMetrics().render(["mongo"], 0, None))
    assert "tollhouse_pump_queue_length" not in families
    assert value(families, "tollhouse_pump_records_read_total") == 0
