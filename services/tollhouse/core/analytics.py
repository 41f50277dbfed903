"""The analytics record: what the gateway writes per request and the pump moves to its sinks.

Fields follow Tyk's analytics record so existing dashboards and queries carry over. Records travel
through Redis as JSON (Tyk uses msgpack; JSON keeps the list readable with redis-cli), written and read
with orjson: about 0.5 µs to encode a record against 6 µs with the standard library, on every request.
``request_id`` doubles as the MongoDB ``_id``, so a batch written twice after a crash is stored once.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import orjson

# The Redis list the gateways append to and the pumps drain (Tyk's name).
ANALYTICS_LIST = "analytics-tyk-system-analytics"
# Records a sink can never accept, each wrapped with the reason.
DEAD_LETTER_LIST = "analytics-tollhouse-dead-letter"


def processing_list(pump_id: str) -> str:
    """A pump's in-flight list: records leave it only after every sink has them."""
    return f"analytics-tollhouse-processing:{pump_id}"


def new_record(
    *,
    method: str,
    host: str,
    path: str,
    raw_path: str,
    content_length: int,
    user_agent: str,
    response_code: int,
    api_id: str,
    api_name: str,
    org_id: str,
    api_key: str,
    ip_address: str,
    latency_total_ms: float,
    latency_upstream_ms: float,
    tags: list[str],
    started_at: float | None = None,
) -> dict:
    started_at = time.time() if started_at is None else started_at
    moment = datetime.fromtimestamp(started_at, UTC)
    return {
        "request_id": os.urandom(16).hex(),  # 128 random bits, as uuid4 but a fifth of its cost
        "method": method,
        "host": host,
        "path": path,
        "raw_path": raw_path,
        "content_length": content_length,
        "user_agent": user_agent,
        "day": moment.day,
        "month": moment.month,
        "year": moment.year,
        "hour": moment.hour,
        "timestamp": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "response_code": response_code,
        "api_key": api_key,
        "api_version": "",
        "api_name": api_name,
        "api_id": api_id,
        "org_id": org_id,
        "request_time": round(latency_total_ms, 3),
        "latency": {
            "total": round(latency_total_ms, 3),
            "upstream": round(latency_upstream_ms, 3),
            "gateway": round(max(latency_total_ms - latency_upstream_ms, 0.0), 3),
        },
        "ip_address": ip_address,
        "tags": tags,
        "alias": "",
    }


def encode(record: dict) -> bytes:
    return orjson.dumps(record)


class BadRecord(ValueError):
    """A list entry that is not an analytics record."""


def decode(raw: bytes | str) -> dict:
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise BadRecord("not a JSON object")
    for field in ("request_id", "timestamp", "api_id", "response_code"):
        if field not in record:
            raise BadRecord(f"missing field {field!r}")
    return record
