"""The API definition: Tyk's classic JSON, validated in one place for the dashboard and the gateway.

A definition is kept as the dict the user gave (unknown fields survive a round trip untouched);
``parse_definition`` checks the fields Tollhouse acts on and returns a typed view of them.
Errors name the field as a dotted path, e.g. ``proxy.target_url: must be an absolute http(s) URL``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

API_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
DOMAIN_PATTERN = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")


class DefinitionError(ValueError):
    """An API definition cannot be used; ``errors`` lists ``(field, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))

    @property
    def field(self) -> str:
        return self.errors[0][0]


class _Section(BaseModel):
    # Unknown fields are kept: users carry whole Tyk definitions around.
    model_config = ConfigDict(extra="allow")


class ProxyConfig(_Section):
    listen_path: str
    target_url: str
    strip_listen_path: bool = False
    preserve_host_header: bool = False

    @field_validator("listen_path")
    @classmethod
    def _listen_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        if any(ch in value for ch in "?#* \t\r\n"):
            raise ValueError("must be a plain path (no '?', '#', '*' or whitespace)")
        return value

    @field_validator("target_url")
    @classmethod
    def _target_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("has an invalid port") from None
        return value


class ApiDefinition(_Section):
    api_id: str
    name: str = Field(min_length=1)
    org_id: str = ""
    active: bool = True
    domain: str = ""
    use_keyless: bool = False
    do_not_track: bool = False
    tags: list[str] = []
    proxy: ProxyConfig

    @field_validator("api_id")
    @classmethod
    def _api_id(cls, value: str) -> str:
        if not API_ID_PATTERN.match(value):
            raise ValueError("must be 1-128 characters of letters, digits, '.', '_' or '-'")
        return value

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        if value and not DOMAIN_PATTERN.match(value):
            raise ValueError("must be a host name, optionally with :port")
        return value.lower()

    @property
    def route_key(self) -> tuple[str, str]:
        """What two definitions must not share: (domain, listen path)."""
        return (self.domain, normalise_listen_path(self.proxy.listen_path))


def normalise_listen_path(listen_path: str) -> str:
    """``/foo`` and ``/foo/`` route the same: both match ``/foo`` and ``/foo/...``, never ``/foobar``."""
    return listen_path if listen_path.endswith("/") else listen_path + "/"


def new_api_id() -> str:
    return uuid.uuid4().hex


def parse_definition(raw: Any) -> ApiDefinition:
    """Validate a raw definition; raise ``DefinitionError`` naming every bad field."""
    if not isinstance(raw, dict):
        raise DefinitionError([("(definition)", "must be a JSON object")])
    try:
        definition = ApiDefinition.model_validate(raw)
    except ValidationError as exc:
        raise DefinitionError([_describe(error) for error in exc.errors()]) from None
    if not definition.use_keyless:
        # Keyed authentication arrives with the gateway-policy work; until then refuse rather than
        # publish an API that would answer every request with an error.
        raise DefinitionError([("use_keyless", "only keyless APIs are supported by this version; set true")])
    return definition


def _describe(error: dict) -> tuple[str, str]:
    field = ".".join(str(part) for part in error["loc"]) or "(definition)"
    if error["type"] == "missing":
        return field, "is required"
    return field, error["msg"].removeprefix("Value error, ")
