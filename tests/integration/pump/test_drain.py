"""The drain loop in-process against real Redis and MongoDB-wire servers."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

import redis

from tests.integration.pump.helpers import make_records, pump_config, push, raw_collection
from tollhouse.core.analytics import ANALYTICS_LIST, DEAD_LETTER_LIST, encode, processing_list
from tollhouse.pump.drain import Drainer
from tollhouse.pump.queue import AnalyticsQueue
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks import Rejection, Sink, build_sinks
from tollhouse.pump.sinks.mongo import MAX_DOCUMENT_BYTES
from tollhouse.pump.status import PumpStatus


def settings_for(tmp_path, redis_url, mongo_url, database, **overrides) -> PumpSettings:
    return PumpSettings(**pump_config(tmp_path, redis_url, mongo_url, database, **overrides))


async def drain_until(settings: PumpSettings, done, extra_sinks=(), timeout: float = 30.0) -> PumpStatus:
    """Run the drain loop until ``done()`` is true, then stop it as SIGTERM would."""
    stopping, status = asyncio.Event(), PumpStatus()
    queue = AnalyticsQueue(settings.redis_url, settings.pump_id)
    sinks = [*build_sinks(settings), *extra_sinks]
    task = asyncio.create_task(Drainer(settings, queue, sinks, status, stopping).run())
    try:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, "drain did not finish in time"
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
    finally:
        stopping.set()
        await asyncio.wait_for(task, 10)
        for sink in sinks:
            await sink.shutdown()
        await queue.close()
    return status


def lists_empty(redis_url: str, pump_id: str) -> bool:
    client = redis.Redis.from_url(redis_url)
    return client.llen(ANALYTICS_LIST) == 0 and client.llen(processing_list(pump_id)) == 0


def test_records_land_with_their_fields_and_types(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    records = make_records(3)
    push(redis_url, records)
    collection = raw_collection(mongo_url, mongo_db_name)
    status = asyncio.run(drain_until(settings, lambda: collection.count_documents({}) == 3))

    assert status.records_written == 3 and status.last_write is not None
    stored = collection.find_one({"_id": records[1]["request_id"]})
    assert isinstance(stored["timestamp"], datetime)
    assert stored["timestamp"] == datetime.fromisoformat(records[1]["timestamp"])
    for key in ("method", "path", "raw_path", "content_length", "response_code", "api_id", "org_id",
                "api_key", "request_time", "latency", "tags", "day", "month", "year", "hour", "request_id"):
        assert stored[key] == records[1][key], key
    assert isinstance(stored["latency"]["upstream"], float) and isinstance(stored["response_code"], int)
    assert lists_empty(redis_url, settings.pump_id)


def test_raw_collection_is_created_capped(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name, raw_collection="raw_capped")
    collection = raw_collection(mongo_url, mongo_db_name, "raw_capped")
    # Done when the sink's init has made the collection and its indexes (_id plus six).
    asyncio.run(drain_until(settings, lambda: len(collection.index_information()) == 7))
    assert collection.options() == {"capped": True, "size": 64 << 20}
    keys = [index["key"] for index in collection.index_information().values()]
    assert [("api_id", 1), ("timestamp", -1)] in keys and [("timestamp", -1)] in keys
    assert [("org_id", 1), ("response_code", 1), ("timestamp", -1)] in keys  # the log browser's status filter


def test_a_backlog_larger_than_a_chunk_drains_without_waiting_for_each_purge(
        tmp_path, redis_url, mongo_url, mongo_db_name):
    # 10 chunks with a 5 s purge delay: only back-to-back batches finish within the timeout.
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name, purge_chunk=250, purge_delay=5)
    records = make_records(2500)
    push(redis_url, records)
    collection = raw_collection(mongo_url, mongo_db_name)
    asyncio.run(drain_until(settings, lambda: collection.count_documents({}) == 2500, timeout=15))
    assert set(collection.distinct("_id")) == {record["request_id"] for record in records}
    assert lists_empty(redis_url, settings.pump_id)


def test_leftovers_in_the_processing_list_are_delivered_first_and_stored_once(
        tmp_path, redis_url, mongo_url, mongo_db_name):
    # Leftovers from a run with a larger purge_chunk are still taken as one batch.
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name, purge_chunk=20)
    collection = raw_collection(mongo_url, mongo_db_name)
    in_flight, queued = make_records(50), make_records(30)
    # A crash after the insert but before the acknowledge: half the batch is already stored.
    collection.database.create_collection("tyk_analytics", capped=True, size=1 << 20)
    collection.insert_many([{"_id": record["request_id"], **record} for record in in_flight[:25]])
    redis.Redis.from_url(redis_url).rpush(processing_list(settings.pump_id), *[encode(r) for r in in_flight])
    push(redis_url, queued)

    asyncio.run(drain_until(settings, lambda: lists_empty(redis_url, settings.pump_id)))
    assert collection.count_documents({}) == 80
    assert redis.Redis.from_url(redis_url).llen(DEAD_LETTER_LIST) == 0


def test_poison_records_are_dead_lettered_with_a_reason_and_the_rest_stored(
        tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    good = make_records(4)
    bad_timestamp, nul_key, too_large = make_records(3)
    bad_timestamp["timestamp"] = "last tuesday"
    nul_key["tags"] = {"a\x00b": 1}
    too_large["raw_request"] = "x" * MAX_DOCUMENT_BYTES
    poison = [b"not json at all", b'["a list"]', json.dumps({"api_id": "x"}).encode(),
              encode(bad_timestamp), encode(nul_key), encode(too_large)]
    client = redis.Redis.from_url(redis_url)
    client.rpush(ANALYTICS_LIST, encode(good[0]), *poison, *[encode(record) for record in good[1:]])

    collection = raw_collection(mongo_url, mongo_db_name)
    status = asyncio.run(drain_until(settings, lambda: lists_empty(redis_url, settings.pump_id)))

    assert set(collection.distinct("_id")) == {record["request_id"] for record in good}
    letters = [json.loads(entry) for entry in client.lrange(DEAD_LETTER_LIST, 0, -1)]
    assert [letter["record"].encode() for letter in letters] == poison
    reasons = [letter["reason"] for letter in letters]
    assert reasons[0].startswith("not JSON") and reasons[1] == "not a JSON object"
    assert reasons[2] == "missing field 'request_id'"
    assert reasons[3].startswith("mongo: timestamp is not ISO 8601")
    assert reasons[4].startswith("mongo: not a valid BSON document")
    assert "over MongoDB's" in reasons[5]
    assert all(letter["at"].endswith("Z") for letter in letters)
    assert status.records_dead_lettered == 6 and status.records_written == 4


class FlakySink(Sink):
    """Fails its first writes, refuses one record, and remembers every write it was given."""

    type_name, component = "flaky", "flaky"

    def __init__(self, failures: int, refuse_path: str):
        self.failures, self.refuse_path, self.writes = failures, refuse_path, []

    async def init(self) -> None:
        pass

    async def write(self, batch):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("flaky store is down")
        self.writes.append([record["request_id"] for record in batch])
        refused = [i for i, record in enumerate(batch) if record["path"] == self.refuse_path]
        return [Rejection(index, "refused") for index in refused]

    async def shutdown(self) -> None:
        pass

    async def check(self) -> None:
        pass


def test_a_failing_sink_is_retried_alone_and_its_refusals_are_dead_lettered(
        tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name, retry_max_seconds=0.2)
    records = make_records(5)
    push(redis_url, records)
    flaky = FlakySink(failures=2, refuse_path="/orders/3")
    collection = raw_collection(mongo_url, mongo_db_name)
    asyncio.run(drain_until(settings, lambda: lists_empty(redis_url, settings.pump_id), extra_sinks=[flaky]))

    assert flaky.writes == [[record["request_id"] for record in records]]
    assert collection.count_documents({}) == 5
    [entry] = redis.Redis.from_url(redis_url).lrange(DEAD_LETTER_LIST, 0, -1)
    letter = json.loads(entry)
    assert letter["reason"] == "flaky: refused" and json.loads(letter["record"]) == records[3]
