"""Whose counters a scrape sees: one process's own, or every worker's summed by the supervisor.

With ``workers`` > 1 the workers share their ports by SO_REUSEPORT, so a scrape of a port they all
bound would reach one worker at random and see a fraction of the traffic. Instead the supervisor alone
binds ``metrics_port`` and, on each scrape, asks every worker for a snapshot of its counters over a
socketpair made for it at spawn (its fd passed like the supervisor pipe, named in ``METRICS_ENV``): a
request is a sequence number and a newline, the answer one JSON line carrying that number. The sums are
exact at scrape time, with nothing written periodically and no shared memory layout to keep in step
with the APIs a reload changes (the alternatives considered: a shared mmap, files rewritten each second).

Counters must not go down while the gateway runs. The supervisor keeps each worker's last snapshot: a
worker that does not answer within ``SNAPSHOT_TIMEOUT_SECONDS`` is reported as of its last answer, and
the API series of a worker that died are kept in a "retired" total added to every later scrape. What a
dead worker counted after the last scrape is lost with it (an undercount, never a reset).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
from collections.abc import Callable

from tollhouse.gateway.metrics import GatewayMetrics, merge_api_series, render
from tollhouse.gateway.metrics_server import MetricsServer

log = logging.getLogger("tollhouse.gateway.metrics")

# The worker's end of its metrics socketpair (outside TOLLHOUSE_GATEWAY_, which holds settings only).
METRICS_ENV = "TOLLHOUSE_WORKER_METRICS"
SNAPSHOT_TIMEOUT_SECONDS = 2.0
# One snapshot is one line: room for thousands of APIs.
LINE_LIMIT = 64 * 1024 * 1024


# -- each gateway process ----------------------------------------------------------------------------


class ProcessMetrics:
    """A gateway process's metrics: served on ``metrics_port``, or, as a worker, handed to its supervisor."""

    def __init__(self, host: str, port: int, metrics: GatewayMetrics, facts: Callable[[], dict[str, int]]):
        self._metrics, self._facts = metrics, facts
        value = os.environ.pop(METRICS_ENV, None)
        self._channel = None if value is None else socket.socket(fileno=int(value))
        self._server = MetricsServer(self._exposition, host, port) if self._channel is None else None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        if self._server is not None:
            await self._server.start()
        else:
            self._task = asyncio.create_task(self._answer_supervisor(), name="metrics")

    def snapshot(self) -> dict:
        return self._metrics.snapshot(self._facts())

    async def _exposition(self) -> str:
        snapshot = self.snapshot()
        return render(snapshot["apis"], {0: snapshot["process"]})

    async def _answer_supervisor(self) -> None:
        reader, writer = await asyncio.open_connection(sock=self._channel)
        try:
            while line := await reader.readline():  # empty: the supervisor is gone
                writer.write(json.dumps({"seq": int(line), **self.snapshot()}).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError) as exc:
            log.warning("metrics channel to the supervisor broken: %s", exc)
        finally:
            writer.close()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# -- the supervisor ----------------------------------------------------------------------------------


class WorkerChannel:
    """The supervisor's end of one worker's metrics socketpair."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()  # one question at a time: answers come back in order
        self._seq = 0
        self.last: dict | None = None

    async def snapshot(self) -> dict | None:
        """The worker's counters now, or as of its last answer if it does not answer in time."""
        async with self._lock:
            try:
                async with asyncio.timeout(SNAPSHOT_TIMEOUT_SECONDS):
                    self.last = await self._ask()
            except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as exc:
                log.warning("no metrics from a worker (%s); reporting its last snapshot", exc or type(exc).__name__)
        return self.last

    async def _ask(self) -> dict:
        if self._streams is None:
            self._streams = await asyncio.open_connection(sock=self._sock, limit=LINE_LIMIT)
        reader, writer = self._streams
        self._seq += 1
        writer.write(b"%d\n" % self._seq)
        await writer.drain()
        while True:  # answers to questions that timed out earlier arrive first: skip them
            line = await reader.readline()
            if not line:
                raise ConnectionResetError("the worker closed its metrics channel")
            answer = json.loads(line)
            if answer.pop("seq") == self._seq:
                return answer

    def close(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
        else:
            self._sock.close()


class SupervisorMetrics:
    """``metrics_port`` of a supervisor: every worker's counters summed, its facts by worker slot."""

    def __init__(self, host: str, port: int):
        self._server = MetricsServer(self.exposition, host, port)
        self._channels: dict[int, WorkerChannel] = {}
        # API series of workers that died, so the sums never go down.
        self._retired: dict[str, dict] = {}
        self.restarts = 0

    async def start(self) -> None:
        await self._server.start()

    def channel_for(self, slot: int) -> tuple[int, dict[str, str]]:
        """A new channel to the worker about to start in ``slot``: the fd to pass it and its environment
        entry. The caller closes the fd once the worker started."""
        ours, theirs = socket.socketpair()
        self._channels[slot] = WorkerChannel(ours)
        fd = theirs.detach()
        return fd, {METRICS_ENV: str(fd)}

    def worker_died(self, slot: int) -> None:
        """Keep what the dead worker counted up to its last snapshot; its replacement starts from zero."""
        self.restarts += 1
        channel = self._channels.pop(slot, None)
        if channel is not None:
            channel.close()
            if channel.last is not None:
                self._retired = merge_api_series([self._retired, channel.last["apis"]])

    async def exposition(self) -> str:
        slots = list(self._channels)
        snapshots = await asyncio.gather(*(self._channels[slot].snapshot() for slot in slots))
        answered = {slot: snapshot for slot, snapshot in zip(slots, snapshots, strict=True) if snapshot is not None}
        apis = merge_api_series([self._retired, *(snapshot["apis"] for snapshot in answered.values())])
        return render(apis, {slot: snapshot["process"] for slot, snapshot in answered.items()}, self.restarts)

    async def close(self) -> None:
        await self._server.close()
        for channel in self._channels.values():
            channel.close()
