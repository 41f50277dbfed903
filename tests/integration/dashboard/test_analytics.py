"""/api/analytics: series, breakdowns and logs over records written by the pump's own sinks."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from pymongo import MongoClient

from tests.analytics_data import recent_hour, record_at
from tests.integration.dashboard.conftest import ADMIN_EMAIL, login
from tollhouse.core.aggregates import iso
from tollhouse.dashboard.analytics import LogFilter
from tollhouse.dashboard.app import create_app
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks import build_sinks

HOUR = recent_hour(3)


def at(minutes: float):
    return HOUR + timedelta(minutes=minutes)


def dataset(org_id: str) -> list[dict]:
    orders = {"api_id": "api-1", "api_name": "Orders", "org_id": org_id}
    users = {"api_id": "api-2", "api_name": "Users", "org_id": org_id}
    return [
        record_at(at(0.1), **orders, status=200, latency_ms=10, key="k1", path="/orders/1"),
        record_at(at(0.3), **orders, status=404, latency_ms=20, key="k1", path="/orders/2"),
        record_at(at(1.5), **orders, status=500, latency_ms=100, key="k2", path="/orders/3"),
        record_at(at(65), **orders, status=200, latency_ms=5, method="POST", path="/orders"),
        *[record_at(at(2.2), **users, status=200, latency_ms=1, key="k1", path="/users/me") for _ in range(3)],
        # Another organisation's traffic, on an API id of the same name: never shown.
        *[record_at(at(0.5), api_id="api-1", org_id="other-org", status=200, key="k1") for _ in range(5)],
    ]


async def write_through_the_pump_sinks(mongo_url: str, database: str, records: list[dict]) -> None:
    settings = PumpSettings(mongo_url=mongo_url, mongo_database=database, sinks=["mongo", "mongo_aggregate"],
                            raw_collection_max_bytes=16 << 20)
    sinks = build_sinks(settings)
    for sink in sinks:
        await sink.init()
        assert await sink.write(records) == []
        await sink.shutdown()


@pytest.fixture
def org_id(client, mongo_url, mongo_db_name) -> str:
    return MongoClient(mongo_url)[mongo_db_name]["users"].find_one({"email": ADMIN_EMAIL})["org_id"]


@pytest.fixture
def loaded(org_id, mongo_url, mongo_db_name) -> list[dict]:
    records = dataset(org_id)
    asyncio.run(write_through_the_pump_sinks(mongo_url, mongo_db_name, records))
    return records


def get(client, auth, path: str, **params):
    reply = client.get(f"/api/analytics/{path}", headers=auth, params=params)
    assert reply.status_code == 200, reply.text
    return reply.json()


def counts(points: list[dict]) -> list[tuple]:
    return [(point["t"], point["requests"], point["errors"]) for point in points]


def test_series_per_minute(client, auth, loaded):
    answer = get(client, auth, "series", **{"from": iso(at(0)), "to": iso(at(3)), "granularity": "minute"})
    assert (answer["granularity"], answer["from"], answer["to"]) == ("minute", iso(at(0)), iso(at(3)))
    assert counts(answer["data"]) == [(iso(at(0)), 2, 1), (iso(at(1)), 1, 1), (iso(at(2)), 3, 0)]
    first, second, third = answer["data"]
    assert second["server_errors"] == 1 and first["server_errors"] == 0
    assert first["latency_max_ms"] == 20 and first["latency_mean_ms"] == 15
    assert 8 <= first["latency_p50_ms"] <= 10 and 16 <= first["latency_p95_ms"] <= 20
    assert third["latency_p50_ms"] <= 1


def test_series_per_hour_with_empty_buckets_and_auto_granularity(client, auth, loaded):
    answer = get(client, auth, "series", **{"from": iso(at(-60)), "to": iso(at(60 * 9))})
    assert answer["granularity"] == "hour" and len(answer["data"]) == 10
    assert counts(answer["data"])[:3] == [(iso(at(-60)), 0, 0), (iso(at(0)), 6, 2), (iso(at(60)), 1, 0)]
    assert answer["data"][0]["latency_p50_ms"] is None
    # A short window is charted per minute, widened to whole minutes.
    answer = get(client, auth, "series", **{"from": iso(at(0.5)), "to": iso(at(2.5))})
    assert answer["granularity"] == "minute" and [point["t"] for point in answer["data"]] == [
        iso(at(0)), iso(at(1)), iso(at(2))]


def test_series_of_one_api_and_of_one_key(client, auth, loaded):
    window = {"from": iso(at(0)), "to": iso(at(3)), "granularity": "minute"}
    assert counts(get(client, auth, "series", api_id="api-2", **window)["data"]) == [
        (iso(at(0)), 0, 0), (iso(at(1)), 0, 0), (iso(at(2)), 3, 0)]
    by_key = get(client, auth, "series", key_hash="k1", **window)
    assert counts(by_key["data"]) == [(iso(at(0)), 2, 1), (iso(at(1)), 0, 0), (iso(at(2)), 3, 0)]
    assert by_key["key_hash"] == "k1" and by_key["data"][0]["latency_p50_ms"] is None, "latency is not kept per key"


def test_breakdowns(client, auth, loaded):
    window = {"from": iso(at(0)), "to": iso(at(120))}
    answer = get(client, auth, "breakdown", by="api", **window)
    assert answer["total"] == {"requests": 7, "errors": 2} and answer["rows"] == 2
    assert answer["data"] == [{"api_id": "api-1", "api_name": "Orders", "requests": 4, "errors": 2},
                              {"api_id": "api-2", "api_name": "Users", "requests": 3, "errors": 0}]
    assert get(client, auth, "breakdown", by="key", **window)["data"] == [
        {"key_hash": "k1", "requests": 5, "errors": 1}, {"key_hash": "k2", "requests": 1, "errors": 1}]
    assert get(client, auth, "breakdown", by="endpoint", **window)["data"] == [
        {"api_id": "api-1", "endpoint": "GET /orders/{id}", "requests": 3, "errors": 2},
        {"api_id": "api-2", "endpoint": "GET /users/me", "requests": 3, "errors": 0},
        {"api_id": "api-1", "endpoint": "POST /orders", "requests": 1, "errors": 0}]
    assert get(client, auth, "breakdown", by="status", **window)["data"] == [
        {"status": 200, "requests": 5, "errors": 0}, {"status": 404, "requests": 1, "errors": 1},
        {"status": 500, "requests": 1, "errors": 1}]


def test_breakdown_top_rows_and_filters(client, auth, loaded):
    window = {"from": iso(at(0)), "to": iso(at(120))}
    top = get(client, auth, "breakdown", by="endpoint", limit=1, **window)
    assert len(top["data"]) == 1 and top["rows"] == 3 and top["total"] == {"requests": 7, "errors": 2}
    assert get(client, auth, "breakdown", by="api", key_hash="k1", **window)["data"] == [
        {"api_id": "api-2", "api_name": "Users", "requests": 3, "errors": 0},
        {"api_id": "api-1", "api_name": "Orders", "requests": 2, "errors": 1}]
    assert get(client, auth, "breakdown", by="status", api_id="api-2", **window)["data"] == [
        {"status": 200, "requests": 3, "errors": 0}]


def test_logs_newest_first_with_filters(client, auth, loaded):
    window = {"from": iso(at(0)), "to": iso(at(120))}
    everything = get(client, auth, "logs", **window)
    mine = [record for record in loaded if record["org_id"] != "other-org"]
    assert [entry["request_id"] for entry in everything["data"]] == [
        record["request_id"] for record in sorted(mine, key=lambda record: record["timestamp"], reverse=True)]
    assert everything["has_more"] is False and everything["page"] == 1 and everything["page_size"] == 50
    assert everything["data"][0]["timestamp"] == mine[3]["timestamp"] and "_id" not in everything["data"][0]

    def statuses(**filters):
        return sorted(entry["response_code"] for entry in get(client, auth, "logs", **{**window, **filters})["data"])

    assert statuses(api_id="api-1") == [200, 200, 404, 500]
    assert statuses(key_hash="k2") == [500]
    assert statuses(errors_only="true") == [404, 500]
    assert statuses(status=404) == [404]
    assert statuses(api_id="api-1", key_hash="k1") == [200, 404]
    assert statuses(status=200, errors_only="true") == []
    assert statuses(api_id="api-1", **{"from": iso(at(1)), "to": iso(at(2))}) == [500]


def test_a_status_filter_reads_only_that_status_through_its_index(loaded, org_id, mongo_url, mongo_db_name):
    # What the log browser sends for status 404 (any API): SecantusDB must walk the raw sink's status index and
    # read only the 404s, not every record of the window (1.2 s for a rare status in 1,000,000 records).
    raw = MongoClient(mongo_url, tz_aware=True)[mongo_db_name]["tyk_analytics"]
    sent = LogFilter(api_id="api-1", status=404).server_side()
    plan = raw.find({"org_id": org_id, **sent, "timestamp": {"$gte": at(0), "$lt": at(120)}}).sort(
        "timestamp", -1).explain()
    stage = plan["queryPlanner"]["winningPlan"]
    while stage["stage"] != "IXSCAN" and "inputStage" in stage:
        stage = stage["inputStage"]
    assert stage["stage"] == "IXSCAN" and stage["keyPattern"] == {"org_id": 1, "response_code": 1, "timestamp": -1}
    assert plan["executionStats"]["totalDocsExamined"] == 1


def test_logs_page_by_page(settings, loaded, mongo_url):
    with TestClient(create_app(settings.model_copy(update={"analytics_log_page_size": 3}))) as client:
        auth = {"authorization": login(client)}
        window = {"from": iso(at(0)), "to": iso(at(120))}
        pages = [get(client, auth, "logs", p=page, **window) for page in (1, 2, 3)]
    assert [len(page["data"]) for page in pages] == [3, 3, 1]
    assert [page["has_more"] for page in pages] == [True, True, False]
    seen = [entry["request_id"] for page in pages for entry in page["data"]]
    assert len(set(seen)) == 7


def test_another_organisations_traffic_is_never_shown(client, auth, loaded):
    window = {"from": iso(at(0)), "to": iso(at(1))}
    assert get(client, auth, "series", granularity="minute", **window)["data"][0]["requests"] == 2
    assert get(client, auth, "breakdown", by="key", **window)["total"]["requests"] == 2
    assert len(get(client, auth, "logs", **window)["data"]) == 2


def test_empty_parameters_count_as_absent(client, auth, loaded):
    answer = get(client, auth, "series", api_id="", key_hash="", granularity="", **{"from": "", "to": ""})
    assert answer["granularity"] == "hour" and len(answer["data"]) in (24, 25)
    assert sum(point["requests"] for point in answer["data"]) == 7


@pytest.mark.parametrize(("path", "params", "named"), [
    ("series", {"from": "yesterday"}, "from"),
    ("series", {"to": "2026-13-01T00:00:00Z"}, "to"),
    ("series", {"granularity": "day"}, "granularity"),
    ("series", {"from": "2026-11-26T10:00:00Z", "to": "2026-11-26T10:00:00Z"}, "from"),
    ("series", {"from": "2026-11-20T00:00:00Z", "to": "2026-11-26T00:00:00Z", "granularity": "minute"}, "from"),
    ("series", {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ("breakdown", {}, "by"),
    ("breakdown", {"by": "colour"}, "by"),
    ("breakdown", {"by": "endpoint", "key_hash": "k1"}, "key_hash"),
    ("breakdown", {"by": "api", "limit": "0"}, "limit"),
    ("breakdown", {"by": "api", "to": "1764150000x"}, "to"),
    ("logs", {"status": "teapot"}, "status"),
    ("logs", {"status": "42"}, "status"),
    ("logs", {"errors_only": "maybe"}, "errors_only"),
    ("logs", {"p": "0"}, "p"),
    ("logs", {"from": "2026-11-26T11:00:00Z", "to": "2026-11-26T10:00:00Z"}, "from"),
])
def test_bad_parameters_answer_400_naming_them(client, auth, path, params, named):
    reply = client.get(f"/api/analytics/{path}", headers=auth, params=params)
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert body["Status"] == "Error" and body["Message"].startswith(f"{named}: ")
    assert body["Errors"][0]["field"] == named


def test_times_may_be_unix_seconds(client, auth, loaded):
    params = {"from": str(int(at(0).timestamp())), "to": str(int(at(3).timestamp())), "granularity": "minute"}
    assert [point["requests"] for point in get(client, auth, "series", **params)["data"]] == [2, 1, 3]


def test_analytics_need_a_login(client):
    for path in ("series", "breakdown?by=api", "logs"):
        assert client.get(f"/api/analytics/{path}").status_code == 401


def test_openapi_documents_the_analytics_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/analytics/series", "/api/analytics/breakdown", "/api/analytics/logs"):
        assert {"400", "401"} <= set(paths[path]["get"]["responses"])
    names = {parameter["name"] for parameter in paths["/api/analytics/logs"]["get"]["parameters"]}
    assert names == {"from", "to", "api_id", "key_hash", "status", "errors_only", "p"}
