"""Holding a request body whole for the steps that must read it (body transforms, payload rewrite triggers)."""

from __future__ import annotations

from tollhouse.gateway.context import GatewayError
from tollhouse.gateway.http.messages import BodyStream, ClientDisconnected, ClientError, Request


async def hold_body(request: Request, limit: int, purpose: str) -> bytes:
    """The whole body (at most ``limit`` bytes, else 413), left in place as a complete body to send on."""
    if request.content_length is not None and request.content_length > limit:
        raise GatewayError(413, f"Request is too large {purpose} (over {limit} bytes)")
    try:
        raw = await request.body.read_all(limit)
    except ValueError:
        raise GatewayError(413, f"Request is too large {purpose} (over {limit} bytes)") from None
    except ClientDisconnected:
        raise
    except ClientError as exc:  # a size limit passed, a timeout, a malformed body: answered like the proxy does
        raise GatewayError(exc.status, str(exc)) from None
    request.body = BodyStream.from_bytes(raw)
    request.content_length = len(raw)
    request.chunked = False
    return raw
