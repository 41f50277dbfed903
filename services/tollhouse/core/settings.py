"""Loading a service's settings: one TOML file, then environment overrides, then validation.

Every service declares its settings as a pydantic model with flat keys and ``extra="forbid"``;
this module reads ``--config PATH`` (TOML), applies ``<PREFIX><KEY>`` environment variables
(e.g. ``TOLLHOUSE_GATEWAY_LISTEN_PORT=8081``) and turns every problem into one
``SettingsError`` whose message names the file or variable and the key.
Keys keep one name from inventory to template to settings object.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "352d20ee67be67f6340b4c0605b044b7"}
MIN_SECRET_LENGTH = 16


class SettingsError(Exception):
    """The configuration cannot be used; the message says which key and why."""


class ServiceSettings(BaseModel):
    """Base for each service's settings: unknown keys are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Settings = TypeVar("Settings", bound=ServiceSettings)


def check_secret(value: str, name: str) -> str:
    """Refuse secrets that are empty, short or well-known defaults."""
    if value.lower() in PLACEHOLDER_SECRETS:
        raise ValueError(f"{name} is a well-known default; generate one (e.g. `openssl rand -hex 32`)")
    if len(value) < MIN_SECRET_LENGTH:
        raise ValueError(f"{name} must be at least {MIN_SECRET_LENGTH} characters")
    return value


def load_settings(
    model: type[Settings],
    path: str | Path | None,
    env_prefix: str,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read ``path`` (TOML, optional), overlay ``env_prefix`` variables and validate."""
    environ = os.environ if environ is None else environ
    source = str(path) if path else "(no config file)"
    data = _read_toml(Path(path)) if path else {}
    origin = dict.fromkeys(data, source)

    for name, raw in environ.items():
        if not name.startswith(env_prefix):
            continue
        key = name[len(env_prefix) :].lower()
        if key not in model.model_fields:
            raise SettingsError(f"{name}: unknown setting {key!r} (known: {', '.join(sorted(model.model_fields))})")
        data[key] = _parse_env_value(raw)
        origin[key] = name

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, origin, source)) from None


def _read_toml(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"config file {path} does not exist") from None
    except PermissionError:
        raise SettingsError(f"config file {path} is not readable by this user") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None


def _parse_env_value(raw: str) -> object:
    """Lists and tables come as JSON; everything else stays a string for pydantic to coerce."""
    stripped = raw.strip()
    if stripped[:1] in ("[", "{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return raw
    return raw


def _describe(exc: ValidationError, origin: dict[str, str], source: str) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(settings)"
        where = origin.get(str(error["loc"][0]), source) if error["loc"] else source
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
            if "input" in error and not isinstance(error["input"], dict):
                shown = "<hidden>" if "secret" in key or "password" in key else repr(error["input"])
                message += f" (got {shown})"
        lines.append(f"{where}: {key}: {message}")
    return "invalid settings:\n  " + "\n  ".join(lines)
