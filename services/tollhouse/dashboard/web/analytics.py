"""The analytics screens: the chart with its breakdowns (``GET /analytics``) and the log browser
(``GET /analytics/logs``), read-only, for the user's organisation.

Both read through ``AnalyticsReader`` exactly as ``/api/analytics/*`` does (same window rules from
``time_window.py``, same queries, same organisation scope); only the query string differs: a time range is a
preset (last hour, 24 hours, 7 days, 30 days, the window ending now) or custom from/to typed in a browser's
``datetime-local`` inputs, taken as UTC. A bad filter re-renders the page with 400 and the message next to
its field; nothing is read. Everything is a GET form, so a filtered view is a link to share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from tollhouse.core.aggregates import OTHER
from tollhouse.dashboard.analytics import AnalyticsReader, LogFilter
from tollhouse.dashboard.api.analytics import MAX_LOG_PAGE
from tollhouse.dashboard.deps import AnalyticsDep, SettingsDep, StoreDep
from tollhouse.dashboard.errors import BadRequest
from tollhouse.dashboard.time_window import Window, chart_window, requested_window
from tollhouse.dashboard.web import analytics_chart
from tollhouse.dashboard.web.routes import render
from tollhouse.dashboard.web.session import WebSession, page

router = APIRouter(include_in_schema=False)

Reader = Annotated[WebSession, Depends(page("analytics", "read"))]

RANGES = {"1h": ("Last hour", timedelta(hours=1)), "24h": ("Last 24 hours", timedelta(hours=24)),
          "7d": ("Last 7 days", timedelta(days=7)), "30d": ("Last 30 days", timedelta(days=30)),
          "custom": ("Custom (from / to below, UTC)", None)}
DEFAULT_RANGE = "24h"
GRANULARITIES = {"": "Automatic (per minute up to 6 hours)", "minute": "Per minute", "hour": "Per hour"}
BREAKDOWNS = ("api", "key", "endpoint", "status")
BREAKDOWN_ROWS = 10  # shown per breakdown; the rest are counted
CHART_FIELDS = ("range", "from", "to", "granularity", "api_id", "key_hash")
LOG_FIELDS = ("range", "from", "to", "api_id", "key_hash", "status", "errors_only")
INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # what a datetime-local input shows and sends


@dataclass
class Query:
    """The query string as typed (kept to show it again) and the errors found in it, by field."""

    values: dict[str, str]
    errors: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def link(self, path: str, **changes: str | None) -> str:
        """``path`` with these values, changed as asked (None drops a field), blank fields left out."""
        merged = {**self.values, **changes}
        return path + "?" + urlencode({name: value for name, value in merged.items() if value})


def read_query(request: Request, names: tuple[str, ...]) -> Query:
    values = {name: request.query_params.get(name, "").strip() for name in names}
    if not values["range"]:
        # A from or to typed without picking "Custom" still means them.
        values["range"] = "custom" if values["from"] or values["to"] else DEFAULT_RANGE
    return Query(values)


def window_of(query: Query, now: datetime | None = None) -> Window | None:
    """The window the range asks for (UTC), or None with the errors noted next to their fields."""
    now = now or datetime.now(UTC)
    chosen = query.values["range"]
    if chosen not in RANGES:
        query.fail("range", "choose one of the ranges offered")
        return None
    span = RANGES[chosen][1]
    if span is not None:
        return Window(now - span, now)
    start, end = _moment(query, "from"), _moment(query, "to")
    if query.errors:
        return None
    try:
        return requested_window(start, end, now)
    except BadRequest as exc:
        for name, message in exc.errors:
            query.fail(name, message)
        return None


def _moment(query: Query, name: str) -> datetime | None:
    text = query.values[name]
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        query.fail(name, "must be a date and time, e.g. 2026-11-26T14:30 (UTC)")
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@router.get("/analytics", response_class=HTMLResponse)
def chart_page(request: Request, session: Reader, analytics: AnalyticsDep, store: StoreDep) -> Response:
    query = read_query(request, CHART_FIELDS)
    org_id = session.user.org_id
    apis = _api_choices(store, org_id)
    context = {"session": session, "query": query, "values": query.values, "errors": query.errors, "ranges": RANGES,
               "granularities": GRANULARITIES, "apis": apis, "api_names": dict(apis)}
    granularity = query.values["granularity"] or None
    if granularity not in (None, "minute", "hour"):
        query.fail("granularity", "choose per minute, per hour or automatic")
    window = window_of(query)
    if window is not None and not query.errors:
        try:
            window, granularity = chart_window(window, granularity)
        except BadRequest as exc:
            # Too long a window for minutes: the choice to change is the granularity, if it was chosen.
            for _, message in exc.errors:
                query.fail("granularity" if query.values["granularity"] else "from", _web_wording(message))
    if query.errors:
        return render(request, "analytics.html", 400, **context, chart=None)
    api_id, key_hash = query.values["api_id"] or None, query.values["key_hash"] or None
    points = analytics.series(org_id, window, granularity, api_id, key_hash)
    chart = analytics_chart.build(points, granularity, latency_kept=key_hash is None)
    return render(request, "analytics.html", **context, chart=chart, granularity=granularity,
                  window=_shown(window), breakdowns=_breakdowns(analytics, org_id, window, granularity, query),
                  key_filtered=key_hash is not None)


@router.get("/analytics/logs", response_class=HTMLResponse)
def logs_page(request: Request, session: Reader, analytics: AnalyticsDep, store: StoreDep,
              settings: SettingsDep) -> Response:
    query = read_query(request, LOG_FIELDS)
    org_id = session.user.org_id
    apis = _api_choices(store, org_id)
    context = {"session": session, "query": query, "values": query.values, "errors": query.errors, "ranges": RANGES,
               "apis": apis}
    status = _status(query)
    number = _page_number(request, query)
    window = window_of(query)
    if query.errors or window is None:
        return render(request, "analytics_logs.html", 400, **context, entries=None)
    size = settings.analytics_log_page_size
    filters = LogFilter(query.values["api_id"] or None, query.values["key_hash"] or None, status,
                        query.values["errors_only"] == "on")
    # One record more than a page says whether another page follows (as /api/analytics/logs).
    records = analytics.logs(org_id, window, filters, skip=(number - 1) * size, limit=size + 1)
    return render(request, "analytics_logs.html", **context, entries=[_entry(record) for record in records[:size]],
                  page=number, has_more=len(records) > size and number < MAX_LOG_PAGE, window=_shown(window),
                  previous=query.link("/analytics/logs", p=str(number - 1) if number > 2 else None),
                  next=query.link("/analytics/logs", p=str(number + 1)))


def _status(query: Query) -> int | None:
    text = query.values["status"]
    if not text:
        return None
    if not text.isdigit() or not 100 <= int(text) <= 999:
        query.fail("status", "must be a status code: a number from 100 to 999")
        return None
    return int(text)


def _page_number(request: Request, query: Query) -> int:
    text = request.query_params.get("p", "1").strip() or "1"
    if not text.isdigit() or not 1 <= int(text) <= MAX_LOG_PAGE:
        query.fail("p", f"the page must be a number from 1 to {MAX_LOG_PAGE} (narrow the time range to see older)")
        return 1
    return int(text)


def _api_choices(store, org_id: str) -> list[tuple[str, str]]:
    documents, _ = store.list_apis(org_id, 0, None)
    return [(document["api_id"], document.get("name", "")) for document in documents]


def _breakdowns(analytics: AnalyticsReader, org_id: str, window: Window, granularity: str, query: Query) -> dict:
    """Each breakdown's top rows, row count and, for a key filter, why endpoints and statuses are missing."""
    api_id, key_hash = query.values["api_id"] or None, query.values["key_hash"] or None
    found = {}
    for by in BREAKDOWNS:
        if key_hash is not None and by in ("endpoint", "status"):
            found[by] = None  # not counted per key (analytics.py)
            continue
        rows = analytics.breakdown(org_id, window, granularity, by, api_id, key_hash)
        found[by] = {"rows": rows[:BREAKDOWN_ROWS], "more": max(0, len(rows) - BREAKDOWN_ROWS)}
        for row in found[by]["rows"]:
            row["links"] = _row_links(query, by, row)
    return found


