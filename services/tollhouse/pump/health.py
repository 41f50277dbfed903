"""``GET /health`` (and Tyk's ``/hello``): can the pump move records right now? And ``GET /metrics``.

``fail`` (503) when Redis or a sink's store is unreachable or the last write to it failed;
``warn`` (200) when the backlog in Redis is over ``health_backlog_warn``; otherwise ``pass``.
Unlike Tyk's /hello, a failing pump answers 503 so load balancers and monitors notice.
Served by a few lines of asyncio rather than a web framework (core/plain_http.py): read-only
routes, and the pump's own signal handling stays in charge of shutdown. ``/metrics`` is Prometheus
text (pump/metrics.py), on the same port: it needs no secret either.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime

from tollhouse.core.exposition import CONTENT_TYPE
from tollhouse.core.plain_http import read_request_head, response_bytes
from tollhouse.pump.drain import REDIS_ERRORS, describe
from tollhouse.pump.queue import AnalyticsQueue
from tollhouse.pump.settings import PumpSettings
from tollhouse.pump.sinks import Sink
from tollhouse.pump.status import PumpStatus

log = logging.getLogger(__name__)

HEALTH_PATHS = ("/health", "/hello")
METRICS_PATH = "/metrics"
# A health check must answer quickly even when a store hangs.
CHECK_TIMEOUT_SECONDS = 2.0
READ_TIMEOUT_SECONDS = 5.0


class HealthReport:
    def __init__(self, settings: PumpSettings, queue: AnalyticsQueue, sinks: list[Sink], status: PumpStatus):
        self.settings, self.queue, self.sinks, self.status = settings, queue, sinks, status

    async def build(self) -> tuple[int, dict]:
        redis_detail, lengths = await self._check_redis()
        sink_details = await asyncio.gather(*(self._check_sink(sink) for sink in self.sinks))
        details = {"redis": redis_detail}
        for sink, detail in zip(self.sinks, sink_details, strict=True):
            details[sink.component] = detail
        details.update(lengths)
        details["last_write"] = iso_time(self.status.last_write)
        details["records_written"] = self.status.records_written
        verdict = self._verdict([redis_detail, *sink_details], lengths["backlog"])
        return (503 if verdict == "fail" else 200), {"status": verdict, "details": details}

    async def metrics(self) -> str:
        try:
            lengths = await asyncio.wait_for(self.queue.lengths(), CHECK_TIMEOUT_SECONDS)
        except (*REDIS_ERRORS, TimeoutError):
            lengths = None  # the queue gauges are left out; the counters still answer
        return self.status.metrics.render([sink.type_name for sink in self.sinks], self.status.records_dead_lettered,
                                          lengths)

    def _verdict(self, components: list[dict], backlog: int | None) -> str:
        if any(component["status"] != "pass" for component in components):
            return "fail"
        if backlog is not None and backlog > self.settings.health_backlog_warn:
            return "warn"
        return "pass"

    async def _check_redis(self) -> tuple[dict, dict]:
        try:
            lengths = await asyncio.wait_for(self.queue.lengths(), CHECK_TIMEOUT_SECONDS)
        except (*REDIS_ERRORS, TimeoutError) as exc:
            return {"status": "fail", "error": describe(exc)}, {"backlog": None}
        return {"status": "pass"}, lengths

    async def _check_sink(self, sink: Sink) -> dict:
        try:
            await asyncio.wait_for(sink.check(), CHECK_TIMEOUT_SECONDS)
        except Exception as exc:
            return {"status": "fail", "error": describe(exc)}
        # Reachable, but if the last write failed records are not moving.
        if error := self.status.sink_errors.get(sink.type_name):
            return {"status": "fail", "error": error}
        return {"status": "pass"}


class HealthServer:
    def __init__(self, report: HealthReport, host: str, port: int):
        self.report, self.host, self.port = report, host, port
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, self.port)
        log.info("health endpoint on %s:%d", self.host, self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(read_request_head(reader), READ_TIMEOUT_SECONDS)
            writer.write(await self._respond(method, path))
            await writer.drain()
        except (TimeoutError, ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass  # a client that hangs up or speaks nonsense gets nothing
        finally:
            writer.close()

    async def _respond(self, method: str, path: str) -> bytes:
        path, include_body = path.split("?", 1)[0], method != "HEAD"
        if path not in (*HEALTH_PATHS, METRICS_PATH):
            return http_response(404, {"error": "not found"})
        if method not in ("GET", "HEAD"):
            return http_response(405, {"error": "method not allowed"})
        if path == METRICS_PATH:
            return response_bytes(200, (await self.report.metrics()).encode(), CONTENT_TYPE, include_body)
        return http_response(*await self.report.build(), include_body=include_body)


def iso_time(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else None


def http_response(code: int, body: dict, include_body: bool = True) -> bytes:
    return response_bytes(code, json.dumps(body).encode(), "application/json", include_body)
