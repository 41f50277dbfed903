"""The drain loop: claim a batch from Redis, write it to every sink, acknowledge it, repeat.

Nothing is removed from Redis before every sink has the batch. A store that is down is retried
with backoff while the records wait in Redis; records that can never be stored are filed in the
dead-letter list with the reason, and the rest of their batch is stored as usual.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from tollhouse.core.analytics import BadRecord, decode
from tollhouse.pump.backoff import Backoff
from tollhouse.pump.queue import AnalyticsQueue, ClaimedBatch, DeadLetter
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks import Sink
from tollhouse.pump.status import PumpStatus

log = logging.getLogger(__name__)

REDIS_ERRORS = (RedisError, OSError)


class Stopping(Exception):
    """Shutdown was requested while waiting; whatever is unacknowledged stays in Redis."""


class Drainer:
    def __init__(self, settings: PumpSettings, queue: AnalyticsQueue, sinks: list[Sink],
                 status: PumpStatus, stopping: asyncio.Event):
        self.settings, self.queue, self.sinks = settings, queue, sinks
        self.status, self.stopping = status, stopping

    async def run(self) -> None:
        try:
            await self._init_sinks()
            while not self.stopping.is_set():
                batch = await self._with_redis(self.queue.claim_batch, self.settings.purge_chunk)
                claimed = time.perf_counter()
                if batch.redelivered:
                    log.info("re-delivering %d unacknowledged records", len(batch))
                if batch.raws:
                    self.status.metrics.claimed(len(batch), batch.redelivered)
                    dead_letters = await self._deliver(batch)
                    await self._with_redis(self.queue.acknowledge, dead_letters)
                    self._count(batch, dead_letters)
                    self.status.metrics.batch_done(time.perf_counter() - claimed)
                # A full or re-delivered batch means more may be waiting: go again without a pause.
                if len(batch) < self.settings.purge_chunk and not batch.redelivered:
                    await self._pause(self.settings.purge_delay)
        except Stopping:
            pass
        log.info("drain loop stopped")

    async def _deliver(self, batch: ClaimedBatch) -> list[DeadLetter]:
        raws, records, dead_letters = [], [], []
        for raw in batch.raws:
            try:
                records.append(decode(raw))
                raws.append(raw)
            except BadRecord as exc:
                dead_letters.append(DeadLetter(raw, str(exc)))
        refused = await self._write_everywhere(records) if records else {}
        dead_letters.extend(DeadLetter(raws[index], reason) for index, reason in sorted(refused.items()))
        return dead_letters

    async def _write_everywhere(self, records: list[dict]) -> dict[int, str]:
        """Every sink's refusals, by record index, once every sink has taken the batch."""
        results = await self._on_every_sink("write", lambda sink: sink.write(records))
        refused: dict[int, str] = {}
        for sink, rejections in results.items():
            self.status.metrics.records_written[sink.type_name] += len(records) - len(rejections)
            self.status.metrics.records_rejected[sink.type_name] += len(rejections)
            for rejection in rejections:
                refused.setdefault(rejection.index, f"{sink.type_name}: {rejection.reason}")
        return refused

    async def _init_sinks(self) -> None:
        await self._on_every_sink("init", lambda sink: sink.init())

    async def _on_every_sink(self, action: str, call: Callable[[Sink], Awaitable]) -> dict[Sink, object]:
        """Run ``call`` on the sinks in parallel, each bounded by the sink timeout; retry those
        that failed (only those: a sink that has the batch is not asked again) until all succeed."""
        results, backoff = {}, Backoff(self.settings.retry_max_seconds)
        pending = list(self.sinks)
        while pending:
            outcomes = await asyncio.gather(
                *(asyncio.wait_for(call(sink), self.settings.sink_timeout_seconds) for sink in pending),
                return_exceptions=True,
            )
            failed = []
            for sink, outcome in zip(pending, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    failed.append(sink)
                    self._sink_failed(sink, action, outcome)
                else:
                    results[sink] = outcome
                    self.status.sink_errors.pop(sink.type_name, None)
            pending = failed
            if pending:
                await self._pause(backoff.next_delay())
        return results

    async def _with_redis(self, operation, *args):
        backoff = Backoff(self.settings.retry_max_seconds)
        while True:
            try:
                result = await operation(*args)
            except REDIS_ERRORS as exc:
                self.status.redis_error = describe(exc)
                self.status.metrics.retries["redis"] += 1
                log.warning("redis unavailable (%s); retrying", self.status.redis_error)
                await self._pause(backoff.next_delay())
                continue
            self.status.redis_error = None
            return result

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once and raise ``Stopping`` when shutdown is requested."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            return
        raise Stopping

    def _sink_failed(self, sink: Sink, action: str, error: BaseException) -> None:
        self.status.sink_errors[sink.type_name] = describe(error)
        self.status.metrics.retries[sink.type_name] += 1
        log.warning("sink %s %s failed (%s); keeping the records in redis and retrying",
                    sink.type_name, action, self.status.sink_errors[sink.type_name])

    def _count(self, batch: ClaimedBatch, dead_letters: list[DeadLetter]) -> None:
        self.status.wrote(len(batch) - len(dead_letters))
        self.status.records_dead_lettered += len(dead_letters)
        for letter in dead_letters:
            log.warning("record sent to the dead-letter list: %s", letter.reason)
        log.debug("batch of %d done (%d dead-lettered)", len(batch), len(dead_letters))


def describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"[:300]
