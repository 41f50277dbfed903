"""Where analytics records go: the sink interface (Tyk pump's shape) and the registry by type name.

A sink's ``write`` either raises (the sink or its store is unavailable: the pump keeps the batch
and retries it later) or returns the records it can never accept (they go to the dead-letter
list). Writes must be idempotent per ``request_id``: after a crash a batch is written again.
Sinks must not modify the records they are given; every sink sees the same list.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from tollhouse.pump.settings import PumpSettings


@dataclass(frozen=True)
class Rejection:
    """Record ``index`` of the batch can never be stored by this sink, because ``reason``."""

    index: int
    reason: str


class Sink(ABC):
    # The name used in the ``sinks`` setting.
    type_name: str = ""
    # The key under which /health reports this sink's store.
    component: str = ""

    @abstractmethod
    async def init(self) -> None:
        """Connect and prepare the store; raise if it is not reachable (init is retried)."""

    @abstractmethod
    async def write(self, batch: list[dict]) -> list[Rejection]:
        """Store ``batch``; raise if the store is unavailable, return records refused for good."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Release connections; called once, after the last write."""

    @abstractmethod
    async def check(self) -> None:
        """Raise if the store is not reachable now (for /health)."""


SINK_TYPES: dict[str, type[Sink]] = {}


def register(type_name: str) -> Callable[[type[Sink]], type[Sink]]:
    def add(cls: type[Sink]) -> type[Sink]:
        cls.type_name = type_name
        SINK_TYPES[type_name] = cls
        return cls

    return add


def known_sink_types() -> set[str]:
    _load_builtin_sinks()
    return set(SINK_TYPES)


def build_sinks(settings: PumpSettings) -> list[Sink]:
    """One sink per name in ``settings.sinks`` (the names were checked when the settings loaded)."""
    _load_builtin_sinks()
    return [SINK_TYPES[name](settings) for name in settings.sinks]


def _load_builtin_sinks() -> None:
    # Imported here, not at the top: each sink module imports this one to register itself.
    from tollhouse.pump.sinks import aggregate, mongo  # noqa: F401
