"""The client-facing HTTP/1.1 server: an asyncio protocol over httptools (llhttp), no framework.

Per connection: the protocol parses bytes into ``Request`` objects as they arrive and one worker
task runs the handler for each request in turn, so pipelined responses leave in order without a
task per request. Timeouts are deadlines checked by one sweeper per server rather than timers
re-armed on every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httptools

from tollhouse.gateway.http.messages import (
    EMPTY_BODY,
    STATUS_LINES,
    BadRequestBody,
    BodyStream,
    ClientDisconnected,
    ClientError,
    ClientTimeout,
    Request,
    Response,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request, Response], Awaitable[None]]

# After a response that left part of a request body unread, the rest is read and dropped for a
# while before closing: closing with unread data makes the kernel send a reset, which can destroy
# the response before the client has read it.
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 4 * 1024 * 1024
# Requests parsed ahead of the one being handled (pipelining) before the socket is paused.
MAX_PIPELINED = 16
WRITE_HIGH_WATER = 256 * 1024


@dataclass(frozen=True)
class ServerLimits:
    max_header_bytes: int = 16384
    max_header_count: int = 100
    # From a request's first byte (or the connection's start) to its last header line.
    header_timeout: float = 10.0
    # Longest wait for more request body, or for the client to take more response bytes.
    body_timeout: float = 30.0
    # Idle time allowed between requests.
    keepalive_timeout: float = 60.0
    # Hand "Upgrade: websocket" requests to the handler as upgradable (enable_websockets); off, they are
    # plain requests whose connection closes after the answer.
    websockets: bool = True


class Rejected(Exception):
    """A request refused before it reached the handler; answered with ``status`` and closed."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# What a connection is waiting for; the sweeper closes it when the matching deadline passes.
IDLE, HEADERS, BODY, SEND = "idle", "headers", "body", "send"


