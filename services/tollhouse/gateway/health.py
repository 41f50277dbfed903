"""``GET /hello``: the gateway's own view of its dependencies.

Unlike Tyk (always 200), a failing gateway answers 503 so load balancers can act on it.
"fail" means this gateway cannot serve its APIs: no definitions ever loaded, or Redis away while
an API needs it. Redis away with only keyless APIs, or a dashboard away after a good load, is
"warn": traffic still flows on the last good configuration.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tollhouse.gateway.analytics import AnalyticsWriter
from tollhouse.gateway.reload import Reloader

REDIS_PING_TIMEOUT = 1.0


@dataclass
class HealthReport:
    status: str
    details: dict

    @property
    def http_status(self) -> int:
        return 503 if self.status == "fail" else 200


class HealthCheck:
    def __init__(self, redis: aioredis.Redis, reloader: Reloader, analytics: AnalyticsWriter | None,
                 api_count, needs_redis):
        self._redis = redis
        self._reloader = reloader
        self._analytics = analytics
        self._api_count = api_count
        self._needs_redis = needs_redis

    async def report(self) -> HealthReport:
        redis_ok, redis_detail = await self._check_redis()
        details = {
            "redis": redis_detail,
            "dashboard": self._source_detail(),
            "apis": {"status": "pass", "loaded": self._api_count(), "reloads": self._reloader.reloads},
        }
        if self._analytics is not None:
            details["analytics"] = {
                "status": "pass" if self._analytics.last_error is None else "warn",
                "pending": self._analytics.pending,
                "dropped": self._analytics.dropped,
            }
        if not redis_ok:
            redis_detail["status"] = "fail" if self._needs_redis() else "warn"
        statuses = {detail["status"] for detail in details.values()}
        status = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
        return HealthReport(status, details)

    async def _check_redis(self) -> tuple[bool, dict]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self._redis.ping(), REDIS_PING_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            return False, {"status": "fail", "error": str(exc) or type(exc).__name__}
        return True, {"status": "pass", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}

    def _source_detail(self) -> dict:
        health = self._reloader.health
        if not health.loaded_once:
            return {"status": "fail", "error": health.last_error or "no API definitions loaded yet"}
        detail = {"status": "pass", "last_load": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(health.last_success))}
        if health.rejected:
            detail["rejected_definitions"] = health.rejected
        if health.rejected_policies:
            detail["rejected_policies"] = health.rejected_policies
        if health.last_error:
            detail.update(status="warn", error=health.last_error)
        return detail
