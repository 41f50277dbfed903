"""Each API's request path, built once when definitions load — the whole pipeline in one function.

A middleware that an API does not enable never enters its chain, so an API pays only for
what it uses. Reading ``build_pipeline`` top to bottom is reading what a request goes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from tollhouse.gateway.circuit_breaker import BreakerRegistry
from tollhouse.gateway.client_address import ClientAddress
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import RequestContext
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.jwks import JwksCache
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.middleware.access import CheckAccess
from tollhouse.gateway.middleware.auth_token import TokenAuth
from tollhouse.gateway.middleware.basic_auth import BasicAuth
from tollhouse.gateway.middleware.body_transform import TransformRequestBody, TransformResponseBody
from tollhouse.gateway.middleware.cache import CacheResponses
from tollhouse.gateway.middleware.cors import Cors
from tollhouse.gateway.middleware.endpoint_rules import EndpointRules, MockReply, skip_when_ignored
from tollhouse.gateway.middleware.header_transform import TransformRequestHeaders, TransformResponseHeaders
from tollhouse.gateway.middleware.hmac_signature import SignatureAuth
from tollhouse.gateway.middleware.ip_access import CheckClientAddress
from tollhouse.gateway.middleware.jwt_auth import JwtAuth
from tollhouse.gateway.middleware.method_transform import TransformMethod
from tollhouse.gateway.middleware.mutual_tls import MutualTls
from tollhouse.gateway.middleware.oauth_endpoints import OAuthEndpoints
from tollhouse.gateway.middleware.rate_limit import EnforceLimits
from tollhouse.gateway.middleware.size_limit import LimitRequestSize
from tollhouse.gateway.middleware.upstream_proxy import proxy_step
from tollhouse.gateway.middleware.url_rewrite import RewriteUrl
from tollhouse.gateway.middleware.version import ResolveVersion
from tollhouse.gateway.oauth import OAuthStore
from tollhouse.gateway.policies import PolicyTable
from tollhouse.gateway.ratelimit import Limiter
from tollhouse.gateway.response_cache import ResponseCache
from tollhouse.gateway.upstream_hosts import HostStates

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
    # The listener asks clients for TLS certificates (use_ssl + tls_client_ca_file): use_mutual_tls_auth APIs need it.
    client_certificates: bool = False
    # Who the client is (the trusted_proxies setting): the IP lists and analytics ask the same object.
    client_address: ClientAddress = field(default_factory=ClientAddress)
    # Upstream hosts' health (uptime tests, failed traffic) and the paths' circuit breakers: outlive reloads.
    hosts: HostStates = field(default_factory=HostStates)
    breakers: BreakerRegistry = field(default_factory=BreakerRegistry)
    # The response cache (cache_options APIs), on a Redis connection of its own; None: they cannot be served.
    response_cache: ResponseCache | None = None


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
    # 1. Checks that need no key come first, cheapest first, so refused traffic costs little: the IP allow and
    #    block lists; then CORS, whose preflights carry no credentials, so they are answered (or passed to the
    #    upstream with options_passthrough) here, and whose headers must be on every answer, errors too.
    if definition.ip_lists_apply:
        chain.append(CheckClientAddress(api, deps.client_address))
    if definition.CORS.in_use:
        chain.append(Cors(api))
    # 2. The OAuth2 endpoints (<listen_path>oauth/token, oauth/revoke) answer here: consumers log in
    #    before they have a key, and, as in Tyk, without naming an API version.
    if definition.use_oauth2:
        if deps.oauth is None:
            raise ValueError("use_oauth2 needs the OAuth store (PipelineDeps.oauth)")
        chain.append(OAuthEndpoints(api, deps.oauth))
    # 3. Which version of the API is asked for (403 for a missing, unknown or expired one), and its upstream
    #    when it has its own (override_target).
    if (version := ResolveVersion.for_api(api)) is not None:
        chain.append(version)
    #    Then the version's white_list / black_list / ignored paths (403 before any key is read; an ignored
    #    path sets ctx.auth_skipped for step 4), and its request size limits (413 before the body is read).
    endpoint_rules = EndpointRules.for_api(api)
    chain.extend(step for step in (endpoint_rules, LimitRequestSize.for_api(api)) if step is not None)
    # 4. Who is calling, then what they may do: expiry, inactive, policies, version, path and method.
    #    The client's TLS certificate first when the API requires one (use_mutual_tls_auth, keyless APIs too).
    if definition.use_mutual_tls_auth:
        chain.append(MutualTls(api, deps.client_certificates))
    #    Skipped on ignored paths (skip_when_ignored wraps these steps only when the API has such paths).
    if not definition.use_keyless:
        chain.extend(skip_when_ignored(endpoint_rules, [authentication(api, deps), CheckAccess(api, deps.policies)]))
    # 5. How much: every rate limit and the quota, in one Redis script call.
    if definition.limits_apply:
        chain.append(EnforceLimits(api, deps))
    # 6. What is sent, in Tyk's order: the request body, headers; the response's headers and body (they wrap
    #    ctx.response before anything is sent); the method, then the URL (which changes the path, so it is
    #    last of those matched on the path). A mock reply then answers instead of the upstream.
    transforms = (TransformRequestBody, TransformRequestHeaders, TransformResponseHeaders, TransformResponseBody,
                  TransformMethod, RewriteUrl)
    chain.extend(step for step in (kind.for_api(api) for kind in transforms) if step is not None)
    if endpoint_rules is not None and endpoint_rules.mocks:
        chain.append(MockReply())
    # 7. Answered from the cache when it holds this answer; else the upstream's answer is kept on its way back
    #    (after the limits: a cached answer counts against them, as in Tyk; after the transforms: it keys what
    #    would be sent).
    if definition.cache_options.enable_cache:
        if deps.response_cache is None:
            raise ValueError("cache_options.enable_cache needs the response cache (PipelineDeps.response_cache)")
        chain.append(CacheResponses(api, deps.response_cache))
    # 8. Last, always: the proxy, which streams the request upstream and the answer back; with the API's
    #    circuit breakers, load balancing over live hosts and hard timeouts when it has any (upstream_proxy.py).
    chain.append(proxy_step(api, deps))
    return tuple(chain)
