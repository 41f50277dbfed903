"""``<listen_path>oauth/token`` and ``<listen_path>oauth/revoke`` on ``use_oauth2`` APIs (RFC 6749, RFC 7009).

Every other path passes on to authentication, where the access tokens issued here are keys like any other.
These two answer themselves, and their errors are the one place the gateway speaks OAuth's shape,
``{"error": "invalid_grant", "error_description": "..."}``, not ``{"error": message}``: OAuth client
libraries read ``error`` as one of RFC 6749's codes. A Redis outage is still the gateway's 503.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import Answered, GatewayError, RequestContext
from tollhouse.gateway.http.messages import ClientError
from tollhouse.gateway.keystore import StorageUnavailable
from tollhouse.gateway.oauth import OAuthError, OAuthStore, revoke_request, token_request

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024
# RFC 6749 §5.1: token responses must not be cached.
NO_STORE = [("cache-control", "no-store"), ("pragma", "no-cache")]


class OAuthEndpoints:
    def __init__(self, api: CompiledApi, store: OAuthStore):
        self.api = api
        self.store = store
        self.token_path = api.listen_path + "oauth/token"
        self.revoke_path = api.listen_path + "oauth/revoke"

    async def __call__(self, ctx: RequestContext) -> None:
        path = ctx.request.path
        if path != self.token_path and path != self.revoke_path:
            return
        try:
            form = await self._form(ctx)
            authorization = ctx.request.header("authorization")
            if path == self.token_path:
                issued = await token_request(self.store, self.api.definition, form, authorization)
                await self._send(ctx, 200, issued.body())
            else:
                await revoke_request(self.store, self.api.definition, form, authorization)
                await self._send(ctx, 200, None)
        except OAuthError as exc:
            await self._send(ctx, exc.status, exc.body(), exc.headers)
        except StorageUnavailable as exc:
            raise GatewayError(503, str(exc)) from None
        raise Answered(ctx.status, "answered by the OAuth endpoint")

    async def _form(self, ctx: RequestContext) -> dict[str, str]:
        request = ctx.request
        if request.method != "POST":
            raise OAuthError(405, "invalid_request", f"{request.method} is not allowed here: use POST",
                             [("allow", "POST")])
        content_type = (request.header("content-type") or "").split(";", 1)[0].strip().lower()
        if content_type != FORM_TYPE:
            raise OAuthError(400, "invalid_request", f"the body must be {FORM_TYPE}")
        try:
            body = await request.body.read_all(MAX_FORM_BYTES)
        except ValueError:
            raise OAuthError(413, "invalid_request", f"the body is larger than {MAX_FORM_BYTES} bytes") from None
        except ClientError as exc:
            raise GatewayError(exc.status, str(exc)) from None
        try:
            pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=False)
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "the body is not UTF-8") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:  # RFC 6749 §3.1: parameters must not be repeated
                raise OAuthError(400, "invalid_request", f"{name} is given more than once")
            form[name] = value
        return form

    @staticmethod
    async def _send(ctx: RequestContext, status: int, body: dict | None,
                    headers: list[tuple[str, str]] | None = None) -> None:
        ctx.status = status
        extra = NO_STORE + ctx.response_headers + (headers or [])
        if body is None:  # RFC 7009 §2.2: a successful revocation has nothing to say
            await ctx.response.send_head(status, extra, 0)
            await ctx.response.finish()
            return
        await ctx.response.send_json(status, body, extra)
