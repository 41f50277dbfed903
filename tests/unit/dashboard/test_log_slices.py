import itertools
from datetime import UTC, datetime, timedelta

from tollhouse.dashboard.analytics import LogFilter, _slices
from tollhouse.dashboard.time_window import Window

END = datetime(2026, 11, 26, 12, tzinfo=UTC)


def test_the_window_is_walked_back_in_slices_doubling_in_length():
    slices = list(_slices(Window(END - timedelta(minutes=20), END)))
    lengths = [(end - start) / timedelta(minutes=1) for start, end in slices]
    assert lengths == [1, 2, 4, 8, 5], "the last slice stops at the start of the window"
    assert slices[0][1] == END and slices[-1][0] == END - timedelta(minutes=20)
    assert all(newer[0] == older[1] for newer, older in itertools.pairwise(slices)), "no gaps, no overlaps"


def test_only_an_indexed_equality_goes_to_the_server():
    assert LogFilter().server_side() == {} and not LogFilter().checked_here
    assert LogFilter(api_id="a").server_side() == {"api_id": "a"} and not LogFilter(api_id="a").checked_here
    both = LogFilter(api_id="a", key_hash="k")
    assert both.server_side() == {"api_key": "k"} and both.checked_here
    assert both.matches({"api_id": "a", "api_key": "k"}) and not both.matches({"api_id": "b", "api_key": "k"})
    status = LogFilter(api_id="a", status=503)
    assert status.server_side() == {"response_code": 503} and status.checked_here, "a status goes before the API"
    assert not LogFilter(status=503).checked_here
    assert LogFilter(key_hash="k", status=503).server_side() == {"api_key": "k"}
    errors = LogFilter(errors_only=True, status=503)
    assert errors.server_side() == {"response_code": 503} and errors.checked_here and not errors.matches_nothing
    assert errors.matches({"response_code": 503}) and not errors.matches({"response_code": 500})
    assert LogFilter(errors_only=True).server_side() == {} and LogFilter(errors_only=True).checked_here
    assert LogFilter(errors_only=True, status=200).matches_nothing
