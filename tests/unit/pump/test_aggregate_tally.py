"""Folding a batch into per-document increments, in Python (no database)."""

from datetime import UTC, datetime

import pytest

from tollhouse.core.aggregates import OTHER
from tollhouse.core.analytics import new_record
from tollhouse.pump.sinks.endpoints import endpoint_name, path_template
from tollhouse.pump.sinks.tally import Entry, NotCountable, batch_id, cap_entries, counted, fold

T0 = datetime(2026, 11, 26, 10, 59, 30, tzinfo=UTC).timestamp()


def record(seconds: float = 0, status: int = 200, latency: float = 10, key: str = "k1", path: str = "/a",
           api_id: str = "api-1", **changes) -> dict:
    base = new_record(method="get", host="h", path=path, raw_path=path, content_length=0, user_agent="ua",
                      response_code=status, api_id=api_id, api_name="A", org_id="o1", api_key=key,
                      ip_address="10.0.0.1", latency_total_ms=latency, latency_upstream_ms=latency / 2, tags=[],
                      started_at=T0 + seconds)
    return {**base, **changes}


def checked(records):
    return [counted(index, one) for index, one in enumerate(records)]


@pytest.mark.parametrize(("path", "template"), [
    ("/orders/1234", "/orders/{id}"),
    ("/orders/1234/items/7?x=1", "/orders/{id}/items/{id}"),
    ("/u/3f2504e0-4f89-11d3-9a0c-0305e82c3301", "/u/{id}"),
    ("/blob/deadbeefdeadbeef00", "/blob/{id}"),
    ("/t/abcdefghijklmnopqrstuvw1xyz", "/t/{id}"),
    ("/v1/users/me", "/v1/users/me"),
    ("/v2.1/status", "/v2.1/status"),
    ("/", "/"),
])
def test_ids_in_paths_become_one_endpoint(path, template):
    assert path_template(path) == template


def test_an_endpoint_is_the_method_and_the_template():
    assert endpoint_name("get", "/orders/12") == "GET /orders/{id}"
    assert len(endpoint_name("GET", "/x" * 500)) == 200


def test_a_batch_folds_into_one_tally_per_api_and_bucket():
    records = checked([
        record(0, 200, 1.1), record(10, 404, 30, key="k2"), record(20, 503, 250, key=""),
        record(40, 200, 5, path="/b/17"),  # the next minute, the next hour
        record(5, 200, 2, api_id="api-2"),
    ])
    minutes = fold(records, "minute")
    hours = fold(records, "hour")
    assert sorted(minutes) == [
        '["o1","","2026-11-26T10:59:00Z"]', '["o1","","2026-11-26T11:00:00Z"]',
        '["o1","api-1","2026-11-26T10:59:00Z"]', '["o1","api-1","2026-11-26T11:00:00Z"]',
        '["o1","api-2","2026-11-26T10:59:00Z"]']
    assert len(hours) == 5
    first = minutes['["o1","api-1","2026-11-26T10:59:00Z"]']
    assert (first.requests, first.errors, first.server_errors) == (3, 2, 1)
    assert first.latency_ms_sum == pytest.approx(281.1) and first.latency_ms_max == 250
    assert first.statuses == {"200": 1, "404": 1, "503": 1}
    assert first.histogram == {"1250": 1, "31500": 1, "250000": 1}
    assert first.keys == {"k1": Entry(1, 0), "k2": Entry(1, 1)}, "keyless requests are not counted per key"
    assert first.endpoints == {"GET /a": Entry(3, 2)}
    assert first.indexes == [0, 1, 2] and first.start == datetime(2026, 11, 26, 10, 59, tzinfo=UTC)
    assert minutes['["o1","api-1","2026-11-26T11:00:00Z"]'].endpoints == {"GET /b/{id}": Entry(1, 0)}
    assert hours['["o1","api-1","2026-11-26T10:00:00Z"]'].requests == 3
    every_api = minutes['["o1","","2026-11-26T10:59:00Z"]']
    assert (every_api.requests, every_api.errors, every_api.statuses["200"]) == (4, 2, 2)
    assert every_api.keys == {} and every_api.endpoints == {}, "keys and endpoints are counted per API only"
    assert "api_name" not in every_api.update("applied.p", "b")["$set"]


def test_the_update_increments_every_counter_and_marks_the_batch():
    tally = fold(checked([record(0, 500, 12.5, path="/v1.2/x")]), "hour")['["o1","api-1","2026-11-26T10:00:00Z"]']
    update = tally.update("applied.pump%2E1", "b1")
    assert update["$inc"] == {
        "requests": 1, "errors": 1, "server_errors": 1, "latency_ms_sum": 12.5, "latency_histogram.12500": 1,
        "statuses.500": 1, "keys.k1.requests": 1, "keys.k1.errors": 1,
        "endpoints.GET /v1%2E2/x.requests": 1, "endpoints.GET /v1%2E2/x.errors": 1,
    }
    assert update["$max"] == {"latency_ms_max": 12.5}
    assert update["$set"] == {"applied.pump%2E1": "b1", "api_name": "A"}
    assert update["$setOnInsert"]["t"] == datetime(2026, 11, 26, 10, tzinfo=UTC)


def test_the_batch_id_depends_on_the_records_not_their_order():
    records = checked([record(n) for n in range(5)])
    assert batch_id(records) == batch_id(list(reversed(records)))
    assert batch_id(records) != batch_id(records[1:])


@pytest.mark.parametrize(("changes", "reason"), [
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"request_id": ""}, "request_id"),
    ({"api_id": 7}, "api_id"),
    ({"response_code": "200"}, "response_code"),
    ({"response_code": True}, "response_code"),
    ({"request_time": None}, "request_time"),
    ({"request_time": -1}, "request_time"),
    ({"request_time": float("nan")}, "request_time"),
    ({"path": None}, "path"),
])
def test_records_the_aggregates_cannot_count_are_refused_with_the_reason(changes, reason):
    with pytest.raises(NotCountable, match=reason):
        counted(0, record(**changes))


def test_names_past_the_cap_are_counted_as_other():
    entries = {"a": Entry(5, 1), "b": Entry(1, 0), "c": Entry(9, 0), "known": Entry(2, 2)}
    known = {"known", "old"}
    cap_entries(entries, known, limit=3)
    assert entries == {"known": Entry(2, 2), "c": Entry(9, 0), OTHER: Entry(6, 1)}, "the busiest new name kept"
    assert known == {"known", "old", "c", OTHER}
    # Full: every new name goes to "(other)", known names still count on their own.
    entries = {"d": Entry(1, 0), "c": Entry(1, 1), OTHER: Entry(1, 0)}
    cap_entries(entries, known, limit=3)
    assert entries == {"c": Entry(1, 1), OTHER: Entry(2, 0)}
