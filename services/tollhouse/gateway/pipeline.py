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
from tollhouse.gateway.middleware.proxy import ProxyToUpstream

Middleware = Callable[[RequestContext], Awaitable[None]]


@dataclass(frozen=True)
class PipelineDeps:
    """Shared clients the middleware need; one instance per gateway process."""

    upstreams: UpstreamPool


def build_pipeline(api: CompiledApi, deps: PipelineDeps) -> tuple[Middleware, ...]:
    chain: list[Middleware] = []
    # Checks that need no key come first, cheapest first, so refused traffic costs little:
    #   IP allow/block lists, CORS preflight, version check   (gateway traffic features)
    # Then who is calling, and what they may do:
    #   authentication -> key expiry / access rights -> rate limit -> quota   (keys and policies)
    # Then what is sent: request transforms.
    # Last, always: the proxy, which streams the request upstream and the answer back.
    chain.append(ProxyToUpstream(api, deps.upstreams))
    return tuple(chain)
