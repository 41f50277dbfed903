"""The last step of every chain: stream the request to the API's upstream and the answer back."""

from __future__ import annotations

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import RequestContext
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.proxy import forward


class ProxyToUpstream:
    def __init__(self, api: CompiledApi, pool: UpstreamPool):
        self.api = api
        self.pool = pool
        self.tls = pool.context_for(api.definition.proxy.transport)

    async def __call__(self, ctx: RequestContext) -> None:
        request = ctx.request
        override = ctx.upstream_override  # the version's override_target
        result = await forward(
            request,
            ctx.response,
            self.pool,
            self.api.target if override is None else override.target,
            self.api.upstream_target(request.path, request.query, None if override is None else override.base_path),
            preserve_host=self.api.preserve_host,
            extra_response_headers=ctx.response_headers,
            tls=self.tls,
        )
        ctx.status = result.status
        ctx.upstream_ms = result.upstream_ms
