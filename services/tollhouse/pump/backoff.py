"""Exponential backoff for retrying a store that is down: 0.5 s, 1 s, 2 s ... up to a cap."""

from __future__ import annotations

FIRST_DELAY_SECONDS = 0.5


class Backoff:
    def __init__(self, max_seconds: float, first_seconds: float = FIRST_DELAY_SECONDS):
        self.max_seconds = max_seconds
        self.first_seconds = min(first_seconds, max_seconds)
        self._next = self.first_seconds

    def next_delay(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.max_seconds)
        return delay

    def reset(self) -> None:
        self._next = self.first_seconds
