"""Tyk's ``$tyk_context.*`` and ``$tyk_meta.*`` variables in header values and rewrite targets.

Supported: ``$tyk_context.headers_<Name>`` (a request header; ``_`` in the name stands for ``-``),
``$tyk_context.request_data.<name>`` (a query parameter), ``$tyk_context.path``, ``$tyk_context.remote_addr``,
``$tyk_meta.<field>`` (the key's ``meta_data``; empty on keyless or ignored paths). Any other ``$tyk_context``
name, or a value the request does not have, becomes "" (Tyk's behaviour for a missing value).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from tollhouse.gateway.context import RequestContext

VARIABLE = re.compile(r"\$tyk_(context|meta)\.([A-Za-z0-9_.-]+)")


def has_variables(text: str) -> bool:
    return "$tyk_" in text


def expand(text: str, ctx: RequestContext, extra: dict[str, str] | None = None) -> str:
    """``text`` with its variables replaced; ``extra`` holds more ``$tyk_context`` names (rewrite triggers)."""
    return VARIABLE.sub(lambda match: _value(match.group(1), match.group(2), ctx, extra or {}), text)


def _value(kind: str, name: str, ctx: RequestContext, extra: dict[str, str]) -> str:
    request = ctx.request
    if kind == "meta":
        meta = ctx.session.meta_data if ctx.session is not None else {}
        value = meta.get(name)
        return "" if value is None else str(value)
    if name in extra:
        return extra[name]
    if name.startswith("headers_"):
        return request.header(name.removeprefix("headers_").replace("_", "-").lower()) or ""
    if name.startswith("request_data."):
        key = name.removeprefix("request_data.")
        return next((value for field, value in parse_qsl(request.query) if field == key), "")
    if name == "path":
        return request.path
    if name == "remote_addr":
        return request.client_ip
    return ""
