"""The definition fields about upstreams: load balancing, uptime tests, hard timeouts, circuit breakers.

Tyk's classic names and shapes:
- ``proxy.enable_load_balancing`` + ``proxy.target_list``: round robin over the listed URLs;
  ``proxy.check_host_against_uptime_tests``: skip a host its uptime tests mark down.
- ``uptime_tests.check_list`` ``[{url, method, headers, body (base64), timeout (Go duration: ns)}]``,
  ``uptime_tests.config.recheck_wait`` (seconds between checks of this API's hosts; 0: the gateway's
  ``uptime_time_wait_seconds``). ``config.expire_utime_after`` is accepted: it ages Tyk's uptime analytics,
  which Tollhouse does not record.
- ``extended_paths.hard_timeouts`` ``[{path, method, timeout}]`` (seconds) and
  ``extended_paths.circuit_breakers`` ``[{path, method, threshold_percent (a ratio, 0-1, as in Tyk), samples,
  return_to_service_after (seconds), disable_half_open_state}]``; ``disabled: true`` turns an entry off.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tollhouse.core.endpoint_paths import EndpointPath

if TYPE_CHECKING:
    from tollhouse.core.apidef import ApiDefinition, VersionData

M = TypeVar("M", bound=BaseModel)


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow")  # as core.apidef: whole Tyk definitions are carried around


def check_upstream_url(value: str) -> str:
    """An absolute http(s) URL without query or fragment (``proxy.target_url`` and each ``target_list`` entry)."""
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


class LoadBalancing(BaseModel):
    """The ``proxy`` fields of load balancing (mixed into core.apidef.ProxyConfig)."""

    enable_load_balancing: bool = False
    target_list: list[str] = []
    check_host_against_uptime_tests: bool = False

    @field_validator("target_list")
    @classmethod
    def _targets(cls, value: list[str]) -> list[str]:
        for index, url in enumerate(value):
            try:
                check_upstream_url(url)
            except ValueError as exc:
                raise ValueError(f"entry {index} ({url!r}) {exc}") from None
        return value


class UptimeCheck(_Section):
    url: str
    method: str = "GET"
    headers: dict[str, str] = {}
    body: str = ""  # base64, as Tyk
    # A Go time.Duration in Tyk's JSON: nanoseconds. 0: the gateway's uptime_check_timeout_seconds.
    timeout: int = Field(0, ge=0)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z]{1,16}", value or "GET"):
            raise ValueError("must be an HTTP method")
        return (value or "GET").upper()

    @field_validator("body")
    @classmethod
    def _body(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be base64 (as in Tyk)") from None
        return value

    @property
    def body_bytes(self) -> bytes:
        return base64.b64decode(self.body)

    @property
    def timeout_seconds(self) -> float | None:
        return self.timeout / 1e9 if self.timeout else None


class UptimeTestsConfig(_Section):
    expire_utime_after: int = Field(0, ge=0)
    recheck_wait: float = Field(0, ge=0)


class UptimeTests(_Section):
    check_list: list[UptimeCheck] = []
    config: UptimeTestsConfig = UptimeTestsConfig()


class _PathEntry(_Section):
    """An ``extended_paths`` entry: ``path`` as in every Tyk path list (see core.apidef.endpoint_pattern)."""

    path: EndpointPath = Field(min_length=1)
    method: str = ""
    disabled: bool = False

    @property
    def methods(self) -> frozenset[str]:
        method = self.method.upper()
        return frozenset() if method in ("", "ANY") else frozenset({method})


class HardTimeout(_PathEntry):
    timeout: float = Field(gt=0, le=3600)  # seconds


class CircuitBreaker(_PathEntry):
    threshold_percent: float = Field(gt=0, le=1)  # a ratio of failed requests, as Tyk's
    samples: int = Field(ge=1, le=10_000)
    return_to_service_after: float = Field(gt=0)  # seconds
    disable_half_open_state: bool = False


def path_entries(versions: VersionData, version: str, name: str, model: type[M]) -> list[M]:
    """The version's ``extended_paths.<name>`` entries as ``model``; ``DefinitionError`` names a bad one."""
    from tollhouse.core.apidef import DefinitionError, _describe

    extended = versions.versions.get(version, {}).get("extended_paths") or {}
    field = f"version_data.versions.{version}.extended_paths"
    if not isinstance(extended, dict):
        raise DefinitionError([(field, "must be an object")])
    entries = extended.get(name) or []
    if not isinstance(entries, list):
        raise DefinitionError([(f"{field}.{name}", "must be a list")])
    parsed = []
    for index, entry in enumerate(entries):
        try:
            parsed.append(model.model_validate(entry))
        except ValidationError as exc:
            raise DefinitionError([_describe(error, f"{field}.{name}.{index}") for error in exc.errors()]) from None
    return parsed


def check_upstream_fields(definition: ApiDefinition) -> None:
    """What parse_definition checks beyond the field types (raises ``DefinitionError``)."""
    from tollhouse.core.apidef import DefinitionError

    if definition.proxy.enable_load_balancing and not definition.proxy.target_list:
        raise DefinitionError([("proxy.target_list", "enable_load_balancing needs at least one URL here")])
    for version in definition.version_data.versions:
        path_entries(definition.version_data, version, "hard_timeouts", HardTimeout)
        path_entries(definition.version_data, version, "circuit_breakers", CircuitBreaker)


def upstream_rules_apply(definition: ApiDefinition) -> bool:
    """Whether the API needs more than the plain proxy (a host list, hard timeouts or circuit breakers)."""
    versions = definition.version_data
    return (definition.proxy.enable_load_balancing or definition.proxy.check_host_against_uptime_tests
            or any(not entry.disabled for version in versions.versions
                   for name, model in (("hard_timeouts", HardTimeout), ("circuit_breakers", CircuitBreaker))
                   for entry in path_entries(versions, version, name, model)))
