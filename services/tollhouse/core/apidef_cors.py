"""An API's ``CORS`` section (Tyk's classic shape), validated for the gateway and the dashboard.

Empty lists fall back as in Tyk: every origin, methods GET POST HEAD, headers Origin Accept Content-Type
X-Requested-With. An origin may hold one ``*`` standing for any run of characters (``https://*.example.com``);
``*`` alone allows every origin.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

DEFAULT_METHODS = ("GET", "POST", "HEAD")
DEFAULT_HEADERS = ("Origin", "Accept", "Content-Type", "X-Requested-With")
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # RFC 9110 token: method and header names


def _origin(value: str) -> str:
    if value != "*" and (value.count("*") > 1 or not value or any(ch.isspace() for ch in value)):
        raise ValueError("must be an origin such as https://app.example.com, with at most one '*' wildcard, "
                         "or '*' alone")
    return value


def _method(value: str) -> str:
    if not TOKEN.match(value) or value == "*":
        raise ValueError(f"{value!r} is not an HTTP method")
    return value


def _header(value: str) -> str:
    if not TOKEN.match(value):
        raise ValueError(f"{value!r} is not a header name")
    return value


Origin = Annotated[str, AfterValidator(_origin)]
Method = Annotated[str, AfterValidator(_method)]
HeaderName = Annotated[str, AfterValidator(_header)]


class CorsConfig(BaseModel):
    model_config = ConfigDict(extra="allow")

    enable: bool = False
    # Tyk writes null for an empty list; both mean "the default".
    allowed_origins: list[Origin] | None = None
    allowed_methods: list[Method] | None = None
    allowed_headers: list[HeaderName] | None = None  # "*": any header
    exposed_headers: list[HeaderName] | None = None
    allow_credentials: bool = False
    max_age: int = Field(0, ge=0)  # seconds a browser may keep a preflight's answer; 0: not sent
    # Preflights go to the upstream untouched (no authentication, no gateway CORS answer): it handles CORS itself.
    options_passthrough: bool = False
    debug: bool = False  # log why each cross-origin request was or was not allowed

    @property
    def in_use(self) -> bool:
        """Whether the gateway does anything CORS for this API (passthrough works without ``enable``, as in Tyk)."""
        return self.enable or self.options_passthrough
