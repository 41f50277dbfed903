"""``GET /metrics`` on the pump's health port, after a real drain from Redis into MongoDB."""

from __future__ import annotations

import signal
import urllib.request

import pytest
import redis

from tests.integration.pump.helpers import make_records, pump_config, push, raw_collection, wait_until, write_toml
from tests.prometheus_text import parse, value
from tests.servers import free_port, service
from tollhouse.core.analytics import ANALYTICS_LIST


@pytest.fixture
def start_pump(tmp_path, redis_url, mongo_url, mongo_db_name):
    started = []

    def start(store_url: str = mongo_url, **overrides):
        settings = pump_config(tmp_path, redis_url, store_url, mongo_db_name, health_port=free_port(), **overrides)
        pump = service("pump", write_toml(tmp_path / "pump.toml", settings), settings["health_port"],
                       tmp_path / "pump").start()
        started.append(pump)
        return settings["health_port"]

    yield start
    for pump in started:
        pump.stop(signal.SIGKILL)


def scrape(port: int):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        return parse(response.read().decode())


def test_counts_after_a_real_drain(start_pump, redis_url, mongo_url, mongo_db_name):
    records = make_records(450)
    push(redis_url, records)
    redis.Redis.from_url(redis_url).rpush(ANALYTICS_LIST, b"not a record")  # dead-lettered
    port = start_pump(sinks=["mongo", "mongo_aggregate"], purge_chunk=200)
    wait_until(lambda: raw_collection(mongo_url, mongo_db_name).count_documents({}) == 450, message="drained")
    wait_until(lambda: value(scrape(port), "tollhouse_pump_records_read_total") == 451, message="all counted")
    families = scrape(port)
    assert value(families, "tollhouse_pump_records_written_total", sink="mongo") == 450
    assert value(families, "tollhouse_pump_records_written_total", sink="mongo_aggregate") == 450
    assert value(families, "tollhouse_pump_records_rejected_total", sink="mongo") == 0
    assert value(families, "tollhouse_pump_records_dead_lettered_total") == 1
    assert value(families, "tollhouse_pump_records_redelivered_total") == 0
    assert value(families, "tollhouse_pump_retries_total", target="redis") == 0
    assert value(families, "tollhouse_pump_batch_duration_seconds_count") == 3  # 200 + 200 + 51
    assert value(families, "tollhouse_pump_queue_length", list="backlog") == 0
    assert value(families, "tollhouse_pump_queue_length", list="dead_letter") == 1
    # Bounded: labels are sink types and list names only.
    labels = {label for family in families.values() for _, found, _ in family.samples for label in found}
    assert labels <= {"sink", "target", "list", "le"}


def test_a_store_that_is_down_counts_retries(start_pump, redis_url):
    push(redis_url, make_records(5))
    port = start_pump(store_url=f"mongodb://127.0.0.1:{free_port()}/", sink_timeout_seconds=0.5)
    wait_until(lambda: value(scrape(port), "tollhouse_pump_retries_total", target="mongo") >= 2, message="retries")
    families = scrape(port)
    assert value(families, "tollhouse_pump_records_written_total", sink="mongo") == 0
    assert value(families, "tollhouse_pump_queue_length", list="backlog") == 5  # waiting in Redis
