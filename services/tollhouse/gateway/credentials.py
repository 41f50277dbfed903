"""Finding the caller's credential in a request (header, query parameter or cookie), and removing it.

Shared by the authentication middleware, which differ in what the credential is, not in where it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode

from tollhouse.core.apidef import AuthConfig
from tollhouse.gateway.http.messages import Request


@dataclass(frozen=True)
class Credential:
    value: str
    source: Literal["header", "param", "cookie"]
    name: str  # the header (lower case), parameter or cookie name it came from


def find_credential(request: Request, config: AuthConfig) -> Credential | None:
    """The first credential found: the header, then the query parameter, then the cookie (if enabled)."""
    header_name = config.auth_header_name.lower()
    value = request.header(header_name)
    if value:
        return Credential(strip_bearer(value), "header", header_name)
    if config.use_param and request.query:
        name = config.param_name or config.auth_header_name
        for key, param in parse_qsl(request.query, keep_blank_values=True):
            if key == name and param:
                return Credential(param, "param", name)
    if config.use_cookie:
        name = config.cookie_name or config.auth_header_name
        cookie = _cookies(request).get(name)
        if cookie:
            return Credential(cookie, "cookie", name)
    return None


def strip_bearer(value: str) -> str:
    """``Bearer <token>`` (any case) is accepted wherever a bare token is."""
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return value.strip()


def strip_credential(request: Request, credential: Credential) -> None:
    """Remove the credential so the upstream never sees it (``strip_auth_data``)."""
    if credential.source == "header":
        request.headers = [(name, value) for name, value in request.headers if name != credential.name]
    elif credential.source == "param":
        kept = [(key, value) for key, value in parse_qsl(request.query, keep_blank_values=True)
                if key != credential.name]
        request.query = urlencode(kept)
        request.target = f"{request.path}?{request.query}" if request.query else request.path
    else:
        headers = []
        for name, value in request.headers:
            if name == "cookie":
                pairs = [pair for pair in value.split(";") if pair.strip().split("=", 1)[0] != credential.name]
                value = ";".join(pairs).strip()
                if not value:
                    continue
            headers.append((name, value))
        request.headers = headers


def _cookies(request: Request) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for name, value in request.headers:
        if name == "cookie":
            for pair in value.split(";"):
                key, _, cookie = pair.strip().partition("=")
                cookies.setdefault(key, cookie)
    return cookies
