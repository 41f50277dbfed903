from datetime import UTC, datetime

import bson
import pytest

from tollhouse.core.analytics import new_record
from tollhouse.pump.sinks.mongo import (
    MAX_DOCUMENT_BYTES,
    MongoUnavailable,
    NotStorable,
    parse_timestamp,
    refused_documents,
    to_document,
)


def record(**changes) -> dict:
    base = new_record(method="GET", host="h", path="/p", raw_path="/p?q=1", content_length=0,
                      user_agent="ua", response_code=200, api_id="a1", api_name="A", org_id="o1", api_key="k",
                      ip_address="10.0.0.1", latency_total_ms=5, latency_upstream_ms=4, tags=["x"],
                      started_at=1_700_000_000.25)
    return {**base, **changes}


def test_document_uses_request_id_and_a_bson_date():
    original = record()
    document = bson.decode(to_document(original).raw)
    assert document["_id"] == original["request_id"]
    assert document["timestamp"] == datetime(2023, 11, 14, 22, 13, 20, 250000)
    assert next(iter(document)) == "_id"
    assert {key: value for key, value in document.items() if key not in ("_id", "timestamp")} == {
        key: value for key, value in original.items() if key != "timestamp"}
    assert original["timestamp"] == "2023-11-14T22:13:20.250Z", "the record itself is not modified"


def test_a_stray_id_field_does_not_replace_request_id():
    original = record(_id="other")
    assert bson.decode(to_document(original).raw)["_id"] == original["request_id"]


@pytest.mark.parametrize(("value", "expected"), [
    ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2024-01-02T04:04:05+01:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
])
def test_timestamps_become_utc(value, expected):
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(("changes", "reason"), [
    ({"timestamp": "yesterday"}, "timestamp is not ISO 8601"),
    ({"timestamp": 1700000000}, "timestamp is not a string"),
    ({"request_id": ""}, "request_id must be a non-empty string"),
    ({"request_id": ["a"]}, "request_id must be a non-empty string"),
    ({"tags": {"bad\x00key": 1}}, "not a valid BSON document"),
    ({"raw_request": "x" * MAX_DOCUMENT_BYTES}, "over MongoDB's"),
])
def test_records_that_can_never_be_documents(changes, reason):
    with pytest.raises(NotStorable, match=reason):
        to_document(record(**changes))


def test_duplicate_keys_count_as_stored_and_permanent_errors_are_refusals():
    details = {"writeErrors": [
        {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key"},
        {"index": 3, "code": 2, "errmsg": "bad value"},
    ]}
    assert refused_documents(details) == [(3, "mongodb refused the document (code 2): bad value")]


@pytest.mark.parametrize("details", [
    {"writeErrors": [{"index": 1, "code": 11602, "errmsg": "interrupted due to stepdown"}]},
    {"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication timed out"}]},
])
def test_errors_that_may_pass_retry_the_batch(details):
    with pytest.raises(MongoUnavailable):
        refused_documents(details)
