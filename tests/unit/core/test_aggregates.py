import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tollhouse.core.aggregates import bucket_start, document_id, escape_name, unescape_name


@pytest.mark.parametrize("name", ["GET /v1.2/items", "$where", "100%", "%2E.", "a%252Eb", "GET /{id}", ""])
def test_entry_names_escape_to_field_names_and_back(name):
    field = escape_name(name)
    assert "." not in field and not field.startswith("$")
    assert unescape_name(field) == name


def test_buckets_start_on_the_minute_or_hour_in_utc():
    moment = datetime(2026, 11, 26, 12, 34, 56, 789, tzinfo=timezone(timedelta(hours=2)))
    assert bucket_start(moment, "minute") == datetime(2026, 11, 26, 10, 34, tzinfo=UTC)
    assert bucket_start(moment, "hour") == datetime(2026, 11, 26, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="granularity"):
        bucket_start(moment, "day")


def test_document_ids_are_unambiguous():
    start = datetime(2026, 11, 26, 10, tzinfo=UTC)
    assert json.loads(document_id("o", "a,b", start)) == ["o", "a,b", "2026-11-26T10:00:00Z"]
    assert document_id('o","a', "b", start) != document_id("o", 'a","b', start)
