"""The data path's message types: a streamed body, a parsed request and the response writer.

Bodies are never held whole: a ``BodyStream`` keeps at most a few hundred KiB and pauses the
socket it comes from beyond that, so a 1 GB upload costs the gateway the same memory as a 1 KB one.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from http import HTTPStatus
from typing import Protocol

# Past HIGH_WATER buffered bytes the producing socket is paused; it resumes once the
# reader has taken the buffer down to LOW_WATER.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


class ClientError(Exception):
    """The client side of a request failed: the handler cannot finish reading it."""

    status = 400


class ClientDisconnected(ClientError):
    status = 499  # nginx's convention for "client closed the connection"


class ClientTimeout(ClientError):
    status = 408


class BadRequestBody(ClientError):
    status = 400


class BodySource(Protocol):
    """Whoever feeds a ``BodyStream``: it is told when to stop and restart reading its socket."""

    def pause_reading(self) -> None: ...
    def resume_reading(self) -> None: ...
    def body_waiting(self) -> None:
        """The reader is about to wait for more data (start a stall timer, send 100 Continue...)."""


class ChunkReader:
    """What every body offers on top of its ``read()`` (one chunk; ``b""`` at the end): iteration and read_all."""

    __slots__ = ()

    async def read(self) -> bytes:
        raise NotImplementedError

    async def read_all(self, limit: int) -> bytes:
        """The whole body, for the few places that need it in memory; ValueError past ``limit``."""
        parts, size = [], 0
        while chunk := await self.read():
            size += len(chunk)
            if size > limit:
                raise ValueError(f"body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def __aiter__(self) -> ChunkReader:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self.read()
        if not chunk:
            raise StopAsyncIteration
        return chunk


class BodyStream(ChunkReader):
    """A request or response body, read chunk by chunk; ``b""`` marks its end."""

    __slots__ = ("_buffered", "_chunks", "_done", "_error", "_paused", "_source", "_waiter")

    def __init__(self, source: BodySource | None = None):
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._source = source
        self._paused = False

    @classmethod
    def from_bytes(cls, data: bytes) -> BodyStream:
        """A complete body from memory (tests, bodies the gateway makes up itself)."""
        body = cls()
        if data:
            body.feed(data)
        body.feed_eof()
        return body

    # -- the producer's side -------------------------------------------------------------

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        if self._waiter is not None:
            self._wake()
        if self._buffered > HIGH_WATER and not self._paused and self._source is not None:
            self._paused = True
            self._source.pause_reading()

    def feed_eof(self) -> None:
        """All of the body arrived. The producer resets its own socket's flow control."""
        self._done = True
        self._source = None
        self._paused = False
        if self._waiter is not None:
            self._wake()

    def set_exception(self, error: BaseException) -> None:
        if self._done or self._error is not None:
            return
        self._error = error
        self._source = None
        if self._waiter is not None:
            self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if not waiter.done():
            waiter.set_result(None)

    # -- the reader's side ---------------------------------------------------------------

    @property
    def complete(self) -> bool:
        """The producer delivered all of the body (it may still sit unread in the buffer)."""
        return self._done

    @property
    def ready(self) -> bool:
        """``read()`` would return without waiting."""
        return bool(self._chunks) or self._done or self._error is not None

    async def read(self) -> bytes:
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            if self._source is not None:
                self._source.body_waiting()
            await self._waiter
        chunk = self._chunks.popleft()
        self._buffered -= len(chunk)
        if self._paused and self._buffered <= LOW_WATER:
            self._paused = False
            if self._source is not None:
                self._source.resume_reading()
        return chunk



EMPTY_BODY = BodyStream.from_bytes(b"")  # shared by every request without a body: it never changes


class Request:
    """One parsed request head; the body streams in afterwards through ``body``."""

    __slots__ = ("body", "chunked", "client_ip", "content_length", "expect_continue", "headers",
                 "http_version", "keep_alive", "method", "path", "peer_cert", "query", "scheme", "target",
                 "upgrade")

    def __init__(self, method: str, target: str, http_version: str, headers: list[tuple[str, str]],
                 client_ip: str = "", scheme: str = "http", body: BodyStream = EMPTY_BODY,
                 content_length: int | None = None, chunked: bool = False, keep_alive: bool = True,
                 expect_continue: bool = False):
        self.method = method
        self.target = target
        self.path, self.query = split_target(target)
        self.http_version = http_version
        self.headers = headers
        self.client_ip = client_ip
        self.scheme = scheme
        self.body = body
        self.content_length = content_length
        self.chunked = chunked
        self.keep_alive = keep_alive
        self.expect_continue = expect_continue
        # The protocol asked for when the request is an Upgrade the connection can be handed over to
        # (lowercased, e.g. "websocket"); "" for every other request.
        self.upgrade = ""
        # The client's TLS certificate (DER) when it sent one; None otherwise.
        self.peer_cert: bytes | None = None

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} HTTP/{self.http_version}>"


def split_target(target: str) -> tuple[str, str]:
    """(path, query) of a request-target; absolute-form targets lose their scheme and authority."""
    if not target.startswith("/") and "://" in target:
        rest = target.split("://", 1)[1]
        slash, question = rest.find("/"), rest.find("?")
        if slash == -1 or (question != -1 and question < slash):
            target = "/" + rest[question:] if question != -1 else "/"
        else:
            target = rest[slash:]
    path, _, query = target.partition("?")
    return path, query


