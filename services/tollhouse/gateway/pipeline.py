"""Each API's request path, built once when definitions load — the whole pipeline in one function.

A middleware that an API does not enable never enters its chain, so an API pays only for
what it uses. Reading ``build_pipeline`` top to bottom is reading what a request goes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import RequestContext
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.jwks import JwksCache
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.middleware.access import CheckAccess
from tollhouse.gateway.middleware.auth_token import TokenAuth
from tollhouse.gateway.middleware.basic_auth import BasicAuth
from tollhouse.gateway.middleware.hmac_signature import SignatureAuth
from tollhouse.gateway.middleware.jwt_auth import JwtAuth
from tollhouse.gateway.middleware.oauth_endpoints import OAuthEndpoints
from tollhouse.gateway.middleware.proxy import ProxyToUpstream
from tollhouse.gateway.middleware.rate_limit import EnforceLimits
from tollhouse.gateway.middleware.version import ResolveVersion
from tollhouse.gateway.oauth import OAuthStore
from tollhouse.gateway.policies import PolicyTable
from tollhouse.gateway.ratelimit import Limiter

Middleware = Callable[[RequestContext], Awaitable[None]]


@dataclass(frozen=True)
class PipelineDeps:
    """Shared clients the middleware need; one instance per gateway process."""

    upstreams: UpstreamPool
    keys: KeyStore
    # The policy table in force now (it is swapped on reload; read it per request, never keep it).
    policies: Callable[[], PolicyTable]
    # OAuth2 clients, consumer accounts and tokens (use_oauth2 APIs); None: such APIs cannot be served.
    oauth: OAuthStore | None = None
    # Rate limits and quotas (one Redis script per request); None: APIs with limits cannot be served.
    limiter: Limiter | None = None
    # Redis away: let requests with only rate limits (no quota) through instead of answering 503.
    rate_limit_fail_open: bool = False
    # JWKS key sets of JWT APIs (jwt_source a URL), cached for the whole process.
    jwks: JwksCache = field(default_factory=JwksCache)


def authentication(api: CompiledApi, deps: PipelineDeps) -> Middleware:
    """The one middleware that finds out who is calling, by the API's authentication kind."""
    kind = api.definition.auth_kind
    if kind == "token":
        # With limits to check, the key's last read is confirmed by the limit script (one Redis call).
        return TokenAuth(api, deps.keys, confirmed_later=api.definition.limits_apply)
    if kind == "basic":
        return BasicAuth(api, deps.keys)
    if kind == "jwt":
        return JwtAuth(api, deps)
    if kind == "signature":
        return SignatureAuth(api, deps.keys)
    raise ValueError(f"authentication kind {kind!r} is not available")


def build_pipeline(api: CompiledApi, deps: PipelineDeps) -> tuple[Middleware, ...]:
    definition = api.definition
    chain: list[Middleware] = []
    # 1. Checks that need no key come first, cheapest first, so refused traffic costs little:
    #    IP allow/block lists, CORS preflight   (gateway traffic features)
    # 2. The OAuth2 endpoints (<listen_path>oauth/token, oauth/revoke) answer here: consumers log in
    #    before they have a key, and, as in Tyk, without naming an API version.
    if definition.use_oauth2:
        if deps.oauth is None:
            raise ValueError("use_oauth2 needs the OAuth store (PipelineDeps.oauth)")
        chain.append(OAuthEndpoints(api, deps.oauth))
    # 3. Which version of the API is asked for (403 for a missing or unknown one).
    if api.versioned:
        chain.append(ResolveVersion(api))
    # 4. Who is calling, then what they may do: expiry, inactive, policies, version, path and method.
    if not definition.use_keyless:
        chain.append(authentication(api, deps))
        chain.append(CheckAccess(api, deps.policies))
    # 5. How much: every rate limit and the quota, in one Redis script call.
    if definition.limits_apply:
        chain.append(EnforceLimits(api, deps))
    # 6. What is sent: request transforms   (gateway traffic features)
    # 7. Last, always: the proxy, which streams the request upstream and the answer back.
    chain.append(ProxyToUpstream(api, deps.upstreams))
    return tuple(chain)
