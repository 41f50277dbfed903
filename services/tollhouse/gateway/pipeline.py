"""Each API's request path, built once when definitions load — the whole pipeline in one function.

A middleware that an API does not enable never enters its chain, so an API pays only for
what it uses. Reading ``build_pipeline`` top to bottom is reading what a request goes through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import RequestContext
from tollhouse.gateway.http.upstream import UpstreamPool
from tollhouse.gateway.keystore import KeyStore
from tollhouse.gateway.middleware.access import CheckAccess
from tollhouse.gateway.middleware.auth_token import TokenAuth
from tollhouse.gateway.middleware.proxy import ProxyToUpstream
from tollhouse.gateway.middleware.version import ResolveVersion
from tollhouse.gateway.policies import PolicyTable

Middleware = Callable[[RequestContext], Awaitable[None]]


@dataclass(frozen=True)
class PipelineDeps:
    """Shared clients the middleware need; one instance per gateway process."""

    upstreams: UpstreamPool
    keys: KeyStore
    # The policy table in force now (it is swapped on reload; read it per request, never keep it).
    policies: Callable[[], PolicyTable]


def authentication(api: CompiledApi, deps: PipelineDeps) -> Middleware:
    """The one middleware that finds out who is calling, by the API's authentication kind."""
    kind = api.definition.auth_kind
    # AUTH-KINDS: basic, jwt and signature are added here by their modules.
    if kind == "token":
        return TokenAuth(api, deps.keys)
    raise ValueError(f"authentication kind {kind!r} is not available")


def build_pipeline(api: CompiledApi, deps: PipelineDeps) -> tuple[Middleware, ...]:
    definition = api.definition
    chain: list[Middleware] = []
    # 1. Checks that need no key come first, cheapest first, so refused traffic costs little:
    #    IP allow/block lists, CORS preflight   (gateway traffic features)
    # 2. Which version of the API is asked for (403 for a missing or unknown one).
    if api.versioned:
        chain.append(ResolveVersion(api))
    # 3. OAUTH-ENDPOINTS: <listen_path>oauth/token and friends answer here, before authentication.
    # 4. Who is calling, then what they may do: expiry, inactive, policies, version, path and method.
    if not definition.use_keyless:
        chain.append(authentication(api, deps))
        chain.append(CheckAccess(api, deps.policies))
    # 5. RATE-LIMITS: how much: every rate limit and the quota in one Redis script call.
    # 6. What is sent: request transforms   (gateway traffic features)
    # 7. Last, always: the proxy, which streams the request upstream and the answer back.
    chain.append(ProxyToUpstream(api, deps.upstreams))
    return tuple(chain)
