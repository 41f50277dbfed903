from datetime import UTC, datetime, timedelta, timezone

import pytest

from tollhouse.dashboard.errors import BadRequest
from tollhouse.dashboard.time_window import Window, chart_window, requested_window

NOW = datetime(2026, 11, 26, 10, 30, 15, tzinfo=UTC)


def test_without_times_the_window_is_the_last_24_hours():
    assert requested_window(None, None, now=NOW) == Window(NOW - timedelta(hours=24), NOW)


def test_times_without_an_offset_are_utc_and_others_are_converted():
    two_hours_east = timezone(timedelta(hours=2))
    window = requested_window(datetime(2026, 11, 26, 9), datetime(2026, 11, 26, 12, tzinfo=two_hours_east))
    assert window == Window(datetime(2026, 11, 26, 9, tzinfo=UTC), datetime(2026, 11, 26, 10, tzinfo=UTC))


def test_from_must_be_before_to():
    with pytest.raises(BadRequest) as refused:
        requested_window(NOW, NOW)
    assert refused.value.errors[0][0] == "from"


@pytest.mark.parametrize(("span", "granularity"), [
    (timedelta(minutes=5), "minute"), (timedelta(hours=6), "minute"), (timedelta(hours=7), "hour"),
    (timedelta(days=30), "hour"),
])
def test_granularity_is_chosen_by_span(span, granularity):
    assert chart_window(Window(NOW - span, NOW), None)[1] == granularity


def test_the_window_widens_to_whole_buckets():
    window, _ = chart_window(Window(NOW - timedelta(minutes=30), NOW), "minute")
    assert window == Window(datetime(2026, 11, 26, 10, 0, tzinfo=UTC), datetime(2026, 11, 26, 10, 31, tzinfo=UTC))
    assert len(window.buckets("minute")) == 31
    window, _ = chart_window(Window(NOW - timedelta(hours=3), NOW), "hour")
    assert window == Window(datetime(2026, 11, 26, 7, tzinfo=UTC), datetime(2026, 11, 26, 11, tzinfo=UTC))
    assert window.buckets("hour")[-1] == datetime(2026, 11, 26, 10, tzinfo=UTC)


@pytest.mark.parametrize(("span", "granularity", "says"), [
    (timedelta(days=3), "minute", "longer than 2 days, the most for granularity=minute (use granularity=hour)"),
    (timedelta(days=401), "hour", "longer than 400 days"),
    (timedelta(days=401), None, "granularity=hour"),
])
def test_windows_too_long_for_the_granularity_are_refused(span, granularity, says):
    with pytest.raises(BadRequest) as refused:
        chart_window(Window(NOW - span, NOW), granularity)
    field, message = refused.value.errors[0]
    assert field == "from" and says in message
