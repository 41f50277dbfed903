"""Request size limits: the version's ``global_size_limit`` and its ``size_limits`` per path (Tyk's shapes).

A request whose Content-Length is over the limit is answered 413 before any of its body is read (a client
waiting for "100 Continue" never sends it). A chunked body is counted as it streams on to the upstream: past the
limit the upstream exchange is cut and the client gets the same 413 (``forward`` answers a failing client body
with the error's status). Where both limits apply, the smaller one counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from tollhouse.core.apidef_transforms import SizeLimit, VersionTransforms
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.http.messages import BodyStream, ChunkReader, ClientError
from tollhouse.gateway.middleware.per_version import Endpoint, PerVersionStep, endpoints, first_match

TOO_LARGE = "Request is too large"


class RequestTooLarge(ClientError):
    status = 413


@dataclass(frozen=True)
class VersionLimits:
    global_limit: int  # 0: none
    paths: tuple[Endpoint[SizeLimit], ...]

    def limit(self, path: str, method: str) -> int:
        entry = first_match(self.paths, path, method)
        limits = [limit for limit in (self.global_limit, entry.size_limit if entry else 0) if limit > 0]
        return min(limits) if limits else 0


def compile_limits(settings: VersionTransforms) -> VersionLimits | None:
    if not settings.size_limited:
        return None
    return VersionLimits(settings.global_size_limit, endpoints(settings.size_limits))


class LimitRequestSize(PerVersionStep):
    compile = staticmethod(compile_limits)

    async def __call__(self, ctx: RequestContext) -> None:
        limits = self.versions.for_request(ctx)
        if limits is None:
            return
        request = ctx.request
        limit = limits.limit(self.api.relative_path(request.path), request.method)
        if not limit:
            return
        if request.content_length is not None:
            if request.content_length > limit:
                raise GatewayError(413, TOO_LARGE)
        elif request.chunked:
            request.body = LimitedBody(request.body, limit)


class LimitedBody(ChunkReader):
    """A body stream that fails with 413 once more than ``limit`` bytes came through it."""

    __slots__ = ("_body", "_left")

    def __init__(self, body: BodyStream, limit: int):
        self._body = body
        self._left = limit

    @property
    def complete(self) -> bool:
        return self._body.complete

    @property
    def ready(self) -> bool:
        return self._body.ready

    async def read(self) -> bytes:
        chunk = await self._body.read()
        self._left -= len(chunk)
        if self._left < 0:
            raise RequestTooLarge(TOO_LARGE)
        return chunk
