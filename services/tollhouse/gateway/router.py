"""Routing a request to an API: by Host (when an API sets ``domain``), then longest listen path.

The table is immutable once built; a reload builds a new one and swaps the reference, so
in-flight requests finish on the table (and API objects) they started with.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, Protocol, TypeVar


class Routable(Protocol):
    domain: str
    listen_path: str  # normalised: always ends with "/"


R = TypeVar("R", bound=Routable)


class Router(Generic[R]):
    def __init__(self, apis: Iterable[R]):
        self._by_domain: dict[str, dict[str, R]] = {}
        for api in apis:
            self._by_domain.setdefault(api.domain, {})[api.listen_path] = api
        self._any_domain = self._by_domain.get("", {})
        self.apis: tuple[R, ...] = tuple(api for table in self._by_domain.values() for api in table.values())

    def __len__(self) -> int:
        return len(self.apis)

    def match(self, host: str, path: str) -> R | None:
        """The API for this Host header and request path, or None."""
        if len(self._by_domain) > 1 or not self._any_domain:
            host = host.lower()
            # An API bound to "host:port" wins over one bound to "host", which wins over any host.
            for candidate in (host, host.rsplit(":", 1)[0]):
                table = self._by_domain.get(candidate) if candidate else None
                api = _longest_prefix(table, path) if table else None
                if api is not None:
                    return api
        return _longest_prefix(self._any_domain, path)


def _longest_prefix(table: dict[str, R], path: str) -> R | None:
    # Walk up the path one segment at a time: a few dict look-ups instead of a scan of every API.
    prefix = path if path.endswith("/") else path + "/"
    while prefix:
        api = table.get(prefix)
        if api is not None:
            return api
        prefix = prefix[: prefix.rfind("/", 0, len(prefix) - 1) + 1]
    return None
