"""What an authenticated key may do: not expired, not inactive, its policies, this API, version, path, method."""

from __future__ import annotations

from collections.abc import Callable

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.policies import GrantError, PolicyTable

DEFAULT_VERSION = "Default"  # what Tyk calls the one version of an unversioned API


class CheckAccess:
    def __init__(self, api: CompiledApi, policies: Callable[[], PolicyTable]):
        self.api = api
        self.policies = policies

    async def __call__(self, ctx: RequestContext) -> None:
        session = ctx.session
        assert session is not None, "CheckAccess runs after an authentication middleware"
        if session.expired():
            raise GatewayError(401, "Key has expired, please renew")
        if session.is_inactive:
            raise GatewayError(403, "Key is inactive, please renew")
        try:
            grant = self.policies().grant(ctx.api_key_hash, session, self.api.api_id)
        except GrantError as exc:
            raise GatewayError(exc.status, exc.message) from None
        if not grant.allows_version(ctx.version or DEFAULT_VERSION):
            raise GatewayError(403, "Access to this API version has been disallowed")
        if not grant.allows_url(self.api.relative_path(ctx.request.path), ctx.request.method):
            raise GatewayError(403, "Access to this resource has been disallowed")
        ctx.grant = grant
