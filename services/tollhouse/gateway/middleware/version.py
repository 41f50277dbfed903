"""Which version of a versioned API the request asks for (header, query parameter or first path segment)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext

NOT_FOUND = "Version information not found"
UNKNOWN = "This API version does not seem to exist"


class ResolveVersion:
    def __init__(self, api: CompiledApi):
        self.api = api
        location = api.definition.definition
        self.location = location.location
        self.key = location.key.lower() if location.location == "header" else location.key
        self.default = api.definition.version_data.default_version
        self.versions = frozenset(api.definition.version_data.versions)

    def asked_for(self, ctx: RequestContext) -> str:
        request = ctx.request
        if self.location == "header":
            return request.header(self.key) or ""
        if self.location == "url-param":
            return next((value for key, value in parse_qsl(request.query) if key == self.key), "")
        return self.api.relative_path(request.path).split("/", 2)[1]

    async def __call__(self, ctx: RequestContext) -> None:
        version = self.asked_for(ctx) or self.default
        if not version:
            raise GatewayError(403, NOT_FOUND)
        if version not in self.versions:
            raise GatewayError(403, UNKNOWN)
        ctx.version = version
