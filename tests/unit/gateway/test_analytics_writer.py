"""The gateway's analytics writer against a real Redis: batches, early writes, Redis away."""

from __future__ import annotations

import asyncio
import contextlib

import redis as redis_lib

from tests.servers import redis_server
from tollhouse.core import analytics
from tollhouse.gateway.analytics import AnalyticsWriter
from tollhouse.gateway.pipelined_redis import PipelinedRedis


def records(start: int, count: int) -> list[dict]:
    return [{"request_id": f"r{i}", "timestamp": "t", "api_id": "a", "response_code": 200}
            for i in range(start, start + count)]


def stored(url: str) -> list[str]:
    return [analytics.decode(raw)["request_id"] for raw in redis_lib.Redis.from_url(url).lrange(
        analytics.ANALYTICS_LIST, 0, -1)]


def test_a_full_batch_is_written_at_once_in_batch_size_pushes(redis_url):
    plain = redis_lib.Redis.from_url(redis_url)
    plain.config_resetstat()

    async def scenario():
        client = PipelinedRedis(redis_url)
        # An interval far longer than the test: only a full batch can make it write.
        writer = AnalyticsWriter(client, batch_size=100, flush_interval=60, buffer_max=10_000)
        task = asyncio.ensure_future(writer.run())
        try:
            for record in records(0, 250):
                writer.add(record)
            for _ in range(200):
                if writer.written >= 250:
                    break
                await asyncio.sleep(0.01)
            return writer.written, writer.pending
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await client.aclose()

    written, pending = asyncio.run(scenario())
    # A full batch woke the writer long before its interval; it wrote what was waiting, 100 per RPUSH.
    assert (written, pending) == (250, 0)
    assert plain.info("commandstats")["cmdstat_rpush"]["calls"] == 3
    assert stored(redis_url) == [f"r{i}" for i in range(250)]


def test_flush_writes_everything_in_order(redis_url):
    async def scenario():
        client = PipelinedRedis(redis_url)
        writer = AnalyticsWriter(client, batch_size=7, flush_interval=60, buffer_max=10_000)
        for record in records(0, 30):
            writer.add(record)
        await writer.flush()
        await client.aclose()
        return writer.written

    assert asyncio.run(scenario()) == 30
    assert stored(redis_url) == [f"r{i}" for i in range(30)]


def test_redis_away_keeps_the_newest_records_and_counts_the_dropped(tmp_path):
    server = redis_server(tmp_path).start()
    url = f"redis://127.0.0.1:{server.port}/0"
    try:
        async def scenario():
            client = PipelinedRedis(url, timeout=1)
            writer = AnalyticsWriter(client, batch_size=10, flush_interval=60, buffer_max=25)
            server.stop()
            for record in records(0, 20):
                writer.add(record)
            await writer.flush()  # fails: everything goes back
            failed = writer.last_error
            for record in records(20, 10):
                writer.add(record)
            server.start()
            await writer.flush()
            await client.aclose()
            return failed, writer.dropped, writer.written, writer.last_error

        failed, dropped, written, last_error = asyncio.run(scenario())
        assert failed is not None and last_error is None
        # 30 records for a buffer of 25: the 5 oldest were dropped, the rest arrive in order.
        assert (dropped, written) == (5, 25)
        assert stored(url) == [f"r{i}" for i in range(5, 30)]
    finally:
        server.stop()
