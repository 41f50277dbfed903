"""What one request carries through an API's chain, and the one error type a middleware raises."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tollhouse.core.session import SessionState
    from tollhouse.gateway.compiled import CompiledApi
    from tollhouse.gateway.credentials import Credential
    from tollhouse.gateway.http.messages import Request, Response
    from tollhouse.gateway.policies import Grant
    from tollhouse.gateway.upstream_hosts import Upstream


class KeyChanged(Exception):
    """The key changed in Redis since this process last read it; nothing was counted: run the request again."""


class GatewayError(Exception):
    """Stops the chain; the error handler answers ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class Answered(GatewayError):
    """A middleware wrote the whole answer itself; raising this ends the chain and the error handler sends nothing."""


@dataclass
class RequestContext:
    request: Request
    response: Response
    api: CompiledApi
    started: float = field(default_factory=time.perf_counter)
    started_wall: float = field(default_factory=time.time)
    status: int = 0
    upstream_ms: float = 0.0
    # Set by the authentication middleware: the caller's key, hashed ("" for keyless APIs), and its
    # document (stored, or derived from a JWT). The access middleware turns them into ``grant``.
    api_key_hash: str = ""
    session: SessionState | None = None
    # The credential found (kept for a second run: stripping may have removed it from the request).
    credential: Credential | None = None
    # Set while the session is this process's last read of the key, not yet confirmed in Redis: the limit
    # check confirms it in its own script call (SHA-1 of the stored bytes) and clears it, or raises KeyChanged.
    # A request refused while it is set is decided again on a fresh read (GatewayApp.handle).
    key_digest: str = ""
    # A second run after KeyChanged: read the key from Redis.
    reread_key: bool = False
    grant: Grant | None = None
    # The API version the request asked for ("Default" for unversioned APIs).
    version: str = ""
    # The version's own upstream (override_target), used instead of the API's target(s); None: the API's.
    upstream_override: Upstream | None = None
    # Headers the middleware want on the answer, whichever it is (rate-limit and quota headers).
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    # The path is on the version's ``ignored`` list: authentication and the key's checks are skipped.
    auth_skipped: bool = False
    # A ``method_actions`` reply (MethodAction) to answer instead of the upstream, once the checks passed.
    mock: object = None
