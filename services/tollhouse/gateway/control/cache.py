"""``DELETE /tyk/cache/{api_id}``: drop every answer cached for one API, on every gateway at once.

The cache lives in the shared Redis (``core/cache_names.py``), so deleting the API's entries there clears it for
every gateway; no notice is needed. Answers Tyk's ``{"status": "ok", "action": "cache invalidated"}`` whether or
not anything was cached (as Tyk); Redis away: 503 naming it.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from tollhouse.core.cache_names import api_pattern
from tollhouse.gateway.control.router import ControlCall, ControlRouter
from tollhouse.gateway.keystore import StorageUnavailable

BATCH = 500


def register(router: ControlRouter) -> None:
    router.add("DELETE", "/tyk/cache/{api_id}", invalidate)


async def invalidate(call: ControlCall) -> tuple[int, dict]:
    redis = call.services.redis
    try:
        names = []
        async for name in redis.scan_iter(match=api_pattern(call.params["api_id"]), count=1000):
            names.append(name)
            if len(names) == BATCH:
                await redis.unlink(*names)
                names = []
        if names:
            await redis.unlink(*names)
    except (RedisError, OSError) as exc:
        raise StorageUnavailable(f"Redis is unreachable, so the cache cannot be cleared ({exc})") from None
    return 200, {"status": "ok", "action": "cache invalidated"}
