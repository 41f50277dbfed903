"""The control API's dispatcher: the secret check, ``/tyk/...`` routes, JSON bodies and errors.

Every control answer is JSON. Errors are Tyk-shaped ``{"status": "error", "message": ...}``; a handler
returns ``(status, body)`` or raises ``ControlError``. The secret (``X-Tyk-Authorization``) is checked
before anything else, so without it even an unknown path answers 403 and reveals nothing.

Patterns are ``/``-separated; ``{name}`` matches exactly one (percent-decoded) segment. When several
patterns match a path, the one with more literal segments wins (``/tyk/keys/create`` before
``/tyk/keys/{key}``); a path that matches only under other methods answers 405.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

from tollhouse.gateway.http.messages import ClientError
from tollhouse.gateway.keystore import StorageUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tollhouse.gateway.http.messages import Request, Response
    from tollhouse.gateway.keystore import KeyStore
    from tollhouse.gateway.policies import PolicyTable
    from tollhouse.gateway.reload import Reloader
    from tollhouse.gateway.settings import GatewaySettings

log = logging.getLogger("tollhouse.gateway.control")

CONTROL_PREFIX = "/tyk/"
SECRET_HEADER = "x-tyk-authorization"
BAD_SECRET = "Attempted administrative access with invalid or missing key!"
# Control bodies are sessions, policies and API definitions: small documents.
MAX_BODY_BYTES = 1024 * 1024


def is_control_path(path: str) -> bool:
    return path.startswith(CONTROL_PREFIX) or path == "/tyk"


class ControlError(Exception):
    """Stops a control handler; answered as ``{"status": "error", "message": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ControlServices:
    """What control handlers may use; one instance per gateway process (add fields with defaults)."""

    settings: GatewaySettings
    redis: Redis
    keys: KeyStore
    reloader: Reloader
    # The policy table in force now (swapped on reload; read it per call, never keep it).
    policies: Callable[[], PolicyTable]
    extra: dict[str, Any] = field(default_factory=dict)
    # Asks the gateway's other worker processes to reload too (see workers.py); one process: nothing to do.
    reload_peers: Callable[[], None] = lambda: None


class ControlCall:
    """One control request as a handler sees it."""

    __slots__ = ("_json", "method", "params", "path", "query", "request", "services")

    def __init__(self, request: Request, params: dict[str, str], services: ControlServices):
        self.request = request
        self.method = request.method
        self.path = request.path
        self.params = params
        # First value of each query parameter; a bare ``?hashed`` is present with "".
        self.query = {name: values[0] for name, values in parse_qs(request.query, keep_blank_values=True).items()}
        self.services = services
        self._json: dict | None = None

    def flag(self, name: str) -> bool:
        """A boolean query parameter: ``?name``, ``?name=true`` or ``=1`` are true."""
        value = self.query.get(name)
        return value is not None and value.lower() in ("", "true", "1", "yes")

    async def json(self) -> dict:
        """The request body as a JSON object; ``ControlError(400)`` saying what is wrong otherwise."""
        if self._json is not None:
            return self._json
        try:
            data = await self.request.body.read_all(MAX_BODY_BYTES)
        except ValueError:
            raise ControlError(400, f"request body is larger than {MAX_BODY_BYTES} bytes") from None
        if not data.strip():
            raise ControlError(400, "request body is empty: a JSON object is expected")
        try:
            value = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ControlError(400, f"request body is not valid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ControlError(400, f"request body must be a JSON object, not {type(value).__name__}")
        self._json = value
        return value


Handler = Callable[[ControlCall], Awaitable[tuple[int, "dict | list"]]]


@dataclass(frozen=True)
class _Route:
    method: str
    segments: tuple[str, ...]
    handler: Handler

    @property
    def shape(self) -> tuple[str, ...]:
        return tuple("{}" if _is_param(segment) else segment for segment in self.segments)

    @property
    def literals(self) -> int:
        return sum(1 for segment in self.segments if not _is_param(segment))

    def match(self, parts: list[str]) -> dict[str, str] | None:
        if len(parts) != len(self.segments):
            return None
        params = {}
        for segment, part in zip(self.segments, parts, strict=True):
            if _is_param(segment):
                if not part:
                    return None
                params[segment[1:-1]] = unquote(part)
            elif segment != part:
                return None
        return params


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def _split(path: str) -> list[str]:
    return path.strip("/").split("/")


class ControlRouter:
    def __init__(self, services: ControlServices):
        self.services = services
        self._routes: list[_Route] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        if not pattern.startswith(CONTROL_PREFIX):
            raise ValueError(f"control pattern {pattern!r} must start with {CONTROL_PREFIX}")
        route = _Route(method.upper(), tuple(_split(pattern)), handler)
        if any(r.method == route.method and r.shape == route.shape for r in self._routes):
            raise ValueError(f"{method} {pattern} is already routed")
        self._routes.append(route)
        # More literal segments first: the most specific pattern wins.
        self._routes.sort(key=lambda r: -r.literals)

    def authorised(self, request: Request) -> bool:
        given = request.header(SECRET_HEADER)
        if not given:
            return False
        return hmac.compare_digest(given.encode("latin-1"), self.services.settings.secret.encode())

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | ControlError:
        parts = _split(path)
        allowed = set()
        for route in self._routes:
            params = route.match(parts)
            if params is None:
                continue
            if route.method == method:
                return route.handler, params
            allowed.add(route.method)
        if allowed:
            return ControlError(405, f"{method} is not allowed on {path}; use {', '.join(sorted(allowed))}")
        return ControlError(404, f"no control API endpoint at {path}")

    async def handle(self, request: Request, response: Response) -> None:
        """Serve one request; anything outside ``/tyk/`` is 404 here (a control-only listener)."""
        if not is_control_path(request.path):
            await response.send_json(404, {"status": "error", "message": "only the control API is served here"})
            return
        if not self.authorised(request):
            await response.send_json(403, {"status": "error", "message": BAD_SECRET})
            return
        resolved = self.resolve(request.method, request.path)
        if isinstance(resolved, ControlError):
            await response.send_json(resolved.status, _error(resolved.message))
            return
        handler, params = resolved
        try:
            status, body = await handler(ControlCall(request, params, self.services))
        except ControlError as exc:
            status, body = exc.status, _error(exc.message)
        except StorageUnavailable as exc:
            status, body = 503, _error(str(exc))
        except ClientError:
            raise  # the client went away or sent a broken body: the server answers and closes
        except Exception:
            log.exception("control handler failed: %s %s", request.method, request.path)
            status, body = 500, _error("internal error; see the gateway log")
        await response.send_json(status, body)  # type: ignore[arg-type]  # lists are JSON too


def _error(message: str) -> dict:
    return {"status": "error", "message": message}
