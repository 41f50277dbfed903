"""Shared pieces of the pump tests: records, pump configs, waiting for a condition."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis
from pymongo import MongoClient

from tollhouse.core.analytics import ANALYTICS_LIST, encode, new_record


def make_records(count: int, api_id: str = "api-1") -> list[dict]:
    return [
        new_record(method="POST", host="api.example", path=f"/orders/{n}", raw_path=f"/orders/{n}?x=1",
                   content_length=n, user_agent="test", response_code=200 + n % 3, api_id=api_id,
                   api_name="Orders", org_id="org-1", api_key="hashed-key", ip_address="10.0.0.9",
                   latency_total_ms=12.5, latency_upstream_ms=10.25, tags=["t1", "t2"])
        for n in range(count)
    ]


def push(redis_url: str, records: list[dict]) -> None:
    if records:
        redis.Redis.from_url(redis_url).rpush(ANALYTICS_LIST, *[encode(record) for record in records])


def pump_config(tmp_path: Path, redis_url: str, mongo_url: str, database: str, **overrides) -> dict:
    settings = {
        "redis_url": redis_url, "mongo_url": mongo_url, "mongo_database": database,
        "purge_delay": 0.1, "purge_chunk": 200, "pump_id": f"test-{database}"[:100],
        "raw_collection_max_bytes": 64 << 20, "retry_max_seconds": 0.5, "sink_timeout_seconds": 3,
        "shutdown_grace_seconds": 5, "health_address": "127.0.0.1", "log_format": "text",
        **overrides,
    }
    return settings


def write_toml(path: Path, settings: dict) -> Path:
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
    return path


def raw_collection(mongo_url: str, database: str, name: str = "tyk_analytics"):
    return MongoClient(mongo_url, serverSelectionTimeoutMS=5000, tz_aware=True)[database][name]


def wait_until(condition, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message} not met within {timeout}s")


def get_health(port: int) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
