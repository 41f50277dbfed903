"""The aggregate analytics document: written by the pump's ``mongo_aggregate`` sink, read by the dashboard.

One document per (organisation, API, time bucket) in two collections, per minute and per hour::

    {_id: '["<org_id>","<api_id>","2026-11-26T10:05:00Z"]', org_id, api_id, api_name, t: <bucket start>,
     requests, errors (status >= 400), server_errors (5xx), latency_ms_sum, latency_ms_max,
     latency_histogram: {"<upper bound in µs>": n, ...}       (see core/latency_histogram.py)
     statuses: {"200": n, ...},
     keys: {"<key hash>": {requests, errors}, ...},            keyless requests are not counted here
     endpoints: {"<METHOD> <path template>": {requests, errors}, ...},
     applied: {"<pump>": "<batch id>"}}                        (see pump/sinks/aggregate.py)

Each organisation also has one document per bucket for all its APIs together, with ``api_id`` ``ALL_APIS``:
the counters, histogram and statuses only (no ``api_name``, ``keys`` or ``endpoints``). A chart of every API
reads one document per bucket rather than one per API and bucket.

``keys`` and ``endpoints`` hold at most a configured number of entries per document; requests beyond them
are counted under ``OTHER``. Entry names are escaped (``escape_name``) because MongoDB reads ``.`` in a
field name as a path and refuses a leading ``$``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

# The raw sink's collection (one document per request; Tyk's name), and the two aggregate collections.
RAW_COLLECTION = "tyk_analytics"
MINUTE_COLLECTION = "tollhouse_analytics_minute"
HOUR_COLLECTION = "tollhouse_analytics_hour"
# Bucket width of each granularity.
GRANULARITIES: dict[str, timedelta] = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}
# The api_id of an organisation's all-APIs documents: never a real API's (records without one are refused).
ALL_APIS = ""
# The entry counting what did not fit under the per-document cap. Never a key hash (hex) or an endpoint
# (a method first), so it cannot collide with a real entry.
OTHER = "(other)"


def bucket_start(moment: datetime, granularity: str) -> datetime:
    """The start of the bucket holding ``moment`` (UTC)."""
    moment = moment.astimezone(UTC)
    if granularity == "minute":
        return moment.replace(second=0, microsecond=0)
    if granularity == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown granularity {granularity!r}")


def document_id(org_id: str, api_id: str, start: datetime) -> str:
    """A readable, unambiguous ``_id``: the JSON list of the three parts of the key."""
    return json.dumps([org_id, api_id, iso(start)], separators=(",", ":"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


_ESCAPES = {"%": "%25", ".": "%2E", "$": "%24"}


def escape_name(name: str) -> str:
    """An entry name usable as a MongoDB field name (``%``, ``.`` and ``$`` percent-encoded)."""
    return "".join(_ESCAPES.get(char, char) for char in name)


def unescape_name(field: str) -> str:
    return field.replace("%2E", ".").replace("%24", "$").replace("%25", "%")
