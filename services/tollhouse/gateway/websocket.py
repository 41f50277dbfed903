"""WebSocket proxying: the handshake is forwarded like a request, then the two connections are spliced.

The client's ``Upgrade: websocket`` request has been through the API's chain like any other (auth, limits).
It goes upstream on a connection of its own; when the upstream answers 101 Switching Protocols, the 101 goes
to the client and from then on bytes flow both ways untouched (http/splice.py) until either side closes.
Any other answer (a refusal, an upstream that speaks no WebSocket) is relayed as a plain response.
The HTTP server marks a request as upgradable only when the gateway's ``enable_websockets`` is on.
"""

from __future__ import annotations

import ssl
import time

from tollhouse.gateway.http.messages import ClientDisconnected, ClientError, Request, Response
from tollhouse.gateway.http.splice import splice
from tollhouse.gateway.http.upstream import UpstreamError, UpstreamPool
from tollhouse.gateway.proxy import ForwardResult, UpstreamTarget, client_response_headers, upstream_request_headers
from tollhouse.gateway.proxy import _answer_error as answer_error
from tollhouse.gateway.proxy import _relay as relay


async def forward_websocket(request: Request, response: Response, pool: UpstreamPool, target: UpstreamTarget,
                            upstream_target: str, *, preserve_host: bool = False,
                            extra_response_headers: list[tuple[str, str]] = (), head_timeout: float | None = None,
                            tls: ssl.SSLContext | None = None) -> ForwardResult:
    headers = upstream_request_headers(request, target, preserve_host)
    headers += [("connection", "upgrade"), ("upgrade", "websocket")]
    started = time.perf_counter()
    try:
        upstream = await pool.upgrade(target.scheme, target.host, target.port, upstream_target, headers,
                                      head_timeout=head_timeout, tls=tls)
    except (UpstreamError, ClientError) as exc:
        return await answer_error(response, exc.status, str(exc), started, extra_response_headers)
    upstream_ms = (time.perf_counter() - started) * 1000
    if upstream.status != 101:
        try:
            await relay(upstream, response, extra_response_headers)
        except UpstreamError as exc:
            response.abort()
            return ForwardResult(upstream.status, upstream_ms, str(exc))
        except ClientDisconnected as exc:
            return ForwardResult(499, upstream_ms, str(exc))
        finally:
            upstream.close()
        return ForwardResult(upstream.status, upstream_ms, None)
    try:
        headers = client_response_headers(upstream.headers)
        client, client_tail = response.switch_protocols([*headers, *extra_response_headers], "websocket")
    except ClientDisconnected as exc:
        upstream.take_over()[0].close()
        return ForwardResult(499, upstream_ms, str(exc))
    server, server_tail = upstream.take_over()
    splice(client, client_tail, server, server_tail)
    return ForwardResult(101, upstream_ms, None)
