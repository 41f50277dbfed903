"""The API definition: Tyk's classic JSON, validated in one place for the dashboard and the gateway.

A definition is kept as the dict the user gave (unknown fields survive a round trip untouched);
``parse_definition`` checks the fields Tollhouse acts on and returns a typed view of them.
Errors name the field as a dotted path, e.g. ``proxy.target_url: must be an absolute http(s) URL``.
"""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tollhouse.core.apidef_cache import CacheOptions, check_cache_fields
from tollhouse.core.apidef_cors import CorsConfig
from tollhouse.core.apidef_ip import IpAccessFields
from tollhouse.core.apidef_tls import ClientCertificate, ProxyTransport
from tollhouse.core.apidef_upstreams import LoadBalancing, UptimeTests, check_upstream_fields, check_upstream_url
from tollhouse.core.endpoint_paths import EndpointPath

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


class ProxyConfig(LoadBalancing, _Section):  # + enable_load_balancing, target_list, check_host_against_uptime_tests
    listen_path: str
    target_url: str
    strip_listen_path: bool = False
    preserve_host_header: bool = False
    transport: ProxyTransport = ProxyTransport()  # TLS towards an https upstream (apidef_tls)

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
        return check_upstream_url(value)


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
    strip_path: bool = False  # location url: the version segment is not sent upstream


class EndpointRateLimit(_Section):
    """One ``extended_paths.rate_limit`` entry: ``rate`` requests per ``per`` seconds on ``method`` ``path``.

    ``path`` is matched like Tyk's paths: a regular expression anchored at the start of the path after the
    listen path (a prefix match; end it with ``$`` for an exact one), ``{name}`` standing for one segment.
    ``method`` empty or ``ANY``: every method. ``disabled: true`` or ``enabled: false`` turn the entry off.
    """

    path: EndpointPath = Field(min_length=1)
    method: str = ""
    rate: float = Field(gt=0)
    per: float = Field(gt=0)
    disabled: bool = False
    enabled: bool = True

    @property
    def active(self) -> bool:
        return self.enabled and not self.disabled

    @property
    def methods(self) -> frozenset[str]:
        method = self.method.upper()
        return frozenset() if method in ("", "ANY") else frozenset({method})


class VersionData(_Section):
    not_versioned: bool = True
    default_version: str = ""
    # Per version: Tyk's ``{expires, extended_paths, ...}``, kept as given; middleware read what they use.
    versions: dict[str, dict[str, Any]] = {}

    def rate_limits(self, version: str) -> list[EndpointRateLimit]:
        """The version's ``extended_paths.rate_limit`` entries; ``DefinitionError`` names a bad one."""
        extended = self.versions.get(version, {}).get("extended_paths") or {}
        field = f"version_data.versions.{version}.extended_paths"
        if not isinstance(extended, dict):
            raise DefinitionError([(field, "must be an object")])
        entries = extended.get("rate_limit") or []
        if not isinstance(entries, list):
            raise DefinitionError([(f"{field}.rate_limit", "must be a list")])
        limits = []
        for index, entry in enumerate(entries):
            try:
                limits.append(EndpointRateLimit.model_validate(entry))
            except ValidationError as exc:
                raise DefinitionError([_describe(error, f"{field}.rate_limit.{index}") for error in exc.errors()]) \
                    from None
        return limits


# The authentication kinds, in the order their flags are read. ``use_oauth2`` keys are tokens too.
AUTH_FLAGS = ("use_keyless", "use_basic_auth", "enable_jwt", "enable_signature_checking")


