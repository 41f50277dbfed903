"""Body transforms (Tyk's ``transform`` and ``transform_response``): a Jinja2 template renders the new body.

The body is decoded as JSON (``input_type`` json; an empty body is ``None``) and handed to the template as
``body``; see body_template.py for the other names and the sandbox's limits. Bodies are held whole, so both
sides are capped: a request body over ``MAX_REQUEST_BODY`` is answered 413, an upstream answer over
``MAX_RESPONSE_BODY`` 502 (never passed on untransformed: a client of a transformed endpoint expects the
transformed shape). A template that fails is logged and answered 500 with the reason.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tollhouse.core.apidef_transforms import VersionTransforms
from tollhouse.gateway.body_template import BodyTemplate, TemplateFailed
from tollhouse.gateway.context import GatewayError, RequestContext
from tollhouse.gateway.http.messages import BodyStream
from tollhouse.gateway.middleware.per_version import Endpoint, PerVersionStep, endpoints, first_match
from tollhouse.gateway.request_body import hold_body
from tollhouse.gateway.response_wrappers import BufferingResponse, Headers

log = logging.getLogger("tollhouse.gateway.transform")

MAX_REQUEST_BODY = 1024 * 1024
MAX_RESPONSE_BODY = 4 * 1024 * 1024


@dataclass(frozen=True)
class Transform:
    template: BodyTemplate
    with_session: bool


def _compile(entries) -> tuple[Endpoint[Transform], ...] | None:
    compiled = tuple(Endpoint(endpoint.pattern, endpoint.methods,
                              Transform(BodyTemplate(endpoint.entry.template_data.template),
                                        endpoint.entry.template_data.enable_session))
                     for endpoint in endpoints(entries))
    return compiled or None


def compile_request(settings: VersionTransforms) -> tuple[Endpoint[Transform], ...] | None:
    return _compile(settings.transform)


def compile_response(settings: VersionTransforms) -> tuple[Endpoint[Transform], ...] | None:
    return _compile(settings.transform_response)


def _headers(headers: Headers) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers:
        name = name.lower()
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def _json(raw: bytes, status: int, whose: str) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise GatewayError(status, f"{whose} body is not valid JSON, which its transform needs") from None


class _BodyTransform(PerVersionStep):
    compile = staticmethod(compile_request)

    def _find(self, ctx: RequestContext) -> Transform | None:
        compiled = self.versions.for_request(ctx)
        if compiled is None:
            return None
        request = ctx.request
        return first_match(compiled, self.api.relative_path(request.path), request.method)

    def _render(self, transform: Transform, variables: dict[str, Any], ctx: RequestContext, what: str) -> bytes:
        if transform.with_session:
            variables["meta"] = dict(ctx.session.meta_data) if ctx.session is not None else {}
        try:
            return transform.template.render(variables)
        except TemplateFailed as exc:
            log.warning("API %s: the %s body transform for %s %s failed: %s", self.api.api_id, what,
                        ctx.request.method, ctx.request.path, exc)
            raise GatewayError(500, f"the {what} body transform failed: {exc}") from None


class TransformRequestBody(_BodyTransform):
    compile = staticmethod(compile_request)

    async def __call__(self, ctx: RequestContext) -> None:
        transform = self._find(ctx)
        if transform is None:
            return
        request = ctx.request
        raw = await hold_body(request, MAX_REQUEST_BODY, "to transform")
        variables = {
            "body": _json(raw, 400, "the request"), "raw": raw.decode("utf-8", "replace"),
            "headers": _headers(request.headers), "query": dict(parse_qsl(request.query)),
            "method": request.method, "path": self.api.relative_path(request.path)}
        data = self._render(transform, variables, ctx, "request")
        request.body = BodyStream.from_bytes(data)
        request.content_length = len(data)
        request.chunked = False


class TransformResponseBody(_BodyTransform):
    compile = staticmethod(compile_response)

    async def __call__(self, ctx: RequestContext) -> None:
        request = ctx.request
        if request.method == "HEAD":
            return
        transform = self._find(ctx)
        if transform is None:
            return
        # The template reads the body as it is: ask the upstream not to compress it.
        request.headers = [(name, value) for name, value in request.headers if name != "accept-encoding"]

        async def rewrite(status: int, headers: Headers, body: bytes) -> tuple[Headers, bytes]:
            if not body:
                return headers, body
            variables = {"body": _json(body, 502, "the upstream's response"),
                         "raw": body.decode("utf-8", "replace"), "headers": _headers(headers), "status": status}
            return headers, self._render(transform, variables, ctx, "response")

        ctx.response = BufferingResponse(ctx.response, rewrite, MAX_RESPONSE_BODY)
