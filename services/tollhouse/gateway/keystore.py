"""The gateway's view of keys in Redis: look up, store, delete and list sessions by key hash."""

from __future__ import annotations

import hashlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from tollhouse.core.keys import SESSION_PREFIX, decode_session, encode_session, hash_key, session_name
from tollhouse.core.session import SessionState
from tollhouse.gateway.memo import Memo
from tollhouse.gateway.pipelined_redis import PipelinedRedis


class StorageUnavailable(Exception):
    """Redis could not answer; keyed requests get 503 naming this, never a misleading 401/403."""


class KeyStore:
    def __init__(self, redis: Redis | PipelinedRedis, key_hash_secret: str, *, memo_entries: int = 1024):
        self._redis = redis
        self._secret = key_hash_secret
        # Decoded sessions (and their bytes' SHA-1) by their exact stored bytes: a key read again unchanged is
        # not parsed again (validating a session costs more than reading it); any change in Redis is a new entry.
        self._decoded: Memo[bytes, tuple[SessionState, str]] = Memo(memo_entries)
        # The last read of each key: (SHA-1 of its bytes, session), for a read confirmed later (``last_read``).
        self._last_read: Memo[str, tuple[str, SessionState]] = Memo(memo_entries)

    def hash(self, key: str) -> str:
        return hash_key(self._secret, key)

    async def get(self, key_hash: str) -> SessionState | None:
        try:
            data = await self._redis.get(session_name(key_hash))
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"Redis is unreachable, so the key cannot be checked ({exc})") from None
        if data is None:
            self._last_read.pop(key_hash, None)
            return None
        decoded = self._decoded.get(data)
        if decoded is None:
            decoded = self._decoded.remember(data, (decode_session(data), hashlib.sha1(data).hexdigest()))
        session, digest = decoded
        self._last_read.remember(key_hash, (digest, session))
        return session

    def last_read(self, key_hash: str) -> tuple[str, SessionState] | None:
        """(SHA-1 of the stored bytes, session) as this process last read the key, or None.

        Not a cache to serve from: whoever uses it must have Redis confirm the digest before the request
        counts (the limit script does, in the same call as the limits).
        """
        return self._last_read.get(key_hash)

    async def put(self, key_hash: str, session: SessionState, *, only_if: str | None = None) -> bool:
        """Store the session; ``only_if="absent"`` or ``"present"`` makes it conditional (False: not stored)."""
        try:
            return bool(await self._redis.set(session_name(key_hash), encode_session(session),
                                              nx=only_if == "absent", xx=only_if == "present"))
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"Redis is unreachable, so the key cannot be stored ({exc})") from None

    async def delete(self, key_hash: str) -> bool:
        try:
            return bool(await self._redis.delete(session_name(key_hash)))
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"Redis is unreachable, so the key cannot be deleted ({exc})") from None

    async def hashes(self) -> list[str]:
        try:
            names = [name async for name in self._redis.scan_iter(match=SESSION_PREFIX + "*", count=1000)]
        except (RedisError, OSError) as exc:
            raise StorageUnavailable(f"Redis is unreachable, so keys cannot be listed ({exc})") from None
        return sorted(name.decode().removeprefix(SESSION_PREFIX) for name in names)
