"""``GET /metrics`` on its own port (``metrics_port``), apart from the API traffic and the control API.

Not under ``/tyk/``: the control API needs the secret, which Prometheus scrapers are not built to send
(Tyk too serves its metrics on a port of their own). The port is opt-in (``metrics_port = 0``: off) and
bound to ``metrics_address``; the figures carry API ids and counts, nothing about keys or paths.

One process serves its own counters. With several workers the supervisor binds the port instead and
sums what each worker reports (see ``metrics_workers``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from tollhouse.core.exposition import CONTENT_TYPE
from tollhouse.core.plain_http import read_request_head, response_bytes

log = logging.getLogger("tollhouse.gateway.metrics")

METRICS_PATH = "/metrics"
READ_TIMEOUT_SECONDS = 5.0


class MetricsServer:
    """Answers ``GET /metrics`` with ``await exposition()``; anything else 404 (405 for other methods)."""

    def __init__(self, exposition: Callable[[], Awaitable[str]], host: str, port: int):
        self._exposition, self.host, self.port = exposition, host, port
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        log.info("metrics on %s:%d%s", self.host, self.port, METRICS_PATH)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(read_request_head(reader), READ_TIMEOUT_SECONDS)
            writer.write(await self._answer(method, path))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a client that hangs up or speaks nonsense gets nothing
        finally:
            writer.close()

    async def _answer(self, method: str, path: str) -> bytes:
        if path.split("?", 1)[0] != METRICS_PATH:
            return response_bytes(404, b"not found\n", "text/plain")
        if method not in ("GET", "HEAD"):
            return response_bytes(405, b"method not allowed\n", "text/plain")
        return response_bytes(200, (await self._exposition()).encode(), CONTENT_TYPE, include_body=method != "HEAD")
