"""What one request carries through an API's chain, and the one error type a middleware raises."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tollhouse.gateway.compiled import CompiledApi
    from tollhouse.gateway.http.messages import Request, Response


class GatewayError(Exception):
    """Stops the chain; the error handler answers ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


@dataclass
class RequestContext:
    request: Request
    response: Response
    api: CompiledApi
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    status: int = 0
    upstream_ms: float = 0.0
    # The hashed key of an authenticated request ("" for keyless APIs), for analytics.
    api_key_hash: str = ""
