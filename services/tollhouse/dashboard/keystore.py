"""The dashboard's view of keys: sessions in Redis under ``apikey-<hash>``, exactly as the gateways read them.

Keys are hashed with ``core.keys.hash_key`` and the same ``key_hash_secret`` as the gateways, so a key
created here works on every gateway. Redis errors are not caught here: the error handler answers 503
naming Redis (``errors.py``), never a misleading 404.

Keys carry their organisation in the session's ``org_id``; Redis has no index by organisation, so listing
one organisation's keys reads every session (``SCAN`` + ``MGET`` in batches). Keys created on a gateway's
control API without this organisation's ``org_id`` are not the dashboard user's and stay invisible here.
"""

from __future__ import annotations

import json

import redis

from tollhouse.core.keys import (
    QUOTA_PREFIX,
    SESSION_PREFIX,
    counter_search,
    decode_session,
    encode_session,
    hash_key,
    is_counter,
    session_name,
)
from tollhouse.core.session import SessionState

BATCH = 500


class KeyStore:
    def __init__(self, client: redis.Redis, key_hash_secret: str):
        self._redis = client
        self._secret = key_hash_secret

    def hash(self, key: str) -> str:
        return hash_key(self._secret, key)

    def get(self, key_hash: str) -> SessionState | None:
        data = self._redis.get(session_name(key_hash))
        return None if data is None else decode_session(data)

    def put(self, key_hash: str, session: SessionState, *, only_if: str | None = None) -> bool:
        """Store the session; ``only_if="absent"`` or ``"present"`` makes it conditional (False: not stored)."""
        return bool(self._redis.set(session_name(key_hash), encode_session(session),
                                    nx=only_if == "absent", xx=only_if == "present"))

    def delete(self, key_hash: str) -> bool:
        return bool(self._redis.delete(session_name(key_hash)))

    def org_hashes(self, org_id: str) -> list[str]:
        """The hashes of the organisation's keys, sorted."""
        names = sorted(set(self._redis.scan_iter(match=SESSION_PREFIX + "*", count=1000)))
        hashes = []
        for start in range(0, len(names), BATCH):
            batch = names[start:start + BATCH]
            for name, data in zip(batch, self._redis.mget(batch), strict=True):
                if data is not None and _org_of(data) == org_id:
                    hashes.append(name.decode().removeprefix(SESSION_PREFIX))
        return hashes

    def quota_usage(self, key_hash: str, scope: str = "") -> tuple[int, int]:
        """The key's quota counter as the gateways keep it (``gateway/ratelimit.py``: a hash of ``used`` and
        ``renews``, Redis time in µs; ``scope`` the API id of a per-API quota): (requests used in the running
        period, when it renews in unix µs or 0 for never). (0, 0) when no period runs, or the last one is over."""
        name = f"{QUOTA_PREFIX}{scope}-{key_hash}" if scope else f"{QUOTA_PREFIX}{key_hash}"
        used, renews = self._redis.hmget(name, "used", "renews")
        if used is None:
            return 0, 0
        renews_us = int(renews or 0)
        seconds, micros = self._redis.time()  # the gateways' clock: Redis's own
        if renews_us and renews_us <= seconds * 1_000_000 + micros:
            return 0, 0
        return int(used), renews_us

    def drop_counters(self, key_hash: str, *, rate: bool = True, quota: bool = True) -> None:
        """Delete the key's rate-limit (``rate``) and quota (``quota``) counters, per-API ones included."""
        names = [name for name in self._redis.scan_iter(match=counter_search(key_hash), count=1000)
                 if is_counter(name, rate=rate, quota=quota)]
        if names:
            self._redis.delete(*names)

    def close(self) -> None:
        self._redis.close()


def _org_of(data: bytes) -> str | None:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    org_id = document.get("org_id") if isinstance(document, dict) else None
    return org_id if isinstance(org_id, str) else None
