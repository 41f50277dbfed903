"""Upstream hosts: their health in this gateway process, and an API's hosts taken in turn.

A host is ``(host name, port)``, as Tyk keys its host checker: an uptime test of
``http://10.0.0.5:8000/health`` speaks for every target on ``10.0.0.5:8000``, whatever the API.

Two things mark a host down, each undone its own way:
- active uptime tests (uptime.py): down after ``failure_trigger`` failed checks in a row, up again at the
  first passing check. Only APIs with ``proxy.check_host_against_uptime_tests`` skip such a host (as Tyk).
- real traffic (passive): ``passive_failures`` connection failures or timeouts in a row take the host out
  of its load-balanced APIs' rotation for ``passive_settle`` seconds; then it gets traffic again, and one
  more failure takes it out again. Any answer from the host resets the count.
The state lives as long as the process (reloads keep it); each gateway process learns on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from tollhouse.gateway.proxy import UpstreamTarget

log = logging.getLogger("tollhouse.gateway.upstreams")

HostKey = tuple[str, int]


def target_from_url(url: str) -> tuple[UpstreamTarget, str]:
    """The connection target and the base path (no trailing '/') of an upstream URL."""
    parts = urlsplit(url)
    scheme = parts.scheme
    port = parts.port or (443 if scheme == "https" else 80)
    hostname = parts.hostname or ""
    default_port = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    shown = f"[{hostname}]" if ":" in hostname else hostname  # an IPv6 literal
    host_header = shown if default_port else f"{shown}:{port}"
    return UpstreamTarget(scheme=scheme, host=hostname, port=port, host_header=host_header), parts.path.rstrip("/")


def host_key(url: str) -> HostKey:
    parts = urlsplit(url)
    return (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))


@dataclass
class HostHealth:
    failed_checks: int = 0
    down_by_checks: bool = False
    failed_requests: int = 0
    resting_until: float = 0.0  # passive: out of rotation until then (monotonic clock)


class HostStates:
    """Every upstream host's health as this process sees it."""

    def __init__(self, failure_trigger: int = 3, passive_failures: int = 3, passive_settle: float = 10.0,
                 clock: Callable[[], float] = time.monotonic):
        self.failure_trigger = failure_trigger
        self.passive_failures = passive_failures  # 0: traffic never marks a host down
        self.passive_settle = passive_settle
        self.clock = clock
        self._hosts: dict[HostKey, HostHealth] = {}

    def health(self, key: HostKey) -> HostHealth:
        health = self._hosts.get(key)
        if health is None:
            health = self._hosts[key] = HostHealth()
        return health

    def is_down(self, key: HostKey, *, by_checks: bool, by_traffic: bool) -> bool:
        health = self._hosts.get(key)
        if health is None:
            return False
        return (by_checks and health.down_by_checks) or (by_traffic and self.clock() < health.resting_until)

    # -- active: uptime tests ------------------------------------------------------------------

    def check_passed(self, key: HostKey) -> None:
        health = self.health(key)
        health.failed_checks = 0
        if health.down_by_checks:
            health.down_by_checks = False
            log.warning("upstream host %s:%d is up again (uptime test passed)", *key)

    def check_failed(self, key: HostKey, reason: str) -> None:
        health = self.health(key)
        health.failed_checks += 1
        if not health.down_by_checks and health.failed_checks >= self.failure_trigger:
            health.down_by_checks = True
            log.warning("upstream host %s:%d is down: %d uptime tests failed in a row, the last: %s",
                        *key, health.failed_checks, reason)

    # -- passive: real traffic -----------------------------------------------------------------

    def request_answered(self, key: HostKey) -> None:
        health = self._hosts.get(key)
        if health is not None and health.failed_requests:
            health.failed_requests = 0

    def request_failed(self, key: HostKey, reason: str) -> None:
        if not self.passive_failures:
            return
        health = self.health(key)
        health.failed_requests += 1
        if health.failed_requests >= self.passive_failures:
            health.resting_until = self.clock() + self.passive_settle
            log.warning("upstream host %s:%d out of rotation for %gs: %d requests failed in a row, the last: %s",
                        *key, self.passive_settle, health.failed_requests, reason)


@dataclass(frozen=True)
class Upstream:
    target: UpstreamTarget
    base_path: str
    key: HostKey


class HostList:
    """An API's upstream hosts, taken in turn (round robin), passing over those marked down."""

    def __init__(self, urls: list[str], states: HostStates, *, skip_checked_down: bool, skip_resting: bool):
        self.upstreams = tuple(Upstream(*target_from_url(url), host_key(url)) for url in urls)
        self.states = states
        self.skip_checked_down = skip_checked_down
        self.skip_resting = skip_resting
        self._next = 0

    def pick(self) -> Upstream | None:
        """The next host up, or None when every host is down."""
        upstreams = self.upstreams
        count = len(upstreams)
        start = self._next
        self._next = (start + 1) % count
        if not (self.skip_checked_down or self.skip_resting):
            return upstreams[start]
        for step in range(count):
            upstream = upstreams[(start + step) % count]
            if not self.states.is_down(upstream.key, by_checks=self.skip_checked_down, by_traffic=self.skip_resting):
                return upstream
        return None
