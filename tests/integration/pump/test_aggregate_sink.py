"""The aggregate sink against the real MongoDB-wire server: exact counts, re-delivery counted once, caps, indexes."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta

import pytest
import redis
from pymongo import MongoClient

from tests.analytics_data import expected_counts, recent_hour, record_at
from tests.integration.pump.helpers import pump_config, push
from tests.integration.pump.test_drain import drain_until, lists_empty
from tollhouse.core.aggregates import OTHER, document_id
from tollhouse.core.analytics import encode, processing_list
from tollhouse.core.latency_histogram import bucket_name, bucket_range_ms
from tollhouse.dashboard.analytics import AnalyticsReader
from tollhouse.dashboard.time_window import Window
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks.aggregate import MongoAggregateSink
from tollhouse.pump.sinks.tally import counted

MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def settings_for(tmp_path, redis_url, mongo_url, database, **overrides) -> PumpSettings:
    return PumpSettings(**pump_config(tmp_path, redis_url, mongo_url, database,
                                      sinks=["mongo", "mongo_aggregate"], **overrides))


def database(mongo_url, name):
    return MongoClient(mongo_url, serverSelectionTimeoutMS=5000, tz_aware=True)[name]


async def write_batches(settings: PumpSettings, *batches: list[dict], pump_id: str | None = None) -> list:
    """Each batch through a fresh sink's write (a fresh sink is what a restarted pump has)."""
    if pump_id is not None:
        settings = settings.model_copy(update={"pump_id": pump_id})
    sink = MongoAggregateSink(settings)
    await sink.init()
    try:
        return [await sink.write(batch) for batch in batches]
    finally:
        await sink.shutdown()


def mixed_records(start, count: int, seed: int = 1) -> list[dict]:
    """Records over two hours (so over many minutes and two hour buckets) of two APIs."""
    generator = random.Random(seed)
    return [
        record_at(start + timedelta(seconds=generator.uniform(0, 7200)), api_id=generator.choice(["api-1", "api-2"]),
                  status=generator.choice([200, 200, 200, 201, 404, 429, 500, 503]),
                  latency_ms=generator.lognormvariate(2.5, 1), key=generator.choice(["", "k1", "k2"]),
                  path=generator.choice(["/items", "/items/17", "/users/me"]))
        for _ in range(count)
    ]


def stored_counts(db, collection: str) -> dict[tuple, dict]:
    return {(document["org_id"], document["api_id"], document["t"]): {
        "requests": document["requests"], "errors": document["errors"],
        "server_errors": document["server_errors"], "statuses": document["statuses"]}
        for document in db[collection].find()}


def assert_counts_match(db, records: list[dict]) -> None:
    for collection, width in (("tollhouse_analytics_minute", MINUTE), ("tollhouse_analytics_hour", HOUR)):
        assert stored_counts(db, collection) == expected_counts(records, width), collection


