"""What one entry of ``version_data.versions`` says beyond its extended_paths: expiry, upstream, legacy paths.

- ``expires``: Tyk's ``"2006-01-02 15:04"`` (UTC), or ISO 8601 with or without an offset; empty or ``-1``:
  never. After it, requests for the version are refused.
- ``override_target``: this version's upstream URL instead of ``proxy.target_url`` (and of load balancing).
- ``paths``: Tyk's first shape of the path lists, ``{"ignored": [...], "white_list": [...], "black_list":
  [...]}`` of path strings for every method; used unless ``use_extended_paths`` is true, as in Tyk. They join
  the version's ``extended_paths`` lists (see ``legacy_path_lists``), so one middleware enforces both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from tollhouse.core.apidef import ApiDefinition, DefinitionError, _describe
from tollhouse.core.endpoint_paths import EndpointPath

NEVER = ("", "-1")
LEGACY_LISTS = ("ignored", "white_list", "black_list")


def parse_expiry(value: str) -> datetime | None:
    """The expiry instant of ``expires`` (aware, UTC when no offset is given); None: never. ValueError if bad."""
    value = value.strip()
    if value in NEVER:
        return None
    try:
        moment = datetime.fromisoformat(value)  # also reads Tyk's "2006-01-02 15:04"
    except ValueError:
        raise ValueError('must be a date and time such as "2027-01-31 18:00" (UTC), or empty for never') from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


PathPattern = EndpointPath


class LegacyPaths(BaseModel):
    model_config = ConfigDict(extra="allow")

    ignored: list[PathPattern] | None = None
    white_list: list[PathPattern] | None = None
    black_list: list[PathPattern] | None = None


class VersionInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    expires: str = ""
    override_target: str = ""
    use_extended_paths: bool = False
    paths: LegacyPaths = LegacyPaths()

    @field_validator("expires")
    @classmethod
    def _expires(cls, value: str) -> str:
        parse_expiry(value)
        return value

    @field_validator("override_target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not value:
            return value
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

    @property
    def expires_at(self) -> datetime | None:
        return parse_expiry(self.expires)


def version_info(definition: ApiDefinition, name: str) -> VersionInfo:
    """The version's expiry, upstream and legacy paths; ``DefinitionError`` names the first bad field."""
    try:
        return VersionInfo.model_validate(definition.version_data.versions.get(name) or {})
    except ValidationError as exc:
        raise DefinitionError([_describe(exc.errors()[0], f"version_data.versions.{name}")]) from None


def legacy_path_lists(raw_version: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    """The version's ``paths`` lists as extended_paths entries for every method; empty with use_extended_paths."""
    if raw_version.get("use_extended_paths") is True:
        return {}
    paths = raw_version.get("paths")
    if not isinstance(paths, dict):
        return {}
    return {name: [{"path": path} for path in paths[name] if isinstance(path, str) and path]
            for name in LEGACY_LISTS if isinstance(paths.get(name), list) and paths[name]}


def all_version_infos(definition: ApiDefinition) -> dict[str, VersionInfo]:
    return {name: version_info(definition, name) for name in definition.version_data.versions}
