"""The analytics queries: charts and breakdowns from the pump's aggregate documents, logs from the raw records.

Charts never touch the raw collection: a chart reads one document per bucket, the organisation's all-APIs
document or the API's (see ``core/aggregates.py``), and p50/p95 come from the latency histograms
(``core/latency_histogram.py``), summed here in Python when documents are added up. Breakdowns by key and
endpoint read each API's documents. What the aggregates cannot answer, said plainly in the results:
- latency is kept per API and bucket, not per key: a series for one key has counts but no latency;
- endpoints and status codes are not kept per key, so a breakdown filtered by key is by API or by key only;
- past the per-document caps, keys and endpoints are counted under ``"(other)"``.
Every query is scoped to the caller's organisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import DESCENDING
from pymongo.database import Database

from tollhouse.core import latency_histogram
from tollhouse.core.aggregates import ALL_APIS, escape_name, iso, unescape_name
from tollhouse.dashboard.time_window import Window

SERIES_FIELDS = {"_id": 0, "t": 1, "requests": 1, "errors": 1, "server_errors": 1, "latency_ms_sum": 1,
                 "latency_ms_max": 1, "latency_histogram": 1}


@dataclass
class Point:
    """One chart bucket, summed over the documents (APIs) that fall in it."""

    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0
    histogram: dict[str, int] = field(default_factory=dict)

    def add(self, document: dict) -> None:
        """Add an aggregate document, or one key's entry of it (counts only)."""
        self.requests += document.get("requests", 0)
        self.errors += document.get("errors", 0)
        self.server_errors += document.get("server_errors", 0)
        self.latency_ms_sum += document.get("latency_ms_sum", 0.0)
        self.latency_ms_max = max(self.latency_ms_max, document.get("latency_ms_max", 0.0))
        for name, count in (document.get("latency_histogram") or {}).items():
            self.histogram[name] = self.histogram.get(name, 0) + count

    def as_json(self, start: datetime, latency_kept: bool = True) -> dict:
        def quantile(fraction: float) -> float | None:
            return latency_histogram.percentile(self.histogram, fraction, self.latency_ms_max)

        measured = latency_kept and self.requests > 0
        return {
            "t": iso(start), "requests": self.requests, "errors": self.errors,
            "server_errors": self.server_errors if latency_kept else None,
            "latency_p50_ms": quantile(0.50) if measured else None,
            "latency_p95_ms": quantile(0.95) if measured else None,
            "latency_mean_ms": round(self.latency_ms_sum / self.requests, 3) if measured else None,
            "latency_max_ms": round(self.latency_ms_max, 3) if measured else None,
        }


@dataclass(frozen=True)
class LogFilter:
    api_id: str | None = None
    key_hash: str | None = None
    status: int | None = None
    errors_only: bool = False

    def server_side(self) -> dict:
        """The one equality sent with the query, the one an index serves with the time range (the raw sink's
        ``RAW_INDEXES``), the most selective given: the key (one client's traffic), else the status code,
        else the API. A status goes before the API: most codes are rare, and reading one API's records for
        a rare code read every record of the window (1.2 s for status 503 in 1,000,000 records, 0.5% of
        them); reading one code's records for an API reads at most 1/share of the API's more.

        Errors only stays here: SecantusDB serves one range per query from a compound index, and the time
        range is that one; a second range (``response_code >= 400``) makes it read the organisation's every
        record. Errors are the few by nature, so checking them here reads about 1/error rate records a page.
        """
        if self.key_hash is not None:
            return {"api_key": self.key_hash}
        if self.status is not None:
            return {"response_code": self.status}
        return {"api_id": self.api_id} if self.api_id is not None else {}

    @property
    def checked_here(self) -> bool:
        """Whether some filter is not answered by the server's query (``matches`` decides on each record)."""
        sent = self.server_side()
        return ((self.api_id is not None and "api_id" not in sent)
                or (self.status is not None and "response_code" not in sent) or self.errors_only)

    @property
    def matches_nothing(self) -> bool:
        """A success status with errors only: no record can match (answered without reading that status)."""
        return self.errors_only and self.status is not None and self.status < 400

    def matches(self, record: dict) -> bool:
        status = record.get("response_code")
        return ((self.api_id is None or record.get("api_id") == self.api_id)
                and (self.key_hash is None or record.get("api_key") == self.key_hash)
                and (self.status is None or status == self.status)
                and (not self.errors_only or (isinstance(status, int) and status >= 400)))


