"""Reloading the routing table: coalesced requests, one compile, one swap.

Anything may ask for a reload (a signed notification, SIGHUP, the control API); requests that
arrive while one is pending are folded into it. The new table is built beside the old one and
swapped with a single assignment, so in-flight requests finish on the table they started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from tollhouse.core import notify
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.loader import DefinitionSource, SourceError, compile_definitions
from tollhouse.gateway.router import Router

log = logging.getLogger("tollhouse.gateway.reload")


@dataclass
class SourceHealth:
    loaded_once: bool = False
    last_success: float | None = None
    last_error: str | None = None
    rejected: int = 0


class Reloader:
    def __init__(self, source: DefinitionSource, prepare: Callable[[CompiledApi], None],
                 swap: Callable[[Router[CompiledApi]], None], coalesce_seconds: float):
        self._source = source
        self._prepare = prepare
        self._swap = swap
        self._coalesce = coalesce_seconds
        self._wanted = asyncio.Event()
        self._current: dict[str, CompiledApi] = {}
        self.health = SourceHealth()
        self.reloads = 0

    def request(self) -> None:
        self._wanted.set()

    async def run(self) -> None:
        while True:
            await self._wanted.wait()
            await asyncio.sleep(self._coalesce)
            self._wanted.clear()
            await self.reload_now()

    async def reload_now(self) -> bool:
        """Fetch, compile and swap; returns False (and keeps the old table) if the source failed."""
        started = time.perf_counter()
        try:
            raws = await self._source.fetch()
        except SourceError as exc:
            self.health.last_error = str(exc)
            log.error("reload failed, keeping %d APIs: %s", len(self._current), exc)
            return False
        report = compile_definitions(raws, self._current)
        for api in report.apis:
            if not api.chain:
                self._prepare(api)
        self._swap(Router(report.apis))
        self._current = {api.api_id: api for api in report.apis}
        self.health = SourceHealth(True, time.time(), None, len(report.rejected))
        self.reloads += 1
        log.info("loaded %d APIs from %s in %.1f ms (%d rejected)", len(report.apis), self._source.description,
                 (time.perf_counter() - started) * 1000, len(report.rejected))
        return True

    async def load_until_success(self, max_wait: float = 30.0) -> None:
        """First load at start: retry with backoff while the source is away, serving nothing meanwhile."""
        delay = 0.5
        while not await self.reload_now():
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_wait)


async def listen_for_notifications(client: aioredis.Redis, node_secret: str, reloader: Reloader) -> None:
    """Follow the notification channel for ever, reconnecting with backoff.

    Every (re)subscription also asks for a reload: notices sent while Redis was away are lost.
    """
    delay = 0.5
    while True:
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(notify.CHANNEL)
            log.info("listening for change notifications on %s", notify.CHANNEL)
            reloader.request()
            delay = 0.5
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    notice = notify.decode(node_secret, message["data"])
                except notify.BadNotification as exc:
                    log.warning("ignored a notification: %s", exc)
                    continue
                log.info("notification %s %s", notice.command, notice.payload)
                reloader.request()
        except (RedisError, OSError) as exc:
            log.warning("notification channel lost (%s); retrying in %.1fs", exc, delay)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()
        await asyncio.sleep(delay)
        delay = min(delay * 2, 30.0)
