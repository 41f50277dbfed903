"""Checks shared by the documents users store through the dashboard (API definitions, policies, keys).

Each returns or raises ``(field, message)`` pairs, so that every refusal names the field at fault.
"""

from __future__ import annotations

import math
from typing import Any

from tollhouse.core.session import AccessDefinition
from tollhouse.dashboard.errors import BadRequest
from tollhouse.dashboard.store import Store

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def storage_problems(value: Any, path: str) -> list[tuple[str, str]]:
    """What JSON allows but MongoDB cannot keep faithfully (or JSON cannot give back)."""
    if isinstance(value, dict):
        problems = []
        for key, item in value.items():
            field = f"{path}.{key}" if path else key
            if key.startswith("$") or "\x00" in key:
                problems.append((field, "field names must not start with '$' or contain NUL"))
            else:
                problems.extend(storage_problems(item, field))
        return problems
    if isinstance(value, list):
        return [problem for index, item in enumerate(value)
                for problem in storage_problems(item, f"{path}.{index}")]
    if isinstance(value, float) and not math.isfinite(value):
        return [(path, "must be a finite number")]
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        return [(path, "is too large (64-bit integers only)")]
    return []


def check_access_rights(store: Store, org_id: str, rights: dict[str, AccessDefinition]) -> None:
    """Each entry's ``api_id`` matches its name and names an API of the organisation; else 400 naming it."""
    mismatched = [(f"access_rights.{name}.api_id", f"{access.api_id!r} does not match its entry's name {name!r}")
                  for name, access in rights.items() if access.api_id and access.api_id != name]
    if mismatched:
        raise BadRequest(mismatched)
    known = store.existing_api_ids(org_id, list(rights))
    unknown = [(f"access_rights.{name}", f"API {name} does not exist in this organisation")
               for name in rights if name not in known]
    if unknown:
        raise BadRequest(unknown)
