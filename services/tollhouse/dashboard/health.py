"""``GET /hello``: is the dashboard usable, and if not, which dependency is at fault.

MongoDB down is ``fail`` (nothing can be read or saved: 503, so load balancers and systemd
watchers notice, unlike Tyk's always-200). Redis down is ``warn``: changes are still saved,
only the gateways' instant notification is lost.
"""

from __future__ import annotations

import logging

import redis
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pymongo.errors import PyMongoError

from tollhouse.dashboard.deps import PublisherDep, StoreDep
from tollhouse.dashboard.models import DependencyHealth, Health
from tollhouse.dashboard.publish import Publisher
from tollhouse.dashboard.store import Store

log = logging.getLogger("tollhouse.dashboard.health")

router = APIRouter(tags=["health"])

# A health probe must answer quickly even when a dependency hangs.
PROBE_TIMEOUT_SECONDS = 1.0


@router.get("/hello", response_model=Health, response_model_exclude_none=True,
            responses={503: {"model": Health, "description": "MongoDB is unavailable."}},
            summary="Health of the dashboard and its dependencies")
def hello(store: StoreDep, publisher: PublisherDep) -> JSONResponse:
    details = {"mongodb": _check_mongodb(store), "redis": _check_redis(publisher)}
    status = _overall(details)
    health = Health(status=status, details=details)
    return JSONResponse(health.model_dump(exclude_none=True), status_code=503 if status == "fail" else 200)


def _check_mongodb(store: Store) -> DependencyHealth:
    try:
        store.ping(PROBE_TIMEOUT_SECONDS)
    except PyMongoError as exc:
        log.warning("health: MongoDB unavailable: %s", exc)
        return DependencyHealth(status="fail", error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return DependencyHealth(status="pass")


def _check_redis(publisher: Publisher) -> DependencyHealth:
    try:
        publisher.ping()
    except redis.RedisError as exc:
        log.warning("health: Redis unavailable: %s", exc)
        return DependencyHealth(status="warn", error=f"{type(exc).__name__}: {str(exc)[:200]}")
    return DependencyHealth(status="pass")


def _overall(details: dict[str, DependencyHealth]) -> str:
    statuses = {check.status for check in details.values()}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"