class AnalyticsReader:
    def __init__(self, database: Database, raw: str, minute: str, hour: str):
        self.raw = database[raw]
        self.aggregates = {"minute": database[minute], "hour": database[hour]}

    def series(self, org_id: str, window: Window, granularity: str, api_id: str | None = None,
               key_hash: str | None = None) -> list[dict]:
        """One point per bucket of the window, empty buckets included (a chart needs them)."""
        points = {start: Point() for start in window.buckets(granularity)}
        if key_hash is None:
            # Every API together is one document per bucket too (the organisation's all-APIs documents).
            query = _scope(org_id, window, ALL_APIS if api_id is None else api_id)
            for document in self.aggregates[granularity].find(query, SERIES_FIELDS):
                if (point := points.get(document["t"])) is not None:
                    point.add(document)
            return [point.as_json(start) for start, point in points.items()]
        # One key: its entry in each API's documents, with counts only (latency is not kept per key).
        name = escape_name(key_hash)
        query = _scope(org_id, window, api_id)
        for document in self.aggregates[granularity].find(query, {"_id": 0, "t": 1, f"keys.{name}": 1}):
            entry = (document.get("keys") or {}).get(name)
            if entry and (point := points.get(document["t"])) is not None:
                point.add(entry)
        return [point.as_json(start, latency_kept=False) for start, point in points.items()]

    def breakdown(self, org_id: str, window: Window, granularity: str, by: str, api_id: str | None = None,
                  key_hash: str | None = None) -> list[dict]:
        """Every row of the breakdown with its requests and errors, busiest first.

        With ``key_hash``, only ``by`` api or key can be answered (the caller checks)."""
        query, collection = _scope(org_id, window, api_id), self.aggregates[granularity]
        if key_hash is not None:
            rows = _one_key(collection, query, by, key_hash)
        elif by == "api":
            rows = _by_api(collection, query)
        elif by == "status":
            rows = _by_status(collection, _scope(org_id, window, ALL_APIS if api_id is None else api_id))
        else:
            rows = _by_entries(collection, query, "keys" if by == "key" else "endpoints")
        ordered = sorted(rows.values(), key=lambda row: (-row["requests"], row["sort"]))
        return [{name: value for name, value in row.items() if name != "sort"} for row in ordered]

    def logs(self, org_id: str, window: Window, filters: LogFilter, skip: int, limit: int) -> list[dict]:
        """Raw records of the window, newest first: ``limit`` of them after ``skip``.

        The window is walked back from its end in slices that double in length (``_slices``), each read
        newest first, until enough records are found. MongoDB would stop reading the indexes as soon as a page
        is full on its own; SecantusDB (the lab's server) reads every record in the index range before sorting,
        so without slices one page of the last 24 hours would read all of them (0.7 s for 20,000). Only
        filters an index serves go to the server (``LogFilter.server_side``): a filter beyond that makes
        SecantusDB scan the whole collection; the others are checked here, on records read in order.
        """
        if filters.matches_nothing:
            return []
        wanted, found = skip + limit, []
        query = {"org_id": org_id, **filters.server_side()}
        for start, end in _slices(window):
            cursor = self.raw.find({**query, "timestamp": {"$gte": start, "$lt": end}}).sort("timestamp", DESCENDING)
            if not filters.checked_here:
                cursor = cursor.limit(wanted - len(found))
            with cursor:
                for record in cursor:
                    if filters.matches(record):
                        found.append(record)
                        if len(found) == wanted:
                            break
            if len(found) == wanted:
                break
        return [_log_entry(record) for record in found[skip:]]


