"""A circuit breaker for one path of an API (``extended_paths.circuit_breakers``), per gateway process.

closed ── the last ``samples`` outcomes hold at least ``threshold`` failures (ratio) ──> open
open ── answers 503 without calling the upstream; after ``return_after`` seconds ──> half-open
        (or straight to closed, with a fresh window, when the half-open state is disabled)
half-open ── one trial request goes through, the others are refused; it succeeds ──> closed,
             it fails ──> open again for another ``return_after``.
A failure is an upstream answer of 500 or more, or no answer (connection failed, timed out).

Each gateway process keeps its own breakers, as Tyk's gateways do: with N processes a failing path
needs up to N times ``samples`` requests before every process stops calling it.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections import deque
from collections.abc import Callable

log = logging.getLogger("tollhouse.gateway.circuit_breaker")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
SERVICE_UNAVAILABLE = "Service temporarily unavailable."  # Tyk's answer while open


class CircuitBreaker:
    def __init__(self, name: str, threshold: float, samples: int, return_after: float, *, half_open: bool = True,
                 clock: Callable[[], float] = time.monotonic):
        self.name = name
        self.threshold = threshold
        self.samples = samples
        self.return_after = return_after
        self.half_open = half_open
        self.clock = clock
        self.state = CLOSED
        self._outcomes: deque[bool] = deque(maxlen=samples)  # True: failed
        self._failures = 0
        self._opened_at = 0.0
        self._trial_out = False
        # Changes with every state change: an outcome is counted only in the state its request was let in.
        self._generation = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, {self.state})"

    def admit(self) -> int | None:
        """Whether a request may go upstream now: a ticket for ``record``, or None (answer 503)."""
        if self.state == OPEN:
            if self.clock() - self._opened_at < self.return_after:
                return None
            if not self.half_open:
                self._close("return_to_service_after passed")
                return self._generation
            self._change(HALF_OPEN)
        if self.state == HALF_OPEN:
            if self._trial_out:
                return None
            self._trial_out = True
        return self._generation

    def record(self, ticket: int, failed: bool) -> None:
        """The outcome of a request ``admit`` let in."""
        if ticket != self._generation:
            return  # let in before the last state change: it says nothing about now
        if self.state == HALF_OPEN:
            self._trial_out = False
            if failed:
                self._open("the trial request failed")
            else:
                self._close("the trial request succeeded")
            return
        outcomes = self._outcomes
        if len(outcomes) == self.samples:
            self._failures -= outcomes[0]
        outcomes.append(failed)
        self._failures += failed
        if len(outcomes) == self.samples and self._failures / self.samples >= self.threshold:
            self._open(f"{self._failures} of the last {self.samples} requests failed")

    def abandon(self, ticket: int) -> None:
        """A request let in ended without an outcome (the client went away first): free its trial slot."""
        if ticket == self._generation and self.state == HALF_OPEN:
            self._trial_out = False

    def _open(self, why: str) -> None:
        self._opened_at = self.clock()
        self._change(OPEN)
        log.warning("circuit breaker %s opened: %s; trying again in %gs", self.name, why, self.return_after)

    def _close(self, why: str) -> None:
        self._outcomes.clear()
        self._failures = 0
        self._change(CLOSED)
        log.warning("circuit breaker %s closed: %s", self.name, why)

    def _change(self, state: str) -> None:
        self.state = state
        self._trial_out = False
        self._generation += 1


class BreakerRegistry:
    """This process's breakers by what identifies one, so a reload keeps the state of unchanged ones.

    Weak values: a breaker lives while a loaded API holds it; a changed or removed entry's breaker goes
    with the last API object that used it.
    """

    def __init__(self):
        self._breakers: weakref.WeakValueDictionary[tuple, CircuitBreaker] = weakref.WeakValueDictionary()

    def get(self, key: tuple, make: Callable[[], CircuitBreaker]) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = make()
        return breaker
