"""Signed change notifications to the gateways, on Redis pub/sub.

Publishing is best effort by design: the change is already stored in MongoDB, and a gateway that
missed a notice re-pulls ``/system/apis`` when it reconnects. So a Redis failure is logged and
reported to the caller, never raised.
"""

from __future__ import annotations

import logging

import redis

from tollhouse.core import notify

log = logging.getLogger("tollhouse.dashboard.publish")

# Redis answers in well under a millisecond when healthy; a user waits at most this long when it is not.
REDIS_TIMEOUT_SECONDS = 1.0


def redis_client(redis_url: str) -> redis.Redis:
    """A Redis client with the dashboard's timeouts (shared by the publisher and the key store)."""
    return redis.Redis.from_url(
        redis_url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS
    )


class Publisher:
    def __init__(self, redis_url: str, node_secret: str):
        self._redis = redis_client(redis_url)
        self._node_secret = node_secret

    def publish(self, command: str, payload: str) -> bool:
        """Send one notification; False (and a logged warning) if Redis could not take it."""
        message = notify.encode(self._node_secret, command, payload)
        try:
            receivers = self._redis.publish(notify.CHANNEL, message)
        except redis.RedisError as exc:
            log.warning("could not notify gateways of %s %s: %s", command, payload, exc)
            return False
        log.info("notified %d gateway(s) of %s %s", receivers, command, payload)
        return True

    def ping(self) -> None:
        """Raise ``redis.RedisError`` unless Redis answers."""
        self._redis.ping()

    def close(self) -> None:
        self._redis.close()
