"""The upstream client: keep-alive HTTP/1.1 connections per (scheme, host, port), bodies streamed both ways.

One ``UpstreamConnection`` carries one exchange at a time. It goes back to the pool only once the
response body arrived completely and both sides agreed to keep the connection alive.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque

import httptools

from tollhouse.core.apidef_tls import ProxyTransport
from tollhouse.gateway.http.messages import BodyStream
from tollhouse.gateway.upstream_tls import UpstreamTls

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
WRITE_HIGH_WATER = 256 * 1024


class UpstreamError(Exception):
    status = 502


class UpstreamUnreachable(UpstreamError):
    """Connection refused, name not resolved, or closed before any response byte."""

    status = 502

    def __init__(self, message: str, *, before_response: bool = False):
        super().__init__(message)
        # The upstream closed without answering: a stale keep-alive connection looks like this.
        self.before_response = before_response


class UpstreamTimeout(UpstreamError):
    status = 504


class UpstreamProtocolError(UpstreamError):
    status = 502


class UpstreamResponse:
    __slots__ = ("_conn", "body", "content_length", "headers", "reason", "status")

    def __init__(self, conn: UpstreamConnection, status: int, reason: str, headers: list[tuple[str, str]],
                 content_length: int | None, body: BodyStream):
        self._conn = conn
        self.status = status
        self.reason = reason
        self.headers = headers
        self.content_length = content_length
        self.body = body

    def close(self) -> None:
        """Done with this response: a body not read to its end takes the connection down with it."""
        if not self.body.complete:
            self._conn.close()

    def take_over(self) -> tuple[asyncio.Transport, bytes]:
        """After a 101: the connection's transport and the bytes the upstream sent after the head."""
        return self._conn.take_over()


