"""``/tyk/reload`` (this gateway) and ``/tyk/reload/group`` (every gateway sharing Redis and node_secret).

``GET /tyk/reload`` asks for a reload and answers at once; ``?block=true`` answers once a reload that
started after the call has finished (503 when it failed: the previous configuration keeps serving).
``/tyk/reload/group`` publishes a signed ``GroupReload`` notification on Redis and reloads this gateway
too. The signature needs ``node_secret``: a gateway without one answers 400 rather than reloading only
itself, which a script asking for the whole group could not tell from success. File-mode gateways that
set ``node_secret`` listen for the notifications, so they join the group.

A gateway with several workers (``workers`` > 1) answers each control call from one of them. ``/tyk/reload``
reloads that worker and asks the supervisor to reload the others (SIGHUP); ``?block=true`` waits for that
worker's reload only, and the others follow within moments (``reload_coalesce_seconds`` after the signal).
The /tyk/apis and /tyk/policies writes fan out the same way. ``/tyk/reload/group`` needs no help: every
worker follows the notifications itself.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from tollhouse.core import notify
from tollhouse.gateway.control.router import ControlCall, ControlError, ControlRouter
from tollhouse.gateway.keystore import StorageUnavailable

OK = {"status": "ok", "message": ""}


def register(router: ControlRouter) -> None:
    router.add("GET", "/tyk/reload", reload)
    router.add("GET", "/tyk/reload/group", reload_group)


async def reload(call: ControlCall) -> tuple[int, dict]:
    reloader = call.services.reloader
    call.services.reload_peers()
    if not call.flag("block"):
        reloader.request()
        return 200, dict(OK)
    if not await reloader.reload_now():
        raise ControlError(503, f"reload failed; the previous configuration keeps serving: "
                                f"{reloader.health.last_error}")
    return 200, dict(OK)


async def reload_group(call: ControlCall) -> tuple[int, dict]:
    secret = call.services.settings.node_secret
    if secret is None:
        raise ControlError(400, "a group reload needs node_secret, which signs the notification every gateway "
                                "checks: set the same node_secret on every gateway of the group, or call "
                                "/tyk/reload on each")
    try:
        await call.services.redis.publish(notify.CHANNEL, notify.encode(secret, notify.GROUP_RELOAD))
    except (RedisError, OSError) as exc:
        raise StorageUnavailable(f"Redis is unreachable, so the group reload cannot be announced ({exc})") from None
    call.services.reloader.request()
    return 200, dict(OK)
