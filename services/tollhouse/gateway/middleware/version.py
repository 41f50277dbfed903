"""Which version of the API the request asks for, and what that version says before any key is looked at.

The version is read where ``definition.location`` says: a header, a query parameter (``url-param``) or the
first path segment after the listen path (``url``; with ``definition.strip_path`` that segment is not sent
upstream). None given: ``default_version``; none at all, or an unknown one: 403. Then the version's own
settings (apidef_versions.py): ``expires`` past -> 403, ``override_target`` -> the upstream for this request.
An unversioned API uses its one version entry's expiry and target the same way ("Default" in Tyk).
"""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

from tollhouse.core.apidef_transforms import unversioned_name
from tollhouse.core.apidef_versions import all_version_infos
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.http.messages import split_target
from tollhouse.gateway.upstream_hosts import Upstream, host_key, target_from_url

NOT_FOUND = "Version information not found"
UNKNOWN = "This API version does not seem to exist"
EXPIRED = "Api Version has expired, please check documentation or contact administrator"


class ResolveVersion:
    def __init__(self, api: CompiledApi):
        self.api = api
        self.versioned = api.versioned
        location = api.definition.definition
        self.location = location.location
        self.key = location.key.lower() if location.location == "header" else location.key
        self.strip_path = location.location == "url" and location.strip_path
        self.default = api.definition.version_data.default_version
        self.versions = frozenset(api.definition.version_data.versions)
        self.unversioned = unversioned_name(api.definition) or ""
        infos = all_version_infos(api.definition)
        # Unix time after which each expiring version is refused.
        self.expiry = {name: info.expires_at.timestamp() for name, info in infos.items() if info.expires_at}
        self.targets = {name: Upstream(*target_from_url(info.override_target), host_key(info.override_target))
                        for name, info in infos.items() if info.override_target}

    @classmethod
    def for_api(cls, api: CompiledApi) -> ResolveVersion | None:
        """None for an unversioned API whose version neither expires nor has its own upstream (no step needed)."""
        step = cls(api)
        if step.versioned or step.unversioned in step.expiry or step.unversioned in step.targets:
            return step
        return None

    def asked_for(self, ctx: RequestContext) -> str:
        request = ctx.request
        if self.location == "header":
            return request.header(self.key) or ""
        if self.location == "url-param":
            return next((value for key, value in parse_qsl(request.query) if key == self.key), "")
        # The path as it arrived: a second run of the chain (GatewayApp.handle) sees request.path already stripped.
        return self.api.relative_path(split_target(request.target)[0]).split("/", 2)[1]

    async def __call__(self, ctx: RequestContext) -> None:
        if self.versioned:
            asked = self.asked_for(ctx)
            version = asked or self.default
            if not version:
                raise GatewayError(403, NOT_FOUND)
            if version not in self.versions:
                raise GatewayError(403, UNKNOWN)
            ctx.version = version
            if self.strip_path and asked:
                self._strip_version(ctx, asked)
        else:
            version = self.unversioned
        expires = self.expiry.get(version)
        if expires is not None and time.time() > expires:
            raise GatewayError(403, EXPIRED)
        ctx.upstream_override = self.targets.get(version)

    def _strip_version(self, ctx: RequestContext, version: str) -> None:
        """``<listen_path><version>/rest`` -> ``<listen_path>rest`` for the steps after this one and the upstream."""
        path = split_target(ctx.request.target)[0]
        prefix = self.api.listen_path + version
        if path.startswith(prefix + "/"):
            ctx.request.path = self.api.listen_path + path[len(prefix) + 1:]
        elif path == prefix:
            ctx.request.path = self.api.listen_path
