"""A batch of records folded, in Python, into one increment per aggregate document (see ``core/aggregates.py``).

A batch of thousands of records touches a handful of documents (a few minutes and one or two hours per
API, and the same for the organisation's all-APIs documents), so it costs one upsert per document rather
than one per record. ``cap_entries`` keeps a document's
``keys`` and ``endpoints`` within their caps by counting names that do not fit under ``OTHER``.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from tollhouse.core import latency_histogram
from tollhouse.core.aggregates import ALL_APIS, OTHER, bucket_start, document_id, escape_name
from tollhouse.pump.sinks.endpoints import endpoint_name
from tollhouse.pump.sinks.mongo import NotStorable, parse_timestamp


class NotCountable(ValueError):
    """The record lacks what the aggregates count (time, API, status, latency)."""


@dataclass(frozen=True)
class Counted:
    """What the aggregates take from one record, checked once."""

    index: int  # position in the batch, for rejections
    request_id: str
    moment: datetime
    org_id: str
    api_id: str
    api_name: str
    status: int
    latency_ms: float
    key: str  # the key's hash; "" for keyless requests
    endpoint: str


def counted(index: int, record: dict) -> Counted:
    request_id = record.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        # The raw sink refuses it too; counting it here would count a record that is dead-lettered.
        raise NotCountable(f"request_id must be a non-empty string (got {request_id!r:.80})")
    try:
        moment = parse_timestamp(record.get("timestamp"))
    except NotStorable as exc:
        raise NotCountable(str(exc)) from None
    org_id, api_id, api_key = record.get("org_id", ""), record.get("api_id"), record.get("api_key") or ""
    if not isinstance(api_id, str) or not api_id:
        raise NotCountable(f"api_id must be a non-empty string (got {api_id!r:.80})")
    if not isinstance(org_id, str) or not isinstance(api_key, str):
        raise NotCountable("org_id and api_key must be strings")
    status = record.get("response_code")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 999:
        raise NotCountable(f"response_code must be an HTTP status (got {status!r:.80})")
    latency = record.get("request_time")
    if not isinstance(latency, int | float) or isinstance(latency, bool) or not math.isfinite(latency) or latency < 0:
        raise NotCountable(f"request_time must be a number of milliseconds (got {latency!r:.80})")
    method, path = record.get("method"), record.get("path")
    if not isinstance(method, str) or not isinstance(path, str):
        raise NotCountable("method and path must be strings")
    api_name = record.get("api_name")
    return Counted(index, request_id, moment, org_id, api_id,
                   api_name if isinstance(api_name, str) else "", status, float(latency), api_key,
                   endpoint_name(method, path))


def batch_id(records: list[Counted]) -> str:
    """The same id whenever the same records are delivered again, in any order."""
    digest = hashlib.sha256("\n".join(sorted(record.request_id for record in records)).encode())
    return digest.hexdigest()[:32]


@dataclass
class Entry:
    requests: int = 0
    errors: int = 0


@dataclass
class BucketTally:
    """The increments one batch makes to one aggregate document."""

    doc_id: str
    org_id: str
    api_id: str
    start: datetime
    api_name: str = ""
    requests: int = 0
    errors: int = 0
    server_errors: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0
    histogram: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    keys: dict[str, Entry] = field(default_factory=dict)
    endpoints: dict[str, Entry] = field(default_factory=dict)
    indexes: list[int] = field(default_factory=list)  # batch positions of the records counted here

    @property
    def all_apis(self) -> bool:
        return self.api_id == ALL_APIS

    def add(self, record: Counted) -> None:
        error = record.status >= 400
        self.requests += 1
        self.errors += error
        self.server_errors += record.status >= 500
        self.latency_ms_sum += record.latency_ms
        self.latency_ms_max = max(self.latency_ms_max, record.latency_ms)
        self.histogram[latency_histogram.bucket_name(record.latency_ms)] += 1
        self.statuses[str(record.status)] += 1
        self.indexes.append(record.index)
        if self.all_apis:
            return  # keys, endpoints and names are counted per API only
        if record.key:
            _count(self.keys, record.key, error)
        _count(self.endpoints, record.endpoint, error)
        self.api_name = record.api_name or self.api_name

    def update(self, applied_field: str, batch: str) -> dict:
        """The upsert's update document; ``applied_field`` records that ``batch`` is counted in."""
        increments: dict[str, int | float] = {
            "requests": self.requests, "errors": self.errors, "server_errors": self.server_errors,
            "latency_ms_sum": self.latency_ms_sum,
        }
        increments.update({f"latency_histogram.{name}": count for name, count in self.histogram.items()})
        increments.update({f"statuses.{status}": count for status, count in self.statuses.items()})
        for prefix, entries in (("keys", self.keys), ("endpoints", self.endpoints)):
            for name, entry in entries.items():
                increments[f"{prefix}.{escape_name(name)}.requests"] = entry.requests
                increments[f"{prefix}.{escape_name(name)}.errors"] = entry.errors
        return {
            "$inc": increments,
            "$max": {"latency_ms_max": self.latency_ms_max},
            "$set": {applied_field: batch} if self.all_apis else {applied_field: batch, "api_name": self.api_name},
            "$setOnInsert": {"org_id": self.org_id, "api_id": self.api_id, "t": self.start},
        }


def _count(entries: dict[str, Entry], name: str, error: bool) -> None:
    entry = entries.get(name)
    if entry is None:
        entry = entries[name] = Entry()
    entry.requests += 1
    entry.errors += error


def fold(records: list[Counted], granularity: str) -> dict[str, BucketTally]:
    """The batch's tallies at one granularity, by document ``_id``: per API, and per organisation for all APIs."""
    tallies: dict[str, BucketTally] = {}
    for record in records:
        start = bucket_start(record.moment, granularity)
        for api_id in (record.api_id, ALL_APIS):
            doc_id = document_id(record.org_id, api_id, start)
            tally = tallies.get(doc_id)
            if tally is None:
                tally = tallies[doc_id] = BucketTally(doc_id, record.org_id, api_id, start)
            tally.add(record)
    return tallies


def cap_entries(entries: dict[str, Entry], known: set[str], limit: int) -> None:
    """Count the names that would take a document past ``limit`` entries under ``OTHER``.

    ``known`` is what the document already holds (at least); it gains the names kept. The busiest new
    names of the batch get the room left, so the outcome does not depend on record order.
    """
    new = sorted((name for name in entries if name not in known and name != OTHER),
                 key=lambda name: (-entries[name].requests, name))
    room = max(limit - (len(known) - (OTHER in known)), 0)
    for name in new[room:]:
        entry = entries.pop(name)
        other = entries.setdefault(OTHER, Entry())
        other.requests += entry.requests
        other.errors += entry.errors
    known.update(new[:room])
    if OTHER in entries:
        known.add(OTHER)
