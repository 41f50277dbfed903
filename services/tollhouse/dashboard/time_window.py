"""The time window of an analytics query: checked, given a granularity, and widened to whole buckets.

Without ``to`` a window ends now; without ``from`` it spans the 24 hours before ``to``. Without a
granularity, windows up to ``AUTO_MINUTE_SPAN`` are charted per minute and longer ones per hour. Each
granularity has a longest window (``MAX_SPAN``): a minute chart of a month would be 43,200 points.
Errors name the query parameter at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tollhouse.core.aggregates import GRANULARITIES, bucket_start
from tollhouse.dashboard.errors import BadRequest

DEFAULT_SPAN = timedelta(hours=24)
AUTO_MINUTE_SPAN = timedelta(hours=6)
MAX_SPAN = {"minute": timedelta(days=2), "hour": timedelta(days=400)}


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive
    end: datetime  # exclusive

    def buckets(self, granularity: str) -> list[datetime]:
        width = GRANULARITIES[granularity]
        return [self.start + width * n for n in range(int((self.end - self.start) / width))]


def requested_window(start: datetime | None, end: datetime | None, now: datetime | None = None) -> Window:
    """The window as asked (UTC; a time without an offset is taken as UTC); 400 unless ``from`` < ``to``."""
    end = _utc(end) if end is not None else (now or datetime.now(UTC))
    start = _utc(start) if start is not None else end - DEFAULT_SPAN
    if start >= end:
        raise BadRequest([("from", f"must be before to ({_show(start)} is not before {_show(end)})")])
    return Window(start, end)


def chart_window(window: Window, granularity: str | None) -> tuple[Window, str]:
    """The window widened to whole buckets of the granularity (chosen by span when None)."""
    span = window.end - window.start
    if granularity is None:
        granularity = "minute" if span <= AUTO_MINUTE_SPAN else "hour"
    if span > MAX_SPAN[granularity]:
        hint = "" if granularity == "hour" else " (use granularity=hour)"
        raise BadRequest([("from", f"the window from {_show(window.start)} to {_show(window.end)} is longer than "
                                   f"{_days(MAX_SPAN[granularity])}, the most for granularity={granularity}{hint}")])
    start = bucket_start(window.start, granularity)
    end = bucket_start(window.end, granularity)
    if end < window.end:
        end += GRANULARITIES[granularity]
    return Window(start, end), granularity


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _show(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _days(span: timedelta) -> str:
    return f"{span.days} days"