def test_counts_are_exact_over_several_batches(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    records = mixed_records(recent_hour(4), 900)
    results = asyncio.run(write_batches(settings, records[:300], records[300:600], records[600:]))
    assert results == [[], [], []]

    db = database(mongo_url, mongo_db_name)
    assert_counts_match(db, records)
    hour = db["tollhouse_analytics_hour"].find_one({"api_id": "api-1", "t": recent_hour(4)})
    mine = [record for record in records if record["api_id"] == "api-1"
            and datetime.fromisoformat(record["timestamp"]) < recent_hour(3)]
    assert hour["keys"]["k1"]["requests"] == sum(record["api_key"] == "k1" for record in mine)
    assert sum(entry["requests"] for entry in hour["keys"].values()) == sum(bool(r["api_key"]) for r in mine)
    assert hour["endpoints"]["GET /items/{id}"]["requests"] == sum(r["path"] == "/items/17" for r in mine)
    assert sum(hour["latency_histogram"].values()) == len(mine)
    assert hour["latency_ms_max"] == max(record["request_time"] for record in mine)
    assert hour["latency_ms_sum"] == pytest.approx(sum(record["request_time"] for record in mine))
    assert hour["api_name"] == "Items"


def test_a_batch_written_again_is_counted_once(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    first, second = mixed_records(recent_hour(4), 200, seed=2), mixed_records(recent_hour(4), 200, seed=3)

    async def scenario():
        sink = MongoAggregateSink(settings)
        await sink.init()
        await sink.write(first)
        await sink.write(first)  # the drain retrying a write that timed out after it landed
        # Half landed: only the minute documents have the second batch, then the whole batch is retried.
        checked = [counted(index, record) for index, record in enumerate(second)]
        await sink.write_counted(checked, "minute")
        await sink.write(list(reversed(second)))
        await sink.shutdown()

    asyncio.run(scenario())
    asyncio.run(write_batches(settings, second))  # the last batch re-delivered to a restarted pump
    assert_counts_match(database(mongo_url, mongo_db_name), first + second)


def test_a_batch_redelivered_after_a_crash_is_counted_once(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name, purge_chunk=100)
    records = mixed_records(recent_hour(4), 250, seed=4)
    push(redis_url, records)
    asyncio.run(drain_until(settings, lambda: lists_empty(redis_url, settings.pump_id)))
    # The pump died after its sinks wrote the last batch but before acknowledging it.
    redis.Redis.from_url(redis_url).rpush(processing_list(settings.pump_id), *[encode(r) for r in records[200:]])
    status = asyncio.run(drain_until(settings, lambda: lists_empty(redis_url, settings.pump_id)))

    assert status.records_written == 50 and status.records_dead_lettered == 0
    db = database(mongo_url, mongo_db_name)
    assert db["tyk_analytics"].count_documents({}) == 250
    assert_counts_match(db, records)


def test_batches_of_several_pumps_on_the_same_documents_all_count(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    batches = [mixed_records(recent_hour(4), 150, seed=seed) for seed in range(5, 9)]

    async def concurrently():
        await asyncio.gather(*(write_batches(settings, batch, pump_id=f"pump-{n}.lab")
                               for n, batch in enumerate(batches)))

    asyncio.run(concurrently())
    db = database(mongo_url, mongo_db_name)
    assert_counts_match(db, [record for batch in batches for record in batch])
    applied = db["tollhouse_analytics_hour"].find_one({"api_id": "api-1", "t": recent_hour(4)})["applied"]
    assert set(applied) == {f"pump-{n}%2Elab" for n in range(4)}


def test_endpoints_and_keys_past_the_cap_count_as_other(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name, aggregate_max_endpoints=3,
                            aggregate_max_keys=2)
    moment = recent_hour(4) + timedelta(minutes=10)
    first = [record_at(moment, path=f"/e{n}", key=f"k{n}") for n in range(5) for _ in range(5 - n)]
    second = [record_at(moment, path=path, key="k0") for path in ("/e0", "/new", "/e4")]
    asyncio.run(write_batches(settings, first))
    asyncio.run(write_batches(settings, second))  # a fresh sink: it reads the document's names first

    document = database(mongo_url, mongo_db_name)["tollhouse_analytics_minute"].find_one({"api_id": "api-1"})
    assert {name: entry["requests"] for name, entry in document["endpoints"].items()} == {
        "GET /e0": 6, "GET /e1": 4, "GET /e2": 3, OTHER: 2 + 1 + 1 + 1}
    assert {name: entry["requests"] for name, entry in document["keys"].items()} == {"k0": 8, "k1": 4, OTHER: 3 + 2 + 1}
    assert document["requests"] == 18


def test_percentiles_from_the_stored_histograms_are_within_a_bucket_of_the_truth(
        tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    generator = random.Random(11)
    start = recent_hour(4)
    latencies = [generator.lognormvariate(3, 0.8) for _ in range(1000)]
    records = [record_at(start + timedelta(minutes=n % 3), latency_ms=latency, api_id=f"api-{n % 2}")
               for n, latency in enumerate(latencies)]
    asyncio.run(write_batches(settings, records[:500], records[500:]))

    reader = AnalyticsReader(database(mongo_url, mongo_db_name), "tyk_analytics", "tollhouse_analytics_minute",
                             "tollhouse_analytics_hour")
    [point] = reader.series("org-1", Window(start, start + HOUR), "hour")
    stored = sorted(record["request_time"] for record in records)
    for fraction, name in ((0.5, "latency_p50_ms"), (0.95, "latency_p95_ms")):
        true_value = stored[int(fraction * len(stored)) - 1]
        lower, upper = bucket_range_ms(bucket_name(true_value), stored[-1])
        assert abs(point[name] - true_value) <= upper - lower, (name, point[name], true_value)
    assert point["requests"] == 1000 and point["latency_max_ms"] == round(stored[-1], 3)


def test_records_it_cannot_count_are_refused_and_the_rest_counted(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    records = mixed_records(recent_hour(4), 10, seed=12)
    broken = dict(records[4], response_code="teapot")
    [rejections] = asyncio.run(write_batches(settings, [*records[:4], broken, *records[5:]]))
    assert [(rejection.index, rejection.reason[:13]) for rejection in rejections] == [(4, "response_code")]
    assert_counts_match(database(mongo_url, mongo_db_name), records[:4] + records[5:])


def test_indexes_and_retention_follow_the_settings(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    asyncio.run(write_batches(settings))
    db = database(mongo_url, mongo_db_name)
    for collection, seconds in (("tollhouse_analytics_minute", 7 * 86400 + 60),
                                ("tollhouse_analytics_hour", 400 * 86400 + 3600)):
        indexes = db[collection].index_information()
        assert indexes["org_api_time"]["key"] == [("org_id", 1), ("api_id", 1), ("t", 1)]
        assert indexes["org_time"]["key"] == [("org_id", 1), ("t", 1)]
        assert indexes["retention_ttl"]["key"] == [("t", 1)]
        assert indexes["retention_ttl"]["expireAfterSeconds"] == seconds

    asyncio.run(write_batches(settings.model_copy(update={"aggregate_minute_retention_days": 2})))
    ttl = db["tollhouse_analytics_minute"].index_information()["retention_ttl"]
    assert ttl["expireAfterSeconds"] == 2 * 86400 + 60


def test_each_bucket_has_a_document_per_api_and_one_for_all_apis(tmp_path, redis_url, mongo_url, mongo_db_name):
    settings = settings_for(tmp_path, redis_url, mongo_url, mongo_db_name)
    moment = recent_hour(4) + timedelta(minutes=7, seconds=5)
    asyncio.run(write_batches(settings, [record_at(moment)]))
    collection = database(mongo_url, mongo_db_name)["tollhouse_analytics_minute"]
    assert collection.find_one({"api_id": "api-1"})["_id"] == document_id("org-1", "api-1", moment.replace(second=0))
    every_api = collection.find_one({"api_id": ""})
    assert every_api["_id"] == document_id("org-1", "", moment.replace(second=0)) and every_api["requests"] == 1
    assert not {"keys", "endpoints", "api_name"} & set(every_api)
