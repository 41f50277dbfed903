"""The supervisor's end of a worker's metrics channel: late answers skipped, last snapshot kept, the dead retired."""

from __future__ import annotations

import asyncio
import json
import socket

from tests.prometheus_text import parse, value
from tollhouse.gateway import metrics_workers
from tollhouse.gateway.metrics import GatewayMetrics
from tollhouse.gateway.metrics_workers import SupervisorMetrics, WorkerChannel


def snapshot_with(requests: int) -> dict:
    metrics = GatewayMetrics()
    for _ in range(requests):
        metrics.for_api("a").observe(200, 0.001, 0.5)
    return metrics.snapshot({"apis_loaded": 1})


async def slow_worker(sock: socket.socket, answers: list[dict]) -> None:
    """Answers nothing until the second question, then both, in order (a worker that was stuck for a while)."""
    reader, writer = await asyncio.open_connection(sock=sock)
    first = int(await reader.readline())
    second = int(await reader.readline())
    for seq, answer in ((first, answers[0]), (second, answers[1])):
        writer.write(json.dumps({"seq": seq, **answer}).encode() + b"\n")
    await writer.drain()
    await reader.read()  # until the supervisor closes
    writer.close()


def test_a_late_answer_is_skipped_and_the_last_snapshot_stands_in(monkeypatch):
    monkeypatch.setattr(metrics_workers, "SNAPSHOT_TIMEOUT_SECONDS", 0.05)

    async def run():
        ours, theirs = socket.socketpair()
        worker = asyncio.create_task(slow_worker(theirs, [snapshot_with(1), snapshot_with(2)]))
        channel = WorkerChannel(ours)
        assert await channel.snapshot() is None          # no answer yet, nothing earlier
        answer = await channel.snapshot()                # the late answer to the first question is skipped
        assert answer["apis"]["a"]["requests"][2] == 2
        channel.close()
        await worker

    asyncio.run(run())


def test_a_dead_workers_counts_stay_in_the_sum():
    async def run():
        supervisor = SupervisorMetrics("127.0.0.1", 0)
        fd, env = supervisor.channel_for(0)
        assert env == {metrics_workers.METRICS_ENV: str(fd)}
        worker_sock = socket.socket(fileno=fd)
        reader, writer = await asyncio.open_connection(sock=worker_sock)

        async def answer_once(requests: int):
            seq = int(await reader.readline())
            writer.write(json.dumps({"seq": seq, **snapshot_with(requests)}).encode() + b"\n")
            await writer.drain()

        answering = asyncio.create_task(answer_once(5))
        families = parse(await supervisor.exposition())
        await answering
        assert value(families, "tollhouse_gateway_requests_total", api_id="a", status_class="2xx") == 5
        assert value(families, "tollhouse_gateway_workers") == 1
        writer.close()
        supervisor.worker_died(0)
        families = parse(await supervisor.exposition())
        assert value(families, "tollhouse_gateway_requests_total", api_id="a", status_class="2xx") == 5
        assert value(families, "tollhouse_gateway_workers") == 0
        assert value(families, "tollhouse_gateway_worker_restarts_total") == 1
        await supervisor.close()

    asyncio.run(run())
