"""A dict that remembers at most ``max_entries`` entries, forgetting the oldest first.

For per-process memos on the request path (decoded sessions, resolved grants): a hit saves the work,
a miss only costs it, so a simple first-in-first-out bound is enough.
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V]):
    def __init__(self, max_entries: int):
        super().__init__()
        self.max_entries = max_entries

    def remember(self, key: K, value: V) -> V:
        if len(self) >= self.max_entries and key not in self:
            del self[next(iter(self))]
        self[key] = value
        return value
