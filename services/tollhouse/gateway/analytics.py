"""Analytics records leave the request path through an in-memory buffer, flushed to Redis in batches.

The request path only appends to a deque; a background task pushes up to ``batch_size`` records
per RPUSH, the RPUSHes of one flush sent together, every ``flush_interval`` seconds. While Redis is
away the buffer keeps the newest ``buffer_max`` records and counts what it had to drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tollhouse.core import analytics

log = logging.getLogger("tollhouse.gateway.analytics")


class AnalyticsWriter:
    def __init__(self, client: aioredis.Redis, *, batch_size: int, flush_interval: float, buffer_max: int):
        self._client = client
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._buffer: deque[dict] = deque(maxlen=buffer_max)
        self.dropped = 0
        self.written = 0
        self.last_error: str | None = None

    def add(self, record: dict) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(record)

    @property
    def pending(self) -> int:
        return len(self._buffer)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        taken = [self._buffer.popleft() for _ in range(len(self._buffer))]
        chunks = [taken[start : start + self._batch_size] for start in range(0, len(taken), self._batch_size)]
        # The RPUSHes go out together (pipelined); each chunk succeeds or fails on its own.
        results = await asyncio.gather(
            *(self._client.rpush(analytics.ANALYTICS_LIST, *[analytics.encode(r) for r in chunk]) for chunk in chunks),
            return_exceptions=True,
        )
        failed = [(chunk, result) for chunk, result in zip(chunks, results, strict=True)
                  if isinstance(result, BaseException)]
        for _, error in failed:
            if not isinstance(error, (RedisError, OSError)):
                raise error
        self.written += len(taken) - sum(len(chunk) for chunk, _ in failed)
        if failed:
            self._put_back([record for chunk, _ in failed for record in chunk])
            if self.last_error is None:
                log.warning("analytics not written to Redis, keeping %d in memory: %s", len(self._buffer), failed[0][1])
            self.last_error = str(failed[0][1]) or type(failed[0][1]).__name__
            return
        if self.last_error is not None:
            log.info("analytics reach Redis again")
        self.last_error = None

    def _put_back(self, taken: list[dict]) -> None:
        # Newer records arrived meanwhile; the failed ones are older and go in front, within the bound.
        room = self._buffer.maxlen - len(self._buffer)
        keep = taken[-room:] if room > 0 else []
        self.dropped += len(taken) - len(keep)
        self._buffer.extendleft(reversed(keep))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.flush(), timeout=5)
        if self._buffer:
            log.warning("exiting with %d analytics records not written", len(self._buffer))