class ApiDefinition(IpAccessFields, _Section):  # + enable_ip_whitelisting, allowed_ips, (black list) (apidef_ip)
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
    use_mutual_tls_auth: bool = False  # the client's TLS certificate must be one of client_certificates (apidef_tls)
    client_certificates: list[ClientCertificate] = []
    # JWT (enable_jwt); checked by parse_definition only when JWT is enabled. See check_jwt_fields.
    jwt_signing_method: str = ""  # hmac (also ""), rsa or ecdsa: the family of algorithms accepted
    jwt_source: str = ""  # an http(s) JWKS URL, or base64 of the HMAC secret / PEM public key; "": per key (kid)
    jwt_identity_base_field: str = ""  # the claim naming the caller; "" or absent from the token: sub
    jwt_policy_field_name: str = ""  # the claim naming the policies (a string or a list of them)
    jwt_default_policies: list[str] | None = None
    # Clock skew allowed, in seconds, on exp / nbf / iat (Tyk's fields and default, 0).
    jwt_expires_at_validation_skew: int = Field(0, ge=0)
    jwt_not_before_validation_skew: int = Field(0, ge=0)
    jwt_issued_at_validation_skew: int = Field(0, ge=0)
    # HMAC request signatures (enable_signature_checking). Empty: every supported algorithm. The clock skew is in
    # milliseconds, as Tyk's; 0 or less: the Date header is not compared with the clock.
    hmac_allowed_algorithms: list[str] | None = None
    hmac_allowed_clock_skew: float = 0
    global_rate_limit: RateLimit = RateLimit()
    disable_rate_limit: bool = False
    disable_quota: bool = False
    do_not_track: bool = False
    tags: list[str] = []
    proxy: ProxyConfig
    definition: VersionLocation = VersionLocation()
    version_data: VersionData = VersionData()
    cache_options: CacheOptions = CacheOptions()  # the response cache (apidef_cache)
    CORS: CorsConfig = CorsConfig()  # Tyk's name (apidef_cors)
    uptime_tests: UptimeTests = UptimeTests()  # active health checks of the upstream hosts (apidef_upstreams)

    @property
    def auth_kind(self) -> str:
        """keyless, basic, jwt, signature or token (Tyk's default when no other kind is chosen)."""
        for flag, kind in zip(AUTH_FLAGS, ("keyless", "basic", "jwt", "signature"), strict=True):
            if getattr(self, flag):
                return kind
        return "token"

    def auth_config(self, kind: str) -> AuthConfig:
        return self.auth_configs.get(kind) or AuthConfig()

    @property
    def has_global_rate_limit(self) -> bool:
        return self.global_rate_limit.rate > 0 and self.global_rate_limit.per > 0

    @property
    def limits_apply(self) -> bool:
        """Whether any rate limit or quota can apply to a request of this API (else the gateway checks none)."""
        keyed = not self.use_keyless
        rates = not self.disable_rate_limit and (
            keyed or self.has_global_rate_limit or any(
                limit.active for version in self.version_data.versions
                for limit in self.version_data.rate_limits(version)))
        return rates or (keyed and not self.disable_quota)

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
    if definition.enable_jwt:
        check_jwt_fields(definition)
    if definition.enable_signature_checking:
        for name in definition.hmac_allowed_algorithms or []:
            if name not in HMAC_ALGORITHMS:
                allowed = ", ".join(HMAC_ALGORITHMS)
                raise DefinitionError([("hmac_allowed_algorithms", f"{name!r} is not one of {allowed}")])
    for version in versions.versions:
        versions.rate_limits(version)
    check_upstream_fields(definition)
    check_cache_fields(definition)
    from tollhouse.core.apidef_versions import all_version_infos  # it builds on this module

    all_version_infos(definition)
    from tollhouse.core.apidef_transforms import all_version_transforms  # it builds on this module

    all_version_transforms(definition)
    return definition


HMAC_ALGORITHMS = ("hmac-sha1", "hmac-sha256", "hmac-sha384", "hmac-sha512")
# jwt_signing_method -> the algorithms accepted; only the configured family, so no token picks its own ("none",
# or HS256 signed with an RSA public key as the secret).
JWT_ALGORITHMS = {"hmac": ("HS256", "HS384", "HS512"), "rsa": ("RS256", "RS384", "RS512"),
                  "ecdsa": ("ES256", "ES384", "ES512")}


def jwt_family(definition: ApiDefinition) -> str:
    """The JWT signing family; Tyk reads an empty ``jwt_signing_method`` as hmac."""
    return definition.jwt_signing_method or "hmac"


def jwt_source_url(source: str) -> str | None:
    """The JWKS URL ``jwt_source`` names (plain, or base64 of it as Tyk also accepts), else None."""
    if source.startswith(("http://", "https://")):
        return source
    decoded = _b64(source)
    text = decoded.decode("utf-8", "replace") if decoded else ""
    return text if text.startswith(("http://", "https://")) else None


def jwt_public_key(data: bytes, family: str):
    """The RSA or EC public key in a PEM public key or certificate; ValueError says what is wrong."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError):
        try:
            key = x509.load_pem_x509_certificate(data).public_key()
        except (ValueError, TypeError):
            raise ValueError("is not a PEM public key or certificate") from None
    wanted = rsa.RSAPublicKey if family == "rsa" else ec.EllipticCurvePublicKey
    if not isinstance(key, wanted):
        raise ValueError(f"holds no {'RSA' if family == 'rsa' else 'EC'} public key, which {family} needs")
    return key


def check_jwt_fields(definition: ApiDefinition) -> None:
    """The JWT fields of an ``enable_jwt`` API; a public key must parse here, not at the first request."""
    family = definition.jwt_signing_method
    if family and family not in JWT_ALGORITHMS:
        raise DefinitionError([("jwt_signing_method", f"{family!r} is not one of hmac, rsa, ecdsa")])
    source = definition.jwt_source
    if not source:
        return  # the key is found per token, by its kid
    url = jwt_source_url(source)
    if url is not None:
        if not urlsplit(url).hostname:
            raise DefinitionError([("jwt_source", "the JWKS URL has no host")])
        return
    decoded = _b64(source)
    if not decoded:
        raise DefinitionError([("jwt_source", "must be an http(s) JWKS URL, or base64 of the HMAC secret or of a "
                                              "PEM public key")])
    if jwt_family(definition) == "hmac":
        if decoded.lstrip().startswith(b"-----BEGIN"):
            raise DefinitionError([("jwt_source", "holds a PEM key, but jwt_signing_method is hmac: set rsa or ecdsa")])
    else:
        try:
            jwt_public_key(decoded, jwt_family(definition))
        except ValueError as exc:
            raise DefinitionError([("jwt_source", f"decoded, {exc}")]) from None


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
    except ValueError:
        return b""


def _describe(error: dict, prefix: str = "") -> tuple[str, str]:
    parts = ([prefix] if prefix else []) + [str(part) for part in error["loc"]]
    field = ".".join(parts) or "(definition)"
    if error["type"] == "missing":
        return field, "is required"
    return field, error["msg"].removeprefix("Value error, ")
