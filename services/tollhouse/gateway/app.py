"""The gateway's request handler: reserved paths, routing, the API's chain, the one error handler."""

from __future__ import annotations

import logging
import time

from tollhouse.core.analytics import new_record
from tollhouse.gateway.analytics import AnalyticsWriter
from tollhouse.gateway.client_address import ClientAddress
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, KeyChanged, RequestContext
from tollhouse.gateway.control.router import ControlRouter, is_control_path
from tollhouse.gateway.health import HealthCheck
from tollhouse.gateway.http.messages import Request, Response
from tollhouse.gateway.policies import PolicyTable
from tollhouse.gateway.router import Router

log = logging.getLogger("tollhouse.gateway")

HEALTH_PATH = "/hello"


class GatewayApp:
    def __init__(self, analytics: AnalyticsWriter | None):
        self.router: Router[CompiledApi] = Router(())
        self.policies = PolicyTable()
        self.analytics = analytics
        self.health: HealthCheck | None = None
        # The control API (/tyk/...) when served on this port; None answers it 404 (control_port set).
        self.control: ControlRouter | None = None
        # Who the client is (the trusted_proxies setting); the IP lists use the same object.
        self.client_address = ClientAddress()

    def swap_router(self, router: Router[CompiledApi]) -> None:
        # One assignment: a request that already matched keeps its API object and chain.
        self.router = router

    def swap_policies(self, policies: PolicyTable) -> None:
        # Called by the reloader right after swap_router, with no await between: they change together.
        self.policies = policies

    async def handle(self, request: Request, response: Response) -> None:
        if request.path == HEALTH_PATH and self.health is not None:
            report = await self.health.report()
            await response.send_json(report.http_status, {"status": report.status, "details": report.details})
            return
        if is_control_path(request.path):
            if self.control is not None:
                await self.control.handle(request, response)
            else:
                await response.send_json(404, {"error": "the control API is not served on this port"})
            return
        api = self.router.match(request.header("host") or "", request.path)
        if api is None:
            await response.send_json(404, {"error": "no API is listening on this path"})
            return
        # Analytics record what the client asked for, as Tyk does, not what transforms made of it.
        asked = (request.method, request.path)
        ctx = RequestContext(request, response, api)
        try:
            try:
                await self._run_chain(ctx)
            except (GatewayError, KeyChanged):
                if not ctx.key_digest:  # decided on a key read from Redis or confirmed there: that stands
                    raise
                # Decided on this process's last read of the key before Redis confirmed it (refused by an
                # access check, or the key changed): nothing was counted; decide again on a fresh read.
                ctx = RequestContext(request, response, api, credential=ctx.credential, reread_key=True)
                await self._run_chain(ctx)
        except GatewayError as exc:
            await self._send_error(ctx, exc)
        finally:
            metrics = api.metrics
            if metrics is not None and ctx.status:
                metrics.observe(ctx.status, time.perf_counter() - ctx.started, ctx.upstream_ms)
            if self.analytics is not None and api.track_analytics and ctx.status:
                self.analytics.add(self._record(ctx, *asked))

    @staticmethod
    async def _run_chain(ctx: RequestContext) -> None:
        for step in ctx.api.chain:
            await step(ctx)

    async def _send_error(self, ctx: RequestContext, error: GatewayError) -> None:
        ctx.status = error.status
        if not ctx.response.started:
            await ctx.response.send_json(error.status, {"error": error.message}, ctx.response_headers + error.headers)

    def _record(self, ctx: RequestContext, method: str, path: str) -> dict:
        request, api = ctx.request, ctx.api
        length = request.content_length
        return new_record(
            method=method,
            host=request.header("host") or "",
            path=path,
            raw_path=request.target,
            content_length=length if length is not None else 0,
            user_agent=request.header("user-agent") or "",
            response_code=ctx.status,
            api_id=api.api_id,
            api_name=api.definition.name,
            org_id=api.definition.org_id,
            api_key=ctx.api_key_hash,
            ip_address=self.client_address(request),
            latency_total_ms=(time.perf_counter() - ctx.started) * 1000,
            latency_upstream_ms=ctx.upstream_ms,
            tags=api.definition.tags,
            started_at=ctx.started_wall,
        )
