"""The API definition: Tyk's classic JSON, validated in one place for the dashboard and the gateway.

A definition is kept as the dict the user gave (unknown fields survive a round trip untouched);
``parse_definition`` checks the fields Tollhouse acts on and returns a typed view of them.
Errors name the field as a dotted path, e.g. ``proxy.target_url: must be an absolute http(s) URL``.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal
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


class AuthConfig(_Section):
    """Where a credential is read from (Tyk's ``auth_configs.<kind>``)."""

    auth_header_name: str = "Authorization"
    use_param: bool = False
    param_name: str = ""
    use_cookie: bool = False
    cookie_name: str = ""

    @field_validator("auth_header_name")
    @classmethod
    def _header_name(cls, value: str) -> str:
        if not value or any(ch in value for ch in " \t\r\n:"):
            raise ValueError("must be a header name")
        return value


class RateLimit(_Section):
    rate: float = Field(0, ge=0)
    per: float = Field(0, ge=0)


class VersionLocation(_Section):
    """Where a versioned API finds the version asked for (Tyk's ``definition``)."""

    location: Literal["header", "url-param", "url"] = "header"
    key: str = "x-api-version"


class VersionData(_Section):
    not_versioned: bool = True
    default_version: str = ""
    # Per version: Tyk's ``{expires, extended_paths, ...}``, kept as given; middleware read what they use.
    versions: dict[str, dict[str, Any]] = {}


# The authentication kinds, in the order their flags are read. ``use_oauth2`` keys are tokens too.
AUTH_FLAGS = ("use_keyless", "use_basic_auth", "enable_jwt", "enable_signature_checking")


class ApiDefinition(_Section):
    api_id: str
    name: str = Field(min_length=1)
    org_id: str = ""
    active: bool = True
    domain: str = ""
    use_keyless: bool = False
    use_standard_auth: bool = False
    use_basic_auth: bool = False
    enable_jwt: bool = False
    enable_signature_checking: bool = False
    use_oauth2: bool = False
    auth_configs: dict[str, AuthConfig] = {}
    strip_auth_data: bool = False
    global_rate_limit: RateLimit = RateLimit()
    disable_rate_limit: bool = False
    disable_quota: bool = False
    do_not_track: bool = False
    tags: list[str] = []
    proxy: ProxyConfig
    definition: VersionLocation = VersionLocation()
    version_data: VersionData = VersionData()

    @property
    def auth_kind(self) -> str:
        """keyless, basic, jwt, signature or token (Tyk's default when no other kind is chosen)."""
        for flag, kind in zip(AUTH_FLAGS, ("keyless", "basic", "jwt", "signature"), strict=True):
            if getattr(self, flag):
                return kind
        return "token"

    def auth_config(self, kind: str) -> AuthConfig:
        return self.auth_configs.get(kind) or AuthConfig()

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
    chosen = [flag for flag in AUTH_FLAGS if getattr(definition, flag)]
    if definition.use_keyless and (definition.use_standard_auth or definition.use_oauth2):
        chosen.append("use_standard_auth" if definition.use_standard_auth else "use_oauth2")
    versions = definition.version_data
    if not versions.not_versioned and not versions.versions:
        raise DefinitionError([("version_data.versions", "a versioned API needs at least one version")])
    if versions.default_version and not versions.not_versioned and versions.default_version not in versions.versions:
        raise DefinitionError([("version_data.default_version", f"{versions.default_version!r} is not in versions")])
    if len(chosen) > 1:
        raise DefinitionError([(chosen[1], f"cannot be combined with {chosen[0]}: choose one authentication kind")])
    return definition


def _describe(error: dict) -> tuple[str, str]:
    field = ".".join(str(part) for part in error["loc"]) or "(definition)"
    if error["type"] == "missing":
        return field, "is required"
    return field, error["msg"].removeprefix("Value error, ")
