"""CORS at the gateway: preflights answered before authentication, the CORS headers on every other answer.

A preflight (OPTIONS with Origin and Access-Control-Request-Method) carries no credentials, so it must be
answered before authentication. A preflight that is not allowed still gets 204, without the CORS headers:
the browser is who refuses it (as rs/cors, Tyk's CORS library, does). The headers of other answers go in
``ctx.response_headers`` so that error answers (401, 429...) carry them too, and the page can read them.

Credentials (the Fetch standard): with ``allow_credentials`` the allowed origin is echoed, never ``*``, and
``*`` in ``allowed_origins`` then means "echo any origin" except ``null`` (sandboxed documents, local files),
which is echoed only when listed by name.

``options_passthrough``: preflights go straight to the proxy, past every other step (as in Tyk), and the
upstream answers them; the gateway adds no CORS headers of its own to them.
"""

from __future__ import annotations

import logging

from tollhouse.core.apidef_cors import DEFAULT_HEADERS, DEFAULT_METHODS
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import Answered, RequestContext

log = logging.getLogger("tollhouse.gateway.cors")

VARY_ORIGIN = ("vary", "Origin")
VARY_PREFLIGHT = ("vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")


class Cors:
    def __init__(self, api: CompiledApi):
        config = api.definition.CORS
        self.api = api
        self.enabled = config.enable
        self.passthrough = config.options_passthrough
        self.debug = config.debug
        origins = [origin.lower() for origin in config.allowed_origins or ["*"]]
        self.any_origin = "*" in origins
        self.origins = frozenset(origin for origin in origins if "*" not in origin)
        self.wildcards = tuple(tuple(origin.split("*", 1)) for origin in origins if "*" in origin and origin != "*")
        self.methods = frozenset(method.upper() for method in config.allowed_methods or DEFAULT_METHODS)
        headers = {name.lower() for name in config.allowed_headers or DEFAULT_HEADERS}
        self.any_header = "*" in headers
        self.headers = frozenset(headers | {"origin"})
        self.credentials = config.allow_credentials
        self.exposed = ", ".join(config.exposed_headers or ())
        self.max_age = str(config.max_age) if config.max_age else ""

    async def __call__(self, ctx: RequestContext) -> None:
        request = ctx.request
        origin = request.header("origin")
        if request.method == "OPTIONS" and origin is not None:
            asked_method = request.header("access-control-request-method")
            if asked_method is not None:
                if self.passthrough:
                    await self.api.chain[-1](ctx)  # the proxy: always the chain's last step
                    raise Answered(ctx.status, "preflight passed to the upstream")
                await self._answer_preflight(ctx, origin, asked_method)
                raise Answered(ctx.status, "preflight answered by the gateway")
        if not self.enabled:
            return
        ctx.response_headers.append(VARY_ORIGIN)
        if origin is None:
            return
        allowed = self.allowed_origin(origin)
        if allowed is None or request.method not in self.methods:
            self._explain(origin, "origin not allowed" if allowed is None else f"method {request.method} not allowed")
            return
        ctx.response_headers.append(("access-control-allow-origin", allowed))
        if self.credentials:
            ctx.response_headers.append(("access-control-allow-credentials", "true"))
        if self.exposed:
            ctx.response_headers.append(("access-control-expose-headers", self.exposed))

    def allowed_origin(self, origin: str) -> str | None:
        """The Access-Control-Allow-Origin value for ``origin``, or None when it is not allowed."""
        if self.any_origin and not self.credentials:
            return "*"
        lowered = origin.lower()
        if lowered in self.origins or any(
                len(lowered) >= len(prefix) + len(suffix) and lowered.startswith(prefix) and lowered.endswith(suffix)
                for prefix, suffix in self.wildcards):
            return origin
        if self.any_origin and lowered != "null":
            return origin
        return None

    def preflight_headers(self, origin: str, asked_method: str, asked_headers: str) -> list[tuple[str, str]]:
        """The CORS headers of a preflight's answer: none beyond Vary when it is not allowed."""
        headers = [VARY_PREFLIGHT]
        allowed = self.allowed_origin(origin)
        method = asked_method.strip().upper()
        wanted = [name.strip().lower() for name in asked_headers.split(",") if name.strip()]
        refused = [name for name in wanted if name not in self.headers] if not self.any_header else []
        if allowed is None or method not in self.methods or refused:
            reason = ("origin not allowed" if allowed is None else
                      f"method {method} not allowed" if method not in self.methods else
                      f"headers not allowed: {', '.join(refused)}")
            self._explain(origin, f"preflight refused: {reason}")
            return headers
        headers += [("access-control-allow-origin", allowed), ("access-control-allow-methods", method)]
        if wanted:
            headers.append(("access-control-allow-headers", ", ".join(wanted)))
        if self.credentials:
            headers.append(("access-control-allow-credentials", "true"))
        if self.max_age:
            headers.append(("access-control-max-age", self.max_age))
        return headers

    async def _answer_preflight(self, ctx: RequestContext, origin: str, asked_method: str) -> None:
        asked_headers = ctx.request.header("access-control-request-headers") or ""
        headers = self.preflight_headers(origin, asked_method, asked_headers)
        ctx.status = 204
        await ctx.response.send_head(204, ctx.response_headers + headers)
        await ctx.response.finish()

    def _explain(self, origin: str, reason: str) -> None:
        if self.debug:
            log.info("CORS %s: %s from %r", self.api.api_id, reason, origin)
