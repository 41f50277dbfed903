"""Keys (Tyk "sessions") and policies: the documents API teams write, validated in one place.

Both keep unknown fields (users move whole Tyk documents around) and check the fields Tollhouse
acts on. Errors name the field as a dotted path, e.g. ``access_rights.orders.limit.rate: ...``.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tollhouse.core.endpoint_paths import Regex

UNLIMITED = -1


class DocumentError(ValueError):
    """A key or policy document cannot be used; ``errors`` lists ``(field, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors))


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class Limit(_Doc):
    """Rate and quota. ``rate <= 0`` or ``per <= 0``: no rate limit; ``quota_max < 0``: no quota."""

    rate: float = Field(0, ge=0)
    per: float = Field(0, ge=0)
    quota_max: int = Field(UNLIMITED, ge=UNLIMITED)
    quota_renewal_rate: int = Field(0, ge=0)

    @property
    def has_rate(self) -> bool:
        return self.rate > 0 and self.per > 0

    @property
    def has_quota(self) -> bool:
        return self.quota_max >= 0

    @property
    def is_set(self) -> bool:
        return self.has_rate or self.has_quota


class AllowedUrl(_Doc):
    url: Regex  # a regular expression matched against the path after the listen path, as Tyk does
    methods: list[str] = []

    @field_validator("methods")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [method.upper() for method in value]


class AccessDefinition(_Doc):
    api_id: str = ""
    api_name: str = ""
    versions: list[str] = []
    allowed_urls: list[AllowedUrl] = []
    limit: Limit | None = None


class BasicAuthData(_Doc):
    password: str = ""  # a bcrypt hash once stored
    hash_type: str = ""


class JwtData(_Doc):
    secret: str = ""


class SessionState(_Doc):
    """A key's document, Tyk's field names."""

    rate: float = Field(0, ge=0)
    per: float = Field(0, ge=0)
    quota_max: int = Field(UNLIMITED, ge=UNLIMITED)
    quota_renewal_rate: int = Field(0, ge=0)
    quota_remaining: int = 0  # reported, not enforced from here: the counter lives in Redis
    quota_renews: int = 0
    expires: int = Field(0, ge=0)  # unix seconds; 0 never
    is_inactive: bool = False
    access_rights: dict[str, AccessDefinition] = {}
    apply_policies: list[str] = []
    apply_policy_id: str = ""  # Tyk's older single-policy field; folded into apply_policies
    org_id: str = ""
    meta_data: dict[str, Any] = {}
    tags: list[str] = []
    alias: str = ""
    basic_auth_data: BasicAuthData = BasicAuthData()
    jwt_data: JwtData = JwtData()
    hmac_enabled: bool = False
    hmac_string: str = ""
    oauth_client_id: str = ""
    date_created: str = ""
    last_updated: str = ""

    def policy_ids(self) -> list[str]:
        ids = list(self.apply_policies)
        if self.apply_policy_id and self.apply_policy_id not in ids:
            ids.insert(0, self.apply_policy_id)
        return ids

    def expired(self, now: float | None = None) -> bool:
        return self.expires > 0 and self.expires <= (time.time() if now is None else now)

    def own_limit(self) -> Limit:
        return Limit(rate=self.rate, per=self.per, quota_max=self.quota_max,
                     quota_renewal_rate=self.quota_renewal_rate)


class Partitions(_Doc):
    quota: bool = False
    rate_limit: bool = False
    acl: bool = False
    per_api: bool = False

    @property
    def any(self) -> bool:
        return self.quota or self.rate_limit or self.acl


class Policy(_Doc):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = ""
    org_id: str = ""
    rate: float = Field(0, ge=0)
    per: float = Field(0, ge=0)
    quota_max: int = Field(UNLIMITED, ge=UNLIMITED)
    quota_renewal_rate: int = Field(0, ge=0)
    access_rights: dict[str, AccessDefinition] = {}
    active: bool = True
    is_inactive: bool = False
    key_expires_in: int = Field(0, ge=0)
    tags: list[str] = []
    meta_data: dict[str, Any] = {}
    partitions: Partitions = Partitions()
    hmac_enabled: bool = False

    def own_limit(self) -> Limit:
        return Limit(rate=self.rate, per=self.per, quota_max=self.quota_max,
                     quota_renewal_rate=self.quota_renewal_rate)


def parse_session(raw: Any) -> SessionState:
    return _parse(SessionState, raw, "(key)")


def parse_policy(raw: Any) -> Policy:
    """A policy; Tyk's dashboard calls the id ``_id`` (or ``id``), both are accepted."""
    if isinstance(raw, dict) and "id" not in raw and isinstance(raw.get("_id"), str):
        raw = {**raw, "id": raw["_id"]}
    return _parse(Policy, raw, "(policy)")


def _parse(model: type[_Doc], raw: Any, what: str):
    if not isinstance(raw, dict):
        raise DocumentError([(what, "must be a JSON object")])
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or what
            message = "is required" if error["type"] == "missing" else error["msg"].removeprefix("Value error, ")
            errors.append((field, message))
        raise DocumentError(errors) from None
