"""The data path's pipelined Redis client against real redis-server processes."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest
import redis as redis_lib
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tests.servers import free_port, redis_server
from tollhouse.gateway.pipelined_redis import PipelinedRedis

pytestmark = pytest.mark.timeout(60)


def run(coro):
    return asyncio.run(coro)


def test_commands_answer_in_the_order_they_were_sent(redis_url):
    async def scenario():
        client = PipelinedRedis(redis_url)
        try:
            # Many commands in one loop turn travel in one write; each caller gets its own reply.
            await asyncio.gather(*(client.rpush("list", f"v{i}") for i in range(500)))
            values = await asyncio.gather(*(client.execute("LINDEX", "list", i) for i in range(500)))
            missing = await client.get("absent")
            pong = await client.ping()
        finally:
            await client.aclose()
        return values, missing, pong

    values, missing, pong = run(scenario())
    assert values == [f"v{i}".encode() for i in range(500)]
    assert missing is None
    assert pong is True


def test_scripts_by_sha_and_noscript(redis_url):
    async def scenario():
        client = PipelinedRedis(redis_url)
        try:
            with pytest.raises(NoScriptError):
                await client.evalsha("0" * 40, 0)
            sha = await client.script_load("return {KEYS[1], ARGV[1]}")
            return await client.evalsha(sha, 1, "k", "a")
        finally:
            await client.aclose()

    assert run(scenario()) == [b"k", b"a"]


def test_an_error_reply_fails_only_its_own_command(redis_url):
    async def scenario():
        client = PipelinedRedis(redis_url)
        try:
            await client.execute("SET", "s", "text")
            results = await asyncio.gather(client.rpush("s", "x"), client.get("s"), return_exceptions=True)
        finally:
            await client.aclose()
        return results

    wrong_type, value = run(scenario())
    assert isinstance(wrong_type, ResponseError) and "WRONGTYPE" in str(wrong_type)
    assert value == b"text"


def test_url_password_and_database(tmp_path):
    server = redis_server(tmp_path)
    server.argv += ["--requirepass", "s3cret-test-only"]
    server.start()
    try:
        async def scenario(url):
            client = PipelinedRedis(url)
            try:
                await client.execute("SET", "where", "db3")
            finally:
                await client.aclose()

        run(scenario(f"redis://:s3cret-test-only@127.0.0.1:{server.port}/3"))
        plain = redis_lib.Redis(port=server.port, password="s3cret-test-only", db=3)
        assert plain.get("where") == b"db3"
        assert redis_lib.Redis(port=server.port, password="s3cret-test-only", db=0).get("where") is None

        with pytest.raises(RedisConnectionError, match="AUTH or SELECT"):
            run(scenario(f"redis://:wrong@127.0.0.1:{server.port}/0"))
    finally:
        server.stop()


def test_nothing_listening_is_a_connection_error():
    async def scenario():
        client = PipelinedRedis(f"redis://127.0.0.1:{free_port()}/0", timeout=2)
        try:
            await client.get("k")
        finally:
            await client.aclose()

    with pytest.raises(RedisConnectionError, match="cannot connect to Redis"):
        run(scenario())


def test_a_restarted_redis_fails_what_was_waiting_then_reconnects(tmp_path):
    server = redis_server(tmp_path).start()
    try:
        async def scenario():
            client = PipelinedRedis(f"redis://127.0.0.1:{server.port}/0")
            try:
                await client.execute("SET", "k", "before")
                blocked = asyncio.ensure_future(client.execute("BLPOP", "never", 0))
                await asyncio.sleep(0.2)
                server.stop()
                with pytest.raises(RedisConnectionError, match="lost"):
                    await blocked
                server.start()
                await client.execute("SET", "k", "after")  # a new connection, made on demand
                return await client.get("k")
            finally:
                await client.aclose()

        assert run(scenario()) == b"after"
    finally:
        server.stop()


def test_a_stuck_redis_times_out_every_waiting_command(tmp_path):
    server = redis_server(tmp_path).start()
    try:
        async def scenario():
            client = PipelinedRedis(f"redis://127.0.0.1:{server.port}/0", timeout=0.5, watchdog_interval=0.1)
            try:
                await client.ping()
                os.kill(server.pid, signal.SIGSTOP)
                try:
                    results = await asyncio.gather(*(client.get(f"k{i}") for i in range(20)),
                                                   return_exceptions=True)
                finally:
                    os.kill(server.pid, signal.SIGCONT)
                after = await client.ping()  # the stuck connection was dropped; this one is new
            finally:
                await client.aclose()
            return results, after

        results, after = run(scenario())
        assert all(isinstance(result, RedisTimeoutError) for result in results), results
        assert after is True
    finally:
        server.stop()


def test_a_cancelled_caller_does_not_shift_the_replies(redis_url):
    async def scenario():
        client = PipelinedRedis(redis_url)
        try:
            await client.execute("SET", "a", "1")
            await client.execute("SET", "b", "2")
            first = asyncio.ensure_future(client.get("a"))
            second = asyncio.ensure_future(client.get("b"))
            await asyncio.sleep(0)  # both are sent
            first.cancel()
            return await second, await client.get("a")
        finally:
            await client.aclose()

    assert run(scenario()) == (b"2", b"1")
