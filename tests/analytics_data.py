"""Analytics records at chosen times, and the counts they should aggregate to (computed the plain way)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from tollhouse.core.analytics import new_record


def recent_hour(hours_ago: int = 3) -> datetime:
    """The start of an hour in the recent past: young enough for every retention (TTL) index."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


def record_at(moment: datetime, *, api_id: str = "api-1", org_id: str = "org-1", status: int = 200,
              latency_ms: float = 10.0, key: str = "", path: str = "/items", method: str = "GET",
              api_name: str = "Items") -> dict:
    return new_record(method=method, host="api.example", path=path, raw_path=path, content_length=0,
                      user_agent="test", response_code=status, api_id=api_id, api_name=api_name, org_id=org_id,
                      api_key=key, ip_address="10.0.0.9", latency_total_ms=latency_ms,
                      latency_upstream_ms=latency_ms / 2, tags=[], started_at=moment.timestamp())


def expected_counts(records: list[dict], width: timedelta) -> dict[tuple, dict]:
    """Per (org, api, bucket start): requests, errors, server errors and statuses, record by record; api ""
    for all the organisation's APIs."""
    counts: dict[tuple, dict] = {}
    for record in records:
        moment = datetime.fromisoformat(record["timestamp"])
        start = datetime.fromtimestamp(moment.timestamp() // width.total_seconds() * width.total_seconds(), UTC)
        for api_id in (record["api_id"], ""):
            entry = counts.setdefault((record["org_id"], api_id, start),
                                      {"requests": 0, "errors": 0, "server_errors": 0, "statuses": Counter()})
            entry["requests"] += 1
            entry["errors"] += record["response_code"] >= 400
            entry["server_errors"] += record["response_code"] >= 500
            entry["statuses"][str(record["response_code"])] += 1
    return counts
