"""``tollhouse-pump`` as a real process: outages, SIGKILL, SIGTERM, health, settings errors."""

from __future__ import annotations

import signal
import subprocess
import threading
import time

import pytest
import redis

from tests.integration.pump.helpers import (
    get_health,
    make_records,
    pump_config,
    push,
    raw_collection,
    wait_until,
    write_toml,
)
from tests.servers import VENV_BIN, free_port, service
from tollhouse.core.analytics import ANALYTICS_LIST, DEAD_LETTER_LIST, processing_list


@pytest.fixture
def start_pump(tmp_path, redis_url, mongo_url, mongo_db_name):
    started = []

    def start(**overrides):
        settings = pump_config(tmp_path, redis_url, mongo_url, mongo_db_name,
                               health_port=free_port(), **overrides)
        config = write_toml(tmp_path / "pump.toml", settings)
        pump = service("pump", config, settings["health_port"], tmp_path / "pump").start()
        started.append(pump)
        return pump, settings

    yield start
    for pump in started:
        pump.stop(signal.SIGKILL)


def stored_ids(mongo_url: str, database: str) -> list[str]:
    return [document["_id"] for document in raw_collection(mongo_url, database).find({}, {"_id": 1})]


def assert_stored_exactly_once(mongo_url, database, records, redis_url, pump_id):
    ids = stored_ids(mongo_url, database)
    assert len(ids) == len(records) and set(ids) == {record["request_id"] for record in records}
    client = redis.Redis.from_url(redis_url)
    for name in (ANALYTICS_LIST, processing_list(pump_id), DEAD_LETTER_LIST):
        assert client.llen(name) == 0, name


class Feeder(threading.Thread):
    """Keeps appending records to the analytics list, as gateways under load do."""

    def __init__(self, redis_url: str, per_tick: int = 25, tick: float = 0.05):
        super().__init__(daemon=True)
        self.redis_url, self.per_tick, self.tick = redis_url, per_tick, tick
        self.sent: list[dict] = []
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            records = make_records(self.per_tick)
            push(self.redis_url, records)
            self.sent.extend(records)
            time.sleep(self.tick)

    def finish(self) -> list[dict]:
        self.halt.set()
        self.join()
        return self.sent


def health_answer(port: int, code: int, message: str) -> dict:
    """Poll /health until it answers ``code``; return that answer's body."""
    _, body = wait_until(lambda: (answer := get_health(port))[0] == code and answer, message=message)
    return body


def test_health_passes_then_sigterm_exits_0(start_pump):
    pump, _ = start_pump()
    body = health_answer(pump.port, 200, "health 200")
    assert body["status"] == "pass" and body["details"]["redis"]["status"] == "pass"
    assert body["details"]["mongodb"]["status"] == "pass" and body["details"]["backlog"] == 0
    pump.stop(signal.SIGTERM)
    assert pump.process.returncode == 0
    assert "pump stopped" in pump.log()


def test_mongodb_outage_keeps_records_in_redis_and_catches_up(
        start_pump, mongo_proc, redis_url, mongo_url, mongo_db_name):
    pump, settings = start_pump()
    feeder = Feeder(redis_url)
    feeder.start()
    try:
        wait_until(lambda: len(stored_ids(mongo_url, mongo_db_name)) > 0, message="first records stored")
        mongo_proc.stop()
        body = health_answer(pump.port, 503, "health 503 while MongoDB is down")
        assert body["status"] == "fail" and body["details"]["mongodb"]["status"] == "fail"
        backlog = body["details"]["backlog"]
        wait_until(lambda: get_health(pump.port)[1]["details"]["backlog"] > backlog, message="backlog grows")

        # SIGTERM while a claimed batch cannot be written: exit 0, the batch stays in Redis.
        # The pump may report the outage before its next claim, so wait for the claim itself.
        wait_until(lambda: get_health(pump.port)[1]["details"]["processing"] > 0, message="a batch claimed")
        pump.stop(signal.SIGTERM, timeout=settings["shutdown_grace_seconds"] + 5)
        assert pump.process.returncode == 0
        assert redis.Redis.from_url(redis_url).llen(processing_list(settings["pump_id"])) > 0
    except BaseException:
        feeder.finish()  # a feeder left running would pollute the next tests' Redis
        raise
    finally:
        mongo_proc.start()
    pump.start()
    time.sleep(0.5)
    records = feeder.finish()
    wait_until(lambda: len(stored_ids(mongo_url, mongo_db_name)) >= len(records), timeout=60,
               message="catch up after the outage")
    assert_stored_exactly_once(mongo_url, mongo_db_name, records, redis_url, settings["pump_id"])
    assert wait_until(lambda: get_health(pump.port)[0] == 200, message="health back to 200")


def test_sigkill_mid_flight_loses_and_duplicates_nothing(start_pump, redis_url, mongo_url, mongo_db_name):
    records = make_records(6000)
    push(redis_url, records)
    pump, settings = start_pump(purge_chunk=500)
    in_flight = processing_list(settings["pump_id"])
    client = redis.Redis.from_url(redis_url)
    # Killed with some batches stored and one claimed but not acknowledged.
    wait_until(lambda: len(stored_ids(mongo_url, mongo_db_name)) > 0 and client.llen(in_flight) > 0,
               interval=0.01, message="a batch in flight after the first stored")
    pump.stop(signal.SIGKILL)
    assert pump.process.returncode == -signal.SIGKILL
    assert len(stored_ids(mongo_url, mongo_db_name)) < len(records), "killed too late to test anything"

    pump.start()
    def all_stored() -> bool:
        return client.llen(in_flight) == 0 and len(stored_ids(mongo_url, mongo_db_name)) == len(records)

    wait_until(all_stored, message="all records after restart")
    assert_stored_exactly_once(mongo_url, mongo_db_name, records, redis_url, settings["pump_id"])


def test_redis_outage_is_reported_and_survived(start_pump, redis_proc, redis_url, mongo_url, mongo_db_name):
    pump, settings = start_pump()
    wait_until(lambda: get_health(pump.port)[0] == 200, message="health 200")
    redis_proc.stop()
    try:
        body = health_answer(pump.port, 503, "health 503 while Redis is down")
        assert body["details"]["redis"]["status"] == "fail" and body["details"]["backlog"] is None
        time.sleep(1)  # several failed attempts with backoff
    finally:
        redis_proc.start()
    records = make_records(50)
    push(redis_url, records)
    wait_until(lambda: len(stored_ids(mongo_url, mongo_db_name)) == 50, message="records after Redis returns")
    assert_stored_exactly_once(mongo_url, mongo_db_name, records, redis_url, settings["pump_id"])
    assert pump.process.poll() is None


def test_unusable_settings_exit_2_naming_the_key(tmp_path):
    config = write_toml(tmp_path / "pump.toml", {"mongo_url": "mongodb://127.0.0.1:1/", "purge_chunk": 0})
    result = subprocess.run([str(VENV_BIN / "tollhouse-pump"), "--config", str(config)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "purge_chunk" in result.stderr and "greater than or equal to 1" in result.stderr
