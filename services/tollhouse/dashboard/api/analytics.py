"""``/api/analytics``: request charts, breakdowns and the log browser, for the user's organisation.

``series`` and ``breakdown`` read the pump's per-minute and per-hour aggregates (enable the pump's
``mongo_aggregate`` sink), ``logs`` the raw records (``analytics.py`` says what each can and cannot answer).
Times are ISO 8601 (a time without an offset is UTC) or Unix seconds; a bad parameter answers 400 naming
it. Keys are named by their hash, as everywhere in analytics (the key itself is never stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BeforeValidator

from tollhouse.core.aggregates import iso
from tollhouse.dashboard.analytics import LogFilter
from tollhouse.dashboard.auth import CurrentUser
from tollhouse.dashboard.deps import AnalyticsDep, SettingsDep
from tollhouse.dashboard.errors import BadRequest
from tollhouse.dashboard.models import ERROR_RESPONSES, AnalyticsBreakdown, AnalyticsLogs, AnalyticsSeries
from tollhouse.dashboard.permissions import require
from tollhouse.dashboard.time_window import chart_window, requested_window

router = APIRouter(prefix="/api/analytics", tags=["analytics"], responses=ERROR_RESPONSES)

Reader = Annotated[CurrentUser, Depends(require("analytics", "read"))]

MAX_ROWS = 1000
# Reading page p reads the p pages before it: deep pages are for narrowing the window instead.
MAX_LOG_PAGE = 1000


def _blank_is_absent(value: object) -> object:
    # An HTML form sends an empty field as "param=": the same as leaving it out.
    return None if value == "" else value


def _optional(kind, description: str, **query):
    return Annotated[kind | None, BeforeValidator(_blank_is_absent), Query(description=description, **query)]


FromQuery = _optional(datetime, "Start of the window (default: 24 hours before `to`).", alias="from")
ToQuery = _optional(datetime, "End of the window, exclusive (default: now).", alias="to")
GranularityQuery = _optional(Literal["minute", "hour"], "Bucket width; by default minute for windows up to "
                                                        "6 hours, else hour. At most 2 days of minutes.")
ApiQuery = _optional(str, "Only this API.")
KeyQuery = _optional(str, "Only this key, by its hash.")
StatusQuery = _optional(int, "Only this status code.", ge=100, le=999)


@router.get("/series", response_model=AnalyticsSeries,
            summary="Requests, errors and latency (p50/p95) per minute or hour over a window")
def series(user: Reader, analytics: AnalyticsDep, start: FromQuery = None, end: ToQuery = None,
           granularity: GranularityQuery = None, api_id: ApiQuery = None, key_hash: KeyQuery = None) -> dict:
    window, granularity = chart_window(requested_window(start, end), granularity)
    data = analytics.series(user.org_id, window, granularity, api_id, key_hash)
    return {"granularity": granularity, "from": iso(window.start), "to": iso(window.end), "api_id": api_id,
            "key_hash": key_hash, "data": data}


@router.get("/breakdown", response_model=AnalyticsBreakdown,
            summary="Requests and errors by API, key, endpoint or status code over a window, busiest first")
def breakdown(user: Reader, analytics: AnalyticsDep,
              by: Annotated[Literal["api", "key", "endpoint", "status"], Query(description="What to group by.")],
              start: FromQuery = None, end: ToQuery = None, granularity: GranularityQuery = None,
              api_id: ApiQuery = None, key_hash: KeyQuery = None,
              limit: Annotated[int, Query(ge=1, le=MAX_ROWS, description="How many rows to answer.")] = 10) -> dict:
    if key_hash is not None and by not in ("api", "key"):
        raise BadRequest([("key_hash", f"cannot be combined with by={by}: endpoints and status codes "
                                       "are not counted per key (use by=api or by=key)")])
    window, granularity = chart_window(requested_window(start, end), granularity)
    rows = analytics.breakdown(user.org_id, window, granularity, by, api_id, key_hash)
    total = {"requests": sum(row["requests"] for row in rows), "errors": sum(row["errors"] for row in rows)}
    return {"by": by, "granularity": granularity, "from": iso(window.start), "to": iso(window.end),
            "total": total, "rows": len(rows), "data": rows[:limit]}


@router.get("/logs", response_model=AnalyticsLogs, summary="Raw analytics records, newest first, a page at a time")
def logs(user: Reader, analytics: AnalyticsDep, settings: SettingsDep, start: FromQuery = None,
         end: ToQuery = None, api_id: ApiQuery = None, key_hash: KeyQuery = None,
         status: StatusQuery = None,
         errors_only: Annotated[bool, Query(description="Only answers with status 400 or above.")] = False,
         p: Annotated[int, Query(ge=1, le=MAX_LOG_PAGE, description="Page number, from 1.")] = 1) -> dict:
    window = requested_window(start, end)
    size = settings.analytics_log_page_size
    # One record more than a page says whether another page follows, without counting them all.
    records = analytics.logs(user.org_id, window, LogFilter(api_id, key_hash, status, errors_only),
                             skip=(p - 1) * size, limit=size + 1)
    return {"from": iso(window.start), "to": iso(window.end), "page": p, "page_size": size,
            "has_more": len(records) > size, "data": records[:size]}
