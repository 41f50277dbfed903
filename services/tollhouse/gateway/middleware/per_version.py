"""Settings compiled once per API version, and the per-path entries of one version matched against a request."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from tollhouse.core.apidef import ApiDefinition
from tollhouse.core.apidef_transforms import VersionTransforms, all_version_transforms, unversioned_name
from tollhouse.gateway.compiled import CompiledApi
from tollhouse.gateway.context import RequestContext

T = TypeVar("T")
E = TypeVar("E")


class PerVersion(Generic[T]):
    """``compile(version's transforms)`` for every version; ``for_request`` picks the request's (None: nothing
    applies). An unversioned API uses its one version entry, as Tyk's "Default"."""

    def __init__(self, definition: ApiDefinition, compile: Callable[[VersionTransforms], T | None]):
        self.by_version = {name: compile(settings) for name, settings in all_version_transforms(definition).items()}
        name = unversioned_name(definition)
        self.unversioned = self.by_version.get(name) if name is not None else None

    def for_request(self, ctx: RequestContext) -> T | None:
        return self.by_version.get(ctx.version) if ctx.version else self.unversioned

    def any(self) -> bool:
        return any(value is not None for value in self.by_version.values())


class PerVersionStep:
    """A pipeline step built from each version's settings: a subclass names ``compile`` (a staticmethod: one
    version's transforms -> what the step needs, or None), and ``for_api`` gives the step only to APIs where some
    version has something for it, so the others' chains never hold it."""

    compile: Callable[[VersionTransforms], object]

    def __init__(self, api: CompiledApi):
        self.api = api
        self.versions = PerVersion(api.definition, self.compile)

    @classmethod
    def for_api(cls, api: CompiledApi):
        step = cls(api)
        return step if step.versions.any() else None


@dataclass(frozen=True)
class Endpoint(Generic[E]):
    pattern: re.Pattern
    methods: frozenset[str]  # empty: every method
    entry: E

    def matches(self, path: str, method: str) -> bool:
        return (not self.methods or method in self.methods) and self.pattern.match(path) is not None


def endpoints(entries: Iterable) -> tuple[Endpoint, ...]:
    """The active entries of one ``extended_paths`` list, compiled, in their order (the first match wins)."""
    return tuple(Endpoint(entry.pattern(), entry.methods, entry) for entry in entries if not entry.disabled)


def first_match(compiled: tuple[Endpoint[E], ...], path: str, method: str) -> E | None:
    for endpoint in compiled:
        if endpoint.matches(path, method):
            return endpoint.entry
    return None
