"""The data path's Redis client: one connection per gateway process, every command pipelined on it.

Each keyed request needs Redis (its key, then its limits) and each answer may add an analytics record.
redis-py's asyncio client checks a connection out of a pool, sends, and waits, per command: about 44 µs
of gateway CPU per GET under load on our benchmark machine. Here commands issued in one event-loop turn
go out in one write and their replies are matched in order as they arrive (RESP answers in order):
about 3 µs per GET in the same measurement (`docs/architecture.md`, "The data path's Redis client").

Only the commands the data path uses are offered. Errors are redis-py's exception classes, so callers
handle both clients alike: ``ConnectionError`` (refused, lost), ``TimeoutError`` (no reply within
``timeout``), ``ResponseError`` / ``NoScriptError`` (Redis answered with an error). A lost or stuck
connection fails every command waiting on it; the next command connects again.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import Any

import hiredis
from redis.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class _Link(asyncio.Protocol):
    """One connection: outgoing commands buffered for the current loop turn, replies matched in order."""

    def __init__(self) -> None:
        # Kept: asyncio.get_running_loop() is a getpid() system call per use.
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=ResponseError)
        self.waiting: collections.deque[tuple[asyncio.Future, float]] = collections.deque()
        self.outgoing: list[bytes] = []
        self.closed: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost ({exc or 'closed by the server'})"))

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while True:
            try:
                reply = self.reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(RedisConnectionError(f"Redis sent something that is not RESP ({exc})"))
                return
            if reply is False:
                return
            if not self.waiting:  # nobody asked: the stream is out of step, trust nothing on it
                self.fail(RedisConnectionError("Redis sent a reply nobody asked for"))
                return
            future, _ = self.waiting.popleft()
            if not future.done():  # a caller that gave up (cancelled) no longer wants its reply
                if isinstance(reply, ResponseError):
                    future.set_exception(_error(reply))
                else:
                    future.set_result(reply)

    def send(self, command: bytes) -> asyncio.Future:
        if self.closed is not None:
            raise self.closed
        if not self.outgoing:
            self.loop.call_soon(self.flush)
        self.outgoing.append(command)
        future = self.loop.create_future()
        self.waiting.append((future, time.monotonic()))
        return future

    def flush(self) -> None:
        if self.outgoing and self.closed is None and self.transport is not None:
            self.transport.write(b"".join(self.outgoing))
        self.outgoing.clear()

    def oldest_wait(self) -> float:
        return time.monotonic() - self.waiting[0][1] if self.waiting else 0.0

    def fail(self, error: Exception) -> None:
        """Close the connection and fail everything waiting on it (replies could no longer be matched)."""
        if self.closed is None:
            self.closed = error
        while self.waiting:
            future, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(self.closed)
        self.outgoing.clear()
        if self.transport is not None:
            self.transport.abort()


def _error(reply: ResponseError) -> ResponseError:
    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return NoScriptError(message)
    return reply


class PipelinedRedis:
    """``get``, ``evalsha``, ``script_load``, ``rpush`` and ``ping`` over one pipelined connection.

    ``url`` is the gateway's ``redis_url`` (redis://, rediss:// or unix://, with user, password and db).
    ``timeout`` bounds both connecting and waiting for a reply.
    """

    def __init__(self, url: str, *, timeout: float = 5.0, watchdog_interval: float = 0.25):
        self._options = parse_url(url)
        self._tls = url.startswith("rediss://")  # options ssl_ca_certs and ssl_cert_reqs=none as in redis-py
        self._timeout = timeout
        self._watchdog_interval = watchdog_interval
        self._link: _Link | None = None
        self._connecting: asyncio.Task | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def get(self, name: str) -> bytes | None:
        return await self.execute("GET", name)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self.execute("EVALSHA", sha, numkeys, *keys_and_args)

    async def script_load(self, script: str) -> str:
        return (await self.execute("SCRIPT", "LOAD", script)).decode()

    async def rpush(self, name: str, *values: bytes | str) -> int:
        return await self.execute("RPUSH", name, *values)

    async def ping(self) -> bool:
        return await self.execute("PING") == b"PONG"

    async def execute(self, *args: Any) -> Any:
        link = self._link
        if link is None or link.closed is not None:
            link = await self._connected()
        return await link.send(hiredis.pack_command(args))

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._link is not None:
            self._link.fail(RedisConnectionError("the client was closed"))
            self._link = None

    async def _connected(self) -> _Link:
        # Callers arriving while a connection is being made wait for that one instead of opening more.
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Link:
        loop = asyncio.get_running_loop()
        options = self._options
        link = None
        try:
            async with asyncio.timeout(self._timeout):
                if "path" in options:
                    _, link = await loop.create_unix_connection(_Link, options["path"])
                else:
                    _, link = await loop.create_connection(_Link, options.get("host", "127.0.0.1"),
                                                           options.get("port", 6379), ssl=self._tls_context())
                for command in self._hello():
                    await link.send(hiredis.pack_command(command))
        except TimeoutError:
            error: Exception = RedisTimeoutError(f"no connection to Redis within {self._timeout:g}s")
        except OSError as exc:
            error = RedisConnectionError(f"cannot connect to Redis ({exc})")
        except ResponseError as exc:
            error = RedisConnectionError(f"Redis refused the connection's AUTH or SELECT ({exc})")
        else:
            self._link = link
            if self._watchdog is None:
                self._watchdog = loop.call_later(self._watchdog_interval, self._check_stuck)
            return link
        if link is not None:
            link.fail(error)
        raise error

    def _hello(self) -> list[tuple]:
        """What a new connection sends first: AUTH when the URL has a password, SELECT for a db other than 0."""
        options, commands = self._options, []
        if options.get("password"):
            user = (options["username"],) if options.get("username") else ()
            commands.append(("AUTH", *user, options["password"]))
        if options.get("db"):
            commands.append(("SELECT", options["db"]))
        return commands

    def _tls_context(self) -> ssl.SSLContext | None:
        if not self._tls:
            return None
        context = ssl.create_default_context(cafile=self._options.get("ssl_ca_certs"))
        if self._options.get("ssl_cert_reqs") in ("none", ssl.CERT_NONE):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _check_stuck(self) -> None:
        # One timer for the connection instead of a timeout per command: if the oldest command has waited
        # longer than ``timeout``, Redis is stuck or unreachable — fail them all and reconnect next time.
        link = self._link
        if link is not None and link.closed is None and link.oldest_wait() > self._timeout:
            link.fail(RedisTimeoutError(f"Redis did not answer within {self._timeout:g}s"))
        self._watchdog = asyncio.get_running_loop().call_later(self._watchdog_interval, self._check_stuck)
