"""The response cache's storage, and the response writer that keeps a copy of an answer as it streams past.

Answers live in the shared Redis (``core/cache_names.py``: one string per answer, expiring with it), so every
gateway serves what any of them cached and one deletion clears an API everywhere. The cache has a Redis
connection of its own: a large answer being written never queues ahead of a key lookup or a limit check on the
data path's connection, and its short timeout (``cache_redis_timeout_seconds``) bounds what a stuck Redis costs
a request. Redis away is a miss, never an error: the request goes upstream (logged at most every 10 s).

An answer is stored as one JSON line (status, headers, Content-Length as the upstream gave it) then the body.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from tollhouse.gateway.http.messages import Response
    from tollhouse.gateway.pipelined_redis import PipelinedRedis

log = logging.getLogger("tollhouse.gateway.cache")

UNAVAILABLE_LOG_INTERVAL = 10.0


@dataclass(frozen=True)
class CachedAnswer:
    status: int
    headers: list[tuple[str, str]]
    content_length: int | None  # as sent with the head (HEAD answers: the GET's length, and no body)
    body: bytes


def encode(answer: CachedAnswer) -> bytes:
    head = json.dumps([answer.status, answer.headers, answer.content_length], separators=(",", ":"))
    return head.encode() + b"\n" + answer.body


def decode(data: bytes) -> CachedAnswer | None:
    """The stored answer, or None for bytes that are not one (written by another version, or damaged)."""
    head, newline, body = data.partition(b"\n")
    try:
        status, headers, length = json.loads(head)
        answer = CachedAnswer(int(status), [(str(name), str(value)) for name, value in headers],
                              None if length is None else int(length), body)
    except (ValueError, TypeError):
        return None
    if not newline or (answer.content_length is not None and body and len(body) != answer.content_length):
        return None
    return answer


class CacheUnavailable(Exception):
    """Redis did not answer the cache: serve from the upstream, and do not try to store the answer."""


class ResponseCache:
    def __init__(self, redis: PipelinedRedis, max_body_bytes: int):
        self._redis = redis
        self.max_body_bytes = max_body_bytes
        self._last_warning = 0.0

    async def get(self, name: str) -> CachedAnswer | None:
        try:
            data = await self._redis.get(name)
        except (RedisError, OSError) as exc:
            self._warn("read", exc)
            raise CacheUnavailable from None
        return None if data is None else decode(data)

    async def put(self, name: str, answer: CachedAnswer, ttl: int) -> None:
        try:
            await self._redis.execute("SET", name, encode(answer), "EX", ttl)
        except (RedisError, OSError) as exc:
            self._warn("write", exc)

    async def close(self) -> None:
        await self._redis.aclose()

    def _warn(self, action: str, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= UNAVAILABLE_LOG_INTERVAL:
            self._last_warning = now
            log.warning("response cache: cannot %s Redis (%s); serving from the upstream", action, error)


class KeepingResponse:
    """Wraps the client's ``Response``: everything is passed on unchanged as it comes, and a copy of the head and
    of the body (up to ``limit`` bytes) is kept; ``kept()`` is the whole answer once it finished in full.

    ``decide(status, headers)`` says at the head whether this answer may be kept and for how long (seconds;
    None: not kept); ``store(answer, seconds)`` is called once the answer went out in full. Answers the gateway
    writes itself (``send_json``: upstream errors and the like) are never kept, nor ones cut short (``abort``).
    ``own_headers`` are the gateway's per-request headers appended to the upstream's (rate limits,
    ``X-Tollhouse-Cache``): they are not part of the kept copy.
    """

    def __init__(self, response: Response, limit: int,
                 decide: Callable[[int, list[tuple[str, str]]], int | None],
                 store: Callable[[CachedAnswer, int], Awaitable[None]], own_headers: list[tuple[str, str]]):
        self._response = response
        self._limit = limit
        self._decide = decide
        self._store = store
        self._own = own_headers
        self._keeping = False
        self._head: tuple[int, list[tuple[str, str]], int | None] | None = None
        self._parts: list[bytes] = []
        self._size = 0
        self._finished = False
        self.ttl: int | None = None

    def __getattr__(self, name: str):
        return getattr(self._response, name)  # started, finished, keep_alive, status...

    async def send_head(self, status: int, headers: list[tuple[str, str]], content_length: int | None = None,
                        *, flush: bool = True) -> None:
        own = set(self._own)
        upstream = [header for header in headers if header not in own]
        self.ttl = self._decide(status, upstream)
        self._keeping = self.ttl is not None and (content_length is None or content_length <= self._limit)
        if self._keeping:
            self._head = (status, upstream, content_length)
        await self._response.send_head(status, headers, content_length, flush=flush)

    async def send_body(self, chunk: bytes) -> None:
        if self._keeping:
            self._size += len(chunk)
            if self._size > self._limit:  # too large to keep: stop copying, keep streaming
                self._keeping = False
                self._parts = []
            else:
                self._parts.append(chunk)
        await self._response.send_body(chunk)

    async def finish(self) -> None:
        # Called once the upstream's body ended in full (a broken one aborts instead).
        self._finished = True
        await self._response.finish()
        answer = self.kept()
        if answer is not None:
            await self._store(answer, self.ttl)

    async def send_json(self, status: int, body: dict, headers: list[tuple[str, str]] = ()) -> None:
        self._keeping = False
        await self._response.send_json(status, body, headers)

    def abort(self) -> None:
        self._keeping = False
        self._response.abort()

    def kept(self) -> CachedAnswer | None:
        """The answer to store: finished, whole, and allowed by ``decide``; else None."""
        if not self._keeping or self._head is None or not self._finished:
            return None
        status, headers, length = self._head
        body = b"".join(self._parts)
        if length is not None and body and len(body) != length:
            return None
        return CachedAnswer(status, headers, length, body)