class UpstreamConnection(asyncio.Protocol):
    def __init__(self, pool: UpstreamPool, key: tuple, *, upgrading: bool = False):
        self._pool = pool
        self.key = key
        # Carries an Upgrade request: never pooled; after a 101 it is handed over (take_over).
        self.upgrading = upgrading
        self._upgrade_tail: bytearray | None = None
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.closed = False
        self.idle_since = 0.0
        self._parser: httptools.HttpResponseParser | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._reset_exchange()

    def _reset_exchange(self) -> None:
        self._head_waiter: asyncio.Future | None = None
        self._head_only = False
        self._got_bytes = False
        self._request_sent = False
        self._status_reason = b""
        self._headers: list[tuple[str, str]] = []
        self._content_length: int | None = None
        self._close_delimited = False
        self._body: BodyStream | None = None
        self._in_head = True
        self.body_started = False

    # -- one exchange ------------------------------------------------------------------------

    async def exchange(self, method: str, target: str, headers: list[tuple[str, str]],
                       body: BodyStream | None, content_length: int | None,
                       chunked: bool, head_timeout: float | None = None) -> UpstreamResponse:
        """``head_timeout``: how long to wait for the response head once the request is sent (default: the
        pool's read_timeout)."""
        self._reset_exchange()
        if self._parser is None:
            self._parser = httptools.HttpResponseParser(self)
        self._head_only = method == "HEAD"
        waiter = self._head_waiter = self._loop.create_future()
        head = request_head(method, target, headers, content_length, chunked)
        try:
            if body is None or (not chunked and not content_length):
                self.transport.write(head)
                self._request_sent = True
            else:
                self.body_started = True
                self._request_sent = await self._send_body(head, body, chunked)
            if not waiter.done():
                self._start_timer(head_timeout or self._pool.read_timeout, "response")
            # Whoever fails the waiter (timeout, lost connection, bad response) also closes us.
            return await waiter
        except BaseException:
            self.close()
            raise

    async def _send_body(self, head: bytes, body: BodyStream, chunked: bool) -> bool:
        """Stream the request body; False when the upstream answered or went away before its end."""
        pending = [head]  # the head leaves with the first body chunk when that is already here
        while True:
            if pending and not body.ready:
                self.transport.writelines(pending)
                pending = []
            chunk = await body.read()
            if self.closed or self._head_waiter is None or self._head_waiter.done():
                return False
            if chunked:
                pending += (b"%x\r\n" % len(chunk), chunk, b"\r\n") if chunk else (b"0\r\n\r\n",)
            elif chunk:
                pending.append(chunk)
            if pending:
                self.transport.writelines(pending)
                pending = []
            if not chunk:
                return True
            if self._write_paused:
                await self._drain()

    async def _drain(self) -> None:
        self._drain_waiter = self._loop.create_future()
        self._start_timer(self._pool.read_timeout, "request body write")
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None
            self._cancel_timer()

    # -- timers ------------------------------------------------------------------------------

    def _start_timer(self, seconds: float, what: str) -> None:
        self._cancel_timer()
        self._timer = self._loop.call_later(seconds, self._timed_out, what, seconds)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self, what: str, seconds: float) -> None:
        self._timer = None
        self._fail(UpstreamTimeout(f"upstream {what} timed out after {seconds:g}s"))
        self.close()

    def _fail(self, error: UpstreamError) -> None:
        """Hand ``error`` to whoever waits on this connection: the head, the body, or a drain."""
        if self._head_waiter is not None and not self._head_waiter.done():
            self._head_waiter.set_exception(error)
        elif self._body is not None:
            self._body.set_exception(error)
            self._body = None
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(error)

    # -- asyncio protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)

    def data_received(self, data: bytes) -> None:
        if self._upgrade_tail is not None:
            self._upgrade_tail += data  # the new protocol's first bytes, until the connection is taken over
            return
        if self._head_waiter is None:
            self.close()  # bytes nobody asked for: the connection can no longer be trusted
            return
        self._got_bytes = True
        try:
            self._parser.feed_data(data)  # type: ignore[union-attr]
        except httptools.HttpParserUpgrade as upgrade:
            if self._upgrade_tail is None:
                self._fail(UpstreamProtocolError("the upstream switched protocols unasked"))
                self.close()
                return
            self._upgrade_tail += data[upgrade.args[0]:]
            self.transport.pause_reading()
        except Exception as exc:  # httptools errors
            self._fail(UpstreamProtocolError(f"invalid response from upstream: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # the connection closes; connection_lost tells what it meant

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        self._pool.forget(self)
        if self._body is not None and self._close_delimited and exc is None:
            self._body.feed_eof()  # a body without length or chunks ends with the connection
            self._body = None
            return
        reason = f": {exc}" if exc else ""
        if self._head_waiter is not None and not self._head_waiter.done():
            self._fail(UpstreamUnreachable(f"upstream closed the connection before responding{reason}",
                                           before_response=not self._got_bytes))
        else:
            self._fail(UpstreamProtocolError(f"upstream closed the connection mid-response{reason}"))

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- httptools callbacks -----------------------------------------------------------------

    def on_status(self, reason: bytes) -> None:
        self._status_reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # trailers
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers.append((key, text))
        if key == "content-length":
            self._content_length = int(text)

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if status == 101 and self.upgrading:
            self._switched_protocols()
            return
        if 100 <= status < 200:
            # An interim response (100 Continue, 103 Early Hints): the real one follows.
            self._headers = []
            self._status_reason = b""
            self._content_length = None
            return
        waiter = self._head_waiter
        if waiter is None:
            raise UpstreamProtocolError("a response nobody asked for")
        self._in_head = False
        chunked = any(key == "transfer-encoding" for key, _ in self._headers)
        no_body = self._head_only or status == 204 or status == 304
        self._close_delimited = not no_body and not chunked and self._content_length is None
        if no_body or (self._content_length == 0 and not chunked):
            body = BodyStream.from_bytes(b"")
        else:
            body = self._body = BodyStream(self)
        # A HEAD or 304 response's Content-Length describes the full body, and is passed on as such.
        content_length = None if status == 204 else self._content_length
        response = UpstreamResponse(self, status, self._status_reason.decode("latin-1"), self._headers,
                                    content_length, body)
        self._cancel_timer()
        if not waiter.done():
            waiter.set_result(response)
        if body.complete:
            self._message_done(keep_alive=parser.should_keep_alive())
            if self._head_only:
                # httptools cannot be told that a HEAD response has no body: start over next time.
                self._parser = None

    def _switched_protocols(self) -> None:
        self._in_head = False
        self._upgrade_tail = bytearray()
        self._cancel_timer()
        response = UpstreamResponse(self, 101, self._status_reason.decode("latin-1"), self._headers, None,
                                    BodyStream.from_bytes(b""))
        waiter, self._head_waiter = self._head_waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def take_over(self) -> tuple[asyncio.Transport, bytes]:
        """Let go of the connection after a 101: its transport, and the bytes that followed the head."""
        self.closed = True  # as far as the pool knows
        tail = bytes(self._upgrade_tail or b"")
        self._upgrade_tail = None
        return self.transport, tail

    def on_body(self, chunk: bytes) -> None:
        if self._body is not None:
            self._body.feed(chunk)
            if self._timer is not None:
                self._cancel_timer()

    def on_message_complete(self) -> None:
        if self._in_head:
            return  # the end of an interim response
        if self._body is not None:
            self._body.feed_eof()
            self._body = None
            self._message_done(keep_alive=self._parser.should_keep_alive())

    def _message_done(self, keep_alive: bool) -> None:
        self._head_waiter = None
        if self._reading_paused:
            self._reading_paused = False
            self.transport.resume_reading()
        if keep_alive and self._request_sent and not self.closed and not self.upgrading:
            self._pool.release(self)
        else:
            self.close()

    # -- body flow control (BodySource for the response body) ------------------------------

    def pause_reading(self) -> None:
        if not self._reading_paused and not self.closed:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()

    def body_waiting(self) -> None:
        self._start_timer(self._pool.read_timeout, "response body")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._pool.forget(self)
            self.transport.close()


def request_head(method: str, target: str, headers: list[tuple[str, str]], content_length: int | None,
                 chunked: bool) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    if chunked:
        lines.append("transfer-encoding: chunked\r\n")
    elif content_length is not None:
        lines.append(f"content-length: {content_length}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1")


class UpstreamPool:
    """Keep-alive connections to upstreams, reused newest first."""

    def __init__(self, connect_timeout: float = 5, read_timeout: float = 30, max_idle_per_host: int = 64,
                 *, idle_timeout: float = 50, ssl_context: ssl.SSLContext | None = None,
                 tls: UpstreamTls | None = None):
        """``tls``: the gateway's upstream TLS settings (its default context unless ``ssl_context`` is given)."""
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle_per_host = max_idle_per_host
        # Kept below the usual upstream keep-alive timeouts (nginx 75s, Go 90s) to rarely meet a
        # connection the upstream is closing.
        self.idle_timeout = idle_timeout
        self.tls = tls
        self._ssl_context = ssl_context or (tls.default if tls is not None else None)
        # Keyed by (scheme, host, port), and the TLS context when an API has its own.
        self._idle: dict[tuple, deque[UpstreamConnection]] = {}
        self._closed = False

    async def request(self, scheme: str, host: str, port: int, method: str, target: str,
                      headers: list[tuple[str, str]], body: BodyStream | None, content_length: int | None,
                      chunked: bool, head_timeout: float | None = None,
                      tls: ssl.SSLContext | None = None) -> UpstreamResponse:
        """``tls``: an https upstream's own TLS context instead of the pool's (its connections are kept apart)."""
        key = (scheme, host, port) if tls is None else (scheme, host, port, tls)
        conn = self._take_idle(key)
        if conn is not None:
            try:
                return await conn.exchange(method, target, headers, body, content_length, chunked, head_timeout)
            except UpstreamUnreachable as exc:
                # The upstream closed this kept-alive connection as we reused it. Only a request it
                # cannot have acted on, and whose body we still hold, is safe to send again.
                if not (exc.before_response and method in IDEMPOTENT_METHODS and not conn.body_started):
                    raise
        conn = await self._connect(key)
        return await conn.exchange(method, target, headers, body, content_length, chunked, head_timeout)

    def context_for(self, transport: ProxyTransport) -> ssl.SSLContext | None:
        """An API's own TLS context for its https upstream (``proxy.transport``); None: the pool's."""
        if self.tls is None:
            self.tls = UpstreamTls()
        return self.tls.for_transport(transport)

    async def upgrade(self, scheme: str, host: str, port: int, target: str, headers: list[tuple[str, str]], *,
                      head_timeout: float | None = None, tls: ssl.SSLContext | None = None) -> UpstreamResponse:
        """A bodiless GET asking for Upgrade, on a connection of its own. A 101 is handed over with
        ``response.take_over()``; any other answer is read as usual, then the connection closes."""
        key = (scheme, host, port) if tls is None else (scheme, host, port, tls)
        conn = await self._connect(key, upgrading=True)
        return await conn.exchange("GET", target, headers, None, None, False, head_timeout)

    def _take_idle(self, key: tuple) -> UpstreamConnection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        oldest_allowed = idle[-1]._loop.time() - self.idle_timeout  # not get_running_loop(): a getpid() call
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_since >= oldest_allowed:
                return conn
            conn.close()
        return None

    async def _connect(self, key: tuple, *, upgrading: bool = False) -> UpstreamConnection:
        scheme, host, port = key[:3]
        loop = asyncio.get_running_loop()
        tls = None
        if scheme == "https":
            if len(key) > 3:
                tls = key[3]
            else:
                if self._ssl_context is None:
                    self._ssl_context = ssl.create_default_context()
                tls = self._ssl_context
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(lambda: UpstreamConnection(self, key, upgrading=upgrading),
                                                       host, port, ssl=tls, server_hostname=host if tls else None)
        except TimeoutError:
            raise UpstreamTimeout(f"connecting to {host}:{port} timed out after {self.connect_timeout:g}s") \
                from None
        except ssl.SSLError as exc:
            raise UpstreamUnreachable(f"TLS handshake with {host}:{port} failed: {exc}") from None
        except OSError as exc:
            raise UpstreamUnreachable(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return conn

    def release(self, conn: UpstreamConnection) -> None:
        idle = self._idle.setdefault(conn.key, deque())
        if self._closed or len(idle) >= self.max_idle_per_host:
            conn.close()
            return
        conn.idle_since = conn._loop.time()
        idle.append(conn)

    def forget(self, conn: UpstreamConnection) -> None:
        idle = self._idle.get(conn.key)
        if idle and conn in idle:
            idle.remove(conn)

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            while idle:
                idle.pop().close()
        self._idle.clear()