class HttpServerProtocol(asyncio.Protocol):
    def __init__(self, handler: Handler, limits: ServerLimits, connections: set):
        self._handler = handler
        self._limits = limits
        self._connections = connections
        self._loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._closed = False
        self._client_ip = ""
        self._scheme = "http"
        self._peer_cert: bytes | None = None  # the client's TLS certificate (DER), when it sent one
        # Bytes after an Upgrade request's head, kept for whoever takes the connection over; None otherwise.
        self._upgrade_tail: bytearray | None = None
        # Parsing state of the request being received.
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._header_bytes = 0            # counted from parser callbacks
        self._raw_head_bytes = 0          # counted from reads while the head is incomplete
        self._fed = 0                     # estimated bytes parsed so far in the current read
        self._head_offset = 0
        self._in_head = False
        self._messages_begun = 0
        self._content_length: int | None = None
        self._chunked = False
        self._expect: str | None = None
        self._hosts = 0
        self._body: BodyStream | None = None  # the body being received, until its last byte
        self._expecting_continue = False      # its client waits for "100 Continue" before sending it
        self._body_full = False               # its buffer asked to pause the socket
        self._reading_paused = False
        self._reading_done = False            # nothing more is parsed on this connection
        self._lingering = 0                   # bytes dropped while lingering before close, or -1 when not
        # Handing requests to the worker.
        self._pending: deque[Request | Rejected] = deque()
        self._active: Request | None = None
        self._response: Response | None = None
        self._worker_waiter: asyncio.Future | None = None
        self._worker: asyncio.Task | None = None
        # Deadline of what the connection waits for (see the module docstring).
        self.phase: str | None = HEADERS
        self.deadline = 0.0

    # -- connection events -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self._client_ip = peer[0] if peer else ""
        if transport.get_extra_info("sslcontext") is not None:
            self._scheme = "https"
            tls = transport.get_extra_info("ssl_object")
            self._peer_cert = tls.getpeercert(binary_form=True) if tls is not None else None
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self._lingering = -1
        self._set_phase(HEADERS, self._limits.header_timeout)
        self._connections.add(self)
        self._worker = self._loop.create_task(self._serve())

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._connections.discard(self)
        self.phase = None
        if self._body is not None:
            self._body.set_exception(ClientDisconnected("client closed the connection mid-body"))
            self._body = None
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(ClientDisconnected("client closed the connection"))
        self._pending.clear()
        self._wake_worker()

    def eof_received(self) -> bool:
        # A client half-closing after its last request still gets its responses.
        self._reading_done = True
        if self._body is not None:
            self._body.set_exception(ClientDisconnected("client closed the connection mid-body"))
            self._body = None
        return self._active is not None or bool(self._pending)

    def data_received(self, data: bytes) -> None:
        if self._reading_done:
            if self._upgrade_tail is not None:
                self._upgrade_tail += data
            else:
                self._drop_lingering(len(data))
            return
        began = self._messages_begun
        was_in_head = self._in_head
        self._fed = 0
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgrade_requested(data[upgrade.args[0]:])
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, Rejected):
                self._reject(exc.__context__)
            else:
                self._reject(Rejected(400, f"malformed request: {exc}"))
        if self._in_head:
            # A head still incomplete after this read is measured in raw bytes: httptools would
            # otherwise gather an endless header line in memory before any callback could count it.
            same_message = was_in_head and began == self._messages_begun
            self._raw_head_bytes += len(data) if same_message else len(data) - self._head_offset
            if self._raw_head_bytes > self._limits.max_header_bytes:
                self._reject(Rejected(431, "request header too large"))

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._messages_begun += 1
        self._in_head = True
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._raw_head_bytes = 0
        self._head_offset = self._fed  # about where in this read the message began
        self._content_length = None
        self._chunked = False
        self._expect = None
        self._hosts = 0
        self._set_phase(HEADERS, self._limits.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._header_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self._in_head:
            return  # a chunked body's trailer: dropped, like most proxies do
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self._limits.max_header_bytes:
            raise Rejected(431, "request header too large")
        if len(self._headers) >= self._limits.max_header_count:
            raise Rejected(431, "too many request headers")
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self._headers.append((key, text))
        # llhttp already refuses Content-Length next to Transfer-Encoding, repeated Content-Length
        # and a request Transfer-Encoding that does not end in chunked.
        if key == "content-length":
            self._content_length = int(text)
        elif key == "transfer-encoding":
            self._chunked = True
        elif key == "host":
            self._hosts += 1
        elif key == "expect":
            self._expect = text.lower()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._fed += self._header_bytes + 64  # rather too much than too little (request line, CRLFs)
        self.phase = None
        parser = self._parser
        version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise Rejected(505, "HTTP version not supported")
        if self._chunked and version == "1.0":
            raise Rejected(400, "Transfer-Encoding is not allowed in HTTP/1.0")
        if self._hosts > 1 or (self._hosts == 0 and version == "1.1"):
            raise Rejected(400, "exactly one Host header is required")
        method = parser.get_method().decode("ascii")
        if method == "CONNECT":
            raise Rejected(405, "CONNECT is not supported")
        expect_continue = False
        if self._expect is not None:
            if self._expect != "100-continue":
                raise Rejected(417, "unsupported Expect")
            expect_continue = version == "1.1"

        if self._chunked or self._content_length:
            body = self._body = BodyStream(self)
            self._expecting_continue = expect_continue
        else:
            body = EMPTY_BODY
        request = Request(method, self._url.decode("latin-1"), version, self._headers, self._client_ip,
                          self._scheme, body, self._content_length, self._chunked,
                          parser.should_keep_alive(), expect_continue)
        if self._peer_cert is not None:
            request.peer_cert = self._peer_cert
        self._pending.append(request)
        if self._active is not None or len(self._pending) > MAX_PIPELINED:
            self._update_reading()
        self._wake_worker()

    def on_body(self, chunk: bytes) -> None:
        self._fed += len(chunk) + 16  # with room for chunk framing
        self._expecting_continue = False
        if self.phase == BODY:
            self.phase = None
        self._body.feed(chunk)  # type: ignore[union-attr]

    def on_message_complete(self) -> None:
        if self._body is not None:
            self._body.feed_eof()
            self._body = None
            self._body_full = False
            self._expecting_continue = False
            if self.phase == BODY:
                self.phase = None
            self._update_reading()
        if not self._parser.should_keep_alive():
            # Anything after a closing request is not ours to parse (llhttp would call it an error).
            self._reading_done = True
            self._update_reading()

    # -- body flow control (BodySource for the request body) -------------------------------

    def pause_reading(self) -> None:
        self._body_full = True
        self._update_reading()

    def resume_reading(self) -> None:
        self._body_full = False
        self._update_reading()

    def body_waiting(self) -> None:
        if self._expecting_continue:
            self._expecting_continue = False
            if self._response is None or not self._response.started:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self._set_phase(BODY, self._limits.body_timeout)

    def _update_reading(self) -> None:
        pause = self._body_full or self._reading_done or (
            self._active is not None and bool(self._pending)) or len(self._pending) > MAX_PIPELINED
        if self._lingering >= 0:
            pause = False
        if pause != self._reading_paused and not self._closed:
            self._reading_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    # -- write flow control (used by Response) ---------------------------------------------

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    async def drain(self) -> None:
        if self._closed:
            raise ClientDisconnected("client closed the connection")
        self._drain_waiter = self._loop.create_future()
        self._set_phase(SEND, self._limits.body_timeout)
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None
            if self.phase == SEND:
                self.phase = None

    def should_close_after(self, request: Request) -> bool:
        # A body not yet fully received cannot be skipped on a kept-alive connection.
        return self._closed or not request.body.complete

    # -- the worker: one per connection, handles requests in order ---------------------------

    def _wake_worker(self) -> None:
        waiter = self._worker_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _serve(self) -> None:
        pending = self._pending
        while not self._closed:
            if not pending:
                self._worker_waiter = self._loop.create_future()
                await self._worker_waiter
                self._worker_waiter = None
                continue
            item = pending.popleft()
            if isinstance(item, Rejected):
                await self._send_rejection(item)
                return
            self._active = item
            self._update_reading()
            keep_alive = await self._handle(item)
            self._active = self._response = None
            if not keep_alive:
                return
            if not pending and self._reading_done:  # no request can follow any more
                self.transport.close()
                return
            if not pending and not self._in_head:
                self._set_phase(IDLE, self._limits.keepalive_timeout)
            self._update_reading()

    async def _handle(self, request: Request) -> bool:
        """Run the handler; True when the connection can take the next request."""
        response = self._response = Response(self, request)
        try:
            await self._handler(request, response)
            if not response.started:
                await response.send_json(500, {"error": "the handler sent no response"})
            elif not response.finished:
                await response.finish()
        except ClientError as exc:
            await self._fail(response, exc.status, str(exc))
            return False
        except Exception:
            log.exception("request handler failed: %s %s", request.method, request.path)
            await self._fail(response, 500, "internal server error")
            return False
        if response.keep_alive and request.body.complete and not self._closed:
            return True
        self._close_after_response(request)
        return False

    async def _fail(self, response: Response, status: int, message: str) -> None:
        if self._closed:
            return
        if response.started:
            response.abort()
            return
        with contextlib.suppress(ClientError):
            await response.send_json(status, {"error": message})
        self._close_after_response(self._active)

    def _close_after_response(self, request: Request | None) -> None:
        if self._closed or self.transport.is_closing():
            return
        if request is not None and not request.body.complete and not self._expecting_continue:
            self._linger()
        else:
            self.transport.close()

    # -- refusing and closing ----------------------------------------------------------------

    def _reject(self, rejection: Rejected) -> None:
        """A parse error: fail the body in flight, or answer ``rejection`` after the earlier requests."""
        self._reading_done = True
        self._in_head = False
        self._update_reading()
        if self._body is not None:
            self._body.set_exception(BadRequestBody(str(rejection)))
            self._body = None
        else:
            self._pending.append(rejection)
            self._wake_worker()

    def _upgrade_requested(self, tail: bytes) -> None:
        # llhttp stops at a request asking for Upgrade (websocket, h2c): it was handed over as a
        # plain request without a body, and this connection ends with its response, unless the
        # handler takes the connection over (take_over) to carry the new protocol.
        self._reading_done = True
        self._update_reading()
        if self._body is not None:
            self._body.set_exception(BadRequestBody("a request body next to Upgrade is not supported"))
            self._body = None
        elif self._pending and isinstance(self._pending[-1], Request):
            request = self._pending[-1]
            request.keep_alive = False
            if self._limits.websockets and (request.header("upgrade") or "").strip().lower() == "websocket":
                request.upgrade = "websocket"
                self._upgrade_tail = bytearray(tail)

    def take_over(self) -> tuple[asyncio.Transport, bytes]:
        """Let go of the connection (after a 101): its transport, and what the client sent after its request."""
        self._closed = True
        self._connections.discard(self)
        self.phase = None
        tail = bytes(self._upgrade_tail or b"")
        self._upgrade_tail = None
        return self.transport, tail

    async def _send_rejection(self, rejection: Rejected) -> None:
        if self._closed:
            return
        data = json.dumps({"error": str(rejection)}).encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (rejection.status, _reason(rejection.status), len(data), data))
        self._linger()

    def _linger(self) -> None:
        """Close after flushing, reading and dropping what the client still sends for a while."""
        self._reading_done = True
        self._lingering = 0
        self.phase = None
        self._update_reading()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._loop.call_later(LINGER_SECONDS, self.transport.close)

    def _drop_lingering(self, size: int) -> None:
        if self._lingering >= 0:
            self._lingering += size
            if self._lingering > LINGER_MAX_BYTES:
                self.transport.close()

    # -- timeouts ----------------------------------------------------------------------------

    def _set_phase(self, phase: str, seconds: float) -> None:
        self.phase = phase
        self.deadline = self._loop.time() + seconds

    def timed_out(self) -> None:
        """Called by the sweeper once ``deadline`` passed in ``phase``."""
        phase, self.phase = self.phase, None
        if phase == BODY and self._body is not None:
            self._body.set_exception(ClientTimeout("request body timed out"))
            self._body = None
            self._reading_done = True
            self._update_reading()
        elif phase == HEADERS and self._active is None and not self._pending:
            self._pending.append(Rejected(408, "request header timed out"))
            self._reading_done = True
            self._wake_worker()
        else:  # idle keep-alive, a client not reading its response, or a slow head behind a request
            self.transport.abort() if phase == SEND else self.transport.close()


