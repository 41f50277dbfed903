"""Active health checks: every loaded API's ``uptime_tests.check_list``, run from this gateway process.

Each check is an HTTP request (Tyk's shape: url, method, headers, base64 body). A 2xx answer passes;
anything else, no answer or no answer in time fails. Results mark hosts in ``HostStates``: down after
``uptime_failure_trigger_sample_size`` failures in a row, up at the first pass (upstream_hosts.py).
A host's checks run every ``uptime_time_wait_seconds`` (an API's ``uptime_tests.config.recheck_wait`` when
set), at most ``uptime_checker_pool_size`` at once; the same check listed by several APIs runs once.

Unlike Tyk, whose gateways elect one to run the checks and share the results in Redis, each gateway
process checks for itself: no election, no Redis traffic, and a host one process cannot reach is down for
that process. Lifecycle: ``start_uptime_checks`` starts the one task with the gateway, which cancels it at
stop; a reload needs nothing, each round reads the APIs in force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from tollhouse.gateway.upstream_hosts import HostKey, HostStates, host_key

if TYPE_CHECKING:
    from tollhouse.gateway.compiled import CompiledApi
    from tollhouse.gateway.settings import GatewaySettings

log = logging.getLogger("tollhouse.gateway.uptime")

LONGEST_IDLE = 1.0  # seconds: how soon a newly loaded API's checks start at the latest


@dataclass(frozen=True)
class Check:
    url: str
    method: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    timeout: float | None  # None: the checker's default

    @property
    def host(self) -> HostKey:
        return host_key(self.url)


def planned_checks(apis: Sequence[CompiledApi], default_every: float) -> dict[Check, float]:
    """Every check the APIs list, with how often it runs (the shortest interval asked for)."""
    plan: dict[Check, float] = {}
    for api in apis:
        tests = api.definition.uptime_tests
        every = tests.config.recheck_wait or default_every
        for item in tests.check_list:
            check = Check(item.url, item.method, tuple(sorted(item.headers.items())), item.body_bytes,
                          item.timeout_seconds)
            plan[check] = min(every, plan.get(check, every))
    return plan


class UptimeChecker:
    def __init__(self, states: HostStates, apis: Callable[[], Sequence[CompiledApi]], *, every: float,
                 timeout: float, pool_size: int):
        self.states = states
        self.apis = apis
        self.every = every
        self.timeout = timeout
        self._slots = asyncio.Semaphore(pool_size)
        self._planned_for: Sequence[CompiledApi] | None = None
        self._plan: dict[Check, float] = {}
        self._due: dict[Check, float] = {}

    def plan(self) -> dict[Check, float]:
        apis = self.apis()
        if apis is not self._planned_for:  # a reload swapped the APIs in
            self._planned_for = apis
            self._plan = planned_checks(apis, self.every)
            self._due = {check: due for check, due in self._due.items() if check in self._plan}
        return self._plan

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        # No kept-alive connections: every check connects afresh, as real traffic to a restarted host would.
        async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0), timeout=self.timeout) as client:
            while True:
                plan = self.plan()
                now = loop.time()
                due = [check for check in plan if self._due.get(check, 0.0) <= now]
                for check in due:
                    self._due[check] = now + plan[check]
                if due:
                    await asyncio.gather(*(self.check(client, check) for check in due))
                next_due = min(self._due.values(), default=loop.time() + LONGEST_IDLE)
                await asyncio.sleep(min(max(next_due - loop.time(), 0.0), LONGEST_IDLE))

    async def check(self, client: httpx.AsyncClient, check: Check) -> bool:
        async with self._slots:
            try:
                reply = await client.request(check.method, check.url, headers=dict(check.headers),
                                             content=check.body or None,
                                             timeout=check.timeout if check.timeout is not None else self.timeout)
            except Exception as exc:  # whatever stops a check (an httpx error, a bad header) fails it
                self.states.check_failed(check.host, f"{check.method} {check.url}: {exc!r}")
                return False
        if 200 <= reply.status_code < 300:
            self.states.check_passed(check.host)
            return True
        self.states.check_failed(check.host, f"{check.method} {check.url} answered {reply.status_code}")
        return False


def host_states(settings: GatewaySettings) -> HostStates:
    return HostStates(settings.uptime_failure_trigger_sample_size, settings.upstream_passive_failures,
                      settings.upstream_passive_down_seconds)


def start_uptime_checks(settings: GatewaySettings, states: HostStates,
                        apis: Callable[[], Sequence[CompiledApi]]) -> list[asyncio.Task]:
    """The uptime checker's task (none when ``uptime_tests_disable``); the caller cancels it at stop."""
    if settings.uptime_tests_disable:
        return []
    checker = UptimeChecker(states, apis, every=settings.uptime_time_wait_seconds,
                            timeout=settings.uptime_check_timeout_seconds, pool_size=settings.uptime_checker_pool_size)
    return [asyncio.create_task(checker.run(), name="uptime-checks")]
