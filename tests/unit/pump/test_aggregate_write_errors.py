import pytest

from tollhouse.pump.sinks.aggregate import classify_write_errors
from tollhouse.pump.sinks.mongo import MongoUnavailable


def test_duplicates_are_told_apart_from_documents_refused_for_good():
    details = {"writeErrors": [
        {"index": 0, "code": 11000, "errmsg": "dup"},
        {"index": 2, "code": 14, "errmsg": "Cannot apply $inc to a value of non-numeric type"},
        {"index": 3, "code": 11000, "errmsg": "dup"},
    ]}
    collided, refused = classify_write_errors(details)
    assert collided == [0, 3]
    assert refused == [(2, "mongodb refused the update (code 14): Cannot apply $inc to a value of non-numeric type")]


@pytest.mark.parametrize("details", [
    {"writeErrors": [{"index": 0, "code": 11000}, {"index": 1, "code": 91, "errmsg": "shutting down"}]},
    {"writeErrors": [], "writeConcernErrors": [{"code": 64, "errmsg": "waiting for replication timed out"}]},
])
def test_errors_that_may_pass_retry_the_batch(details):
    with pytest.raises(MongoUnavailable):
        classify_write_errors(details)