def _row_links(query: Query, by: str, row: dict) -> dict[str, str]:
    """Where a breakdown row leads: the chart filtered by it, and the log browser filtered by it."""
    logs = {name: query.values[name] for name in ("range", "from", "to", "api_id", "key_hash")}
    logs_query = Query(logs)
    if by in ("api", "endpoint"):
        return {"chart": query.link("/analytics", api_id=row["api_id"]),
                "logs": logs_query.link("/analytics/logs", api_id=row["api_id"])}
    if by == "key":
        if row["key_hash"] == OTHER:
            return {}  # keys past the per-document cap: no one key to filter by
        return {"chart": query.link("/analytics", key_hash=row["key_hash"]),
                "logs": logs_query.link("/analytics/logs", key_hash=row["key_hash"])}
    return {"logs": logs_query.link("/analytics/logs", status=str(row["status"]))}


def _entry(record: dict) -> dict:
    moment = record.get("timestamp", "")
    return {"time": moment.replace("T", " ").replace("Z", "") if isinstance(moment, str) else "",
            "api_name": record.get("api_name", ""), "api_id": record.get("api_id", ""),
            "method": record.get("method", ""), "path": record.get("path", ""),
            "status": record.get("response_code"), "latency_ms": record.get("request_time"),
            "key_hash": record.get("api_key") or ""}


def _shown(window: Window) -> dict[str, str]:
    return {"from": window.start.strftime("%Y-%m-%d %H:%M"), "to": window.end.strftime("%Y-%m-%d %H:%M"),
            "from_input": window.start.strftime(INPUT_FORMAT), "to_input": window.end.strftime(INPUT_FORMAT)}


def _web_wording(message: str) -> str:
    # time_window.py names query parameters for the JSON API; here they are the form's choices.
    return message.replace(" (use granularity=hour)", ": choose per hour").replace("granularity=", "per ")