def _status_line(status: int) -> bytes:
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


STATUS_LINES = {status.value: _status_line(status.value) for status in HTTPStatus}
STATUS_LINES[499] = b"HTTP/1.1 499 Client Closed Request\r\n"


class ClientConnection(Protocol):
    """What a ``Response`` needs from the server connection it writes to."""

    transport: asyncio.Transport
    write_paused: bool

    async def drain(self) -> None: ...
    def should_close_after(self, request: Request) -> bool: ...
    def take_over(self) -> tuple[asyncio.Transport, bytes]: ...


class Response:
    """Writes one response to the client; the server frames the body from ``send_head``'s arguments.

    The head is held back until the first body bytes (or ``finish``) when ``flush=False`` so a small
    response leaves in one write.
    """

    __slots__ = ("_chunked", "_conn", "_head", "_no_body", "_remaining", "_request", "finished",
                 "keep_alive", "started", "status")

    def __init__(self, conn: ClientConnection, request: Request):
        self._conn = conn
        self._request = request
        self._head: bytes | None = None
        self._chunked = False
        self._no_body = False
        self._remaining: int | None = None  # bytes still owed under a Content-Length
        self.started = False
        self.finished = False
        self.keep_alive = False
        self.status = 0

    async def send_head(self, status: int, headers: list[tuple[str, str]],
                        content_length: int | None = None, *, flush: bool = True) -> None:
        """Start the response. ``headers`` must not carry framing (Content-Length, Transfer-Encoding,
        Connection): those come from ``content_length`` and the connection's keep-alive state."""
        if self.started:
            raise RuntimeError("response already started")
        self._check_open()
        request = self._request
        head_only = request.method == "HEAD"
        parts = [STATUS_LINES.get(status) or _status_line(status)]
        parts.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)

        keep_alive = request.keep_alive and not self._conn.should_close_after(request)
        if status < 200 or status == 204:
            self._no_body = True
        elif content_length is not None:
            parts.append(b"content-length: %d\r\n" % content_length)
            self._no_body = head_only or status == 304
            self._remaining = 0 if self._no_body else content_length
        elif head_only or status == 304:
            self._no_body = True
        elif request.http_version == "1.1":
            parts.append(b"transfer-encoding: chunked\r\n")
            self._chunked = True
        else:
            keep_alive = False  # HTTP/1.0 without a length: the body ends when the connection does
        if not keep_alive:
            parts.append(b"connection: close\r\n")
        elif request.http_version == "1.0":
            parts.append(b"connection: keep-alive\r\n")
        parts.append(b"\r\n")

        self.started = True
        self.status = status
        self.keep_alive = keep_alive
        self._head = b"".join(parts)
        if flush:
            self._flush_head()

    def _flush_head(self) -> None:
        if self._head is not None:
            self._conn.transport.write(self._head)
            self._head = None

    def _check_open(self) -> None:
        if self._conn.transport.is_closing():
            raise ClientDisconnected("client connection closed")

    async def send_body(self, chunk: bytes) -> None:
        if not self.started or self.finished:
            raise RuntimeError("send_body() outside send_head() .. finish()")
        if not chunk or self._no_body:
            return
        self._check_open()
        parts = [self._head] if self._head is not None else []
        self._head = None
        if self._chunked:
            parts += (b"%x\r\n" % len(chunk), chunk, b"\r\n")
        else:
            if self._remaining is not None:
                if len(chunk) > self._remaining:
                    raise RuntimeError("body longer than its Content-Length")
                self._remaining -= len(chunk)
            parts.append(chunk)
        self._conn.transport.writelines(parts)
        if self._conn.write_paused:
            await self._conn.drain()

    async def finish(self) -> None:
        if self.finished:
            return
        if not self.started:
            raise RuntimeError("finish() before send_head()")
        self.finished = True
        if self._conn.transport.is_closing():
            return
        if self._chunked:
            end = b"0\r\n\r\n"
            self._conn.transport.write(self._head + end if self._head is not None else end)
            self._head = None
        else:
            self._flush_head()
        if self._remaining:  # fewer bytes than promised: only closing tells the client
            self.keep_alive = False
            self.abort()

    async def send_json(self, status: int, body: dict, headers: list[tuple[str, str]] = ()) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        await self.send_head(status, [("content-type", "application/json"), *headers], len(data),
                             flush=False)
        await self.send_body(data)
        await self.finish()

    def switch_protocols(self, headers: list[tuple[str, str]], protocol: str) -> tuple[asyncio.Transport, bytes]:
        """Answer 101 and hand the connection over: its transport and the bytes the client sent after
        its request. The server neither reads nor times out the connection any more."""
        if self.started:
            raise RuntimeError("response already started")
        self._check_open()
        parts = [STATUS_LINES[101]]
        parts.extend(f"{name}: {value}\r\n".encode("latin-1") for name, value in headers)
        parts.append(f"connection: upgrade\r\nupgrade: {protocol}\r\n\r\n".encode("latin-1"))
        self.started = self.finished = True
        self.status = 101
        self.keep_alive = False
        self._conn.transport.writelines(parts)
        return self._conn.take_over()

    def abort(self) -> None:
        """Drop the client connection: the only honest signal once a broken response has started."""
        self.keep_alive = False
        self.finished = True
        self._conn.transport.abort()
