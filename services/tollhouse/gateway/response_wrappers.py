"""Responses that stand in front of the client's ``Response`` to change what the upstream (or a mock) sends.

They keep ``Response``'s interface (``send_head`` .. ``finish``). Answers the gateway makes up itself
(``send_json``: errors) go straight to the client's response, untouched: transforms are for the upstream's answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tollhouse.gateway.context import GatewayError
from tollhouse.gateway.http.messages import Response

Headers = list[tuple[str, str]]


class _Wrapper:
    def __init__(self, inner: Response):
        self.inner = inner

    def __getattr__(self, name: str):
        # Everything not changed here is the client response's (started, finished, status, switch_protocols...).
        return getattr(self.inner, name)

    async def send_body(self, chunk: bytes) -> None:
        await self.inner.send_body(chunk)

    async def finish(self) -> None:
        await self.inner.finish()

    async def send_json(self, status: int, body: dict, headers: Headers = ()) -> None:
        await self.inner.send_json(status, body, headers)

    def abort(self) -> None:
        self.inner.abort()


class HeaderEditingResponse(_Wrapper):
    def __init__(self, inner: Response, edit: Callable[[Headers], Headers]):
        super().__init__(inner)
        self.edit = edit

    async def send_head(self, status: int, headers: Headers, content_length: int | None = None, *,
                        flush: bool = True) -> None:
        await self.inner.send_head(status, self.edit(headers), content_length, flush=flush)


# Renders (status, headers, body) into the new body and headers; raises GatewayError to refuse.
BodyRewrite = Callable[[int, Headers, bytes], Awaitable[tuple[Headers, bytes]]]


class BufferingResponse(_Wrapper):
    """Holds the whole body (up to ``limit`` bytes) and sends what ``rewrite`` makes of it at ``finish``.

    A body over ``limit`` raises ``GatewayError(502)``: nothing has reached the client yet, so the client gets
    a clear error rather than a body silently left untransformed."""

    def __init__(self, inner: Response, rewrite: BodyRewrite, limit: int):
        super().__init__(inner)
        self.rewrite = rewrite
        self.limit = limit
        self._head: tuple[int, Headers] | None = None
        self._parts: list[bytes] = []
        self._size = 0

    async def send_head(self, status: int, headers: Headers, content_length: int | None = None, *,
                        flush: bool = True) -> None:
        if content_length is not None and content_length > self.limit:
            raise self._too_large()
        self._head = (status, headers)

    async def send_body(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size > self.limit:
            raise self._too_large()
        self._parts.append(chunk)

    async def finish(self) -> None:
        if self._head is None:
            raise RuntimeError("finish() before send_head()")
        status, headers = self._head
        body = b"".join(self._parts)
        self._parts = []
        headers, body = await self.rewrite(status, headers, body)
        await self.inner.send_head(status, headers, len(body), flush=False)
        await self.inner.send_body(body)
        await self.inner.finish()

    def _too_large(self) -> GatewayError:
        return GatewayError(502, f"the upstream's response is larger than the {self.limit} bytes a response "
                                 "body transform can hold")