def _reason(status: int) -> bytes:
    line = STATUS_LINES.get(status, b"HTTP/1.1 %d Error\r\n" % status)
    return line.split(b" ", 2)[2].rstrip()


async def _sweep(server: asyncio.Server, connections: set, tick: float) -> None:
    loop = asyncio.get_running_loop()
    while server.is_serving() or connections:
        await asyncio.sleep(tick)
        now = loop.time()
        for conn in list(connections):
            if conn.phase is not None and now >= conn.deadline:
                conn.timed_out()


_sweepers: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


async def start_server(handler: Handler, host: str, port: int, limits: ServerLimits, *,
                       reuse_port: bool = False, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    """Listen on host:port and serve each request with ``await handler(request, response)``; HTTPS with ``tls``."""
    loop = asyncio.get_running_loop()
    connections: set[HttpServerProtocol] = set()
    server = await loop.create_server(lambda: HttpServerProtocol(handler, limits, connections),
                                      host, port, reuse_port=reuse_port or None, backlog=1024, ssl=tls,
                                      ssl_handshake_timeout=limits.header_timeout if tls is not None else None)
    shortest = min(limits.header_timeout, limits.body_timeout, limits.keepalive_timeout)
    tick = min(1.0, max(0.02, shortest / 10))
    # Kept with the server so it is not collected; it ends once the server closed and drained.
    _sweepers[server] = loop.create_task(_sweep(server, connections, tick))
    return server