FIRST_SLICE = timedelta(minutes=1)


def _slices(window: Window):
    """(start, end) pairs from the end of the window back to its start: 1 minute, 2, 4, 8..."""
    end, length = window.end, FIRST_SLICE
    while end > window.start:
        start = max(window.start, end - length)
        yield start, end
        end, length = start, length * 2


def _scope(org_id: str, window: Window, api_id: str | None) -> dict:
    query: dict[str, Any] = {"org_id": org_id, "t": {"$gte": window.start, "$lt": window.end}}
    if api_id is not None:
        query["api_id"] = api_id
    return query


def _row(sort: Any, **names: Any) -> dict:
    # "sort" orders rows of equal traffic; it is dropped before answering.
    return {**names, "requests": 0, "errors": 0, "sort": sort}


def _add(row: dict, requests: int, errors: int) -> None:
    row["requests"] += requests
    row["errors"] += errors


def _by_api(collection, query: dict) -> dict:
    rows: dict[str, dict] = {}
    # Newest first: each row keeps its API's latest name.
    fields = {"_id": 0, "api_id": 1, "api_name": 1, "requests": 1, "errors": 1, "t": 1}
    for document in collection.find(query, fields).sort("t", DESCENDING):
        api_id = document["api_id"]
        if api_id == ALL_APIS:
            continue  # the sum of the others
        if api_id not in rows:
            rows[api_id] = _row(api_id, api_id=api_id, api_name=document.get("api_name", ""))
        _add(rows[api_id], document.get("requests", 0), document.get("errors", 0))
    return rows


def _by_status(collection, query: dict) -> dict:
    rows: dict[int, dict] = {}
    for document in collection.find(query, {"_id": 0, "statuses": 1}):
        for name, count in (document.get("statuses") or {}).items():
            status = int(name)
            row = rows.setdefault(status, _row(status, status=status))
            _add(row, count, count if status >= 400 else 0)
    return rows


def _by_entries(collection, query: dict, entries: str) -> dict:
    """By key (``keys``) or by endpoint (``endpoints``, one row per API and endpoint)."""
    rows: dict[Any, dict] = {}
    for document in collection.find(query, {"_id": 0, "api_id": 1, entries: 1}):
        for escaped, entry in (document.get(entries) or {}).items():
            name = unescape_name(escaped)
            if entries == "keys":
                row = rows.setdefault(name, _row(name, key_hash=name))
            else:
                api_id = document["api_id"]
                row = rows.setdefault((api_id, name), _row((api_id, name), api_id=api_id, endpoint=name))
            _add(row, entry.get("requests", 0), entry.get("errors", 0))
    return rows


def _one_key(collection, query: dict, by: str, key_hash: str) -> dict:
    """One key's traffic, per API (``by`` api) or in all (``by`` key)."""
    rows: dict[str, dict] = {}
    name = escape_name(key_hash)
    fields = {"_id": 0, "api_id": 1, "api_name": 1, "t": 1, f"keys.{name}": 1}
    for document in collection.find(query, fields).sort("t", DESCENDING):
        entry = (document.get("keys") or {}).get(name)
        if not entry:
            continue
        if by == "api":
            api_id = document["api_id"]
            if api_id not in rows:
                rows[api_id] = _row(api_id, api_id=api_id, api_name=document.get("api_name", ""))
            row = rows[api_id]
        else:
            row = rows.setdefault(key_hash, _row(key_hash, key_hash=key_hash))
        _add(row, entry.get("requests", 0), entry.get("errors", 0))
    return rows


def _log_entry(document: dict) -> dict:
    document.pop("_id", None)
    moment = document.get("timestamp")
    if isinstance(moment, datetime):
        document["timestamp"] = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return document
