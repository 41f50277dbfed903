"""An API's response cache settings (Tyk's classic shapes), validated for the gateway and the dashboard.

``cache_options`` (top level) turns the cache on and sets its defaults:
- ``enable_cache``; ``cache_timeout`` seconds an answer is kept (0: 60, Tyk's default);
- ``cache_all_safe_requests``: every GET, HEAD and OPTIONS; otherwise only the paths listed per version;
- ``cache_response_codes``: the statuses kept. Empty keeps 200 only — unlike Tyk, which then keeps every
  status, so one upstream 500 would be served for a whole ``cache_timeout``;
- ``cache_by_headers``: request headers whose values also key the cache (e.g. ``Accept-Language``);
- ``enable_upstream_cache_control``: the upstream decides per answer (see ``gateway/cache_control.py``), with
  ``cache_control_ttl_header`` naming its TTL header (Tyk's; default ``x-tyk-cache-action-set-ttl``).

Per version, ``extended_paths.cache`` lists paths (safe methods), and ``extended_paths.advance_cache_config``
entries ``{method, path, cache_response_codes, timeout}`` override the statuses and lifetime for one method and
path. Paths are matched like every endpoint path (``endpoint_paths.endpoint_pattern``). Only GET, HEAD and OPTIONS are
ever cached: Tyk's caching of POST bodies (``cache_key_regex``) is refused with a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if TYPE_CHECKING:
    from tollhouse.core.apidef import ApiDefinition

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_TIMEOUT = 60
DEFAULT_CODES = (200,)
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _status_codes(value: list[int]) -> list[int]:
    for code in value:
        if not 100 <= code <= 599:
            raise ValueError(f"{code} is not an HTTP status code")
    return value


class CacheOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    enable_cache: bool = False
    cache_timeout: int = Field(DEFAULT_TIMEOUT, ge=0)
    cache_all_safe_requests: bool = False
    cache_response_codes: list[int] = []
    cache_by_headers: list[str] = []
    enable_upstream_cache_control: bool = False
    cache_control_ttl_header: str = ""

    @field_validator("cache_response_codes")
    @classmethod
    def _codes(cls, value: list[int]) -> list[int]:
        return _status_codes(value)

    @field_validator("cache_by_headers")
    @classmethod
    def _headers(cls, value: list[str]) -> list[str]:
        for name in value:
            if not HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a header name")
        return value

    @field_validator("cache_control_ttl_header")
    @classmethod
    def _ttl_header(cls, value: str) -> str:
        if value and not HEADER_NAME.match(value):
            raise ValueError(f"{value!r} is not a header name")
        return value

    @property
    def timeout(self) -> int:
        return self.cache_timeout or DEFAULT_TIMEOUT

    @property
    def codes(self) -> frozenset[int]:
        return frozenset(self.cache_response_codes or DEFAULT_CODES)


class AdvancedCacheEntry(BaseModel):
    """One ``advance_cache_config`` entry: its statuses and lifetime override ``cache_options``' when set."""

    model_config = ConfigDict(extra="allow")

    path: str = Field(min_length=1)
    method: str = "GET"
    cache_response_codes: list[int] = []
    timeout: int = Field(0, ge=0)
    cache_key_regex: str = ""
    disabled: bool = False

    @field_validator("cache_response_codes")
    @classmethod
    def _codes(cls, value: list[int]) -> list[int]:
        return _status_codes(value)

    @field_validator("method")
    @classmethod
    def _safe(cls, value: str) -> str:
        if value.upper() not in SAFE_METHODS:
            raise ValueError(f"{value!r}: only GET, HEAD and OPTIONS answers are cached")
        return value.upper()

    @field_validator("cache_key_regex")
    @classmethod
    def _no_body_key(cls, value: str) -> str:
        if value:
            raise ValueError("is not supported: only GET, HEAD and OPTIONS answers are cached, and they have no "
                             "body to key by")
        return value


@dataclass(frozen=True)
class CacheRule:
    """A cached path of one version: ``methods`` (a subset of the safe ones), statuses and lifetime (None: the
    API's)."""

    path: str
    methods: frozenset[str]
    codes: frozenset[int] | None = None
    timeout: int | None = None
    disabled: bool = False


def cache_rules(definition: ApiDefinition, version: str) -> list[CacheRule]:
    """The version's cached paths, ``advance_cache_config`` entries first (they carry the overrides, and the
    first match wins); ``DefinitionError`` names the first bad field."""
    from tollhouse.core.apidef import DefinitionError, _describe  # apidef imports this module
    from tollhouse.core.endpoint_paths import endpoint_pattern

    place = f"version_data.versions.{version}.extended_paths"
    extended = (definition.version_data.versions.get(version) or {}).get("extended_paths") or {}
    if not isinstance(extended, dict):
        raise DefinitionError([(place, "must be an object")])
    rules = []
    advanced = extended.get("advance_cache_config") or []
    if not isinstance(advanced, list):
        raise DefinitionError([(f"{place}.advance_cache_config", "must be a list")])
    for index, raw in enumerate(advanced):
        try:
            entry = AdvancedCacheEntry.model_validate(raw)
        except ValidationError as exc:
            raise DefinitionError([_describe(exc.errors()[0], f"{place}.advance_cache_config.{index}")]) from None
        rules.append(CacheRule(entry.path, frozenset({entry.method}),
                               frozenset(entry.cache_response_codes) or None, entry.timeout or None, entry.disabled))
    paths = extended.get("cache") or []
    if not isinstance(paths, list):
        raise DefinitionError([(f"{place}.cache", "must be a list of paths")])
    for index, path in enumerate(paths):
        if not isinstance(path, str) or not path:
            raise DefinitionError([(f"{place}.cache.{index}", "must be a path")])
        rules.append(CacheRule(path, SAFE_METHODS))
    for index, rule in enumerate(rules):
        try:
            endpoint_pattern(rule.path)
        except re.error as exc:
            which = (f"advance_cache_config.{index}.path" if index < len(advanced)
                     else f"cache.{index - len(advanced)}")
            raise DefinitionError([(f"{place}.{which}", f"is not a valid regular expression: {exc}")]) from None
    return rules


def check_cache_fields(definition: ApiDefinition) -> None:
    """Every version's cache entries, when the cache is on (off, they do nothing and are kept as given)."""
    if definition.cache_options.enable_cache:
        for version in definition.version_data.versions:
            cache_rules(definition, version)
