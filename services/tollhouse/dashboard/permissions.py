"""Who may do what: per-area access (Tyk's ``user_permissions`` shape) and the dependency every ``/api`` route uses.

A user document carries ``is_admin`` (write everywhere) and ``permissions``: ``{"apis": "write", "keys": "read",
...}`` over the areas below, each ``"none"``, ``"read"`` or ``"write"``; a missing area is ``"none"``. ``write``
includes ``read``. Routes declare their need once, as ``Depends(require(area, mode))``: GET needs ``read``,
POST/PUT/DELETE need ``write``. A user lacking it gets 403 naming the area and mode, before the route runs,
so nothing changes. ``tests/integration/dashboard/test_permissions.py`` checks that every ``/api`` route but
login and logout declares one.

Permissions are read from the user document on every request (``auth.authorization``), so a change counts
from the next request, for sessions already open too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Literal

from tollhouse.dashboard.auth import CurrentUser, UserDep
from tollhouse.dashboard.errors import DashboardError

AREAS = ("apis", "keys", "policies", "analytics", "users", "system")
MODES = ("none", "read", "write")
Area = Literal["apis", "keys", "policies", "analytics", "users", "system"]
Mode = Literal["none", "read", "write"]
_RANK = {mode: rank for rank, mode in enumerate(MODES)}


def allows(user: CurrentUser, area: str, mode: str) -> bool:
    if user.is_admin:
        return True
    return _RANK.get(user.permissions.get(area, "none"), 0) >= _RANK[mode]


def effective(is_admin: bool, permissions: dict[str, str]) -> dict[str, str]:
    """Every area with its mode (admins: write everywhere), as answered by the users API."""
    return {area: "write" if is_admin else permissions.get(area, "none") for area in AREAS}


def exceeds(permissions: dict[str, str], granter: CurrentUser) -> list[str]:
    """The areas where ``permissions`` grant more than ``granter`` has (none for an admin granter)."""
    if granter.is_admin:
        return []
    return [area for area, mode in permissions.items() if not allows(granter, area, mode)]


@functools.cache
def require(area: Area, mode: Literal["read", "write"]) -> Callable[..., CurrentUser]:
    """The dependency for ``mode`` access to ``area`` (cached: one function object per pair)."""
    if area not in AREAS or mode not in ("read", "write"):
        raise ValueError(f"unknown area or mode: {area}, {mode}")

    def dependency(user: UserDep) -> CurrentUser:
        if not allows(user, area, mode):
            raise DashboardError(403, f"Forbidden: this needs {mode} access to {area}")
        return user

    dependency.__name__ = f"require_{area}_{mode}"
    dependency.area, dependency.mode = area, mode  # type: ignore[attr-defined]  # read by the route check
    return dependency
