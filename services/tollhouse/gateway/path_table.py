"""Per-path settings of an API (an ``extended_paths`` list), found for a request in the version it asked for."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

from tollhouse.core.endpoint_paths import endpoint_pattern

if TYPE_CHECKING:
    from tollhouse.gateway.compiled import CompiledApi
    from tollhouse.gateway.context import RequestContext

E = TypeVar("E")  # the parsed entry (has path, methods, disabled)
T = TypeVar("T")  # what the table holds for it


class PathTable(Generic[T]):
    """First matching entry wins, in the order the definition lists them (Tyk's)."""

    def __init__(self, api: CompiledApi, entries: Callable[[str], Iterable[E]], value: Callable[[str, E], T]):
        """``entries(version)``: the version's parsed entries; ``value(version, entry)``: what to keep for one."""
        self.api = api
        data = api.definition.version_data
        self.by_version: dict[str, tuple[tuple[re.Pattern, frozenset[str], T], ...]] = {
            version: tuple((endpoint_pattern(entry.path), entry.methods, value(version, entry))
                           for entry in entries(version) if not entry.disabled)
            for version in data.versions}
        # An unversioned API's paths are those of its one version entry (Tyk calls it "Default").
        names = [data.default_version, "Default", *data.versions] if data.not_versioned else []
        self.unversioned = next((self.by_version[name] for name in names if name in self.by_version), ())

    def __bool__(self) -> bool:
        return any(self.by_version.values())

    def find(self, ctx: RequestContext) -> T | None:
        rows = self.by_version.get(ctx.version, ()) if ctx.version else self.unversioned
        if not rows:
            return None
        path, method = self.api.relative_path(ctx.request.path), ctx.request.method
        for pattern, methods, value in rows:
            if (not methods or method in methods) and pattern.match(path):
                return value
        return None
