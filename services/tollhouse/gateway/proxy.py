"""Forward one client request to its upstream and stream the answer back.

The request body flows client -> upstream and the response body upstream -> client chunk by chunk,
each side pausing the other through the body buffers, so nothing is held whole in memory.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

from tollhouse.gateway.http.messages import ClientDisconnected, ClientError, Request, Response
from tollhouse.gateway.http.upstream import UpstreamError, UpstreamPool, UpstreamResponse, UpstreamTimeout

# Meaningful for one connection only (RFC 9110 section 7.6.1), never forwarded. Content-Length and
# Transfer-Encoding are re-created by whoever writes the next hop; Expect was answered here already.
HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "transfer-encoding", "upgrade", "content-length", "expect",
})
# Set by the gateway itself rather than passed through from the client.
FORWARDED_SET_HERE = frozenset({"host", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})
# Tyk's answer when a path's hard timeout (extended_paths.hard_timeouts) passes without a response head.
HARD_TIMEOUT = "Upstream service reached hard timeout."


@dataclass(frozen=True)
class UpstreamTarget:
    scheme: str
    host: str
    port: int
    host_header: str  # "host" or "host:port" as the upstream expects it


@dataclass
class ForwardResult:
    status: int          # what the client was sent (or 499 when it went away first)
    upstream_ms: float   # from sending the request until the upstream's response head
    error: str | None


async def forward(request: Request, response: Response, pool: UpstreamPool, target: UpstreamTarget,
                  upstream_target: str, *, preserve_host: bool = False,
                  extra_response_headers: list[tuple[str, str]] = (),
                  head_timeout: float | None = None, tls: ssl.SSLContext | None = None) -> ForwardResult:
    """``extra_response_headers`` (the gateway's own, e.g. rate-limit headers) follow the upstream's.

    ``head_timeout``: a hard timeout for the response head instead of the pool's read timeout (504 with
    Tyk's message when it passes). ``tls``: the API's own context for an https upstream (upstream_tls.py).
    """
    if request.upgrade == "websocket" and request.method == "GET":
        # Imported here: websocket.py builds on this module, and only WebSocket handshakes need it.
        from tollhouse.gateway.websocket import forward_websocket

        return await forward_websocket(request, response, pool, target, upstream_target, preserve_host=preserve_host,
                                       extra_response_headers=extra_response_headers, head_timeout=head_timeout,
                                       tls=tls)
    headers = upstream_request_headers(request, target, preserve_host)
    has_body = request.chunked or bool(request.content_length)
    started = time.perf_counter()
    try:
        upstream = await pool.request(target.scheme, target.host, target.port, request.method,
                                      upstream_target, headers, request.body if has_body else None,
                                      request.content_length, request.chunked, head_timeout, tls)
    except UpstreamError as exc:
        message = HARD_TIMEOUT if head_timeout is not None and isinstance(exc, UpstreamTimeout) else str(exc)
        return await _answer_error(response, exc.status, message, started, extra_response_headers)
    except ClientError as exc:  # the client's body failed (timed out, malformed, connection gone)
        return await _answer_error(response, exc.status, str(exc), started, extra_response_headers)
    upstream_ms = (time.perf_counter() - started) * 1000
    try:
        await _relay(upstream, response, extra_response_headers)
    except UpstreamError as exc:
        response.abort()  # the head is out: cutting the connection is the only way to say "broken"
        return ForwardResult(upstream.status, upstream_ms, str(exc))
    except ClientDisconnected as exc:
        return ForwardResult(499, upstream_ms, str(exc))
    finally:
        upstream.close()
    return ForwardResult(upstream.status, upstream_ms, None)


async def _relay(upstream: UpstreamResponse, response: Response, extra_headers: list[tuple[str, str]]) -> None:
    body = upstream.body
    headers = client_response_headers(upstream.headers)
    if extra_headers:
        headers.extend(extra_headers)
    # When body bytes came with the head, both leave in one write.
    await response.send_head(upstream.status, headers, upstream.content_length, flush=not body.ready)
    while chunk := await body.read():
        await response.send_body(chunk)
    await response.finish()


async def _answer_error(response: Response, status: int, message: str, started: float,
                        extra_headers: list[tuple[str, str]]) -> ForwardResult:
    upstream_ms = (time.perf_counter() - started) * 1000
    if response.started:
        response.abort()
    else:
        try:
            await response.send_json(status, {"error": message}, extra_headers)
        except ClientDisconnected:
            status = 499
    return ForwardResult(status, upstream_ms, message)


def _connection_tokens(headers: list[tuple[str, str]]) -> frozenset[str]:
    """Extra hop-by-hop names a sender listed in its Connection header."""
    tokens = set()
    for name, value in headers:
        if name == "connection":
            tokens.update(token.strip().lower() for token in value.split(","))
    return frozenset(tokens)


def upstream_request_headers(request: Request, target: UpstreamTarget,
                             preserve_host: bool) -> list[tuple[str, str]]:
    listed = _connection_tokens(request.headers) if request.header("connection") else frozenset()
    headers = []
    forwarded_for = None
    for name, value in request.headers:
        if name in HOP_BY_HOP or name in listed or name.startswith("proxy-"):
            continue
        if name in FORWARDED_SET_HERE:
            if name == "x-forwarded-for":
                forwarded_for = value if forwarded_for is None else f"{forwarded_for}, {value}"
            continue
        headers.append((name, value))
    host = request.header("host") or target.host_header
    headers.append(("host", host if preserve_host else target.host_header))
    client = request.client_ip
    headers.append(("x-forwarded-for", f"{forwarded_for}, {client}" if forwarded_for else client))
    headers.append(("x-forwarded-proto", request.scheme))
    headers.append(("x-forwarded-host", host))
    return headers


def client_response_headers(upstream_headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    listed = _connection_tokens(upstream_headers)
    return [(name, value) for name, value in upstream_headers
            if name not in HOP_BY_HOP and name not in listed and not name.startswith("proxy-")]
